#!/usr/bin/env bash
# The README's first command: installs dependencies, builds, and runs the demo job
# (jobs/demo.job) on 2 ranks. Outputs land in out/demo/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOB=${1:-$ROOT/jobs/demo.job}
NP=${RETAIN_DEMO_RANKS:-2}

"$ROOT/scripts/install-deps.sh"
"$ROOT/scripts/build.sh" "$ROOT/build"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
RETAIN=$ROOT/build/retain
MPI=(mpiexec -n "$NP" --oversubscribe --bind-to none)

ini() { # ini SECTION KEY: value from the job file
  awk -F= -v s="[$1]" -v k="$2" '
    /^[ \t]*[;#]/ {next}
    /^\[/ {insec = ($0 == s); next}
    insec { key=$1; gsub(/[ \t]/, "", key); if (key == k) { v=$0; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t]+$/, "", v); print v; exit } }
  ' "$JOB"
}

OUT=$ROOT/$(ini job output_dir)
mkdir -p "$OUT"
cd "$ROOT"
echo "== demo job: $JOB  ($NP ranks, outputs in $OUT)"

"${MPI[@]}" "$RETAIN" generate --customers "$(ini generate customers)" --days "$(ini generate days)" \
  --start "$(ini generate start)" --seed "$(ini generate seed)" --buckets "$(ini generate buckets)" \
  --out "$OUT/store.h5" --truth "$OUT/truth.h5" --summary "$OUT/generate.summary.json"

"${MPI[@]}" "$RETAIN" inspect "$OUT/store.h5" --summary "$OUT/inspect.summary.json"

if "$RETAIN" help features >/dev/null 2>&1; then
  "${MPI[@]}" "$RETAIN" features --store "$OUT/store.h5" --cutoff "$(ini features cutoff)" \
    --horizon "$(ini features horizon)" --lookback "$(ini features lookback)" \
    --out "$OUT/features.h5" --summary "$OUT/features.summary.json"
fi

echo "== demo done: $(ls "$OUT" | tr '\n' ' ')"
