#!/usr/bin/env bash
# libretain as a consumer sees it: `cmake --install` into a temporary prefix, the example of
# docs/embedding.md (examples/score_customers.c) built once with pkg-config and cc and once
# as a CMake project with find_package(retain), run on the fixture bundle; its results
# equal `retain score` for 2,000 customers (the same bits: one scoring code).
set -u
F=${RETAIN_TEST_TMP:-$PWD}/export
W=${RETAIN_TEST_TMP:-$PWD}/export_libretain
SRC=$RETAIN_SOURCE_DIR
rm -rf "$W"; mkdir -p "$W"; cd "$W"
fail=0
die() { echo "FAIL: $*"; fail=1; }
ok() { echo "ok   $*"; }
P=$W/prefix
san=()
[[ ${RETAIN_SANITIZE:-0} == 1 ]] && san=(-fsanitize=address,undefined)

cmake --install "$RETAIN_BUILD_DIR" --prefix "$P" >install.log 2>&1 || { cat install.log; die "cmake --install"; exit 1; }
libdir=$(realpath "$(dirname "$(find "$P" -name retain.pc | head -1)")/..")
for f in include/retain/retain.h; do [[ -f $P/$f ]] || die "installed $f missing"; done
[[ -f $libdir/pkgconfig/retain.pc && -f $libdir/cmake/retain/retainConfig.cmake &&
   -f $libdir/cmake/retain/retainTargets.cmake && -f $libdir/cmake/retain/retainConfigVersion.cmake ]] ||
  die "pkg-config file or CMake package missing: $(find "$P" -type f | sort)"
[[ -L $libdir/libretain.so && -f $(readlink -f "$libdir/libretain.so") ]] || die "libretain.so missing"
soname=$(objdump -p "$libdir/libretain.so" | awk '/SONAME/ {print $2}')
[[ $soname == libretain.so.1 ]] && ok "SONAME $soname" || die "SONAME is '$soname'"
exported=$(nm -D --defined-only "$libdir/libretain.so" | awk '$2 == "T" {print $3}' | sort | tr '\n' ' ')
if tr ' ' '\n' <<<"$exported" | grep -v '^$' | grep -qvE '^(rtn_bundle_|rtn_library_version$)'; then
  die "libretain exports internal symbols: $exported"
else
  ok "exports only the interface: $exported"
fi
# the installed header is self-contained C99 and C++
printf '#include <retain/retain.h>\nint main(void){return rtn_bundle_n_features(0) != 0;}\n' > hdr.c
cc -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only -I"$P/include" hdr.c || die "retain.h is not clean C99"
if command -v c++ >/dev/null; then
  c++ -x c++ -Wall -Wextra -Werror -fsyntax-only -I"$P/include" hdr.c || die "retain.h does not compile as C++"
fi

# the customers: features (columns shuffled: the example matches them by name), CLV inputs
"$RETAIN_PYTHON" - "$F" <<'PY' || die "input CSV"
import sys, h5py, numpy as np
F = h5py.File(sys.argv[1] + "/f.h5", "r")
names = list(F["features/names"].asstr()[()]) if "features/names" in F else None
if names is None:
    B = h5py.File(sys.argv[1] + "/m.h5", "r"); names = list(B["features/names"].asstr()[()])
X = F["customers/X"][()][:2000]
clv = {k: F["customers/" + k][()][:2000] for k in ("clv_x", "clv_t_x", "clv_T", "clv_mean_repeat_spend")}
cust = F["customers/customer"][()][:2000]
order = np.random.default_rng(3).permutation(len(names))
with open("customers.csv", "w") as f:
    f.write(",".join(["customer"] + [names[j] for j in order] + list(clv)) + "\n")
    for i in range(len(X)):
        f.write(",".join([format(int(cust[i]), "016x")] + [repr(float(X[i, j])) for j in order] +
                         [repr(float(clv[k][i])) for k in clv]) + "\n")
PY

# 1. pkg-config + cc
export PKG_CONFIG_PATH=$libdir/pkgconfig
if cflags=$(pkg-config --cflags retain) && libs=$(pkg-config --libs retain); then
  ok "pkg-config: $cflags $libs"
  cc -std=c11 -Wall -Wextra -Werror "${san[@]}" $cflags "$SRC/examples/score_customers.c" $libs -o ex-pkgconfig ||
    die "building the example with pkg-config"
else
  die "pkg-config --cflags --libs retain"
fi
# 2. a CMake project with find_package(retain)
cmake -S "$SRC/examples" -B ex-cmake -DCMAKE_PREFIX_PATH="$P" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS="${san[*]}" -DCMAKE_EXE_LINKER_FLAGS="${san[*]}" >cmake.log 2>&1 &&
  cmake --build ex-cmake >>cmake.log 2>&1 || { cat cmake.log; die "building the example with find_package(retain)"; }

for exe in ex-pkgconfig ex-cmake/score_customers; do
  [[ -x $exe ]] || continue
  # the pkg-config build finds the library through LD_LIBRARY_PATH, the CMake one via its RUNPATH
  if [[ $exe == ex-pkgconfig ]]; then
    LD_LIBRARY_PATH=$libdir ./$exe "$F/m.h5" customers.csv > "$exe.out" 2> "$exe.err" || die "$exe failed: $(cat "$exe.err")"
  else
    ./$exe "$F/m.h5" customers.csv > "$(basename "$exe").out" 2> "$(basename "$exe").err" || die "$exe failed"
  fi
