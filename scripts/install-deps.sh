#!/usr/bin/env bash
# Installs every Debian package retain needs to build, test and benchmark.
# Idempotent: packages already present are left alone; apt runs only when something is missing.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config git
  xz-utils  # unpacks the compressed datasets of data-samples/ for the tests
  # MPI, parallel HDF5, math
  libopenmpi-dev openmpi-bin openmpi-common libhdf5-openmpi-dev hdf5-tools
  libopenblas-dev libgsl-dev
  # parsing, crypto, JSON
  libinih-dev libssl-dev libjansson-dev libxxhash-dev
  # ONNX export: protoc-c generates C bindings from libonnx-dev's onnx.proto at build time;
  # python3-onnx's checker validates the exported graphs (tests/export.cmake)
  protobuf-c-compiler libprotobuf-c-dev libonnx-dev python3-onnx
  # sanitizers and fuzzing
  clang libclang-rt-14-dev
  # test oracles and benchmark peers (Debian's python3 modules live under /usr/bin/python3)
  python3 python3-numpy python3-h5py python3-scipy python3-pandas python3-sklearn python3-mpmath liblinear-tools
  # charts, and the browser that renders the report in its test (python3-pil checks the screenshot)
  gnuplot-nox chromium python3-pil
  slurm-wlm munge  # the local Slurm test cluster (scripts/slurm-local.sh, tests/slurm.cmake)
)

if [[ ${RETAIN_EXTRA_PACKAGES:-} != "" ]]; then
  # shellcheck disable=SC2206
  PACKAGES+=(${RETAIN_EXTRA_PACKAGES})
fi

# onnxruntime-node for the ONNX Runtime export test (tests/export_ort.sh), from npm into a
# fixed prefix, pinned. --ignore-scripts: its install script only fetches optional GPU
# binaries from outside the registry; the CPU runtime ships inside the package.
ORT_NODE_VERSION=1.30.0
ORT_NODE_PREFIX=${RETAIN_NODE_PREFIX:-/opt/retain/node}

install_ort_node() {
  local have
  have=$(node -p "require('$ORT_NODE_PREFIX/node_modules/onnxruntime-node/package.json').version" 2>/dev/null || true)
  if [[ $have == "$ORT_NODE_VERSION" ]]; then
    echo "install-deps: onnxruntime-node $ORT_NODE_VERSION present in $ORT_NODE_PREFIX"
    return 0
  fi
  if ! command -v npm >/dev/null; then
    echo "install-deps: no npm: the ONNX Runtime test (export.onnxruntime) will fail" >&2
    return 0
  fi
  mkdir -p "$ORT_NODE_PREFIX"
  [[ -f $ORT_NODE_PREFIX/package.json ]] ||
    echo '{"name": "retain-test-deps", "private": true}' > "$ORT_NODE_PREFIX/package.json"
  echo "install-deps: npm install onnxruntime-node@$ORT_NODE_VERSION into $ORT_NODE_PREFIX"
  if ! (cd "$ORT_NODE_PREFIX" && npm install --ignore-scripts --no-audit --no-fund --save-exact \
          "onnxruntime-node@$ORT_NODE_VERSION" >/dev/null); then
    echo "install-deps: npm install onnxruntime-node failed: the ONNX Runtime test (export.onnxruntime) will fail" >&2
  fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# node and npm: any node >= 16 will do (a distribution's or NodeSource's); Debian's otherwise
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
else
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages (${missing[*]}); run as root" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ $(id -u) -eq 0 || -w $(dirname "$ORT_NODE_PREFIX") || -w $ORT_NODE_PREFIX ]]; then
  install_ort_node
fi
