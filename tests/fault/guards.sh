#!/usr/bin/env bash
# What a run must notice about files left or changed by others: stale temporary files of a
# killed run are removed (and logged), a model bundle whose bytes changed is refused as
# damaged (exit 4), and features in another currency than the model's are refused (exit 5)
# unless --allow-currency-mismatch is given.
set -u
W=${RETAIN_TEST_TMP:-$PWD}/fault_guards
rm -rf "$W" && mkdir -p "$W" && cd "$W" || exit 1
read -r -a MPIFLAGS <<<"${RETAIN_MPIEXEC_FLAGS:-}"
R() { timeout -k 5 120 "$RETAIN_MPIEXEC" -n "$1" "${MPIFLAGS[@]}" "$RETAIN_BIN" "${@:2}"; }
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

R 2 generate --customers 300 --days 500 --start 2023-01-01 --seed 3 --buckets 8 --out store.h5 \
  --truth truth.h5 -q || fail "generate"
R 2 features --store store.h5 --out features.h5 --cutoff 2024-01-01 --horizon 90 -q || fail "features"
R 2 train --features features.h5 --out model.h5 --k 3 -q || fail "train"

# ---- stale temporary files
sleep 0 & dead=$!
wait $dead   # a PID that existed and is gone
host=$(hostname)
for f in ".features.h5.tmp-$dead-0" ".features.h5.tmp-$dead-1@$host" \
         ".features.h5.tmp-$dead-2@$host.part1" ".features.h5.tmp-$dead-3@another-node" \
         ".features.h5.tmp-$$-0@$host" ".other.h5.tmp-$dead-0@$host"; do
  echo partial >"$f"
done
out=$(R 3 features --store store.h5 --out features.h5 --cutoff 2024-01-01 --horizon 90 2>&1) ||
  fail "features over stale files: $out"
for f in ".features.h5.tmp-$dead-0" ".features.h5.tmp-$dead-1@$host" ".features.h5.tmp-$dead-2@$host.part1"; do
  [[ -e $f ]] && fail "stale $f was not removed"
  grep -q "removed stale temporary file '.*$f' (its process $dead no longer exists)" <<<"$out" ||
    fail "the log does not mention $f: $out"
done
[[ -e ".features.h5.tmp-$dead-3@another-node" ]] || fail "a file of another host was removed"
[[ -e ".features.h5.tmp-$$-0@$host" ]] || fail "the file of a live process was removed"
[[ -e ".other.h5.tmp-$dead-0@$host" ]] || fail "a temporary file of another output was removed"

# ---- a damaged bundle
cp model.h5 damaged.h5
"$RETAIN_PYTHON" - <<'PY' || fail "could not damage the bundle"
import h5py, numpy as np
with h5py.File("damaged.h5", "r+") as f:
    c = f["/churn/coef"][:]
    bits = c.view(np.uint64).copy()
    bits[1] ^= np.uint64(1)          # the lowest bit of one coefficient
    f["/churn/coef"][:] = bits.view(np.float64)
PY
out=$(R 2 score --model damaged.h5 --features features.h5 --out s.h5 2>&1); rc=$?
[[ $rc == 4 ]] || fail "scoring with a damaged bundle exited $rc: $out"
grep -q "damaged bundle" <<<"$out" || fail "message: $out"
[[ -e s.h5 ]] && fail "scores were written with a damaged bundle"
out=$(R 1 export --model damaged.h5 --json m.json 2>&1); rc=$?
[[ $rc == 4 && ! -e m.json ]] || fail "export of a damaged bundle exited $rc: $out"
out=$(R 2 score --model model.h5 --features features.h5 --out s.h5 2>&1) || fail "intact bundle: $out"

# ---- a damaged features file
cp features.h5 damaged-features.h5
"$RETAIN_PYTHON" - <<'PY' || fail "could not damage the features"
import h5py, numpy as np
with h5py.File("damaged-features.h5", "r+") as f:
    assert "content_digest" in f.attrs
    x = f["/customers/X"][5]
    bits = x.view(np.uint64).copy()
    bits[0] ^= np.uint64(1)
    f["/customers/X"][5] = bits.view(np.float64)
PY
out=$(R 3 score --model model.h5 --features damaged-features.h5 --out s3.h5 2>&1); rc=$?
[[ $rc == 4 ]] || fail "scoring damaged features exited $rc: $out"
grep -q "damaged features file" <<<"$out" || fail "message: $out"
out=$(R 2 train --features damaged-features.h5 --out m2.h5 --k 3 2>&1); rc=$?
[[ $rc == 4 && ! -e m2.h5 ]] || fail "training on damaged features exited $rc: $out"
digest=$("$RETAIN_PYTHON" -c "
import h5py
print(h5py.File('features.h5')['/'].attrs['content_digest'].decode(), h5py.File('model.h5').attrs['features_digest'].decode())")
read -r a b <<<"$digest"
[[ -n $a && $a == "$b" ]] || fail "the features file's digest ($a) is not the one the bundle records ($b)"

# ---- currency
cp features.h5 usd.h5
"$RETAIN_PYTHON" -c "
import h5py
with h5py.File('usd.h5', 'r+') as f: f.attrs['currency'] = 'USD'" || fail "could not relabel"
out=$(R 2 score --model model.h5 --features usd.h5 --out s2.h5 2>&1); rc=$?
[[ $rc == 5 ]] || fail "currency mismatch exited $rc: $out"
grep -q "'usd.h5' is in USD but the model was trained in EUR" <<<"$out" || fail "message: $out"
[[ -e s2.h5 ]] && fail "scores written despite the currency mismatch"
out=$(R 2 score --model model.h5 --features usd.h5 --out s2.h5 --allow-currency-mismatch 2>&1) ||
  fail "--allow-currency-mismatch: $out"
grep -q "warn: score: 'usd.h5' is in USD" <<<"$out" || fail "no warning with the flag: $out"

((fails == 0)) && echo "guards: all checks passed"
exit $((fails > 0))
