#!/usr/bin/env bash
# `make bench`: Mini-Spark and its peers on the same workloads in one run,
# every peer's answer checked against Mini-Spark's, medians of whole-process
# wall times and their ratios, then one table with the targets of issue 16
# (tools/bench_report.py). The machine is noisy: compare within a run, not
# across runs. Contenders take turns run by run, so a burst of load from
# elsewhere falls on all of them.
#
# Mini-Spark: one cluster of a master and 2 workers with default flags,
# started once and warm for every benchmark but `memory`; its time is the
# client's, `client submit --wait`, submit to done. Peers: the whole
# process, the interpreter's start and imports included
# (tools/bench_peers.py holds their queries).
#
#   grep       jobs/grep.job, 1M lines (~65 MB), vs `grep -F`
#   wordcount  jobs/wordcount.job, 1M and 10M lines, vs the hand-written
#              2-thread word count (tools/wcbase.rs), DuckDB and Polars
#              (and PySpark's RDD word count with BENCH_SPARK=1)
#   join       jobs/join.job + jobs/revenue.job, 1M users and 5M orders,
#              vs DuckDB and Polars
#   sort       jobs/sort.job, 1M and 10M 100-byte `key<TAB>payload` records
#              (`gen records`), vs `LC_ALL=C sort -S 2G --parallel=2`,
#              DuckDB and Polars
#   memory     reduce_by_key over 20M records / 5M distinct keys with
#              `worker --memory 32M`, output compared with an unbudgeted run
#   pagerank   jobs/pagerank.job, 10 rounds over 100k nodes / 1M edges,
#              with its links cached and without (the job with `.cache()`
#              removed), and Spark's pagerank.py on PySpark local[2] with
#              BENCH_SPARK=1; ranks must agree to a relative 1e-9
#
# BENCH=grep,wordcount,...  the benchmarks to run (default: all)
# BENCH_RUNS=N              runs of each short benchmark (default 5)
# BENCH_LONG_RUNS=N         runs of the 10M ones, the memory ones and PySpark
#                           (default 3: one run of a job that writes 2 GB is
#                           at the mercy of the disk and the host; the ratios
#                           need medians)
# BENCH_SPARK=1             PySpark too (a JRE and pyspark are installed
#                           if missing, as tools/spark-check.sh does)
# BENCH_VENV=DIR            DuckDB and Polars' venv (default data/bench-venv)
# SPARK_VENV=DIR            PySpark's venv (default data/spark-venv)
#
# A wrong answer from any contender ends the run with status 1; a missed
# speed or memory target is only marked in the table.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cluster.sh

runs=${BENCH_RUNS:-5}
long_runs=${BENCH_LONG_RUNS:-3}
only=${BENCH:-grep,wordcount,join,sort,memory,pagerank}
for n in "$runs" "$long_runs"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "error: BENCH_RUNS and BENCH_LONG_RUNS must be whole numbers of at least 1 (got \"$n\")" >&2; exit 2; }
done
spark=${BENCH_SPARK:-0}
venv=${BENCH_VENV:-data/bench-venv}
spark_venv=${SPARK_VENV:-data/spark-venv}
# The versions pip resolved when this was written (2026-12): DuckDB and
# Polars change their speed from release to release, so the table says
# which were measured.
peer_packages="duckdb==2.0.1 polars==2.1.0"
want() { [[ ",$only," == *",$1,"* ]]; }
d=data/bench
o=out/bench
mkdir -p $d $o
results=$o/results.tsv
: >$results
# The workers' budget: by default the worker's default, from its help
# (`(default 512M)`); the memory benchmark sets its own.
budget_mib=$(./worker --help | sed -n 's/.*memory budget.*(default \([0-9]*\)M).*/\1/p')
rss_slack_mib=40

# ---- the peers' environments ------------------------------------------------

peers=""
if want wordcount || want join || want sort; then
    if ! "$venv/bin/python" -c 'import duckdb, polars' 2>/dev/null; then
        echo "bench: installing $peer_packages into $venv (pip)" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check $peer_packages
    fi
    peers=$("$venv/bin/python" -c 'import duckdb, polars; print("DuckDB", duckdb.__version__ + ", Polars", polars.__version__)')
fi
if [ "$spark" = 1 ]; then
    . tools/pyspark-env.sh
    need_pyspark "$spark_venv" bench
    peers+="${peers:+, }PySpark $("$spark_venv/bin/python" -c 'import pyspark; print(pyspark.__version__)')"
