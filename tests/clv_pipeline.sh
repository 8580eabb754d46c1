#!/usr/bin/env bash
# The published CDNOW numbers reproduced through retain itself: the raw transactions of
# CDNOW_sample.txt are ingested (data-samples/cdnow-sample.ini), the 39-week calibration
# summary comes from `retain features` (cutoff 1997-10-01, so calibration ends 1997-09-30),
# and `retain train --models clv` fits BG/NBD and Gamma-Gamma, at 1, 2 and 3 ranks.
# Published: BG/NBD r = 0.2426, alpha = 4.4136, a = 0.7929, b = 2.4259, LL = -9582.43
# (Fader, Hardie & Lee 2005; CLVTools); Gamma-Gamma p = 6.25, q = 3.74, gamma = 15.44,
# LL = -4055.92 (Fader & Hardie 2013). Sources: data-samples/README.md.
set -u
SAMPLE=$RETAIN_DATA_DIR/cdnow/CDNOW_sample.txt
[[ -r $SAMPLE ]] || { echo "FAIL: $SAMPLE is missing (the build unpacks data-samples/ there)"; exit 1; }
W=${RETAIN_TEST_TMP:-$PWD}/clv_pipeline
rm -rf "$W"; mkdir -p "$W"; cd "$W"
MPI=("$RETAIN_MPIEXEC" $RETAIN_MPIEXEC_FLAGS)
R() { timeout 120 "${MPI[@]}" -n "$1" "$RETAIN_BIN" "${@:2}"; }
fail=0
die() { echo "FAIL: $*"; fail=1; }
head -c 32 /dev/urandom > key.bin && chmod 600 key.bin
R 2 ingest --mapping "$RETAIN_SOURCE_DIR/data-samples/cdnow-sample.ini" --key key.bin --buckets 64 \
  --out cd.h5 "$SAMPLE" -q || die ingest
# every customer with a purchase before the cutoff; CDNOW records some $0 orders, which the
# published analyses count as purchases
R 2 features --store cd.h5 --cutoff 1997-10-01 --horizon 273 --lookback 400 --population all \
  --zero-value-purchases --out cf.h5 -q || die features
for np in 1 2 3; do
  R $np train --features cf.h5 --out m$np.h5 --models clv -q || die "train at $np ranks"
done
"$RETAIN_PYTHON" - "$W" <<'PY' || fail=1
import sys, h5py, numpy as np
w = sys.argv[1]
bad = 0
def check(ok, what):
    global bad
    print(("ok   " if ok else "FAIL ") + what); bad += 0 if ok else 1
b = [h5py.File(f"{w}/m{n}.h5", "r") for n in (1, 2, 3)]
f = h5py.File(f"{w}/cf.h5", "r")
check(f["customers/customer"].shape[0] == 2357, f"2357 customers ({f['customers/customer'].shape[0]})")
x = f["customers/clv_x"][()]
check(int(x.sum()) == 2457 and int((x > 0).sum()) == 946, f"sum(x) = {int(x.sum())} (2457), repeaters {(x > 0).sum()} (946)")
T = f["customers/clv_T"][()]
check(abs(T.max() - 272 / 7) < 1e-12, f"T of a 1997-01-01 first purchase = 272/7 ({T.max():.4f})")
for n, bb in zip((2, 3), b[1:]):
    same = all(np.array_equal(b[0][k][()], bb[k][()]) for k in ("clv/bgnbd_params", "clv/gg_params", "clv/bgnbd_stderr"))
    same = same and b[0]["clv"].attrs["bgnbd_loglik"] == bb["clv"].attrs["bgnbd_loglik"]
    check(same, f"CLV parameters at {n} ranks bitwise equal to 1 rank")
r, al, a, bb_ = b[0]["clv/bgnbd_params"][()]
ll = b[0]["clv"].attrs["bgnbd_loglik"]
for name, got, want in (("r", r, 0.2426), ("alpha", al, 4.4136), ("a", a, 0.7929), ("b", bb_, 2.4259)):
    check(abs(got - want) < 5e-5, f"BG/NBD {name} = {got:.6f} (published {want})")
check(abs(ll + 9582.43) < 5e-3, f"BG/NBD LL = {ll:.4f} (published -9582.43)")
p, q, g = b[0]["clv/gg_params"][()]
for name, got, want in (("p", p, 6.25), ("q", q, 3.74), ("gamma", g, 15.44)):
    check(abs(got - want) < 5e-3, f"Gamma-Gamma {name} = {got:.4f} (published {want})")
gll = b[0]["clv"].attrs["gg_loglik"]
check(abs(gll + 4055.92) < 5e-3, f"Gamma-Gamma LL = {gll:.4f} (published -4055.92)")
sys.exit(1 if bad else 0)
PY
[[ $fail == 0 ]] && echo "clv_pipeline: all checks passed"
exit $fail
