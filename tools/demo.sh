#!/usr/bin/env bash
# Starts a master and two workers on loopback ports the OS picks, shows the
# workers registered (binary client and netcat-style text mode), then stops
# everything. Run from the repo root after `make` (`make demo` does both).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

# The first stdout line of each process is its bound address.
first_line() {
    local file=$1 deadline=$((SECONDS + 10))
    until [ -s "$file" ] && head -n1 "$file" | grep -q .; do
        [ $SECONDS -lt $deadline ] || { echo "no address in $file" >&2; exit 1; }
        sleep 0.05
    done
    head -n1 "$file"
}

./master --port 0 --bind 127.0.0.1 --heartbeat-timeout-ms 2000 >"$dir/master.out" 2>"$dir/master.log" &
pids+=($!)
master=$(first_line "$dir/master.out")
echo "== master listening on $master"

for i in 1 2; do
    ./worker --master "$master" --bind 127.0.0.1 --slots 2 --heartbeat-ms 500 \
        >"$dir/worker$i.out" 2>"$dir/worker$i.log" &
    pids+=($!)
    echo "== worker $i serving data on $(first_line "$dir/worker$i.out")"
done

deadline=$((SECONDS + 10))
until [ "$(./client --master "$master" workers | grep -c state=ALIVE)" = 2 ]; do
    [ $SECONDS -lt $deadline ] || { echo "workers did not register" >&2; cat "$dir"/*.log >&2; exit 1; }
    sleep 0.05
done

echo "== ./client workers"
./client --master "$master" workers
echo "== text mode (what 'nc ${master/:/ }' shows after typing STATUS)"
port=${master##*:}
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'STATUS\nQUIT\n' >&3
cat <&3
exec 3<&-
echo "== master log"
cat "$dir/master.log"
echo "== stopping"
