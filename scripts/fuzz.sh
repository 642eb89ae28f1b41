#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 20; CI's short run).
# A long run: scripts/fuzz.sh 3600. Findings land in fuzz/artifacts/<target>/.
# cargo-fuzz needs nightly-only compiler flags: RUSTC_BOOTSTRAP=1 lets the
# stable toolchain accept them. Without sanitizers (-s none): the code under
# test is safe Rust, and a panic is what we are looking for.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${TALLY_FUZZ_TARGET_DIR:-$HOME/.cache/tally-fuzz-target}"
# Build first, on its own: the run below filters its output through grep,
# which would hide a target that does not compile (a run that tests nothing
# must fail, not pass).
cargo fuzz build -s none -O
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  echo "== fuzz $target for ${seconds}s"
  output=$(cargo fuzz run -s none -O "$target" "corpus/$target" -- -max_total_time="$seconds" 2>&1 || true)
  grep -E "^Done|panicked|ERROR|SUMMARY|artifact" <<<"$output" || true
  if ! grep -q "^Done" <<<"$output"; then
    echo "fuzz $target did not run to its end:" >&2
    tail -n 20 <<<"$output" >&2
    exit 1
  fi
  # libFuzzer exits non-zero on a finding; pipefail is defeated by grep above,
  # so check for artifacts explicitly.
  if compgen -G "artifacts/$target/*" >/dev/null; then
    echo "fuzz $target found a failing input: fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
