#!/usr/bin/env bash
# Statistical sanity of a generated store against the designed model (generate_stats.py).
set -u
W=$1
rm -rf "$W"; mkdir -p "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
timeout 120 "${MPI[@]}" -n 2 "$RETAIN_BIN" generate --customers 6000 --days 730 \
  --start 2023-01-01 --seed 3 --buckets 256 --out "$W/s.h5" --truth "$W/t.h5" -q || exit 1
exec "$RETAIN_PYTHON" "$RETAIN_SOURCE_DIR/tests/generate_stats.py" "$W/s.h5" "$W/t.h5"
