#!/usr/bin/env bash
# `make demo-spill`: bounded memory. A reduce_by_key over many distinct keys
# (`gen sorted-input`: N random keys, each counted four times) runs on one
# worker started with `--memory 8M`. While it runs, the demo samples the
# worker's resident memory (VmRSS in /proc/PID/status) and the spill run
# files in its work directory (WORK_DIR/job-N/spill-attempt-A/run-NNNNNN),
# then prints them over time next to the budget, the spills and merge passes
# the worker logged (the `spill` and `merge_pass` events of
# src/storage/aggregate/mod.rs and src/storage/sort.rs), and checks the
# output against the same job on a worker with the default 512M budget.
# Exits 1 if the budgeted worker spilled nothing (its log and the job's
# status say) or the outputs differ.
#   DEMO_SMALL=1   300,000 keys instead of 1,000,000 (for CI)
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/cluster.sh

keys=1000000
[ "${DEMO_SMALL:-0}" = 1 ] && keys=300000
input=data/demo/keys-$keys.txt
mkdir -p data/demo out/demo
[ -f "$input" ] || ./gen sorted-input --lines "$keys" --seed 9 --out "$input" --quiet
job=out/demo/spill.job
cat >"$job" <<'JOB'
# Each key of the input four times, counted: as many distinct keys as lines.
param input
param output
keys = read_text(input).map(before($0, "\t"))
four = keys.flat_map(split(concat($0, " ", $0, " ", $0, " ", $0)))
four.map($0, 1).reduce_by_key(sum, 2).save(output)
JOB

fail() {
    echo "demo-spill: $*" >&2
    exit 1
}

# Samples the worker's VmRSS and its run files every 50 ms until it is
# killed: "ms rss_kib files bytes" lines.
sample() {
    local pid=$1 work=$2 t0
    t0=$(date +%s%N)
    while kill -0 "$pid" 2>/dev/null; do
        local rss files
        rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
        files=$(find "$work" -name 'run-*' -type f -printf '%s\n' 2>/dev/null |
            awk '{ n++; s += $1 } END { print n + 0, s + 0 }')
        echo "$((($(date +%s%N) - t0) / 1000000)) $rss $files"
        sleep 0.05
    done
}

# Runs the job on a fresh worker started with the given flags; leaves the
# samples in $cluster_dir/$name.samples and the worker's log in
# $cluster_dir/$name.log.
run() {
    local name=$1
    shift
    start_master
    local work="$cluster_dir/work-$name"
    start_worker --slots 2 --work-dir "$work" --verbose "$@"
    wait_workers 1
    local pid=${worker_pids[0]}
    sample "$pid" "$work" >"$cluster_dir/$name.samples" &
    local sampler=$!
    echo "\$ ./worker --slots 2 $* &   # pid $pid, work dir $work"
    echo "\$ ./client submit $job --param input=$input --param output=out/demo/spill-$name --wait"
    ./client --master "$master" submit "$job" --param input="$input" \
        --param output="out/demo/spill-$name" --overwrite --wait >"$cluster_dir/$name.submit" 2>&1 ||
        { cat "$cluster_dir/$name.submit" >&2; fail "the job failed"; }
    id=$(head -n1 "$cluster_dir/$name.submit")
    echo "    $(tail -n1 "$cluster_dir/$name.submit")"
    ./client --master "$master" status "$id" >"$cluster_dir/$name.status"
    peak[$name]=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    cp "$cluster_dir/worker0.log" "$cluster_dir/$name.log"
    stop_cluster
    rm -rf "$cluster_dir/state"
}

declare -A peak
echo "== one worker with --memory 8M (its running tasks share 8 MiB for record data; beyond it they spill)"
echo "   reduce_by_key over $((keys * 4)) records, $keys distinct keys: the table cannot fit"
run budget --memory 8M

samples="$cluster_dir/budget.samples"
[ -s "$samples" ] || fail "no samples taken"
echo
echo "== the worker's resident memory and its spill run files, over time (sampled every 50 ms)"
echo "   RSS counts everything the process maps (code, thread stacks, I/O buffers, the allocator's"
echo "   free lists), not only the record data the budget bounds; watch it stay flat while runs pile up"
awk -v budget=8 '
    { t[NR] = $1; r[NR] = $2; n[NR] = $3; b[NR] = $4 }
    END {
        step = NR > 24 ? int((NR + 23) / 24) : 1
        printf "   %8s  %9s  %8s  %9s  %10s\n", "ms", "RSS MiB", "budget", "run files", "run bytes"
        for (i = 1; i <= NR; i += step) row(i)
        if ((NR - 1) % step) row(NR)
    }
    function row(i) {
        printf "   %8d  %9.1f  %6d M  %9d  %10d  %s\n", t[i], r[i] / 1024, budget, n[i], b[i], bar(r[i] / 1024)
    }
    function bar(m,  s, k) { s = ""; for (k = 0; k < m / 4 && k < 40; k++) s = s "#"; return s }
' "$samples"
max_files=$(awk 'BEGIN { m = 0 } $3 > m { m = $3 } END { print m }' "$samples")
max_bytes=$(awk 'BEGIN { m = 0 } $4 > m { m = $4 } END { print m }' "$samples")
echo "   most run files at once: $max_files, $((max_bytes / 1024)) KiB; peak RSS ${peak[budget]} MiB"

log="$cluster_dir/budget.log"
spills=$(grep -c ' aggregate spill ' "$log" || true)
passes=$(grep -c ' sort merge_pass ' "$log" || true)
echo
echo "== what the worker logged (--verbose): each spill writes the table sorted to a run file;"
echo "   a merge pass merges the oldest fan-in runs into one when more are waiting than a merge reads at once"
echo "   spills: $spills, merge passes: $passes"
grep -h -m3 ' aggregate spill ' "$log" | sed 's/^/   /' || true
grep -h -m3 ' sort merge_pass ' "$log" | sed 's/^/   /' || true
echo "   the job's figures (client status):"
sed 's/^/   /' "$cluster_dir/budget.status"

echo
echo "== the same job on a worker with the default budget (512M), for reference"
run free
free_files=$(awk 'BEGIN { m = 0 } $3 > m { m = $3 } END { print m }' "$cluster_dir/free.samples")
echo "   run files seen: $free_files; spills logged: $(grep -c ' aggregate spill ' "$cluster_dir/free.log" || true); peak RSS ${peak[free]} MiB"

echo
[ "$spills" -gt 0 ] || fail "the budgeted worker logged no spill"
grep -q '^spilled [1-9]' "$cluster_dir/budget.status" || fail "the job's status shows nothing spilled to disk"
if [ "$max_files" -eq 0 ]; then
    # The log and the status are the record; the samples only catch the run
    # files that live longer than a sample takes (a small input's job is
    # over in a quarter of a second).
    echo "== the run files came and went between samples; run without DEMO_SMALL=1 to watch them pile up"
fi
if cmp -s <(sort out/demo/spill-budget/part-*) <(sort out/demo/spill-free/part-*); then
    echo "== the output with --memory 8M equals the unbudgeted output ($(cat out/demo/spill-free/part-* | wc -l) keys)"
    echo "   peak RSS: ${peak[budget]} MiB with --memory 8M, ${peak[free]} MiB with 512M"
else
    fail "OUTPUTS DIFFER"
fi
echo "== stopping"
