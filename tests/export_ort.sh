#!/usr/bin/env bash
# The exported ONNX models in ONNX Runtime (npm onnxruntime-node, installed by
# scripts/install-deps.sh into /opt/retain/node with --ignore-scripts): outputs equal
# `retain score` (churn probability to 1e-6, segment ids exactly) on every customer of the
# export fixture (>= 10^4). Fails, saying what to install, when node or onnxruntime-node is
# missing (configure with -DRETAIN_TEST_ONNXRUNTIME=OFF to leave the test out).
set -u
W=${RETAIN_TEST_TMP:-$PWD}/export
NODE=${RETAIN_NODE:-$(command -v node || true)}
ORT=${RETAIN_ORT_NODE:-${RETAIN_NODE_PREFIX:-/opt/retain/node}/node_modules/onnxruntime-node}
if [[ -z $NODE ]]; then
  echo "FAIL: no node on PATH (scripts/install-deps.sh installs nodejs and onnxruntime-node)"
  echo "      or configure with -DRETAIN_TEST_ONNXRUNTIME=OFF to leave the test out"
  exit 1
fi
if ! "$NODE" -e "require(process.argv[1])" "$ORT" >/dev/null 2>&1; then
  echo "FAIL: onnxruntime-node cannot be loaded from $ORT (scripts/install-deps.sh installs it:"
  echo "      npm install --ignore-scripts onnxruntime-node; set RETAIN_ORT_NODE to use another copy,"
  echo "      or configure with -DRETAIN_TEST_ONNXRUNTIME=OFF to leave the test out)"
  exit 1
fi
exec "$NODE" "$(dirname "$0")/export_ort.js" "$W" "$ORT"
