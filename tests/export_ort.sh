#!/usr/bin/env bash
# The exported ONNX models in ONNX Runtime (npm onnxruntime-node, installed by
# scripts/install-deps.sh into /opt/retain/node with --ignore-scripts): outputs equal
# `retain score` (churn probability to 1e-6, segment ids exactly) on every customer of the
# export fixture (>= 10^4). Exit 77 (CTest: skipped) when node or onnxruntime-node is
# missing, e.g. on a machine without the npm registry.
set -u
W=${RETAIN_TEST_TMP:-$PWD}/export
NODE=${RETAIN_NODE:-$(command -v node || true)}
ORT=${RETAIN_ORT_NODE:-${RETAIN_NODE_PREFIX:-/opt/retain/node}/node_modules/onnxruntime-node}
if [[ -z $NODE ]]; then
  echo "SKIP: no node on PATH (scripts/install-deps.sh installs nodejs and onnxruntime-node)"
  exit 77
fi
if ! "$NODE" -e "require(process.argv[1])" "$ORT" >/dev/null 2>&1; then
  echo "SKIP: onnxruntime-node cannot be loaded from $ORT (scripts/install-deps.sh installs it:"
  echo "      npm install --ignore-scripts onnxruntime-node; set RETAIN_ORT_NODE to use another copy)"
  exit 77
fi
exec "$NODE" "$(dirname "$0")/export_ort.js" "$W" "$ORT"
