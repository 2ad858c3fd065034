#!/bin/bash
# Start the fake apiserver on the kscope dumps and run the real kubectl 1.32 against it.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="${REPO:-$(cd "$HERE/../.." && pwd)}"
export GOLDEN_DIR="${GOLDEN_DIR:-/tmp/golden}"
mkdir -p "$GOLDEN_DIR" && cp "$HERE"/*.py "$HERE"/*.sh "$REPO/crates/core/tests/golden/create.txt" "$GOLDEN_DIR"/ 2>/dev/null || true
cd "$GOLDEN_DIR"
rm -f requests.log port.txt; rm -rf kcache
python3 fake_apiserver.py --portfile port.txt --log requests.log \
  deployment.json service.json pod.json namespace.json node.json daemonset.json --related related/*.json > server.out 2>&1 &
SRV=$!
for i in $(seq 50); do [ -s port.txt ] && break; sleep 0.1; done
PORT=$(cat port.txt)
KUBECTL="/usr/lib/google-cloud-sdk/bin/kubectl.1.32 --kubeconfig=/dev/null --server=http://127.0.0.1:$PORT --cache-dir=$GOLDEN_DIR/kcache"
run() { # name args...
  local name=$1; shift
  echo "### kubectl $*" >> requests.log
  $KUBECTL "$@" > "$name.txt" 2> "$name.stderr"; echo "$name rc=$?"
  [ -s "$name.stderr" ] || rm -f "$name.stderr"
}
run describe-deployment describe deployment nginx-deployment
run describe-service   describe service my-service
run describe-pod       describe pod liveness-http
run describe-namespace describe namespace prod
run describe-node      describe node node-1
run describe-daemonset describe daemonset fluentd-elasticsearch -n kube-system
for k in deployment:nginx-deployment pod:liveness-http service:my-service namespace:prod node:node-1; do
  run yaml-${k%%:*} get ${k%%:*} ${k#*:} -o yaml
  run json-${k%%:*} get ${k%%:*} ${k#*:} -o json
done
run yaml-daemonset get daemonset fluentd-elasticsearch -n kube-system -o yaml
run json-daemonset get daemonset fluentd-elasticsearch -n kube-system -o json
kill $SRV
