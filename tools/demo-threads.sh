#!/usr/bin/env bash
# `make demo-threads`: threads and scheduling. A master and two workers
# (--slots 2 each, --allow-pipe) run a job of many more tasks than slots:
# lines lower-cased through pipe(), then a word count into 8 partitions.
# While it runs, tools/threads.py samples /proc/PID/task/*/{comm,stat,wchan}
# of the master and the workers every 10 ms, and the master's WORKERS and
# JOBS in text mode every 50 ms; then it prints each process's threads
# (every name the engine gives its threads, with the file that starts
# them), their states, CPU and where they sleep, and the pool's bound: never
# more attempts running on a worker than its slots, the other tasks waiting,
# and the semaphore's permits as each worker's heartbeats counted them.
# Exits 1 if an expected thread was never seen or a bound was passed.
#   DEMO_SMALL=1   200,000 input lines instead of 1,000,000 (for CI)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cluster.sh

lines=1000000
[ "${DEMO_SMALL:-0}" = 1 ] && lines=200000
input=data/demo/words-$lines.txt
mkdir -p data/demo out/demo
[ -f "$input" ] || ./gen words --lines "$lines" --out "$input" --quiet
job=out/demo/threads.job
cat >"$job" <<'JOB'
# 8 map tasks (pipe: a child process each), then 8 reduce tasks: 16 tasks
# for 4 slots.
param input
param output
lower = read_text(input, splits=8).pipe("tr A-Z a-z")
counts = lower.flat_map(split($0)).map($0, 1).reduce_by_key(sum, 8)
counts.save(output)
JOB

slots=2
start_master --heartbeat-timeout-ms 3000
start_worker --slots $slots --allow-pipe --heartbeat-ms 100
start_worker --slots $slots --allow-pipe --heartbeat-ms 100
wait_workers 2
echo "== a master (pid ${pids[0]}) and two workers (pids ${worker_pids[*]}), --slots $slots each"
echo "   job: $(grep -v '^#' "$job" | grep -v '^param' | tr '\n' ' ')"
echo "   16 tasks for 4 slots: the master sends a worker at most --slots attempts; the worker's"
echo "   pool runs them on --slots threads, each taking a permit of a counting semaphore"
echo "   (src/worker/pool.rs, src/net/semaphore.rs: Mutex<usize> + Condvar)"

stop_file="$cluster_dir/stop"
python3 tools/threads.py --master "$master" --slots $slots --stop-file "$stop_file" \
    master="${pids[0]}" worker1="${worker_pids[0]}" worker2="${worker_pids[1]}" \
    --ready-file "$cluster_dir/ready" >"$cluster_dir/threads.out" &
sampler=$!
deadline=$((SECONDS + 20))
until [ -e "$cluster_dir/ready" ]; do
    kill -0 $sampler 2>/dev/null && [ $SECONDS -lt $deadline ] || { echo "the sampler did not start" >&2; exit 1; }
    sleep 0.02
done
./client --master "$master" submit "$job" --param input="$input" --param output=out/demo/threads \
    --overwrite --wait 2>/dev/null | tail -n1
touch "$stop_file"
status=0
wait "$sampler" || status=$?
cat "$cluster_dir/threads.out"
echo
echo "   R = running or runnable, S = asleep (futex_do_wait: a mutex, condvar or channel;"
echo "   inet_csk_accept: accept(2); wait_woken: a socket read), D = waiting for the disk"
[ $status -eq 0 ] || exit $status
echo "== stopping"
