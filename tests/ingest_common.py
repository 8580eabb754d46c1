"""Helpers shared by the ingest test scripts (run with Debian's python3)."""
import hashlib
import hmac
import os
import subprocess

import h5py
import numpy as np

BIN = os.environ["RETAIN_BIN"]
MPIEXEC = os.environ["RETAIN_MPIEXEC"]
MPIFLAGS = os.environ.get("RETAIN_MPIEXEC_FLAGS", "").replace(";", " ").split()
DATA_DIR = os.environ["RETAIN_DATA_DIR"]  # data-samples/, unpacked and verified by the build
SOURCE = os.environ.get("RETAIN_SOURCE_DIR", "")
M64 = (1 << 64) - 1
COLUMNS = ("customer", "time", "amount", "quantity", "item", "category", "store", "channel",
           "basket")


class Checker:
    def __init__(self):
        self.failures = []

    def __call__(self, cond, what):
        if not cond:
            self.failures.append(what)
            print("FAIL:", what, flush=True)

    def finish(self, name):
        if self.failures:
            print(f"{name}: {len(self.failures)} check(s) failed")
            return 1
        print(f"{name}: all checks passed")
        return 0


def make_key(path, key=None):
    key = key if key is not None else os.urandom(32)
    if os.path.exists(path):
        os.remove(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, key.hex().encode() + b"\n")
    os.close(fd)
    return key


def pseudonym(key, raw):
    """docs/privacy.md: trim blanks, drop a zero fraction of an all-digit id, HMAC-SHA256."""
    s = raw.strip(" \t")
    head, dot, frac = s.partition(".")
    if dot and head.isdigit() and frac and set(frac) == {"0"}:
        s = head
    return int.from_bytes(hmac.new(key, s.encode(), hashlib.sha256).digest()[:8], "little")


def mix64(z):
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def ingest(args, ranks=1, check=None, expect=0):
    cmd = ([MPIEXEC, "-n", str(ranks)] + MPIFLAGS if ranks > 1 else []) + \
        [BIN, "ingest", "--quiet"] + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check is not None:
        check(r.returncode == expect,
              f"ingest {' '.join(args)} at {ranks} rank(s): exit {r.returncode} (want {expect}): "
              f"{r.stderr[-1500:]}")
    return r


def load(path):
    with h5py.File(path, "r") as f:
        cols = {k: f["transactions"][k][...] for k in COLUMNS}
        dicts = {k: [s.decode() for s in f["dict"][k][...]] for k in ("item", "category", "store")}
        offsets = f["index/bucket_offsets"][...]
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return cols, dicts, offsets, attrs


def same_store(a, b):
    """True when two stores hold identical datasets (attributes such as created_at aside)."""
    ca, da, oa, aa = load(a)
    cb, db, ob, ab = load(b)
    return (all(np.array_equal(ca[k], cb[k]) for k in COLUMNS) and da == db and
            np.array_equal(oa, ob) and aa["content_digest"] == ab["content_digest"])
