# The two commands a newcomer needs: `make run` and `make test`.
# Both first install missing system packages (scripts/prerequisites.sh).
# The first build compiles RocksDB from source: about 13 minutes on 2 cores.

.PHONY: run test bench prerequisites

# Build output is shared by every clone on this machine (and by CI), so a
# second checkout does not rebuild RocksDB. Override to use ./target.
CARGO_TARGET_DIR ?= $(HOME)/.cache/tally-target
export CARGO_TARGET_DIR

prerequisites:
	@scripts/prerequisites.sh

# Start Tally on its embedded default: RocksDB in ./data, http://127.0.0.1:8080.
run: prerequisites
	cargo run --release --bin tally

# Every test: unit, property, simulation and end-to-end (real server on
# 127.0.0.1). --show-output prints the crash loop's and the simulation's totals.
# Then the seed-004 checkout in a real headless Chromium (the script installs
# chromium and Playwright for Python when they are missing).
test: prerequisites
	cargo test --workspace -- --show-output
	scripts/browser-checkout.sh $(CARGO_TARGET_DIR)/debug/tally

# The benchmark harness: release build of the whole workspace (one feature set,
# so RocksDB is built once), then every scenario beside its baseline.
bench: prerequisites
	cargo build --release --workspace
	$(CARGO_TARGET_DIR)/release/bench
