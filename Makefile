# Mini-Spark. `make` builds release binaries and links them at the repo root.

CARGO ?= cargo
BINS  := master worker client frame gen

.PHONY: all build test demo data bench clean

all: build

build:
	$(CARGO) build --release --bins
	@for b in $(BINS); do ln -sf target/release/$$b $$b; done

# Unit tests, integration tests (real processes) and the protocol.md check.
test:
	$(CARGO) test --release

# A master and two workers on loopback run jobs/grep.job on generated data.
demo: build data
	@tools/demo.sh

# Sample inputs under data/ (git-ignored): 1,000,000 lines, about 65 MB.
data: build
	@mkdir -p data
	@[ -f data/words.txt ] || ./gen words --lines 1000000 --out data/words.txt

# Wall-clock benchmarks against the tools a user would reach for otherwise.
bench: build
	@tools/bench.sh

clean:
	$(CARGO) clean
	rm -f $(BINS)
	rm -rf data out
