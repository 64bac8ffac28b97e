#!/usr/bin/env bash
# `make bench`: wall-clock figures, each next to its baseline measured in
# the same run (the machine is noisy: compare within a run, not across).
#
#   grep: jobs/grep.job on a 1,000,000-line (~65 MB) file, submit to done,
#         on a running master with 2 workers, vs `grep -F` on the same file.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cluster.sh

runs=${BENCH_RUNS:-5}
mkdir -p data/bench
words=data/bench/words-1m.txt
[ -f $words ] || ./gen words --lines 1000000 --out $words
cat $words >/dev/null   # warm the page cache for both contenders

now() { date +%s.%N; }
# best of $runs, in seconds
best() {
    local best=999999 t0 t1
    for _ in $(seq "$runs"); do
        t0=$(now); "$@" >/dev/null; t1=$(now)
        best=$(awk -v a="$t0" -v b="$t1" -v m="$best" 'BEGIN { t = b - a; print (t < m ? t : m) }')
    done
    printf '%.3f' "$best"
}
rss_mb() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

start_master --quiet
start_worker --quiet
start_worker --quiet
wait_workers 2

grep_s=$(best sh -c "grep -F error $words > $cluster_dir/grep.out")
job_s=$(best ./client --master "$master" submit jobs/grep.job --param input=$words \
    --param output=out/bench-grep --param pattern=error --overwrite --wait)
lines=$(wc -l < $words)
printf '%-28s %8s s\n' "grep -F error (1M lines)" "$grep_s"
printf '%-28s %8s s   %s records/s\n' "jobs/grep.job (2 workers)" "$job_s" \
    "$(awk -v n="$lines" -v t="$job_s" 'BEGIN { printf "%d", n / t }')"
printf '%-28s %8s x   (target: at most 2.5 x)\n' "ratio job / grep -F" \
    "$(awk -v a="$job_s" -v b="$grep_s" 'BEGIN { printf "%.2f", a / b }')"
for p in "${worker_pids[@]}"; do
    printf '%-28s %8s MiB\n' "worker $p peak RSS" "$(rss_mb "$p")"
done
