#!/usr/bin/env bash
# The coursework labs of docs/labs.md: each lab's tests, and the check that
# they catch the lab's bug.
#
#   tools/lab.sh run N         lab N's tests on this tree (`make lab-N`)
#   tools/lab.sh check [N...]  every lab (or those named), on a copy of the
#                              tree under out/lab-check/: its tests pass;
#                              then, with its patch tests/labs/NN-NAME.patch
#                              (the bug the lab asks the student to put in)
#                              applied to a fresh copy, they fail
#                              (`make lab-check`)
#   tools/lab.sh list          the labs, their patches and their tests
#
# The copy is made of the files git knows (tracked, and new ones not
# ignored), as they are in this working tree, which is never changed. All
# the copies share one cargo target directory (out/lab-check/target) and
# are built with cargo's incremental dev profile, so a variant rebuilds
# only what its patch changed, in seconds. A patch that no longer applies (the code
# moved) is reported as such, by lab, before anything is built.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# One lab a line: number, name, cargo test targets (comma-separated), test
# name filters (comma-separated; a test runs if its path contains one).
LABS="
1 framing       --lib                  protocol::frame
2 semaphore     --lib                  net::semaphore,worker::pool
3 pipe          --lib                  exec::pipe
4 commit        --lib                  worker::attempts
5 journal       --lib,--test,recovery  master::journal,finished_jobs_survive_a_restart
6 heartbeat     --lib,--test,cluster   master::membership,a_silent_worker_is_declared_dead
7 sort          --lib                  storage::sort
8 partition     --lib,--test,shuffle   storage::hash,wordcount_matches_a_reference
9 memory        --lib                  storage::aggregate
"
# How long one lab's tests may take before the run is abandoned. Every test
# has its own, shorter deadline (a hang fails the test with a reason); this
# only guards the checker against a test that forgot one.
LAB_TIMEOUT_S=${LAB_TIMEOUT_S:-600}
CHECK_DIR=$ROOT/out/lab-check

die() { echo "error: $*" >&2; exit 2; }

# lab_field N FIELD: 1 name, 2 targets, 3 filters.
lab_field() {
    local n=$1 field=$2
    awk -v n="$n" -v f="$((field + 1))" '$1 == n { print $f; found = 1 } END { exit !found }' <<<"$LABS" ||
        die "no lab $n (labs: $(lab_numbers | tr '\n' ' '))"
}
lab_numbers() { awk 'NF { print $1 }' <<<"$LABS"; }
lab_patch() { printf 'tests/labs/%02d-%s.patch' "$1" "$(lab_field "$1" 1)"; }

# cargo_tests N DIR [CARGO_FLAG...]: runs lab N's tests in DIR (by default
# as `make test` builds them: --release), printing cargo's output; cargo's
# status.
cargo_tests() {
    local n=$1 dir=$2 targets filters
    shift 2
    local flags=("${@:---release}")
    IFS=, read -ra targets <<<"$(lab_field "$n" 2)"
    IFS=, read -ra filters <<<"$(lab_field "$n" 3)"
    (cd "$dir" && timeout --foreground --kill-after=10 "$LAB_TIMEOUT_S" \
        cargo test "${flags[@]}" "${targets[@]}" -- "${filters[@]}" 2>&1)
}

# in_copy N...: cargo_tests in the copy, with the copies' shared target
# directory and cargo's dev profile (incremental, unoptimised, no debug
# info): a variant then rebuilds in seconds, where --release takes minutes.
# --no-fail-fast: an integration test (the bug seen from outside) runs even
# when a unit test has failed already.
in_copy() {
    CARGO_TARGET_DIR=$CHECK_DIR/target CARGO_PROFILE_DEV_DEBUG=0 \
        cargo_tests "$1" "$CHECK_DIR/tree" --profile dev --no-fail-fast
}

# passed OUTPUT: how many tests passed, over every test binary.
passed() { grep -o '^test result: [A-Za-z]*\. [0-9]* passed' <<<"$1" | awk '{ s += $4 } END { print s + 0 }'; }

run() {
    local n=$1 log status=0
    [ "$n" ] || die "usage: tools/lab.sh run N"
    echo "lab $n ($(lab_field "$n" 1)): cargo test --release $(lab_field "$n" 2 | tr , ' ') -- $(lab_field "$n" 3 | tr , ' ')"
    log=$(mktemp)
    cargo_tests "$n" "$ROOT" | tee "$log" || status=$?
    local count
    count=$(passed "$(cat "$log")")
    rm -f "$log"
    if [ "$status" -ne 0 ]; then
        echo "lab $n: FAILED"
        return 1
    fi
    if [ "$count" -eq 0 ]; then
        echo "lab $n: no test matched its filters: were the tests renamed? (the table in tools/lab.sh)"
        return 1
    fi
    echo "lab $n: all $count tests passed"
}