done
"$RETAIN_PYTHON" - "$F" <<'PY' || die "example output differs from retain score"
import csv, sys
import h5py, numpy as np
S = h5py.File(sys.argv[1] + "/sc.h5", "r"); B = h5py.File(sys.argv[1] + "/m.h5", "r")
n = 2000
p = S["scores/churn_probability"][:n]; seg = S["scores/segment"][:n]; clv = S["scores/clv"][:n]
tiers = list(S["names/risk_tier"].asstr()[()]); tier = S["scores/risk_tier"][:n]
ids = B["segments/id"][()]; names = list(B["segments/name"].asstr()[()])
cust = [format(int(c), "016x") for c in S["scores/customer"][:n]]
bad = 0
for out in ("ex-pkgconfig.out", "score_customers.out"):
    rows = list(csv.DictReader(open(out)))
    ok = len(rows) == n
    ok = ok and all(r["customer"] == cust[i] for i, r in enumerate(rows))
    ok = ok and all(float(r["churn_probability"]) == p[i] for i, r in enumerate(rows))
    ok = ok and all(r["risk_tier"] == tiers[tier[i]] for i, r in enumerate(rows))
    ok = ok and all(int(r["segment_id"]) == ids[seg[i]] and r["segment_name"] == names[seg[i]] for i, r in enumerate(rows))
    ok = ok and all(float(r["clv"]) == clv[i] for i, r in enumerate(rows))
    print(("ok   " if ok else "FAIL ") + f"{out}: {len(rows)} customers, probability, tier, segment and CLV equal retain score bit for bit")
    bad += not ok
sys.exit(bad)
PY
# an NBD purchase model (docs/clv.md, the no-dropout fallback): the fixture bundle with its
# purchase model swapped for NBD parameters; libretain's CLV follows the NBD formula
"$RETAIN_PYTHON" - "$F" <<'PY' || die "NBD bundle setup"
import shutil, sys, h5py, numpy as np
shutil.copy(sys.argv[1] + "/m.h5", "m_nbd.h5")
with h5py.File("m_nbd.h5", "a") as f:
    c = f["clv"]
    del c["bgnbd_params"], c["bgnbd_stderr"]
    c["nbd_params"] = np.array([0.7, 9.5]); c["nbd_stderr"] = np.array([0.02, 0.4])
    c.attrs["purchase_model"] = "nbd"; c.attrs["nbd_loglik"] = -1234.5; c.attrs["nbd_converged"] = 1
PY
# an edited bundle no longer matches its content id: stamp the edited content as its own
# (the stamping program runs MPI, whose allocations at exit are not leaks of libretain)
ASAN_OPTIONS=detect_leaks=0 "$RETAIN_BUNDLE_RESTAMP" m_nbd.h5 m_nbd.h5 || die "re-stamping the NBD bundle"
LD_LIBRARY_PATH=$libdir ./ex-pkgconfig m_nbd.h5 customers.csv > nbd.out 2> nbd.err || die "NBD bundle: $(cat nbd.err)"
"$RETAIN_PYTHON" - <<'PY' || die "libretain CLV with the NBD model"
import csv, h5py, numpy as np
c = h5py.File("m_nbd.h5", "r")["clv"]
r, al = c["nbd_params"][()]; p, q, g = c["gg_params"][()]
H, k, d, mu = (c.attrs[a] for a in ("horizon_months", "periods_per_month", "discount_rate_monthly", "margin"))
inp = list(csv.DictReader(open("customers.csv"))); out = list(csv.DictReader(open("nbd.out")))
x, T, mx = (np.array([float(row[n]) for row in inp]) for n in ("clv_x", "clv_T", "clv_mean_repeat_spend"))
em = np.where((x > 0) & (mx > 0), (g + x * mx) * p / (p * x + q - 1), p * g / (q - 1))
want = mu * em * (r + x) / (al + T) * k * sum((1 + d) ** -m for m in range(1, int(H) + 1))
got = np.array([float(row["clv"]) for row in out])
err = np.max(np.abs(got - want) / np.abs(want)) if len(got) == len(want) else np.inf
print(("ok   " if err < 1e-12 else "FAIL ") + f"libretain with an NBD bundle: {len(got)} CLVs = the NBD formula (max rel {err:.1e})")
raise SystemExit(0 if err < 1e-12 else 1)
PY
# errors come back as messages, not crashes
out=$(LD_LIBRARY_PATH=$libdir ./ex-pkgconfig missing.h5 customers.csv 2>&1); code=$?
[[ $code == 1 ]] && grep -q "cannot open 'missing.h5'" <<<"$out" && ok "missing bundle: $out" || die "missing bundle: $code $out"
out=$(LD_LIBRARY_PATH=$libdir ./ex-pkgconfig "$F/f.h5" customers.csv 2>&1); code=$?
[[ $code == 1 ]] && grep -q "not a retain model bundle" <<<"$out" && ok "features file as bundle: $out" || die "foreign file: $code $out"
head -1 customers.csv > nan.csv; sed -n 2p customers.csv | sed 's/,[^,]*/,nan/2' >> nan.csv
out=$(LD_LIBRARY_PATH=$libdir ./ex-pkgconfig "$F/m.h5" nan.csv 2>&1); code=$?
[[ $code == 1 ]] && grep -q "is not finite" <<<"$out" && ok "non-finite feature: $out" || die "non-finite feature: $code $out"
[[ $fail == 0 ]] && echo "export_libretain: all checks passed"
exit $fail
