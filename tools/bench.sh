#!/usr/bin/env bash
# `make bench`: wall-clock figures, each next to its baseline measured in
# the same run where there is one (the machine is noisy: compare within a
# run, not across runs). Every job runs on a fresh master with 2 workers
# (default slots and memory unless said), submit to done.
#
#   grep       jobs/grep.job, 1M lines (~65 MB), vs `grep -F` on the same file
#   wordcount  jobs/wordcount.job, 1M lines and 10M lines
#   join       jobs/join.job + jobs/revenue.job, 1M users and 5M orders
#   memory     reduce_by_key over 20M records / 5M distinct keys with
#              `worker --memory 32M`, output compared with an unbudgeted run
#   pagerank   jobs/pagerank.job, 10 rounds over 100k nodes / 1M edges
#              (`gen links`), with its links cached and without (the job
#              with `.cache()` removed), each on its own fresh cluster;
#              the two outputs must agree to a relative 1e-9
#
# BENCH=grep,wordcount,... runs a subset; BENCH_RUNS=N repeats the short ones.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cluster.sh

runs=${BENCH_RUNS:-3}
only=${BENCH:-grep,wordcount,join,memory,pagerank}
want() { [[ ",$only," == *",$1,"* ]]; }
d=data/bench
mkdir -p $d out

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# best of $runs wall seconds of a command
best() {
    local best=999999 t0 t1
    for _ in $(seq "$runs"); do
        t0=$(now); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; t1=$(now)
        best=$(awk -v a="$t0" -v b="$t1" -v m="$best" 'BEGIN { t = b - a; print (t < m ? t : m) }')
    done
    printf '%.3f' "$best"
}
rss() {
    local out=""
    for p in "${worker_pids[@]}"; do
        out+="$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$p/status") "
    done
    echo "${out% } MiB"
}
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.2f M/s", n / t / 1e6 }'; }
row() { printf '%-40s %9s s  %14s  peak RSS per worker: %s\n' "$1" "$2" "$3" "$4"; }
up() {
    start_master --quiet
    start_worker --quiet "$@"
    start_worker --quiet "$@"
    wait_workers 2
}
submit() {
    ./client --master "$master" submit "$@" --overwrite --wait
}

if want grep; then
    [ -f $d/words-1m.txt ] || ./gen words --lines 1000000 --out $d/words-1m.txt
    cat $d/words-1m.txt >/dev/null   # warm the page cache for both contenders
    up
    g=$(best sh -c "grep -F error $d/words-1m.txt > out/bench-grep-F.txt")
    j=$(best submit jobs/grep.job --param input=$d/words-1m.txt --param output=out/bench-grep --param pattern=error)
    row "grep -F error, 1M lines" "$g" "$(rate 1000000 "$g")" "-"
    row "jobs/grep.job, 1M lines" "$j" "$(rate 1000000 "$j")" "$(rss)"
    printf '%-40s %9s x  (target: at most 2.5 x)\n' "  ratio job / grep -F" "$(awk -v a="$j" -v b="$g" 'BEGIN { printf "%.2f", a / b }')"
    stop_cluster
fi

if want wordcount; then
    [ -f $d/words-1m.txt ] || ./gen words --lines 1000000 --out $d/words-1m.txt
    [ -f $d/words-10m.txt ] || ./gen words --lines 10000000 --seed 7 --out $d/words-10m.txt
    cat $d/words-1m.txt >/dev/null
    base=$(best ./wcbase $d/words-1m.txt out/bench-wcbase.txt)
    row "hand-written 2-thread word count, 1M" "$base" "$(rate 1000000 "$base") lines" "-"
    up
    w1=$(best submit jobs/wordcount.job --param input=$d/words-1m.txt --param output=out/bench-wc1)
    row "jobs/wordcount.job, 1M lines" "$w1" "$(rate 1000000 "$w1") lines" "$(rss)"
    printf '%-40s %9s x  (the issue measured 0.55 s vs a 0.8 s target: 1.45 x)\n' "  ratio job / hand-written" "$(awk -v a="$w1" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
    stop_cluster; up
    t0=$(now); submit jobs/wordcount.job --param input=$d/words-10m.txt --param output=out/bench-wc10 >/dev/null 2>&1; t1=$(now)
    w10=$(elapsed "$t0" "$t1")
    row "jobs/wordcount.job, 10M lines" "$w10" "$(rate 10000000 "$w10") lines" "$(rss)"
    printf '%-40s %9s x  (targets: 1M at most 0.8 s, 10M at most 10 x that: 8 s)\n' "  ratio 10M / 1M" "$(awk -v a="$w10" -v b="$w1" 'BEGIN { printf "%.2f", a / b }')"
    stop_cluster
fi

if want join; then
    [ -f $d/users-1m.csv ] || ./gen users --count 1000000 --out $d/users-1m.csv
    [ -f $d/orders-5m.csv ] || ./gen orders --count 5000000 --users 1000000 --out $d/orders-5m.csv
    up
    t0=$(now)
    submit jobs/join.job --param users=$d/users-1m.csv --param orders=$d/orders-5m.csv --param output=out/bench-join >/dev/null 2>&1
    t1=$(now)
    submit jobs/revenue.job --param users=$d/users-1m.csv --param orders=$d/orders-5m.csv --param output=out/bench-revenue >/dev/null 2>&1
    t2=$(now)
    row "jobs/join.job, 1M users x 5M orders" "$(elapsed "$t0" "$t1")" "$(rate 6000000 "$(elapsed "$t0" "$t1")") rows" "$(rss)"
    row "jobs/revenue.job, same data" "$(elapsed "$t1" "$t2")" "$(rate 6000000 "$(elapsed "$t1" "$t2")") rows" "$(rss)"
    printf '%-40s %9s s  (target: at most 5 s together)\n' "  join + revenue" "$(elapsed "$t0" "$t2")"
    stop_cluster
