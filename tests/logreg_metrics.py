"""Oracle test: our metrics against sklearn.metrics and independent numpy computations.

usage: logreg_metrics.py LOGREG_TOOL TMPDIR

Probabilities rounded to 2 decimals (many ties), with and without sample weights, run
through the tool on 1 process and under mpiexec on 3 ranks (the gathered result must be
the same bits). ROC AUC, average precision, log-loss and Brier score agree to 1e-12;
deciles, lift, gains, max-F1 and budget confusion matrices are recomputed in numpy.
"""
import os
import shlex
import subprocess
import sys

import numpy as np
from sklearn.metrics import (average_precision_score, brier_score_loss, log_loss,
                             precision_recall_curve, roc_auc_score)

tool, tmp = sys.argv[1], sys.argv[2]
os.makedirs(tmp, exist_ok=True)
failures = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)


def near(a, b, tol, msg):
    check(abs(a - b) <= tol, f"{msg}: {a!r} vs {b!r}")


rng = np.random.default_rng(7)
n = 5003
p = np.round(rng.beta(2, 5, size=n), 2)
p[:5] = [0.0, 1.0, 0.5, 0.5, 0.5]
y = (rng.uniform(size=n) < p * 0.9 + 0.03).astype(np.int8)
w = rng.uniform(0.1, 3.0, size=n)
p.tofile(f"{tmp}/p.bin")
y.tofile(f"{tmp}/y.bin")
w.tofile(f"{tmp}/w.bin")
budget = 0.1


def run(weights, np_=1):
    out = f"{tmp}/m_{int(weights)}_{np_}.txt"
    cmd = [tool, "metrics", f"{tmp}/p.bin", f"{tmp}/y.bin", f"{tmp}/w.bin" if weights else "-",
           str(n), repr(budget), out]
    if np_ > 1:
        cmd = [os.environ["RETAIN_MPIEXEC"], "-n", str(np_)] + shlex.split(
            os.environ.get("RETAIN_MPIEXEC_FLAGS", "").replace(";", " ")) + cmd
    subprocess.run(cmd, check=True)
    return dict((k, float(v)) for k, v in (line.split() for line in open(out))), open(out).read()


for weights in (False, True):
    sw = w if weights else None
    ww = w if weights else np.ones(n)
    tag = "weighted" if weights else "unweighted"
    m, text = run(weights)
    near(m["roc_auc"], roc_auc_score(y, p, sample_weight=sw), 1e-12, f"{tag} roc_auc")
    near(m["pr_auc"], average_precision_score(y, p, sample_weight=sw), 1e-12, f"{tag} pr_auc")
    near(m["log_loss"], log_loss(y, p, sample_weight=sw), 1e-12, f"{tag} log_loss")
    near(m["brier"], brier_score_loss(y, p, sample_weight=sw), 1e-12, f"{tag} brier")
    # deciles: stable sort by probability descending
    order = np.lexsort((np.arange(n), -p))
    ps, ys, wsrt = p[order], y[order], ww[order]
    b = (np.arange(n) * 10) // n
    base = np.sum(ww * y) / np.sum(ww)
    cum_pos = 0.0
    for k in range(10):
        s = b == k
        rate = np.sum(wsrt[s] * ys[s]) / np.sum(wsrt[s])
        mp = np.sum(wsrt[s] * ps[s]) / np.sum(wsrt[s])
        cum_pos += np.sum(wsrt[s] * ys[s])
        check(int(m[f"bin_n{k}"]) == s.sum(), f"{tag} decile {k} size")
        near(m[f"bin_rate{k}"], rate, 1e-12, f"{tag} decile {k} observed rate")
        near(m[f"bin_mean_pred{k}"], mp, 1e-12, f"{tag} decile {k} mean prediction")
        near(m[f"lift{k}"], rate / base, 1e-11, f"{tag} decile {k} lift")
        near(m[f"cum_gain{k}"], cum_pos / np.sum(ww * y), 1e-12, f"{tag} decile {k} gain")
    # max F1 over thresholds (sklearn's precision/recall curve)
    prec, rec, thr = precision_recall_curve(y, p, sample_weight=sw)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2 * prec * rec / (prec + rec)
    f1 = np.nan_to_num(f1[:-1])
    k = np.argmax(f1[::-1])  # highest threshold among ties, as ours
    k = len(f1) - 1 - k
    near(m["f1_f1"], f1[k], 1e-12, f"{tag} max F1")
    near(m["f1_threshold"], thr[k], 0, f"{tag} max-F1 threshold")
    pred = p >= thr[k]
    near(m["f1_tp"], np.sum(ww[pred & (y == 1)]), 1e-9, f"{tag} max-F1 tp")
    near(m["f1_fp"], np.sum(ww[pred & (y == 0)]), 1e-9, f"{tag} max-F1 fp")
    # budget: top ceil(10%) rows, ties at the cut included
    mcut = int(np.ceil(budget * n))
    t = ps[mcut - 1]
    pred = p >= t
    near(m["budget_threshold"], t, 0, f"{tag} budget threshold")
    check(int(m["budget_flagged"]) == pred.sum(), f"{tag} budget flagged {pred.sum()}")
    near(m["budget_tp"], np.sum(ww[pred & (y == 1)]), 1e-9, f"{tag} budget tp")
    # distributed: same text (same bits printed with 17 digits) on 3 ranks
    if "RETAIN_MPIEXEC" in os.environ:
        _, text3 = run(weights, 3)
        check(text3 == text, f"{tag} metrics on 3 ranks identical to 1 rank")

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