fi
printf 'machine\t%s, %s cores; %s\n' "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" "$(nproc)" "$peers" >>$results
printf 'load\tstart\t%s\n' "$(uptime)" >>$results

# ---- timing -------------------------------------------------------------------

now() { date +%s.%N; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# race N BENCHMARK NAME COMMAND [NAME COMMAND]...: runs every COMMAND (a
# function or a program, no arguments) N times, taking turns, and records
# each one's median. In a race with Mini-Spark, the workers' peak RSS is
# reset first (writing 5 to /proc/PID/clear_refs sets VmHWM to the current
# RSS) and recorded after, so it is this benchmark's peak.
race() {
    local n=$1 bench=$2 i r t0 t1 mini=0
    shift 2
    local -a names=() cmds=() times=()
    while (($#)); do names+=("$1"); cmds+=("$2"); times+=(""); shift 2; done
    [[ " ${names[*]} " == *" Mini-Spark "* ]] && mini=1
    if [ $mini = 1 ]; then
        for p in "${worker_pids[@]}"; do echo 5 >"/proc/$p/clear_refs"; done
    fi
    for ((r = 0; r < n; r++)); do
        for i in "${!cmds[@]}"; do
            t0=$(now)
            if ! "${cmds[i]}" >$o/last.log 2>&1; then
                echo "bench: ${names[i]} failed on $bench:" >&2
                tail -n 20 $o/last.log >&2
                exit 1
            fi
            t1=$(now)
            times[i]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') "
        done
    done
    for i in "${!cmds[@]}"; do
        # shellcheck disable=SC2086
        local m; m=$(median ${times[i]})
        printf 'time\t%s\t%s\t%s\t%s\n' "$bench" "${names[i]}" "$m" "${times[i]% }" >>$results
        printf '  %-34s %-10s %8s s   (runs: %s)\n' "$bench" "${names[i]}" "$m" "${times[i]% }"
    done
    if [ $mini = 1 ]; then record_rss "$bench"; fi
}

# The peak RSS of each worker since the last reset, in MiB, against the
# budget plus the slack the issue allows.
record_rss() {
    local peaks="" p
    for p in "${worker_pids[@]}"; do
        peaks+="$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$p/status") "
    done
    printf 'rss\t%s\t%s\t%s\n' "$1" "${peaks% }" "$((budget_mib + rss_slack_mib))" >>$results
    printf '  %-34s peak RSS per worker: %s MiB\n' "$1" "${peaks% }"
}

# ---- answers ------------------------------------------------------------------

# The lines of a Mini-Spark output directory (part files in order) or of a
# peer's file or directory of part files.
lines_of() { if [ -d "$1" ]; then cat "$1"/part-*; else cat "$1"; fi; }
fail_answer() { echo "bench: WRONG ANSWER: $1" >&2; exit 1; }
# same_set NAME MINI PEER: the same lines as a multiset.
same_set() {
    cmp -s <(lines_of "$2" | LC_ALL=C sort -S 1G) <(lines_of "$3" | LC_ALL=C sort -S 1G) ||
        fail_answer "$1: $3 does not have the lines of $2"
    echo "  $1: same lines as Mini-Spark ($(lines_of "$2" | wc -l))"
}
# same_order NAME MINI PEER: the same lines in the same order.
same_order() {
    cmp -s <(lines_of "$2") <(lines_of "$3") || fail_answer "$1: $3 is not $2 line for line"
    echo "  $1: same lines in the same order as Mini-Spark ($(lines_of "$2" | wc -l))"
}
# same_ranks NAME MINI PEER: `node<TAB>rank` lines, the same nodes, ranks
# within a relative 1e-9 (sums added in another order differ in their last
# digits, not more).
same_ranks() {
    lines_of "$2" | LC_ALL=C sort >$o/ranks-a.txt
    lines_of "$3" | LC_ALL=C sort >$o/ranks-b.txt
    paste $o/ranks-a.txt $o/ranks-b.txt | awk -F'\t' -v tol=1e-9 '
        $1 != $3 { if (bad++ < 5) printf "  node %s in one, %s in the other\n", $1, $3; next }
        { d = $2 - $4; d = d < 0 ? -d : d; m = $2 < 0 ? -$2 : $2
          r = m > 0 ? d / m : d; if (r > worst) worst = r
          if (r > tol) { if (bad++ < 5) printf "  node %s: %s against %s\n", $1, $2, $4 } }
        END { printf "  %d ranks, largest relative difference %.2g\n", NR, worst; exit (bad > 0 || NR == 0) }' ||
        fail_answer "$1: the ranks of $3 are not those of $2"
    [ "$(wc -l <$o/ranks-a.txt)" = "$(wc -l <$o/ranks-b.txt)" ] || fail_answer "$1: $2 and $3 rank different nodes"
    echo "  $1: same ranks as Mini-Spark (relative 1e-9)"
}

# ---- contenders -----------------------------------------------------------------

submit() { ./client --master "$master" submit "$@" --overwrite --wait; }
peer() { "$venv/bin/python" tools/bench_peers.py "$@"; }
pyspark() { "$spark_venv/bin/python" tools/bench_peers.py pyspark "$@"; }

ensure() { [ -f "$1" ] || ./gen "${@:2}" --out "$1"; }

start_master --quiet
start_worker --quiet
start_worker --quiet
wait_workers 2

if want grep; then
    echo "grep"
    words=$d/words-1m.txt
    ensure $words words --lines 1000000
    cat $words >/dev/null   # the page cache warm for every contender
    grep_f() { grep -F error $words >$o/grep-F.txt; }
    grep_job() { submit jobs/grep.job --param input=$words --param output=$o/grep --param pattern=error; }
    race "$runs" grep "Mini-Spark" grep_job "grep -F" grep_f
    same_set "grep -F" $o/grep $o/grep-F.txt
fi

if want wordcount; then
    for size in 1m 10m; do
        echo "wordcount $size"
        words=$d/words-$size.txt
        if [ $size = 1m ]; then ensure $words words --lines 1000000; n=$runs; else ensure $words words --lines 10000000 --seed 7; n=$long_runs; fi
        cat $words >/dev/null
        wc_job() { submit jobs/wordcount.job --param input=$words --param output=$o/wc; }
        wc_base() { ./wcbase $words $o/wc-wcbase.txt; }
        wc_duckdb() { peer duckdb wordcount $o/wc-duckdb.txt $words; }
        wc_polars() { peer polars wordcount $o/wc-polars.txt $words; }
        race $n wordcount-$size "Mini-Spark" wc_job "wcbase" wc_base "DuckDB" wc_duckdb "Polars" wc_polars
        same_set "wcbase $size" $o/wc $o/wc-wcbase.txt
        same_set "DuckDB $size" $o/wc $o/wc-duckdb.txt
        same_set "Polars $size" $o/wc $o/wc-polars.txt
        if [ "$spark" = 1 ] && [ $size = 1m ]; then
            wc_pyspark() { pyspark wordcount $o/wc-pyspark $words; }
            race "$long_runs" wordcount-$size "PySpark" wc_pyspark
            same_set "PySpark $size" $o/wc $o/wc-pyspark
        fi
    done
fi

if want join; then
    echo "join + revenue"
    users=$d/users-1m.csv orders=$d/orders-5m.csv
    ensure $users users --count 1000000
    ensure $orders orders --count 5000000 --users 1000000
    cat $users $orders >/dev/null
    both() { submit jobs/join.job "$@" --param output=$o/join && submit jobs/revenue.job "$@" --param output=$o/revenue; }
    jr_job() { both --param users=$users --param orders=$orders; }
    jr_duckdb() { peer duckdb join $o/join-duckdb.txt $users $orders && peer duckdb revenue $o/revenue-duckdb.txt $users $orders; }
    jr_polars() { peer polars join $o/join-polars.txt $users $orders && peer polars revenue $o/revenue-polars.txt $users $orders; }
    race "$runs" join-revenue "Mini-Spark" jr_job "DuckDB" jr_duckdb "Polars" jr_polars
    for p in duckdb polars; do
        same_set "$p join" $o/join $o/join-$p.txt
        same_set "$p revenue" $o/revenue $o/revenue-$p.txt
    done
fi

if want sort; then
    for size in 1m 10m; do
        echo "sort $size"
        records=$d/records-$size.txt
        if [ $size = 1m ]; then ensure $records records --count 1000000 --bytes 100; n=$runs
        else ensure $records records --count 10000000 --bytes 100 --seed 7; n=$long_runs; fi
        cat $records >/dev/null
        sort_job() { submit jobs/sort.job --param input=$records --param output=$o/sort; }
        sort_gnu() { LC_ALL=C sort -S 2G --parallel=2 $records >$o/sort-gnu.txt; }
        sort_duckdb() { peer duckdb sort $o/sort-duckdb.txt $records; }
        sort_polars() { peer polars sort $o/sort-polars.txt $records; }
        race $n sort-$size "Mini-Spark" sort_job "GNU sort" sort_gnu "DuckDB" sort_duckdb "Polars" sort_polars
        # Ten random letters, a tab, the row number: no byte below the tab,
        # so GNU sort's whole-line order is the job's key-then-rest order.
        same_order "GNU sort $size" $o/sort $o/sort-gnu.txt
        same_order "DuckDB $size" $o/sort $o/sort-duckdb.txt
        same_order "Polars $size" $o/sort $o/sort-polars.txt
        rm -f $o/sort-*.txt   # 1 GB each at 10M
    done
    rm -rf $o/sort
fi

if want pagerank; then
    echo "pagerank"
    links=$d/links-100k-1m.txt
    ensure $links links --nodes 100000 --edges 1000000
    # The same job with its links recomputed from the file in every round:
    # `.cache()` (or `.persist()`) dropped wherever it is called, outside
    # comments, whether it has a line of its own or ends one.
    nocache=$o/pagerank-nocache.job
    sed -e '/^[[:space:]]*\.\(cache\|persist\)()[[:space:]]*$/d' \
        -e '/^[[:space:]]*#/!s/\.\(cache\|persist\)()//g' jobs/pagerank.job >$nocache
    caches() { grep -v '^[[:space:]]*#' "$1" | grep -cE '\.(cache|persist)\(\)' || true; }
    if [ "$(caches jobs/pagerank.job)" -lt 1 ] || [ "$(caches $nocache)" -ne 0 ]; then
        echo "jobs/pagerank.job: could not make a variant without .cache()" >&2; exit 1
    fi
    cat $links >/dev/null
    pr() { submit "$1" --param links=$links --param iterations=10 --param output="$2"; }
    pr_cache() { pr jobs/pagerank.job $o/pr-cache; }
    pr_nocache() { pr $nocache $o/pr-nocache; }
    race "$runs" pagerank "Mini-Spark" pr_cache "no cache" pr_nocache
    same_ranks "without .cache()" $o/pr-cache $o/pr-nocache
    if [ "$spark" = 1 ]; then
        pr_pyspark() { pyspark pagerank $o/pr-pyspark $links 10; }
        race "$long_runs" pagerank "PySpark" pr_pyspark
        same_ranks "PySpark pagerank.py" $o/pr-cache $o/pr-pyspark
    fi
fi

stop_cluster

if want memory; then
    echo "memory"
    # 5M distinct random keys, each repeated 4 times: 20M records.
    keys=$d/keys-5m.txt
    ensure $keys sorted-input --lines 5000000 --seed 9
    cat >$o/memory.job <<'JOB'
param input
param output
keys = read_text(input).map(before($0, "\t"))
four = keys.flat_map(split(concat($0, " ", $0, " ", $0, " ", $0)))
four.map($0, 1).reduce_by_key(sum).save(output)
JOB
    mem_job() { submit $o/memory.job --param input=$keys --param output="$1"; }
    mem_free() { mem_job $o/mem-free; }
    mem_32m() { mem_job $o/mem-32m; }
    start_master --quiet; start_worker --quiet; start_worker --quiet; wait_workers 2
    race "$long_runs" memory-512m "Mini-Spark" mem_free
    stop_cluster
    start_master --quiet; start_worker --quiet --memory 32M; start_worker --quiet --memory 32M; wait_workers 2
    budget_mib=32
    race "$long_runs" memory-32m "Mini-Spark" mem_32m
    # The last run's stages, with what they spilled.
    id=$(./client --master "$master" jobs | sed -n 's/^id=\([0-9]*\) .*/\1/p' | tail -n1)
    ./client --master "$master" status "$id" | grep -v '^output' | sed 's/^/  /' || true
    stop_cluster
    same_set "--memory 32M" $o/mem-free $o/mem-32m
    rm -rf $o/mem-free $o/mem-32m
fi

printf 'load\tend\t%s\n' "$(uptime)" >>$results
echo
python3 tools/bench_report.py $results
