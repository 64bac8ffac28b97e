#!/usr/bin/env bash
# `make demo-hosts`: a master and three workers, each on a host of its own
# (a network namespace with its own IP on one bridge, tools/hosts.sh), run
# word count and join over data/ while the network misbehaves:
#
#   no faults       the reference output and time
#   5% loss         every host drops 5% of the packets it receives
#   black hole      host 1 goes silent mid-shuffle, holding map outputs; the
#                   master declares it dead after --heartbeat-timeout-ms,
#                   the reducers stuck on it are aborted, its map outputs
#                   computed again elsewhere (time to detect, to finish)
#   split           hosts 1 and 2 cannot reach each other all job long
#
# and checks that every run's output equals the fault-free one. With
# RUNS=N (`make bench-hosts` sets 5) each is run N times and the medians
# printed. Needs root, iproute2, nftables and iptables.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-1}
bed=msdemo
heartbeat_timeout=2000
fetch_timeout=3000
[ "$(id -u)" = 0 ] || { echo "demo-hosts needs root (network namespaces)" >&2; exit 1; }
for t in ip nft iptables curl python3; do
    command -v $t >/dev/null || { echo "demo-hosts needs $t (apt-get install -y iproute2 nftables iptables curl)" >&2; exit 1; }
done

dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null || true; done
    tools/hosts.sh down $bed
    rm -rf "$dir"
}
trap cleanup EXIT

first_line() {
    local deadline=$((SECONDS + 10))
    until [ -s "$1" ] && head -n1 "$1" | grep -q .; do
        [ $SECONDS -lt $deadline ] || { echo "no address in $1" >&2; cat "${1%.out}.log" >&2; exit 1; }
        sleep 0.02
    done
    head -n1 "$1"
}

# One JSON field of the master's /api/v1 (a Python expression over `j`).
api() {
    curl -s --max-time 5 "http://$master/api/v1/$1" |
        python3 -c "import json, sys; j = json.load(sys.stdin); print($2)"
}

# Wall time of a command, in seconds with millisecond digits.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# A job's state once it has ended.
wait_end() {
    local deadline=$((SECONDS + 120)) state
    while state=$(api "jobs/$1" 'j["state"]'); [ "$state" = RUNNING ]; do
        [ $SECONDS -lt $deadline ] || { echo "job $1 did not end" >&2; exit 1; }
        sleep 0.02
    done
    echo "$state"
}

tools/hosts.sh up $bed 3 77
echo "== four hosts on bridge $bed-br (traffic between them crosses veth pairs and the bridge)"
tools/hosts.sh show $bed | grep '^host'

ip0=$(tools/hosts.sh ip $bed 0)
tools/hosts.sh exec $bed 0 ./master --port 0 --bind "$ip0" --state-dir "$dir/state" \
    --heartbeat-timeout-ms $heartbeat_timeout >"$dir/master.out" 2>"$dir/master.log" &
pids+=($!)
master=$(first_line "$dir/master.out")
for h in 1 2 3; do
    ip=$(tools/hosts.sh ip $bed $h)
    tools/hosts.sh exec $bed $h ./worker --master "$master" --bind "$ip" --work-dir "$dir/work$h" \
        --heartbeat-ms 200 --reconnect-max-ms 500 --fetch-timeout-ms $fetch_timeout >"$dir/worker$h.out" 2>"$dir/worker$h.log" &
    pids+=($!)
    first_line "$dir/worker$h.out" >/dev/null
