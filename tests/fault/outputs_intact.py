"""Checks that a failed run left the previous run's outputs intact.

usage: outputs_intact.py PREV_DIR OUT_DIR

Every file of PREV_DIR must exist in OUT_DIR and be either byte-identical or, when the
failed run completed that output before failing on a later one, a complete replacement:
an HDF5 file whose datasets all equal the previous file's, a JSON file that parses, or a
text/binary output of the same size (timestamps aside, outputs are deterministic).
Exits 1 and names the damaged files otherwise.
"""
import filecmp
import json
import os
import sys

import h5py
import numpy as np


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out


def same_h5(a, b):
    try:
        da, db = datasets(a), datasets(b)
    except OSError:
        return False
    return sorted(da) == sorted(db) and all(np.array_equal(da[k], db[k]) for k in da)


def intact(prev, cur):
    if not os.path.exists(cur):
        return False
    if filecmp.cmp(prev, cur, shallow=False):
        return True
    if prev.endswith(".h5") or prev.endswith(".ckpt"):
        return same_h5(prev, cur)
    if prev.endswith(".json"):
        try:
            json.load(open(cur))
            return True
        except ValueError:
            return False
    return os.path.getsize(prev) == os.path.getsize(cur)


def main():
    prev_dir, out_dir = sys.argv[1], sys.argv[2]
    bad = []
    for root, _, files in os.walk(prev_dir):
        for name in files:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, prev_dir)
            if not intact(p, os.path.join(out_dir, rel)):
                bad.append(rel)
    if bad:
        print("damaged or missing previous outputs:", ", ".join(sorted(bad)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
