# Mini-Spark. `make` builds release binaries and links them at the repo root.

CARGO ?= cargo
BINS  := master worker client frame gen wcbase
# The coursework labs of docs/labs.md (their table is in tools/lab.sh).
LABS  := 1 2 3 4 5 6 7 8 9

.PHONY: all build test demo demo-chaos demo-hosts demo-trace demo-threads demo-spill demo-netcat ui-shot data bench bench-hosts spark-check clean
.PHONY: lab-check $(LABS:%=lab-%)

all: build

build:
	$(CARGO) build --release --bins
	@for b in $(BINS); do ln -sf target/release/$$b $$b; done

# Unit tests, integration tests (real processes) and the protocol.md check.
test:
	$(CARGO) test --release

# Coursework (docs/labs.md): `make lab-N` runs lab N's tests on this tree.
$(LABS:%=lab-%):
	@tools/lab.sh run $(@:lab-%=%)

# Each lab's bug (tests/labs/NN-NAME.patch) put into a copy of the tree under
# out/lab-check/: the lab's tests must pass here and fail there.
lab-check:
	@tools/lab.sh check

# A master and two workers on loopback run grep, word count and join on
# generated data.
demo: build data
	@tools/demo.sh

# Three workers run word count; one is killed with -9 mid-job; the job
# still succeeds with the fault-free output.
demo-chaos: build data
	@tools/demo-chaos.sh

# The system calls under a word count, a join and a pipe job (strace -f,
# installed if missing): per process, by purpose, with the files that issue
# them; then one reduce task's life replayed. DEMO_SMALL=1: a short input.
demo-trace: build
	@tools/demo-trace.sh

# The threads of the master and the workers while a job runs, sampled from
# /proc: names, states, CPU, where they sleep; the pool's bound.
demo-threads: build
	@tools/demo-threads.sh

# A reduce over many keys with worker --memory 8M: RSS over time next to the
# budget, the spill files, the merge passes, the unbudgeted run's output.
demo-spill: build
	@tools/demo-spill.sh

# The protocol by hand: text mode, Ping and ListWorkers framed with
# ./frame and sent with netcat (installed if missing), a flipped byte's
# CRC error.
demo-netcat: build
	@tools/demo-netcat.sh

# A master and three workers on hosts of their own (network namespaces on a
# bridge, tools/hosts.sh; needs root) run word count and join with no
# faults, 5% packet loss, a split between two workers and a worker
# black-holed mid-shuffle; every output equals the fault-free one.
demo-hosts: build data
	@tools/demo-hosts.sh

# The same, five times each, printing medians.
bench-hosts: build data
	@RUNS=5 tools/demo-hosts.sh

# Screenshots of the master's status page and a job's page, by headless
# Chromium: out/ui.png and out/ui-job.png.
ui-shot: build data
	@tools/ui-shot.sh

# Sample inputs under data/ (git-ignored): 1,000,000 lines of words (65 MB),
# 100,000 users and 500,000 orders, and a directory of text files.
data: build
	@mkdir -p data/docs
	@[ -f data/words.txt ] || ./gen words --lines 1000000 --out data/words.txt
	@[ -f data/users.csv ] || ./gen users --count 100000 --out data/users.csv
	@[ -f data/orders.csv ] || ./gen orders --count 500000 --users 100000 --out data/orders.csv
	@[ -f data/sort.txt ] || ./gen sorted-input --lines 200000 --out data/sort.txt
	@[ -f data/docs/doc1.txt ] || for i in 1 2 3 4; do ./gen words --lines 2000 --seed $$i --out data/docs/doc$$i.txt --quiet; done

# Every job of jobs/ on an embedded Mini-Spark cluster and, exported with
# `client export --to pyspark`, on PySpark local[2], on the same small inputs
# (data/spark-check/); prints a table and fails if an answer differs. Checks
# that each engine reads the other's output directories unchanged. Installs
# a JRE (openjdk-17-jre-headless) and PySpark (a venv, data/spark-venv) if
# missing.
spark-check: build
	@tools/spark-check.sh

# Wall-clock benchmarks against the tools a user would reach for otherwise,
# measured in the same run: the hand-written word count, grep -F, GNU sort,
# DuckDB and Polars (a venv, data/bench-venv), PySpark with BENCH_SPARK=1.
# Every peer's answer must equal Mini-Spark's. BENCH=grep,wordcount,join,
# sort,memory,pagerank picks some; BENCH_RUNS, BENCH_LONG_RUNS: runs each.
bench: build
	@tools/bench.sh

clean:
	$(CARGO) clean
	rm -f $(BINS)
	rm -rf data out
