"""JSON export: scores recomputed from the JSON document alone (numpy) match `retain score`
for every fixture customer (probability to 1e-9, segment ids, risk tiers, P(alive)); every
number equals the bundle's bit for bit; the document follows the versioned schema of
docs/serving.md."""
import json
import os
import sys

import h5py
import numpy as np

W = os.path.join(os.environ.get("RETAIN_TEST_TMP", "."), "export")
bad = 0


def check(ok, what):
    global bad
    print(("ok   " if ok else "FAIL ") + what)
    bad += 0 if ok else 1


def load(name):
    with open(os.path.join(W, name)) as f:
        return json.load(f)


def xform(names, v):
    t = np.array([n == "log1p" for n in names])
    return np.where(t, np.sign(v) * np.log1p(np.abs(v)), v)


def same(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def attr_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


F = h5py.File(os.path.join(W, "f.h5"), "r")
X = F["customers/X"][()]
N = X.shape[0]
S = h5py.File(os.path.join(W, "sc.h5"), "r")
J = load("m.json")
B = h5py.File(os.path.join(W, "m.h5"), "r")

# schema
check(J["format"] == "retain-model-json" and J["version"] == 1, "format retain-model-json, version 1")
for key in ("bundle", "provenance", "features", "transforms", "churn", "segments", "clv", "scoring"):
    check(key in J, f"top-level key {key}")
check(J["bundle"]["content_id"] == attr_str(B.attrs["content_id"]), "content id of the bundle")
check(J["features"]["names"] == list(B["features/names"].asstr()[()]), "feature names in bundle order")
check(J["provenance"]["cutoff_iso"] == attr_str(B.attrs["cutoff_iso"]) and
      isinstance(J["provenance"]["options"], dict), "provenance: cutoff, training options as JSON")

# every number equals the bundle's
c, s, v = J["churn"], J["segments"], J["clv"]
codes = {0: "identity", 1: "log1p"}
check([codes[t] for t in B["churn/transform"][()]] == c["transform"], "churn transforms")
for k, h in (("scaler_mean", "churn/scaler_mean"), ("scaler_scale", "churn/scaler_scale"), ("coef", "churn/coef"),
             ("coef_std", "churn/coef_std"), ("risk_cuts", "churn/risk_cut")):
    check(same(c[k], B[h][()]), f"churn {k} bit for bit")
for k in ("intercept", "intercept_std", "threshold"):
    check(c[k] == B["churn"].attrs[k], f"churn {k} bit for bit")
for k, h in (("feature_index", "segments/feature_index"), ("scaler_mean", "segments/scaler_mean"),
             ("scaler_scale", "segments/scaler_scale"), ("centroids", "segments/centroids"), ("ids", "segments/id"),
             ("size", "segments/size"), ("profile_mean", "segments/profile_mean")):
    check(same(s[k], B[h][()]), f"segments {k} bit for bit")
check(s["names"] == list(B["segments/name"].asstr()[()]), "segment names")
check(same([v["bgnbd"][k] for k in ("r", "alpha", "a", "b")], B["clv/bgnbd_params"][()]), "BG/NBD parameters")
check(same([v["gamma_gamma"][k] for k in ("p", "q", "gamma")], B["clv/gg_params"][()]), "Gamma-Gamma parameters")

# scores from the JSON alone
names = J["features"]["names"]
Z = (xform(c["transform"], X) - np.array(c["scaler_mean"])) / np.array(c["scaler_scale"])
p = 1 / (1 + np.exp(-(c["intercept_std"] + Z @ np.array(c["coef_std"]))))
err = np.max(np.abs(p - S["scores/churn_probability"][()]))
check(err <= 1e-9, f"churn probability from coef_std on all {N} customers (max |diff| {err:.1e})")
p2 = 1 / (1 + np.exp(-(c["intercept"] + xform(c["transform"], X) @ np.array(c["coef"]))))
err2 = np.max(np.abs(p2 - S["scores/churn_probability"][()]))
check(err2 <= 1e-9, f"churn probability from the unscaled coef (max |diff| {err2:.1e})")
tier = np.searchsorted(np.array(c["risk_cuts"]), S["scores/churn_probability"][()], side="right")
check(np.array_equal(tier, S["scores/risk_tier"][()]), "risk tiers from risk_cuts")
fi = np.array(s["feature_index"])
check([names[j] for j in fi] == s["features"], "segment feature names match their indices")
Zs = (xform(s["transform"], X[:, fi]) - np.array(s["scaler_mean"])) / np.array(s["scaler_scale"])
cl = np.argmin(((Zs[:, None, :] - np.array(s["centroids"])[None]) ** 2).sum(2), 1)
ids = np.array(s["ids"])
check(np.array_equal(ids[cl], ids[S["scores/segment"][()]]), f"segment ids from the centroids on all {N} customers")
bg = v["bgnbd"]
x, tx, T = (F[f"customers/clv_{k}"][()] for k in ("x", "t_x", "T"))
with np.errstate(all="ignore"):
    pal = np.where(x > 0, 1 / (1 + bg["a"] / (bg["b"] + x - 1) * ((bg["alpha"] + T) / (bg["alpha"] + tx)) ** (bg["r"] + x)), 1.0)
check(np.max(np.abs(pal - S["scores/p_alive"][()])) < 1e-10, "P(alive) from the BG/NBD parameters")
pb = J["scoring"]["playbook"]
check(len(pb) == 4 and all(len(r) == 3 for r in pb) and pb[3][0] == "winback_offer", "playbook table")

# partial bundles: absent parts are null
Jc, Js = load("m-churn.json"), load("m-seg.json")
check(Jc["segments"] is None and Jc["clv"] is None and Jc["churn"] is not None, "churn-only bundle: segments, clv null")
check(Js["churn"] is None and Js["segments"]["k"] == 4, "segments-only bundle: churn null, k 4")
Sc = h5py.File(os.path.join(W, "sc-churn.h5"), "r")
cc = Jc["churn"]
pc = 1 / (1 + np.exp(-(cc["intercept_std"] + ((xform(cc["transform"], X) - cc["scaler_mean"]) / cc["scaler_scale"]) @ np.array(cc["coef_std"]))))
check(np.max(np.abs(pc - Sc["scores/churn_probability"][()])) <= 1e-9, "churn-only JSON reproduces its scores")
with open(os.path.join(W, "m.json")) as f:
    txt = f.read()
check("NaN" not in txt and "Infinity" not in txt, "strict JSON: no NaN or Infinity tokens")
sys.exit(1 if bad else 0)
