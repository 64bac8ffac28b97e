#!/usr/bin/env bash
# `make demo`: a master and two workers on loopback run jobs/grep.job,
# jobs/wordcount.job and jobs/join.job over data/ (made by `make data`),
# show each job's stages and its first result lines, then stop everything.
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

run() {
    local job=$1; shift
    echo
    echo "== ./client submit $job $* --wait"
    local submitted id
    submitted=$(./client --master "$master" submit "$job" "$@" --overwrite --wait)
    echo "$submitted"
    id=$(echo "$submitted" | head -n1)
    echo "== ./client status $id"
    ./client --master "$master" status "$id"
    echo "== ./client results $id --head 5"
    ./client --master "$master" results "$id" --head 5
}

run jobs/grep.job --param input=data/words.txt --param output=out/grep --param pattern=error
run jobs/wordcount.job --param input=data/words.txt --param output=out/wordcount
echo "== the most frequent words (sort -k2nr out/wordcount/part-* | head -5)"
sort -t "$(printf '\t')" -k2,2nr out/wordcount/part-* | head -5 || true
run jobs/join.job --param users=data/users.csv --param orders=data/orders.csv --param output=out/join

echo
echo "== text mode (what 'nc ${master/:/ }' shows after typing JOBS)"
exec 3<>"/dev/tcp/127.0.0.1/${master##*:}"
printf 'JOBS\nQUIT\n' >&3
cat <&3
exec 3<&-
echo "== stopping"
