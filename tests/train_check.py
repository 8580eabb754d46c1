"""Independent checks of model bundles written by tests/train_e2e.sh."""
import json
import sys

import h5py
import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score, average_precision_score, roc_auc_score
from scipy.special import betaln, gammaln

W = sys.argv[1]
failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    failures += 0 if ok else 1


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        attrs = {}
        f.visititems(lambda n, o: attrs.update({f"{n}@{k}": v for k, v in o.attrs.items()}))
        attrs.update({f"@{k}": v for k, v in f.attrs.items()})
    return out, attrs


# 1. identical bundles at 1, 2, 3, 4 ranks (every dataset and every model attribute)
ref, refa = datasets(f"{W}/b1.h5")
for np_ in (2, 3, 4):
    other, oa = datasets(f"{W}/b{np_}.h5")
    same = sorted(ref) == sorted(other) and all(np.array_equal(ref[k], other[k], equal_nan=True) if ref[k].dtype.kind == "f" else np.array_equal(ref[k], other[k]) for k in ref)
    skip = {"@created_at", "@created_by"}
    sa = all((np.array_equal(refa[k], oa[k], equal_nan=True) if np.asarray(refa[k]).dtype.kind == "f" else np.array_equal(refa[k], oa[k])) for k in refa if k not in skip)
    check(same and sa, f"bundle at {np_} ranks identical to 1 rank (datasets and attributes)")

B = h5py.File(f"{W}/b1.h5", "r")
F = h5py.File(f"{W}/f.h5", "r")
T = h5py.File(f"{W}/t.h5", "r")
check(B.attrs["format"] == b"retain-model" or B.attrs["format"] == "retain-model", "format attribute")
X = F["customers/X"][()]
y = F["customers/label"][()].astype(int)
cust = F["customers/customer"][()]
names = [n.decode() if isinstance(n, bytes) else n for n in F["customers/X"].attrs["feature_names"]]

# the split, recomputed from its documented keyed hash
M = (1 << 64) - 1


def mix(z):
    z = (z + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)


u = np.array([(mix(mix(int(k)) ^ mix(0 ^ 0x73706C6974)) >> 11) * 2.0**-53 for k in cust])
part = np.where(u < 0.7, 0, np.where(u < 0.85, 1, 2))

# 2. churn coefficients against scikit-learn on the same training rows and transforms
tr = B["churn/transform"][()]
Xt = X.copy()
for j in range(X.shape[1]):
    if tr[j] == 1:
        Xt[:, j] = np.sign(X[:, j]) * np.log1p(np.abs(X[:, j]))
mean, scale = B["churn/scaler_mean"][()], B["churn/scaler_scale"][()]
Z = (Xt - mean) / scale
trn = part == 0
check(np.allclose(mean, Xt[trn].mean(0), rtol=1e-10, atol=1e-12), "scaler mean = training-row mean")
def objective(w):  # scikit-learn's problem: C * sum(loss) + ||beta||^2 / 2, C = 1
    z = w[0] + Z[trn] @ w[1:]
    return np.sum(np.logaddexp(0, z) - y[trn] * z) + 0.5 * w[1:] @ w[1:]


coef_std = B["churn/coef_std"][()]
b0 = B["churn"].attrs["intercept_std"]
ours = np.r_[b0, coef_std]
lb = LogisticRegression(C=1.0, tol=1e-12, max_iter=20000).fit(Z[trn], y[trn])
check(objective(ours) <= objective(np.r_[lb.intercept_, lb.coef_[0]]) * (1 + 1e-12),
      f"objective {objective(ours):.10f} not worse than scikit-learn lbfgs {objective(np.r_[lb.intercept_, lb.coef_[0]]):.10f}")
# lbfgs stops early on this flat problem; Newton-CG reaches the optimum to ~1e-10
sk = LogisticRegression(C=1.0, solver="newton-cg", tol=1e-12, max_iter=20000).fit(Z[trn], y[trn])
ref = np.r_[sk.intercept_, sk.coef_[0]]
rel = np.max(np.abs(ours - ref)) / np.max(np.abs(ref))
check(rel < 1e-5, f"churn coefficients agree with scikit-learn newton-cg (max rel diff {rel:.2e})")
p = 1 / (1 + np.exp(-(B["churn"].attrs["intercept"] + Xt @ B["churn/coef"][()])))
p_std = 1 / (1 + np.exp(-(b0 + Z @ coef_std)))
check(np.max(np.abs(p - p_std)) < 1e-9, "original-unit and standardized coefficients give the same probabilities")
te = part == 2
auc = roc_auc_score(y[te], p[te])
g = B["churn/metrics/test"].attrs
check(abs(auc - g["roc_auc"]) < 1e-9, f"test AUC recomputed independently ({auc:.4f})")
check(abs(average_precision_score(y[te], p[te]) - g["pr_auc"]) < 1e-9, "test PR AUC recomputed")
check(g["n"] == te.sum(), "test split size")
check(0.80 <= auc <= g["oracle_roc_auc"], f"test AUC {auc:.3f} >= 0.80 and <= oracle {g['oracle_roc_auc']:.3f}")
cuts = B["churn/risk_cut"][()]
check(np.all(np.diff(cuts) > 0) and 0 < cuts[0] and cuts[-1] < 1, "risk tiers ordered")

