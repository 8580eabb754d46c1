"""Oracle test: retain's k-means against scikit-learn.

From the same initial centroids, final centroids, labels and inertia must equal
sklearn.cluster.KMeans(algorithm='lloyd', n_init=1, same tol and max_iter) within 1e-9
relative, at 1 and 3 ranks, with both distance kernels and every instruction-set path of
the fused kernel (which must also agree with each other bitwise). Also checks the
adjusted Rand index against sklearn.metrics.adjusted_rand_score and the silhouette against
sklearn.metrics.silhouette_score.

usage: kmeans_oracle.py KMEANS_TOOL WORKDIR
"""
import os
import shlex
import subprocess
import sys

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

tool, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def mpirun(np_, args, env_extra=None):
    mpiexec = os.environ.get("RETAIN_MPIEXEC", "mpiexec")
    flags = shlex.split(os.environ.get("RETAIN_MPIEXEC_FLAGS", "").replace(";", " "))
    for f in ("--oversubscribe", "--allow-run-as-root"):
        if f not in flags:
            flags.append(f)
    env = dict(os.environ)
    env.update(env_extra or {})
    cmd = [mpiexec, "-n", str(np_)] + flags + [tool] + args
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        raise SystemExit("tool failed: " + " ".join(cmd))
    return r.stdout


def write_x(d, X):
    with open(os.path.join(d, "X.bin"), "wb") as f:
        np.array(X.shape, dtype=np.int64).tofile(f)
        np.ascontiguousarray(X, dtype=np.float64).tofile(f)


def read_fit(d, n, k, dim):
    C = np.fromfile(os.path.join(d, "centroids.bin"), dtype=np.float64).reshape(k, dim)
    lab = np.fromfile(os.path.join(d, "labels.bin"), dtype=np.int32)
    inertia, n_iter, conv = open(os.path.join(d, "info.txt")).read().split()
    return C, lab, float(inertia), int(n_iter), int(conv)


def rel_close(a, b, tol=1e-9):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(np.max(np.abs(b)), 1e-300)
    return np.max(np.abs(a - b)) <= tol * scale


def case(name, X, init, max_iter, tol, ranks=(1, 3), kernels=("fused", "blas"), isa=True):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    write_x(d, X)
    init.astype(np.float64).tofile(os.path.join(d, "init.bin"))
    k, dim = init.shape
    km = KMeans(n_clusters=k, init=init.copy(), n_init=1, max_iter=max_iter, tol=tol,
                algorithm="lloyd").fit(X)
    results = {}
    for kern in kernels:
        for np_ in ranks:
            mpirun(np_, ["fit", d, str(k), str(max_iter), repr(tol), kern])
            C, lab, inertia, n_iter, _ = read_fit(d, len(X), k, dim)
            tag = f"{name} kernel={kern} np={np_}"
            check(rel_close(C, km.cluster_centers_), f"{tag}: centroids "
                  f"(max diff {np.max(np.abs(C - km.cluster_centers_)):.3g})")
            check(np.array_equal(lab, km.labels_), f"{tag}: labels "
                  f"({np.sum(lab != km.labels_)} differ)")
            check(abs(inertia - km.inertia_) <= 1e-9 * km.inertia_,
                  f"{tag}: inertia {inertia!r} vs {km.inertia_!r}")
            check(n_iter == km.n_iter_, f"{tag}: n_iter {n_iter} vs {km.n_iter_}")
            results[(kern, np_)] = (C.tobytes(), lab.tobytes(), inertia)
        first = results[(kern, ranks[0])]
        for np_ in ranks[1:]:
            check(results[(kern, np_)] == first, f"{name} kernel={kern}: np={np_} not bitwise "
                  f"equal to np={ranks[0]}")
    if isa:  # every instruction-set path of the fused kernel gives the same bits
        ref = results[("fused", ranks[0])]
        for level in ("1", "0"):
            mpirun(2, ["fit", d, str(k), str(max_iter), repr(tol), "fused"],
                   {"RETAIN_KMEANS_ISA": level})
            C, lab, inertia, _, _ = read_fit(d, len(X), k, dim)
            check((C.tobytes(), lab.tobytes(), inertia) == ref,
                  f"{name}: ISA level {level} differs from the default path")
    print(f"{name}: sklearn n_iter={km.n_iter_} inertia={km.inertia_:.10g}")


rng = np.random.default_rng(7)

