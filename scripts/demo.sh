#!/usr/bin/env bash
# The README's first command: installs dependencies, builds, and runs the demo job
# (jobs/demo.job: generate -> features -> train -> score -> report) on 2 ranks with `retain run`.
# Outputs land in out/demo/; a second run skips the stages that are up to date.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOB=${1:-jobs/demo.job}
NP=${RETAIN_DEMO_RANKS:-2}

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh" "$ROOT/build"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cd "$ROOT"
echo "== demo job: $JOB on $NP ranks"
mpiexec -n "$NP" --oversubscribe --bind-to none build/retain run "$JOB" --summary out/demo-summary.json
echo "== inspecting the store"
mpiexec -n "$NP" --oversubscribe --bind-to none build/retain inspect out/demo/store.h5
echo "== demo done: outputs in out/demo/ ($(ls out/demo | tr '\n' ' ')), run summary out/demo-summary.json"
