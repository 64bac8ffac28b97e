# Sourced by demo.sh and bench.sh: start a local master and workers on
# loopback ports the OS picks, and stop them all on exit.
#   start_master [flags...]        sets $master (host:port)
#   start_worker [flags...]        appends the pid to $worker_pids
#   wait_workers N                 until N workers are ALIVE
#   stop_cluster                   kill the master and workers started so far

cluster_dir=$(mktemp -d)
pids=()
worker_pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$cluster_dir"
}
trap cleanup EXIT

# The first stdout line of each process is its bound address.
first_line() {
    local file=$1 deadline=$((SECONDS + 10))
    until [ -s "$file" ] && head -n1 "$file" | grep -q .; do
        [ $SECONDS -lt $deadline ] || { echo "no address in $file" >&2; exit 1; }
        sleep 0.02
    done
    head -n1 "$file"
}

start_master() {
    ./master --port 0 --bind 127.0.0.1 --state-dir "$cluster_dir/state" "$@" >"$cluster_dir/master.out" 2>"$cluster_dir/master.log" &
    pids+=($!)
    master=$(first_line "$cluster_dir/master.out")
}

start_worker() {
    local n=${#worker_pids[@]}
    ./worker --master "$master" --bind 127.0.0.1 "$@" \
        >"$cluster_dir/worker$n.out" 2>"$cluster_dir/worker$n.log" &
    pids+=($!)
    worker_pids+=($!)
    first_line "$cluster_dir/worker$n.out" >/dev/null
}

wait_workers() {
    local deadline=$((SECONDS + 10))
    until [ "$(./client --master "$master" workers | grep -c state=ALIVE)" -ge "$1" ]; do
        [ $SECONDS -lt $deadline ] || { echo "workers did not register" >&2; cat "$cluster_dir"/*.log >&2; exit 1; }
        sleep 0.02
    done
}

stop_cluster() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
    worker_pids=()
}
