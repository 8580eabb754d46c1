"""End-to-end tests of `retain features`:

  * generated store (retain generate) and an edge-case store: output equals the plain
    reference implementation (features_reference.py), features, labels, CLV, RFM and the
    data-quality summary;
  * bitwise-identical output at 1, 2, 3 and 4 ranks (every dataset and attribute except
    the creation time and command line);
  * labels unknown when the store ends before the horizon; --population all;
  * a perturbed file is caught by the reference check (the check can fail);
  * rtn_features_load at 1..4 ranks returns exactly the file's rows, by bucket range;
  * command-line and input errors give the documented exit codes.

usage: features_e2e.py WORKDIR LOADER_EXE
"""
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import features_reference as ref  # noqa: E402

BIN = os.environ["RETAIN_BIN"]
MPIEXEC = os.environ.get("RETAIN_MPIEXEC", "mpiexec")
MPIFLAGS = os.environ.get("RETAIN_MPIEXEC_FLAGS", "").replace(";", " ").split()
failures = []


def fail(msg):
    print("FAIL:", msg)
    failures.append(msg)


def run(args, np_=1, expect=0):
    cmd = ([MPIEXEC, "-n", str(np_)] + MPIFLAGS if np_ > 1 else []) + args
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != expect:
        fail("%s: exit %d, expected %d\n%s%s" % (" ".join(args[:3]), p.returncode, expect,
                                                p.stdout[-2000:], p.stderr[-2000:]))
    return p


def features(store, out, cutoff, horizon, np_=1, extra=(), summary=None):
    args = [BIN, "features", "--quiet", "--store", store, "--cutoff", cutoff, "--horizon",
            str(horizon), "--out", out] + list(extra)
    if summary:
        args += ["--summary", summary]
    return run(args, np_)


def same_file(a, b):
    """Every dataset and attribute equal (bitwise) except created_at / created_by."""
    diffs = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names = []
        fa.visit(names.append)
        other = []
        fb.visit(other.append)
        if sorted(names) != sorted(other):
            return ["object lists differ"]
        for n in names:
            oa, ob = fa[n], fb[n]
            if isinstance(oa, h5py.Dataset):
                x, y = oa[()], ob[()]
                if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                    diffs.append(n)
            for k in oa.attrs:
                if not np.array_equal(np.asarray(oa.attrs[k]), np.asarray(ob.attrs[k])):
                    diffs.append(n + "@" + k)
        for k in fa.attrs:
            if k in ("created_at", "created_by"):
                continue
            if not np.array_equal(np.asarray(fa.attrs[k]), np.asarray(fb.attrs[k])):
                diffs.append("@" + k)
    return diffs


def check_ref(store, feat, summary=None, what=""):
    bad = ref.check(store, feat, summary)
    for b in bad:
        fail("%s: %s" % (what, b))
    if not bad:
        print("reference ok:", what)


