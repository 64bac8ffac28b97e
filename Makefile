# Mini-Spark. `make` builds release binaries and links them at the repo root.

CARGO ?= cargo
BINS  := master worker client frame

.PHONY: all build test demo clean

all: build

build:
	$(CARGO) build --release --bins
	@for b in $(BINS); do ln -sf target/release/$$b $$b; done

# Unit tests, integration tests (real processes) and the protocol.md check.
test:
	$(CARGO) test --release

# A master and two workers on loopback: shows them registered, then stops them.
demo: build
	@tools/demo.sh

clean:
	$(CARGO) clean
	rm -f $(BINS)