done
deadline=$((SECONDS + 20))
until [ "$(api workers 'sum(w["state"] == "ALIVE" for w in j)')" = 3 ]; do
    [ $SECONDS -lt $deadline ] || { echo "workers did not register" >&2; cat "$dir"/*.log >&2; exit 1; }
    sleep 0.05
done
echo "== master $master (host 0), workers:"
./client --master "$master" workers | cut -d' ' -f1-4

params_wordcount=(--param input=data/words.txt --param partitions=24)
params_join=(--param users=data/users.csv --param orders=data/orders.csv)

# submit JOB NAME: submits, prints the job id.
submit() {
    local job=$1 name=$2 params
    eval "params=(\"\${params_$job[@]}\")"
    ./client --master "$master" submit "jobs/$job.job" "${params[@]}" \
        --param output="$dir/out-$name" --overwrite | head -n1
}

# run JOB NAME [FAULT...]: runs the job with the fault applied from the
# start (none: no fault), checks its output, prints its time in seconds.
run() {
    local job=$1 name=$2 id t state
    shift 2
    [ $# -eq 0 ] || tools/hosts.sh "$1" $bed "${@:2}"
    id=$(submit "$job" "$name")
    state=$(wait_end "$id")
    tools/hosts.sh heal $bed
    # The master's own count from submit to end: what the client's polling
    # loses to the lossy link is not the job's.
    local took
    took=$(api "jobs/$id" '"%.2f" % (j["elapsedMs"] / 1000)')
    [ "$state" = SUCCEEDED ] || { echo "$job ($name): $state: $(api "jobs/$id" 'j["error"]')" >&2; exit 1; }
    check "$job" "$name"
    echo "$took"
}

# The black hole: host 1 goes silent as soon as one of its map outputs is
# written, so the reducers will fetch from a silent peer. Prints "detect
# finish": seconds from the black hole to the master's DEAD, and to the
# job's end.
blackhole_run() {
    local job=$1 name=$2 id t detected="" state deadline=$((SECONDS + 60)) victim
    victim=$(api workers "[w['id'] for w in j if w['address'].startswith('$(tools/hosts.sh ip $bed 1):') and w['state'] == 'ALIVE'][0]")
    id=$(submit "$job" "$name")
    until api "jobs/$id" "1 if j['state'] != 'RUNNING' or any(a['stage'] == 0 and a['worker'] == $victim and a['outcome'] == 'SUCCEEDED' for a in j['attempts']) else exit(1)" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || { echo "host 1 wrote no map output" >&2; exit 1; }
        sleep 0.01
    done
    tools/hosts.sh blackhole $bed 1
    t=$(now)
    while state=$(api "jobs/$id" 'j["state"]'); [ "$state" = RUNNING ] || [ -z "$detected" ]; do
        if [ -z "$detected" ] && [ "$(api workers "sum(w['state'] == 'DEAD' for w in j)")" -gt 0 ]; then
            detected=$(since "$t")
        fi
        [ $SECONDS -lt $deadline ] || { echo "job $id did not end" >&2; exit 1; }
        sleep 0.02
    done
    local finish
    finish=$(since "$t")
    tools/hosts.sh heal $bed
    [ "$state" = SUCCEEDED ] || { echo "$job ($name): $state" >&2; exit 1; }
    check "$job" "$name"
    # Host 1's worker comes back and registers again.
    deadline=$((SECONDS + 30))
    until [ "$(api workers "sum(w['state'] == 'ALIVE' for w in j)")" = 3 ]; do
        [ $SECONDS -lt $deadline ] || { echo "host 1's worker did not come back" >&2; exit 1; }
        sleep 0.05
    done
    echo "$detected $finish"
}

check() {
    if ! cmp -s <(sort "$dir/out-$1-ref"/part-*) <(sort "$dir/out-$2"/part-*); then
        echo "$1 ($2): the output differs from the fault-free run's" >&2
        exit 1
    fi
}

median() { tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
printf '%-10s %-12s %8s %8s %10s %10s\n' job fault-free "5% loss" split "bh detect" "bh finish"
for job in wordcount join; do
    [ "$(wait_end "$(submit $job $job-ref)")" = SUCCEEDED ] || { echo "$job failed without faults" >&2; exit 1; }
    clean=() loss=() split=() detect=() finish=()
    for ((r = 0; r < runs; r++)); do
        clean+=("$(run $job "$job-clean")")
        loss+=("$(run $job "$job-loss" loss 5)")
        split+=("$(run $job "$job-split" split 1 2)")
        bh=$(blackhole_run $job "$job-bh")
        detect+=("${bh% *}") finish+=("${bh#* }")
    done
    printf '%-10s %11ss %7ss %7ss %9ss %9ss\n' "$job" \
        "$(echo "${clean[@]}" | median)" "$(echo "${loss[@]}" | median)" "$(echo "${split[@]}" | median)" \
        "$(echo "${detect[@]}" | median)" "$(echo "${finish[@]}" | median)"
done
echo
echo "every run's output equals the fault-free run's (medians of $runs run(s); black hole: seconds"
echo "from the black hole to the master's DEAD, and to the job's end; --heartbeat-timeout-ms $heartbeat_timeout)"
echo
echo "== what the master logged about the faults"
grep -hoE "(worker_dead|fetch_failed|stale_reader_aborted|map_output_lost|workers_unreachable)" "$dir/master.log" | sort | uniq -c
