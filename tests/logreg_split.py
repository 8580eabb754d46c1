"""Independent reimplementation of the keyed-hash split (include/retain/split.h).

usage: logreg_split.py LOGREG_TOOL TMPDIR
"""
import os
import subprocess
import sys

import numpy as np

tool, tmp = sys.argv[1], sys.argv[2]
os.makedirs(tmp, exist_ok=True)
M = (1 << 64) - 1


def mix64(z):
    z = (z + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)


def part(key, salt, ftrain, fvalid):
    h = mix64(mix64(key) ^ mix64(salt ^ 0x73706C6974))
    u = (h >> 11) * 2.0 ** -53
    return 0 if u < ftrain else (1 if u < ftrain + fvalid else 2)


rng = np.random.default_rng(3)
n = 200000
keys = rng.integers(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
keys.tofile(f"{tmp}/keys.bin")
bad = 0
for salt, ft, fv in ((0, 0.70, 0.15), (42, 0.8, 0.1)):
    out = f"{tmp}/part_{salt}.bin"
    subprocess.run([tool, "split", str(n), f"{tmp}/keys.bin", str(salt), repr(ft), repr(fv),
                    out], check=True)
    got = np.fromfile(out, dtype=np.uint8)
    ref = np.array([part(int(k), salt, ft, fv) for k in keys], dtype=np.uint8)
    mism = int(np.sum(got != ref))
    frac = np.bincount(got, minlength=3) / n
    exp = np.array([ft, fv, 1 - ft - fv])
    tol = 5 * np.sqrt(exp * (1 - exp) / n)
    ok = mism == 0 and np.all(np.abs(frac - exp) <= tol)
    print(f"salt {salt}: {mism} mismatches, fractions {frac} (expected {exp}, tol {tol})")
    bad += not ok
if bad:
    sys.exit(1)
print("all checks passed")
