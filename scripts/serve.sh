#!/usr/bin/env bash
# Installs whatever is missing, builds the app (release wasm) and serves it on
# http://127.0.0.1:8080 (address and port in Trunk.toml). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PWD/.tools/node_modules/.bin:$PATH"
echo "kscope: building, then serving on http://127.0.0.1:8080"
exec trunk serve --release --offline "$@"