fi

if want memory; then
    # 5M distinct random keys, each repeated 4 times: 20M records.
    [ -f $d/keys-5m.txt ] || ./gen sorted-input --lines 5000000 --seed 9 --out $d/keys-5m.txt
    cat > out/bench-memory.job <<'JOB'
param input
param output
keys = read_text(input).map(before($0, "\t"))
four = keys.flat_map(split(concat($0, " ", $0, " ", $0, " ", $0)))
four.map($0, 1).reduce_by_key(sum).save(output)
JOB
    up
    t0=$(now); submit out/bench-memory.job --param input=$d/keys-5m.txt --param output=out/bench-mem-free >/dev/null 2>&1; t1=$(now)
    row "reduce_by_key 20M/5M, --memory 512M" "$(elapsed "$t0" "$t1")" "$(rate 20000000 "$(elapsed "$t0" "$t1")") rec" "$(rss)"
    stop_cluster; up --memory 32M
    t0=$(now); id=$(submit out/bench-memory.job --param input=$d/keys-5m.txt --param output=out/bench-mem-32m 2>/dev/null | head -n1); t1=$(now)
    row "reduce_by_key 20M/5M, --memory 32M" "$(elapsed "$t0" "$t1")" "$(rate 20000000 "$(elapsed "$t0" "$t1")") rec" "$(rss)"
    ./client --master "$master" status "$id" | grep -E '^spilled' || true
    printf '%-40s %9s   (target: each below 32 + 40 = 72 MiB)\n' "" ""
    if cmp -s <(sort out/bench-mem-free/part-*) <(sort out/bench-mem-32m/part-*); then
        echo "  output with --memory 32M equals the unbudgeted output ($(cat out/bench-mem-32m/part-* | wc -l) keys)"
    else
        echo "  OUTPUTS DIFFER" >&2; exit 1
    fi
    stop_cluster
fi

if want pagerank; then
    links=$d/links-100k-1m.txt
    [ -f $links ] || ./gen links --nodes 100000 --edges 1000000 --out $links
    # The same job with its links recomputed from the file in every round:
    # `.cache()` (or `.persist()`) dropped wherever it is called, outside
    # comments, whether it has a line of its own or ends one.
    nocache=$d/pagerank-nocache.job
    sed -e '/^[[:space:]]*\.\(cache\|persist\)()[[:space:]]*$/d' \
        -e '/^[[:space:]]*#/!s/\.\(cache\|persist\)()//g' jobs/pagerank.job > $nocache
    caches() { grep -v '^[[:space:]]*#' "$1" | grep -cE '\.(cache|persist)\(\)' || true; }
    if [ "$(caches jobs/pagerank.job)" -lt 1 ] || [ "$(caches $nocache)" -ne 0 ]; then
        echo "jobs/pagerank.job: could not make a variant without .cache()" >&2; exit 1
    fi
    cat $links >/dev/null
    pagerank() { submit "$1" --param links=$links --param iterations=10 --param output="$2"; }
    # A fresh cluster per variant, so each VmHWM is that variant's peak.
    up
    pc=$(best pagerank jobs/pagerank.job out/bench-pr-cache)
    row "jobs/pagerank.job, 1M edges, 10 rounds" "$pc" "$(rate 10000000 "$pc") edges" "$(rss)"
    stop_cluster; up
    pn=$(best pagerank $nocache out/bench-pr-nocache)
    row "  the same without .cache()" "$pn" "$(rate 10000000 "$pn") edges" "$(rss)"
    printf '%-40s %9s x\n' "  ratio without / with cache" "$(awk -v a="$pn" -v b="$pc" 'BEGIN { printf "%.2f", a / b }')"
    stop_cluster
    # Sums add up in another order without the cache: ranks may differ in
    # their last digits, not more.
    LC_ALL=C sort out/bench-pr-cache/part-* > out/bench-pr-cache.txt
    LC_ALL=C sort out/bench-pr-nocache/part-* > out/bench-pr-nocache.txt
    if paste out/bench-pr-cache.txt out/bench-pr-nocache.txt | awk -F'\t' -v tol=1e-9 '
        $1 != $3 { printf "  node %s with cache, %s without\n", $1, $3; bad++; next }
        { d = $2 - $4; d = d < 0 ? -d : d; m = $2 < 0 ? -$2 : $2
          r = m > 0 ? d / m : d; if (r > worst) worst = r
          if (r > tol) { if (bad++ < 5) printf "  node %s: %s with cache, %s without\n", $1, $2, $4 } }
        END { printf "  %d ranks, largest relative difference %.2g\n", NR, worst; exit (bad > 0 || NR == 0) }'
    then
        echo "  output without .cache() equals the cached output (relative 1e-9)"
    else
        echo "  PAGERANK OUTPUTS DIFFER" >&2; exit 1
    fi
fi
