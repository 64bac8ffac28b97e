#!/usr/bin/env bash
# `make demo`: a master and two workers on loopback run jobs/grep.job over
# data/words.txt (made by `make data`), show the job and a few result lines,
# then stop everything.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cluster.sh

start_master --heartbeat-timeout-ms 2000
echo "== master listening on $master"
start_worker --heartbeat-ms 500
start_worker --heartbeat-ms 500
wait_workers 2
echo "== ./client workers"
./client --master "$master" workers

echo "== ./client submit jobs/grep.job --param pattern=error --wait"
submitted=$(./client --master "$master" submit jobs/grep.job --param input=data/words.txt \
    --param output=out/grep --param pattern=error --overwrite --wait)
echo "$submitted"
id=$(echo "$submitted" | head -n1)
echo "== ./client status $id"
./client --master "$master" status "$id"
echo "== ./client results $id --head 5"
./client --master "$master" results "$id" --head 5
echo "== out/grep: $(ls out/grep | tr '\n' ' ')"
echo "== text mode (what 'nc ${master/:/ }' shows after typing JOBS)"
exec 3<>"/dev/tcp/127.0.0.1/${master##*:}"
printf 'JOBS\nQUIT\n' >&3
cat <&3
exec 3<&-
echo "== stopping"
