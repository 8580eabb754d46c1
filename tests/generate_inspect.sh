#!/usr/bin/env bash
# A generated store passes `retain inspect` (structure, order, dictionaries, digests) at 1 and
# 2 ranks, and the header agrees with the truth file.
set -u
W=$1
rm -rf "$W"; mkdir -p "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
fail=0
die() { echo "FAIL: $*"; fail=1; }
timeout 120 "${MPI[@]}" -n 2 "$RETAIN_BIN" generate --customers 2000 --days 365 --seed 5 \
  --buckets 128 --out "$W/s.h5" --truth "$W/t.h5" --summary "$W/summary.json" || die "generate"
for np in 1 2; do
  timeout 120 "${MPI[@]}" -n $np "$RETAIN_BIN" inspect "$W/s.h5" --json > "$W/inspect$np.json" \
    || die "inspect at $np ranks exited $?"
done
"$RETAIN_PYTHON" - "$W" <<'PYEOF' || die "inspect output"
import sys, json, h5py
w = sys.argv[1]
j = json.load(open(f"{w}/inspect1.json"))
assert j["valid"] and j["digests_verified"], j
assert j["customers"] == 2000 and j["buckets"] == 128 and j["currency"] == "EUR", j
t = h5py.File(f"{w}/t.h5", "r")
assert j["rows"] == int(t["truth/n_transactions"][()].sum()), j["rows"]
import numpy as np
s0 = h5py.File(f"{w}/s.h5", "r")
c, b = s0["transactions/customer"][()], s0["transactions/basket"][()]
inv = len(np.unique(np.stack([c, b], 1), axis=0))
assert j["baskets"] == inv, (j["baskets"], inv)  # an invoice's rows are contiguous
assert inv > int(t["truth/n_baskets"][()].sum()), inv
summ = json.load(open(f"{w}/summary.json"))
g = summ["generate"]
assert g["rows"] == j["rows"] and g["customers"] == 2000, g
assert g["alive_at_end"] == int(t["truth/alive_at_end"][()].sum()), g
s = h5py.File(f"{w}/s.h5", "r")
prov = s.attrs["provenance"]
prov = json.loads(prov.decode() if isinstance(prov, bytes) else prov)
assert prov["seed"] == 5 and prov["customers"] == 2000 and len(prov["archetypes"]) == 5, prov
cb = s.attrs["created_by"]
cb = cb.decode() if isinstance(cb, bytes) else str(cb)
assert "generate" in cb and "--customers 2000" in cb, cb
print("inspect ok:", j["rows"], "rows")
PYEOF
exit $fail
