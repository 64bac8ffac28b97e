#!/usr/bin/env bash
# `make demo-trace`: the system calls under a job. A master and two workers
# run under `strace -f -tt -T -yy` (every thread and child, a timestamp and
# the time inside each call, what each file descriptor is); a traced client
# submits a word count, then a join and jobs/pipe.job (whose pipe() runs
# `sh -c "tr a-z A-Z"` as a child of the worker) run. The second worker has
# `--memory 1M`, so its reduce tasks spill. Then tools/strace_report.py
# prints, per process (the master, each worker, the client, a pipe child),
# its system calls with counts and time, grouped by what they are for, each
# group naming the files of the engine that issue them, and replays one
# reduce task's life: the fetch, the spill, the write aside and its fsync,
# the commit by link(2), the master's journal write and fdatasync.
# Installs strace if missing. Exits 1 if a table is empty or a step of the
# task's life is not in the traces.
#   DEMO_SMALL=1   20,000 lines and 2,000 users instead of 100,000 and 10,000 (for CI)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cluster.sh

if ! command -v strace >/dev/null; then
    echo "== installing strace" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y strace >/dev/null 2>&1 ||
        { apt-get update >/dev/null && apt-get install -y strace >/dev/null; }
fi

lines=100000 users=10000
[ "${DEMO_SMALL:-0}" = 1 ] && lines=20000 users=2000
mkdir -p data/demo out/demo
words=data/demo/words-$lines.txt
[ -f "$words" ] || ./gen words --lines "$lines" --out "$words" --quiet
[ -f data/demo/users-$users.csv ] || ./gen users --count $users --out data/demo/users-$users.csv --quiet
[ -f data/demo/orders-$((users * 5)).csv ] ||
    ./gen orders --count $((users * 5)) --users $users --out data/demo/orders-$((users * 5)).csv --quiet

trace=(strace -f -tt -T -yy -qq)
strace_pids=()
# Runs "$@" under strace into $cluster_dir/NAME.trace, in the background;
# the traced process's pid (strace's child) goes to $pids, so the cleanup
# kills it: killing strace itself would only detach it.
traced() {
    local name=$1 tracer
    shift
    "${trace[@]}" -o "$cluster_dir/$name.trace" "$@" >"$cluster_dir/$name.out" 2>"$cluster_dir/$name.log" &
    tracer=$!
    strace_pids+=($tracer)
    local deadline=$((SECONDS + 10)) child=""
    until child=$(ps -o pid= --ppid "$tracer" | tr -d ' ') && [ -n "$child" ]; do
        [ $SECONDS -lt $deadline ] || { echo "$name did not start under strace" >&2; exit 1; }
        sleep 0.02
    done
    pids+=("$child")
    first_line "$cluster_dir/$name.out" >/dev/null
}

echo "== a master and two workers, each under strace -f -tt -T -yy (logs and traces in $cluster_dir)"
traced master ./master --port 0 --bind 127.0.0.1 --state-dir "$cluster_dir/state"
master=$(head -n1 "$cluster_dir/master.out")
traced worker1 ./worker --master "$master" --bind 127.0.0.1 --allow-pipe --heartbeat-ms 500 \
    --work-dir "$cluster_dir/work1"
traced worker2 ./worker --master "$master" --bind 127.0.0.1 --allow-pipe --heartbeat-ms 500 \
    --work-dir "$cluster_dir/work2" --memory 1M
wait_workers 2
echo "   master $master; worker1 data port $(head -n1 "$cluster_dir/worker1.out"); worker2 (--memory 1M)" \
    "data port $(head -n1 "$cluster_dir/worker2.out")"

echo "\$ strace ... ./client submit jobs/wordcount.job --param input=$words --wait"
"${trace[@]}" -o "$cluster_dir/client.trace" ./client --master "$master" submit jobs/wordcount.job \
    --param input="$words" --param output=out/demo/trace-wordcount --overwrite --wait 2>/dev/null | tail -n1
echo "\$ ./client submit jobs/join.job --wait"
./client --master "$master" submit jobs/join.job --param users=data/demo/users-$users.csv \
    --param orders=data/demo/orders-$((users * 5)).csv --param output=out/demo/trace-join \
    --overwrite --wait 2>/dev/null | tail -n1
echo "\$ ./client submit jobs/pipe.job --wait      # pipe(\"tr a-z A-Z\"): a child process per task"
./client --master "$master" submit jobs/pipe.job --param input="$words" \
    --param output=out/demo/trace-pipe --overwrite --wait 2>/dev/null | tail -n1

# Stop the traced processes (SIGTERM) and let strace write their last lines.
ports=(--data-port "worker1=$(head -n1 "$cluster_dir/worker1.out")"
    --data-port "worker2=$(head -n1 "$cluster_dir/worker2.out")")
# SIGTERM to each traced process, found again as its tracer's child (the
# pid noted at start is killed too, by stop_cluster), then a bounded wait
# for each strace to write its last lines and exit; a process still there
# after 15 s gets SIGKILL.
for t in "${strace_pids[@]}"; do pkill -TERM -P "$t" 2>/dev/null || true; done
deadline=$((SECONDS + 15))
for t in "${strace_pids[@]}"; do
    while kill -0 "$t" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            echo "warning: a traced process ignored SIGTERM for 15 s; killing it" >&2
            pkill -KILL -P "$t" 2>/dev/null || true
            deadline=$((SECONDS + 5))
        fi
        sleep 0.05
    done
done
stop_cluster

echo
echo "== what the processes asked of the kernel. Per process, its system calls by purpose: how many,"
echo "   and the wall time spent inside them; 'issued by' names the files of src/ that make them."
echo "   A process starts with the dynamic loader's openat/mmap/mprotect of its libraries, and each"
echo "   thread with clone3, mmap of its stack, rseq, set_robust_list and prctl (its name)."
python3 tools/strace_report.py "${ports[@]}" master="$cluster_dir/master.trace" \
    worker1="$cluster_dir/worker1.trace" worker2="$cluster_dir/worker2.trace" \
    client="$cluster_dir/client.trace"
echo
echo "== stopping"
