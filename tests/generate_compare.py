"""Bitwise comparison of HDF5 files written by `retain generate` at different rank counts:
every dataset (dtype, shape and bytes) and every attribute except the creation time and
the command line (which names different output files)."""
import sys

import h5py
import numpy as np

SKIP_ATTRS = {"created_at", "created_by"}


def walk(f):
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = obj

    f.visititems(visit)
    return out


def attrs(obj):
    return {k: obj.attrs[k] for k in obj.attrs if k not in SKIP_ATTRS}


def same_attr(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def compare(ref_path, other_path):
    bad = 0
    with h5py.File(ref_path, "r") as fa, h5py.File(other_path, "r") as fb:
        da, db = walk(fa), walk(fb)
        if sorted(da) != sorted(db):
            print(f"{other_path}: datasets {sorted(db)} != {sorted(da)}")
            return 1
        for k in da:
            a, b = da[k][()], db[k][()]
            if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
                print(f"{other_path}: dataset {k} differs from {ref_path}")
                bad += 1
            aa, ab = attrs(da[k]), attrs(db[k])
            if sorted(aa) != sorted(ab) or not all(same_attr(aa[x], ab[x]) for x in aa):
                print(f"{other_path}: attributes of {k} differ")
                bad += 1
        ra, rb = attrs(fa), attrs(fb)
        if sorted(ra) != sorted(rb):
            print(f"{other_path}: root attributes {sorted(rb)} != {sorted(ra)}")
            bad += 1
        for x in ra:
            if x in rb and not same_attr(ra[x], rb[x]):
                print(f"{other_path}: root attribute {x} differs: {rb[x]!r} vs {ra[x]!r}")
                bad += 1
        n = sum(int(np.prod(d.shape)) for d in da.values())
        print(f"{other_path}: {len(da)} datasets, {n} values compared, {bad} differences")
    return bad


if __name__ == "__main__":
    ref = sys.argv[1]
    total = sum(compare(ref, p) for p in sys.argv[2:])
    sys.exit(1 if total else 0)
