#!/usr/bin/env bash
# Runs every test: native unit, simulation and CLI tests (cargo test), the
# release wasm build, and end-to-end tests in headless Chromium, including the
# native-vs-wasm trace-hash check. Installs whatever is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PWD/.tools/node_modules/.bin:$PATH"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "formatting (cargo fmt --check)"
cargo fmt --all -- --check

step "native tests (cargo test --workspace)"
cargo test --workspace --locked

step "release wasm build (trunk build --release)"
trunk build --release --offline
for wasm in dist/*.wasm; do
  printf '%-48s %8d bytes raw, %8d gzipped\n' "$wasm" "$(stat -c %s "$wasm")" "$(gzip -9c "$wasm" | wc -c)"
done

step "native kscope binary for the trace-hash comparison"
cargo build --locked -p kscope-cli

step "end-to-end tests (headless Chromium)"
(cd tests/e2e && KSCOPE_BIN="$PWD/../../target/debug/kscope" node --test --test-concurrency=1)