def main():
    work, loader = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.chdir(work)

    stores = []
    helptext = subprocess.run([BIN, "help"], capture_output=True, text=True).stdout
    if "generate" in helptext.split("commands:")[-1]:
        run([BIN, "generate", "--quiet", "--out", "gen.h5", "--customers", "3000", "--days",
             "500", "--buckets", "37", "--seed", "11", "--start", "2023-01-01"])
        stores.append(("gen.h5", "2024-02-10", 60))
    else:
        print("note: retain generate is not available; using the edge-case store only")
    ref.edge_store("edge.h5", seed=5)
    stores.append(("edge.h5", "2023-01-15T12:00:00", 60))

    for store, cutoff, horizon in stores:
        outs = {}
        for n in (1, 2, 3, 4):
            outs[n] = "f_%s_np%d.h5" % (store[:-3], n)
            features(store, outs[n], cutoff, horizon, n, summary=outs[n] + ".json")
        check_ref(store, outs[1], outs[1] + ".json", "%s np1" % store)
        for n in (2, 3, 4):
            d = same_file(outs[1], outs[n])
            if d:
                fail("%s: np%d differs from np1 in %s" % (store, n, d[:5]))
            with open(outs[1] + ".json") as f1, open(outs[n] + ".json") as fn:
                s1, sn = json.load(f1)["features"], json.load(fn)["features"]
            for k in ("population", "churned", "retained", "data_quality"):
                if s1.get(k) != sn.get(k):
                    fail("%s: summary %s differs at np%d" % (store, k, n))
        print("bitwise identical at 1..4 ranks:", store)
        # --population all (and a different lookback), at 3 ranks against the reference
        features(store, "all.h5", cutoff, horizon, 3, ["--population", "all", "--lookback", "30"],
                 summary="all.json")
        check_ref(store, "all.h5", "all.json", "%s population all" % store)
        features(store, "lb30.h5", cutoff, horizon, 2, ["--lookback", "30"])
        check_ref(store, "lb30.h5", None, "%s lookback 30" % store)
        with h5py.File("all.h5") as fa, h5py.File("lb30.h5") as fl:
            if not fa["customers/customer"].shape[0] > fl["customers/customer"].shape[0]:
                fail("%s: --population all should be larger than a 30-day lookback" % store)

        # loader at 1..4 ranks: the concatenation of the ranks' shares is the file
        with h5py.File(outs[1], "r") as f:
            want = {k: f["customers/" + k][()] for k in
                    ["customer", "X", "label", "rfm_segment", "bucket_offsets"] + ref.CLV
                    + ["preferred_category"]}
        N, d = want["X"].shape
        B = len(want["bucket_offsets"]) - 1
        for n in (1, 2, 3, 4):
            pre = "load%d" % n
            run([loader, outs[1], pre, store], n)
            parts = {k: [] for k in want}
            nb_next = 0
            for r in range(n):
                with open("%s.rank%d" % (pre, r), "rb") as fh:
                    raw = fh.read()
                hdr = np.frombuffer(raw[:40], dtype="<u8")
                row0, m, b0, b1 = (int(v) for v in hdr[:4])
                if b0 != nb_next:
                    fail("loader np%d: rank %d starts at bucket %d, expected %d" % (n, r, b0, nb_next))
                nb_next = b1
                o = 40
                boff = np.frombuffer(raw[o:o + 8 * (b1 - b0 + 1)], dtype="<u8")
                o += 8 * (b1 - b0 + 1)
                if not np.array_equal(boff + row0, want["bucket_offsets"][b0:b1 + 1]):
                    fail("loader np%d: rank %d bucket offsets" % (n, r))

                def take(dt, cnt):
                    nonlocal o
                    a = np.frombuffer(raw[o:o + np.dtype(dt).itemsize * cnt], dtype=dt)
                    o += np.dtype(dt).itemsize * cnt
                    return a
                parts["customer"].append(take("<u8", m))
                parts["X"].append(take("<f8", m * d).reshape(m, d))
                parts["label"].append(take("i1", m))
                parts["rfm_segment"].append(take("i1", m))
                for c in ref.CLV:
                    parts[c].append(take("<f8", m))
                parts["preferred_category"].append(take("<i4", m))
            if nb_next != B:
                fail("loader np%d: bucket ranges end at %d, not %d" % (n, nb_next, B))
            for k in want:
                if k == "bucket_offsets":
                    continue
                got = np.concatenate(parts[k]) if parts[k] else np.array([])
                if got.tobytes() != want[k].tobytes():
                    fail("loader np%d: %s differs from the file" % (n, k))
        print("loader ok:", store)

    # The reference check can fail: perturb copies of a file.
    base = "f_edge_np1.h5"
    shutil.copy(base, "bad1.h5")
    with h5py.File("bad1.h5", "r+") as f:
        X = f["customers/X"]
        row = X[3]
        row[ref.FEATURES.index("tenure_days")] *= 1 + 1e-7
        X[3] = row
    if not ref.check("edge.h5", "bad1.h5"):
        fail("a perturbed feature value was not detected by the reference check")
    shutil.copy(base, "bad2.h5")
    with h5py.File("bad2.h5", "r+") as f:
        lab = f["customers/label"]
        lab[0] = 1 - lab[0]
    if not ref.check("edge.h5", "bad2.h5"):
        fail("a flipped label was not detected by the reference check")
    shutil.copy(base, "bad3.h5")
    with h5py.File("bad3.h5", "r+") as f:
        pc = f["customers/preferred_category"]
        v = pc[()]
        i = int(np.argmax(v >= 0))
        v[i] = -1
        pc[...] = v
    if not ref.check("edge.h5", "bad3.h5"):
        fail("a changed preferred category was not detected by the reference check")
    print("negative controls ok")

    # A features file written before the preferred category existed still loads (all -1).
    shutil.copy(base, "old.h5")
    with h5py.File("old.h5", "r+") as f:
        del f["customers/preferred_category"]
        del f["customers/category_names"]
    run([loader, "old.h5", "loadold", "edge.h5"], 2)
    got = []
    for r in range(2):
        with open("loadold.rank%d" % r, "rb") as fh:
            raw = fh.read()
        m = int(np.frombuffer(raw[8:16], dtype="<u8")[0])
        got.append(np.frombuffer(raw[len(raw) - 4 * m:], dtype="<i4"))
    if not all((g == -1).all() for g in got):
        fail("an older features file without preferred_category must load with -1")
    print("older file ok")

    # Labels unknown: the edge store ends 2023-07-03; a 30-day horizon from 2023-06-20 does not fit.
    features("edge.h5", "unk.h5", "2023-06-20", 30, 2, summary="unk.json")
    with h5py.File("unk.h5") as f:
        if int(f.attrs["labels_known"]) != 0 or not np.all(f["customers/label"][()] == -1):
            fail("labels should be unknown (-1) when the store ends before the horizon")
    with open("unk.json") as fh:
        s = json.load(fh)["features"]
        if s.get("labels_known") != 0 or "unknown" not in s.get("labels", ""):
            fail("summary does not say that labels are unknown: %s" % s)
    check_ref("edge.h5", "unk.h5", "unk.json", "labels unknown")
    # Exactly covered: time_max is 2023-07-03T00:00:00, the last second of the window
    # [2023-06-03T00:00:01, 2023-07-03T00:00:01), so the labels are known.
    features("edge.h5", "known.h5", "2023-06-03T00:00:01", 30, 1)
    with h5py.File("known.h5") as f:
        if int(f.attrs["labels_known"]) != 1:
            fail("labels should be known when time_max reaches the last second of the horizon")

    # Errors and exit codes.
    run([BIN, "features", "--store", "edge.h5", "--cutoff", "2023-01-01", "--out", "x.h5"],
        expect=2)
    run([BIN, "features", "--store", "edge.h5", "--cutoff", "2023-13-01", "--horizon", "5",
         "--out", "x.h5"], expect=2)
    run([BIN, "features", "--store", "edge.h5", "--cutoff", "2023-01-01", "--horizon", "5",
         "--out", "x.h5", "--population", "some"], expect=2)
    run([BIN, "features", "--store", "missing.h5", "--cutoff", "2023-01-01", "--horizon", "5",
         "--out", "x.h5"], expect=3)
    run([BIN, "features", "--store", base, "--cutoff", "2023-01-01", "--horizon", "5",
         "--out", "x.h5"], expect=4)
    if os.path.exists("x.h5"):
        fail("a failed run left an output file")
    env = dict(os.environ, RETAIN_INJECT_FAILURE="features:1")
    p = subprocess.run([MPIEXEC, "-n", "2"] + MPIFLAGS +
                       [BIN, "features", "--quiet", "--store", "edge.h5", "--cutoff",
                        "2023-01-01", "--horizon", "5", "--out", "inj.h5"],
                       capture_output=True, text=True, env=env, timeout=120)
    if p.returncode == 0 or os.path.exists("inj.h5"):
        fail("an injected failure on rank 1 did not fail the run cleanly")

    if failures:
        print("%d failures" % len(failures))
        return 1
    print("features.e2e: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
