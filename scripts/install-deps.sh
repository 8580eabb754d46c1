#!/usr/bin/env bash
# Installs every Debian package retain needs to build, test and benchmark.
# Idempotent: packages already present are left alone; apt runs only when something is missing.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config git
  # MPI, parallel HDF5, math
  libopenmpi-dev openmpi-bin openmpi-common libhdf5-openmpi-dev hdf5-tools
  libopenblas-dev libgsl-dev
  # parsing, crypto, JSON
  libinih-dev libssl-dev libjansson-dev libxxhash-dev
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

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
