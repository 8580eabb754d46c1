#!/usr/bin/env bash
# Runs the whole test suite: installs dependencies, then builds and tests twice, once
# normally and once with AddressSanitizer + UndefinedBehaviorSanitizer.
#   scripts/test.sh            both builds
#   scripts/test.sh --normal   normal build only
#   scripts/test.sh --sanitize sanitizer build only
# Extra arguments after -- go to ctest (e.g. -- -R core).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
modes=(normal sanitize)
ctest_args=()
while (($#)); do
  case $1 in
    --normal) modes=(normal) ;;
    --sanitize) modes=(sanitize) ;;
    --) shift; ctest_args=("$@"); break ;;
    *) echo "usage: scripts/test.sh [--normal|--sanitize] [-- CTEST_ARGS...]" >&2; exit 2 ;;
  esac
  shift
done

"$ROOT/scripts/install-deps.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
status=0
for mode in "${modes[@]}"; do
  if [[ $mode == normal ]]; then
    dir=$ROOT/build; extra=(-DRETAIN_WERROR=ON)
  else
    dir=$ROOT/build-sanitize; extra=(-DRETAIN_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
  fi
  echo "=== $mode build ($dir)"
  "$ROOT/scripts/build.sh" "$dir" "${extra[@]}"
  echo "=== $mode tests"
  if ! (cd "$dir" && ctest --output-on-failure --timeout 900 -j2 "${ctest_args[@]}"); then
    status=1
  fi
done
exit $status
