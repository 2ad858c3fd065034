#!/usr/bin/env bash
# Installs what building and testing kscope needs, skipping what is already there.
#   scripts/setup.sh build   wasm target, trunk, wasm-bindgen-cli, wasm-opt
#   scripts/setup.sh test    the above, plus Chromium and the e2e test packages
# Pins (see ../shared/TOOLCHAIN.md): trunk 0.21.14 (0.22 needs a newer rustc),
# wasm-bindgen-cli = the wasm-bindgen in Cargo.lock, wasm-opt from npm binaryen@132
# (Debian's binaryen is too old for modern wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-build}"

TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PWD/.tools/node_modules/.bin:$PATH"

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }
need() { command -v "$1" >/dev/null 2>&1 || { echo "setup: $1 is required but not installed. $2" >&2; exit 1; }; }

need cargo "Install Rust with rustup: https://rustup.rs"
need rustup "Install Rust with rustup: https://rustup.rs"
need npm "Install Node.js 20 or newer (with npm)."

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! cargo fmt --version >/dev/null 2>&1; then
  say "adding rustfmt"
  rustup component add rustfmt
fi

if [[ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]]; then
  say "installing trunk $TRUNK_VERSION (takes several minutes, once)"
  cargo install trunk --version "$TRUNK_VERSION" --locked
fi

bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]]; then
  say "installing wasm-bindgen-cli $bindgen_version (matches Cargo.lock)"
  # Not --locked: its lockfile names a webpki-roots release the registry mirror lacks.
  cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

if [[ "$(wasm-opt --version 2>/dev/null)" != *"version $BINARYEN_VERSION"* ]]; then
  say "installing wasm-opt (npm binaryen@$BINARYEN_VERSION) into .tools/"
  mkdir -p .tools
  npm install --prefix .tools --no-save --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >/dev/null
fi

if [[ "$what" == test ]]; then
  if [[ ! -x /usr/bin/chromium ]]; then
    say "installing Chromium from Debian"
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi
  if [[ ! -d tests/e2e/node_modules/playwright-core ]]; then
    say "installing the end-to-end test packages"
    (cd tests/e2e && npm ci --no-audit --no-fund >/dev/null)
  fi
fi
