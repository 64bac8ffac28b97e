#!/usr/bin/env bash
# `make ui-shot`: a master and two workers run word count over data/words.txt,
# then headless Chromium saves the status page as out/ui.png and the job's
# page (stage table and timeline) as out/ui-job.png.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cluster.sh
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome) ||
    { echo "ui-shot needs chromium (apt-get install chromium)" >&2; exit 1; }
start_master
start_worker --heartbeat-ms 500
start_worker --heartbeat-ms 500
wait_workers 2
id=$(./client --master "$master" submit jobs/wordcount.job --param input=data/words.txt \
    --param output=out/ui-wordcount --overwrite --wait 2>/dev/null | head -n1)
sleep 1   # one more heartbeat, so the page shows the workers' figures after the job
mkdir -p out
shot() {
    "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$cluster_dir/chromium" --hide-scrollbars --window-size=1280,900 \
        --screenshot="$2" "$1" 2>/dev/null
    echo "saved $2 ($1)"
}
shot "http://$master/" out/ui.png
shot "http://$master/jobs/$id" out/ui-job.png