# 3. segments: archetype recovery vs truth, and vs scikit-learn KMeans on the same features
fi, st = B["segments/feature_index"][()], B["segments/transform"][()]
S = X[:, fi].copy()
for j in range(S.shape[1]):
    if st[j] == 1:
        S[:, j] = np.sign(S[:, j]) * np.log1p(np.abs(S[:, j]))
S = (S - B["segments/scaler_mean"][()]) / B["segments/scaler_scale"][()]
C = B["segments/centroids"][()]
lab = np.argmin(((S[:, None, :] - C[None, :, :]) ** 2).sum(2), axis=1)
tc = T["truth/customer"][()]
idx = {int(k): i for i, k in enumerate(tc)}
arch = T["truth/archetype"][()][[idx[int(k)] for k in cust]]
ari = adjusted_rand_score(arch, lab)
check(abs(ari - B["segments"].attrs["ari_truth"]) < 1e-9, f"ARI recomputed independently ({ari:.3f})")
sk_ari = max(adjusted_rand_score(arch, KMeans(5, n_init=1, random_state=s).fit_predict(S)) for s in range(5))
# The archetypes overlap in this feature space (docs/segmentation.md): scikit-learn's best of
# five KMeans runs reaches about 0.3 here; ours must be as good within 0.05 and above 0.2.
check(ari >= 0.2 and ari >= sk_ari - 0.05, f"archetype recovery ARI {ari:.3f} (scikit-learn best of 5: {sk_ari:.3f})")
inertia = ((S - C[lab]) ** 2).sum()
check(abs(inertia - B["segments"].attrs["inertia"]) < 1e-6 * inertia, "inertia recomputed")
sizes = np.bincount(lab, minlength=len(C))
check(np.array_equal(sizes, B["segments/size"][()]), "segment sizes recomputed")
nm = [n.decode() if isinstance(n, bytes) else n for n in B["segments/name"][()]]
check(len(set(nm)) == len(nm) and all(nm), f"segment names unique: {nm}")

# 4. BG/NBD log-likelihood recomputed from its published formula
r, al, a, b = B["clv/bgnbd_params"][()]
x, tx, TT = (F[f"customers/clv_{c}"][()] for c in ("x", "t_x", "T"))
A1 = gammaln(r + x) - gammaln(r) + r * np.log(al)
A2 = betaln(a, b + x) - betaln(a, b)
A3 = -(r + x) * np.log(al + TT)
A4 = np.where(x > 0, np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(al + tx), -np.inf)
ll = np.sum(A1 + A2 + np.logaddexp(A3, A4))
check(abs(ll - B["clv"].attrs["bgnbd_loglik"]) < 1e-8 * abs(ll), f"BG/NBD log-likelihood recomputed ({ll:.3f})")

# 5. warm start: same data, converges at once; segment ids stay
Wb = h5py.File(f"{W}/warm.h5", "r")
check(Wb["churn"].attrs["iterations"] <= 3, f"warm start converges in {Wb['churn'].attrs['iterations']} iterations")
check(np.array_equal(np.sort(Wb["segments/id"][()]), np.sort(B["segments/id"][()])), "segment ids kept")

opts = json.loads(B.attrs["options"])
check(opts["k"] == [5, 5] and opts["segment_features"].startswith("monetary_mean"), "options recorded")
check(len(B.attrs["content_id"]) == 64 and len(B.attrs["features_digest"]) == 64, "provenance digests")
s2 = json.load(open(f"{W}/sum2.json"))
check(s2["train"]["content_id"] == B.attrs["content_id"].decode() if isinstance(B.attrs["content_id"], bytes) else B.attrs["content_id"], "summary names the bundle")
sys.exit(1 if failures else 0)
