#!/usr/bin/env bash
# `make demo-chaos`: kill a worker in the middle of a job and watch the job
# still succeed. A master and three workers (each attempt slowed a little
# with --slow-probability so the job lasts long enough to be interrupted)
# run jobs/wordcount.job over data/words.txt; once the map stage is under
# way, one worker gets kill -9. Its running tasks and the map outputs it
# held run again elsewhere, and the output equals a fault-free run's.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cluster.sh

slow=(--slots 1 --slow-probability 1 --slow-ms 400 --heartbeat-ms 200)
start_master --heartbeat-timeout-ms 1000
echo "== master on $master, three workers"
start_worker "${slow[@]}"
start_worker "${slow[@]}"
start_worker "${slow[@]}"
wait_workers 3
./client --master "$master" workers

echo
echo "== fault-free run, for reference"
./client --master "$master" submit jobs/wordcount.job --param input=data/words.txt \
    --param output=out/chaos-reference --param partitions=6 --overwrite --wait >/dev/null 2>&1
echo "done: $(cat out/chaos-reference/part-* | wc -l) words"

echo
echo "== the same job again; a worker dies in the middle"
id=$(./client --master "$master" submit jobs/wordcount.job --param input=data/words.txt \
    --param output=out/chaos --param partitions=6 --overwrite | head -n1)
deadline=$((SECONDS + 30))
until ./client --master "$master" status "$id" | awk 'NR > 2 && $1 == "0" { split($(NF-10), t, "/"); exit !(t[1] > 0) }'; do
    [ $SECONDS -lt $deadline ] || { echo "the map stage did not get under way" >&2; exit 1; }
    sleep 0.05
done
victim=${worker_pids[0]}
echo "== kill -9 $victim (worker 1) while the map stage runs"
./client --master "$master" status "$id"
kill -9 "$victim"

until { ./client --master "$master" status "$id" || true; } | head -n1 | grep -qv RUNNING; do
    [ $SECONDS -lt $((deadline + 60)) ] || { echo "the job did not end" >&2; exit 1; }
    sleep 0.2
done
echo
echo "== ./client status $id"
./client --master "$master" status "$id"
echo "== ./client workers (the killed one is DEAD)"
./client --master "$master" workers
echo
if cmp -s <(sort out/chaos-reference/part-*) <(sort out/chaos/part-*); then
    echo "== the output equals the fault-free run's ($(cat out/chaos/part-* | wc -l) words)"
else
    echo "== OUTPUTS DIFFER" >&2
    exit 1
fi
grep -hE "task_requeued|map_output_lost|worker_dead" "$cluster_dir/master.log" | head -8 || true
echo "== stopping"
