"""Compares two model bundles: equal content ids and every dataset and attribute equal bit
for bit (NaN equal to NaN), except the provenance attributes that name the run itself.
Usage: checkpoint_compare.py A.h5 B.h5; exit 0 when equal, 1 with the differences."""
import sys

import h5py
import numpy as np

PROVENANCE = {"@created_at", "@created_by", "@features_path", "@job", "@creator_version"}


def flatten(obj, path=""):
    out = {path + "@" + k: v for k, v in obj.attrs.items()}
    if isinstance(obj, h5py.Group):
        for name in obj:
            out.update(flatten(obj[name], path + "/" + name))
    else:
        out[path] = obj[()]
    return out


def same(x, y):
    if isinstance(x, (bytes, str)) or isinstance(y, (bytes, str)):
        return x == y
    a, b = np.asarray(x), np.asarray(y)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":  # bitwise, so -0.0 != 0.0 and NaN == NaN
        return a.tobytes() == b.tobytes()
    return np.array_equal(a, b)


def main():
    a, b = (flatten(h5py.File(p, "r")) for p in sys.argv[1:3])
    bad = []
    if a.get("@content_id") != b.get("@content_id"):
        bad.append("content_id %s != %s" % (a.get("@content_id"), b.get("@content_id")))
    for key in sorted(set(a) | set(b)):
        if key in PROVENANCE:
            continue
        if key not in a or key not in b:
            bad.append("%s only in one bundle" % key)
        elif not same(a[key], b[key]):
            bad.append("%s differs" % key)
    for line in bad:
        print("bundle difference: " + line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
