#!/bin/bash
# Rebuild every golden file: kscope session -> JSON dumps + kscope printer output,
# then real kubectl 1.32 against the fake apiserver, then DIFFS.txt.
set -e
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="${REPO:-$(cd "$HERE/../.." && pwd)}"
export GOLDEN_DIR="${GOLDEN_DIR:-/tmp/golden}"
mkdir -p "$GOLDEN_DIR" && cp "$HERE"/*.py "$HERE"/*.sh "$REPO/crates/core/tests/golden/create.txt" "$GOLDEN_DIR"/ 2>/dev/null || true
cd "$GOLDEN_DIR"
(cd "$REPO" && cargo build -q -p kscope-cli)
python3 gen_session.py
mkdir -p related
"${CARGO_TARGET_DIR:-$REPO/target}/debug/kscope" shell < session.txt > session.out 2> session.err
python3 split_session.py
./run_golden.sh
{
for n in deployment service pod namespace node daemonset; do
  echo "===== describe $n"; python3 compare.py describe-$n.txt describe-$n.kscope.txt real/describe-$n.txt kscope/describe-$n.kscope.txt
done
for n in deployment pod service namespace node daemonset; do
  echo "===== get $n -o yaml"; python3 compare.py yaml-$n.txt yaml-$n.kscope.txt real/yaml-$n.txt kscope/yaml-$n.kscope.txt
done
for n in deployment pod service namespace node daemonset; do
  echo "===== get $n -o json"; python3 compare.py json-$n.txt $n.json real/json-$n.txt kscope/$n.json
done
} > DIFFS.txt
