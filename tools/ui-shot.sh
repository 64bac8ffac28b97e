#!/usr/bin/env bash
# `make ui-shot`: a master and two workers (one of which fails a fifth of its
# attempts, so retries and their errors show) run word count over
# data/words.txt and a join of data/users.csv and data/orders.csv; then
# headless Chromium saves
#   out/ui.png         the status page (workers and jobs)
#   out/ui-job.png     word count's page (times, params, stages, DAG, timeline, source)
#   out/ui-stage.png   the page of its reduce stage (every attempt, with its error)
#   out/ui-worker.png  the page of worker 2 (sparklines, what it holds, its attempts)
#   out/ui-dag.png     the join's DAG alone (/jobs/ID/dag.svg)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cluster.sh
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome) ||
    { echo "ui-shot needs chromium (apt-get install chromium)" >&2; exit 1; }
start_master --max-attempts 10
start_worker --heartbeat-ms 500
start_worker --heartbeat-ms 500 --fail-probability 0.2 --fault-seed 7
wait_workers 2
id=$(./client --master "$master" submit jobs/wordcount.job --param input=data/words.txt \
    --param output=out/ui-wordcount --overwrite --wait 2>/dev/null | head -n1)
join=$(./client --master "$master" submit jobs/join.job --param users=data/users.csv \
    --param orders=data/orders.csv --param output=out/ui-join --overwrite --wait 2>/dev/null | head -n1)
sleep 1   # one more heartbeat, so the pages show the workers' figures after the jobs
mkdir -p out
shot() {
    "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$cluster_dir/chromium" --hide-scrollbars --window-size="${3:-1280,900}" \
        --screenshot="$2" "$1" 2>/dev/null
    echo "saved $2 ($1)"
}
shot "http://$master/" out/ui.png
shot "http://$master/jobs/$id" out/ui-job.png 1280,2000
shot "http://$master/jobs/$id/stages/1" out/ui-stage.png
shot "http://$master/workers/2" out/ui-worker.png
shot "http://$master/jobs/$join/dag.svg" out/ui-dag.png 800,320