# 1. separated blobs, run to convergence (tol=0: until the centres stop moving)
k, dim, n = 6, 24, 3000
centres = rng.normal(0, 3, (k, dim))
X = centres[rng.integers(0, k, n)] + rng.normal(0, 1.5, (n, dim))
init = X[rng.choice(n, k, replace=False)]
case("converge", X, init, 300, 0.0)

# 2. overlapping data, a few iterations only: the trajectory must match step by step
X2 = rng.normal(0, 1, (2500, 11)) * rng.uniform(0.5, 2, 11)
init2 = X2[rng.choice(len(X2), 9, replace=False)]
case("truncated", X2, init2, 4, 0.0)

# 3. scikit-learn's relative tolerance
case("tolerance", X2, init2, 300, 1e-3, kernels=("fused",), isa=False)

# 4. an empty cluster: one initial centre far from all data is re-seeded with the
#    farthest point, as scikit-learn does
init4 = init.copy()
init4[2] = 50.0
case("empty", X, init4, 300, 0.0, kernels=("fused",), isa=False)

# 5. k > 8 uses several centroid panels; odd d
X5 = rng.normal(0, 1, (2000, 5)) + np.repeat(rng.normal(0, 4, (20, 5)), 100, axis=0)
init5 = X5[rng.choice(len(X5), 13, replace=False)]
case("wide_k", X5, init5, 50, 0.0, ranks=(1, 2))

# 6. k-means|| initialization is identical at 1 and 4 ranks, and its fit is good
d6 = os.path.join(work, "kmeanspar")
os.makedirs(d6, exist_ok=True)
write_x(d6, X)
outs = []
for np_ in (1, 4):
    mpirun(np_, ["fit", d6, str(k), "300", "1e-4", "auto", "kmeans||"])
    outs.append(read_fit(d6, n, k, dim))
check(outs[0][0].tobytes() == outs[1][0].tobytes() and outs[0][2] == outs[1][2],
      "k-means|| fit differs between 1 and 4 ranks")
truth = np.argmin(((X[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
ari = adjusted_rand_score(truth, outs[0][1])
best_sk = KMeans(n_clusters=k, n_init=10, random_state=0, algorithm="lloyd").fit(X).inertia_
print(f"k-means||: inertia {outs[0][2]:.6g} (sklearn best of 10 k-means++: {best_sk:.6g}), "
      f"ARI vs generating centres {ari:.4f}")
check(outs[0][2] <= best_sk * 1.0001, "k-means|| result worse than sklearn's best of 10")
check(ari > 0.99, f"k-means|| ARI {ari}")

# 7. adjusted Rand index
for t, (na, nb, nn) in enumerate([(3, 3, 50), (5, 2, 1000), (1, 4, 30), (7, 7, 5), (1, 1, 10)]):
    a = rng.integers(0, na, nn).astype(np.int32) * 3 - 2  # arbitrary label values
    b = rng.integers(0, nb, nn).astype(np.int32)
    if t == 3:
        b = a.copy()
    f = os.path.join(work, f"ari{t}.bin")
    with open(f, "wb") as fh:
        np.array([nn], dtype=np.int64).tofile(fh)
        a.tofile(fh)
        b.tofile(fh)
    got = float(mpirun(1, ["ari", f]).strip())
    want = adjusted_rand_score(a, b)
    check(abs(got - want) <= 1e-12, f"ARI case {t}: {got!r} vs sklearn {want!r}")

# 8. silhouette
for t, (nn, kk) in enumerate([(300, 3), (500, 7), (40, 2)]):
    Xs = rng.normal(0, 1, (nn, 4)) + np.repeat(rng.normal(0, 3, (kk, 4)), nn // kk + 1, 0)[:nn]
    ls = rng.integers(0, kk, nn).astype(np.int32) if t == 1 else \
        np.repeat(np.arange(kk, dtype=np.int32), nn // kk + 1)[:nn]
    ls[0] = kk + 5  # a singleton cluster scores 0
    f = os.path.join(work, f"sil{t}.bin")
    with open(f, "wb") as fh:
        np.array([nn, 4], dtype=np.int64).tofile(fh)
        Xs.tofile(fh)
        ls.tofile(fh)
    got = float(mpirun(1, ["sil", f]).strip())
    want = silhouette_score(Xs, ls)
    check(abs(got - want) <= 1e-9, f"silhouette case {t}: {got!r} vs sklearn {want!r}")

if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("kmeans oracle: all checks passed")