list() {
    local n
    for n in $(lab_numbers); do
        printf 'lab %s  %-10s  %-30s  cargo test --release %s -- %s\n' "$n" "$(lab_field "$n" 1)" \
            "$(lab_patch "$n")" "$(lab_field "$n" 2 | tr , ' ')" "$(lab_field "$n" 3 | tr , ' ')"
    done
}

# copy_tree DEST: the files git knows, as they are in this working tree,
# stamped with the time of the copy (tar -m): cargo rebuilds what is older
# than its sources, and the copy's last build may be of another variant.
copy_tree() {
    local dest=$1
    rm -rf "$dest"
    mkdir -p "$dest"
    git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf - | tar -xmf - -C "$dest"
}

# apply_patch N DIR [--check]: applies lab N's patch in DIR exactly (no
# fuzz). GIT_CEILING_DIRECTORIES keeps git from taking the repository
# around out/ for DIR's own (it would then ignore paths outside it).
apply_patch() {
    local n=$1 dir=$2
    shift 2
    (cd "$dir" && GIT_CEILING_DIRECTORIES=$(dirname "$dir") git apply "$@" "$ROOT/$(lab_patch "$n")") 2>&1
}

check() {
    local labs=("$@") n failed=0 started=$SECONDS
    [ ${#labs[@]} -gt 0 ] || mapfile -t labs < <(lab_numbers)
    for n in "${labs[@]}"; do lab_field "$n" 1 >/dev/null; done

    # Every patch first, on one copy: a stale one is reported before any build.
    copy_tree "$CHECK_DIR/tree"
    local stale=0 why
    for n in "${labs[@]}"; do
        if [ ! -f "$(lab_patch "$n")" ]; then
            echo "lab $n: patch $(lab_patch "$n") is missing"
            stale=1
        elif ! why=$(apply_patch "$n" "$CHECK_DIR/tree" --check); then
            echo "lab $n: patch no longer applies: $(lab_patch "$n") (the code moved; make the bug again and save it with git diff)"
            sed 's/^/    /' <<<"$why"
            stale=1
        fi
    done
    [ "$stale" -eq 0 ] || { echo "lab-check: FAILED (stale patches)"; return 1; }

    # The real code, on the copy: every lab's tests pass.
    local summary=() t out status fails count
    local -A real_s passing
    for n in "${labs[@]}"; do
        t=$SECONDS
        status=0
        out=$(in_copy "$n") || status=$?
        count=$(passed "$out")
        real_s[$n]=$((SECONDS - t))
        passing[$n]=$count
        if [ "$status" -ne 0 ] || [ "$count" -eq 0 ]; then
            echo "lab $n ($(lab_field "$n" 1)): the tests do not pass on the real code (exit $status, $count passed)"
            grep -E '^(test .*FAILED|---- |error)|panicked' <<<"$out" | head -20 | sed 's/^/    /' || true
            failed=1
        fi
    done
    [ "$failed" -eq 0 ] || { echo "lab-check: FAILED (the real code)"; return 1; }

    # Each lab's bug, on a fresh copy: the same tests fail, and fail as
    # tests (a patch that does not compile proves nothing).
    for n in "${labs[@]}"; do
        local name
        name=$(lab_field "$n" 1)
        t=$SECONDS
        copy_tree "$CHECK_DIR/tree"
        apply_patch "$n" "$CHECK_DIR/tree" >/dev/null
        status=0
        out=$(in_copy "$n") || status=$?
        local broken_s=$((SECONDS - t))
        fails=$(grep -E '^test .* FAILED$' <<<"$out" | sed -E 's/^test (.*) \.\.\. FAILED$/\1/' | tr '\n' ' ' || true)
        if [ "$status" -eq 0 ]; then
            echo "lab $n ($name): the tests PASS with the bug in: they do not catch it"
            summary+=("lab $n $name: NOT CAUGHT")
            failed=1
        elif [ -z "$fails" ]; then
            echo "lab $n ($name): with the bug in, cargo failed (exit $status) but no test failed:"
            grep -E '^error|timeout' <<<"$out" | head -20 | sed 's/^/    /' || true
            summary+=("lab $n $name: BROKEN PATCH (exit $status, no test failed)")
            failed=1
        else
            echo "lab $n ($name): $(lab_patch "$n") makes these fail: $fails"
            grep -E 'panicked at' -A2 <<<"$out" | grep -vE '^(--|note:|stack backtrace:)' | head -3 | sed 's/^/    /' || true
            summary+=("lab $n $name: caught (${passing[$n]} tests pass in ${real_s[$n]}s; with the bug ${broken_s}s)")
        fi
    done
    echo
    printf '%s\n' "${summary[@]}"
    echo "lab-check: ${#labs[@]} labs in $((SECONDS - started))s"
    [ "$failed" -eq 0 ] || { echo "lab-check: FAILED"; return 1; }
    echo "lab-check: every lab's tests pass on the real code and fail with its bug in"
}

case "${1:-}" in
    run) run "${2:-}" ;;
    check) shift; check "$@" ;;
    list) list ;;
    *) die "usage: tools/lab.sh run N | check [N...] | list" ;;
esac
