#!/usr/bin/env bash
# `make demo`: a master and two workers on loopback run jobs/grep.job,
# jobs/wordcount.job and jobs/join.job over data/ (made by `make data`),
# show each job's stages and its first result lines, then stop everything.
# Every command it runs is printed first, as you would type it (`$ ...`);
# outputs go under out/demo/ (replaced on each run: --overwrite), so the
# README's steps by hand, which write under out/, work after it.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cluster.sh

# Prints a command, then runs it.
show() {
    echo
    echo "\$ $*"
    "$@"
}

start_master --heartbeat-timeout-ms 2000
echo "== a master on $master (logs in $cluster_dir), two workers"
start_worker --heartbeat-ms 500
start_worker --heartbeat-ms 500
wait_workers 2
show ./client --master "$master" workers

run() {
    local job=$1 submitted id
    shift
    echo
    echo "\$ ./client --master $master submit $job $* --overwrite --wait"
    submitted=$(./client --master "$master" submit "$job" "$@" --overwrite --wait)
    echo "$submitted"
    id=$(echo "$submitted" | head -n1)
    show ./client --master "$master" status "$id"
    show ./client --master "$master" results "$id" --head 5
}

run jobs/grep.job --param input=data/words.txt --param output=out/demo/grep --param pattern=error
run jobs/wordcount.job --param input=data/words.txt --param output=out/demo/wordcount
echo
echo "\$ sort -t \$'\\t' -k2,2nr out/demo/wordcount/part-* | head -5     # the most frequent words"
sort -t "$(printf '\t')" -k2,2nr out/demo/wordcount/part-* | head -5 || true
run jobs/join.job --param users=data/users.csv --param orders=data/orders.csv --param output=out/demo/join

echo
echo "== text mode: what 'nc ${master/:/ }' shows after typing JOBS (here through bash's /dev/tcp)"
exec 3<>"/dev/tcp/127.0.0.1/${master##*:}"
printf 'JOBS\nQUIT\n' >&3
cat <&3
exec 3<&-
echo "== stopping"
