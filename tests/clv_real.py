"""BG/NBD (and Gamma-Gamma where there is spend) fitted through retain on two real data sets,
against an independent computation straight from the raw CSV.

grocery:        groceryElog.csv (BTYDplus), "cust,date", no spend. Ingest with
                data-samples/grocery.ini (amount 0 on every row), features with cutoff
                2007-01-01 (52-week calibration ending 2006-12-31, as in the BTYDplus grocery
                demo; 2007 is the holdout), --population all --zero-value-purchases, train
                --models clv: BG/NBD only, Gamma-Gamma skipped with a message.
online-retail:  UCI Online Retail (--format online-retail), calibration = the whole file
                (cutoff 2011-12-10), BG/NBD + Gamma-Gamma; and cutoff 2011-09-01, where the
                BG/NBD likelihood has no interior maximum (the mean dropout probability
                a/(a+b) runs to 0, the no-dropout NBD limit): the fit must report it, the
                profile likelihood computed here must confirm the boundary, and train must
                fall back to the NBD model (equal to a scipy NBD fit; bitwise equal at 1, 2,
                3 ranks), whose CLV scores must follow the NBD formulas.

Checks: the x / t_x / T (/ mean repeat spend) summary equals the pandas computation
exactly (as multisets: customers are pseudonymized); the parameters are bitwise identical
at 1, 2 and 3 ranks; they equal a scipy maximization of this file's own likelihood code to
1e-4 relative, log-likelihood to 1e-6 relative, standard errors (scipy finite-difference
Hessian) to 2%. Prints the parameter table used in docs/clv.md.

usage: clv_real.py grocery|online-retail WORKDIR
"""
import os
import json
import re
import shutil
import subprocess
import sys
from decimal import ROUND_HALF_EVEN, Decimal

import h5py
import numpy as np
import pandas as pd
from scipy import optimize, special

BIN = os.environ["RETAIN_BIN"]
SRC = os.environ["RETAIN_SOURCE_DIR"]
DATA = os.environ["RETAIN_DATA_DIR"]
MPI = [os.environ["RETAIN_MPIEXEC"]] + os.environ.get("RETAIN_MPIEXEC_FLAGS", "").split()
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(np_, *args):
    p = subprocess.run(MPI + ["-n", str(np_), BIN] + list(args), capture_output=True, text=True,
                       timeout=600)
    if p.returncode != 0:
        print("command failed (%d): %s\n%s%s" % (p.returncode, " ".join(args), p.stdout, p.stderr))
        sys.exit(1)
    return p.stdout + p.stderr


# ------------------------------------------------------------------ independent summaries

def summary(purch, cutoff, last_cal_day):
    """purch: DataFrame (cust, day [datetime64, midnight], value [pence or 0]) of purchases.
    Purchases on the same day are one purchase; x = purchase days - 1, t_x and T in weeks."""
    cal = purch[purch.day < cutoff].groupby(["cust", "day"], as_index=False).value.sum()
    cal = cal.sort_values(["cust", "day"])
    g = cal.groupby("cust")
    first, last, n = g.day.min(), g.day.max(), g.day.size()
    rep = cal[cal.day > cal.cust.map(first)].groupby("cust").value.sum()
    out = pd.DataFrame({"x": (n - 1).astype(float),
                        "t_x": (last - first).dt.days / 7.0,
                        "T": (last_cal_day - first).dt.days / 7.0})
    rep = rep.reindex(out.index, fill_value=0)
    out["mx"] = np.where(out.x > 0, rep.values / 100.0 / np.maximum(out.x.values, 1), 0.0)
    return out


def grocery_summary(csv):
    df = pd.read_csv(csv, dtype={"cust": str})
    df["day"] = pd.to_datetime(df.date)
    df["value"] = 0
    return summary(df, pd.Timestamp("2007-01-01"), pd.Timestamp("2006-12-31"))


def online_retail_purchases(csv):
    df = pd.read_csv(csv, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str},
                     keep_default_na=False)
    df = df[df.CustomerID.str.strip() != ""].copy()
    df["amount"] = [int((Decimal(q) * Decimal(p) * 100).quantize(Decimal(1), ROUND_HALF_EVEN))
                    for q, p in zip(df.Quantity.astype(str), df.UnitPrice.astype(str))]
    ret = df.InvoiceNo.str.startswith("C")
    df.loc[ret, "amount"] = -df.loc[ret, "amount"].abs()
    # the preset removes rows whose stored values repeat an earlier row
    df = df.drop_duplicates(["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "amount",
                             "CustomerID", "Country"])
    df["t"] = pd.to_datetime(df.InvoiceDate)
    inv = df.groupby(["CustomerID", "InvoiceNo"], as_index=False).agg(t=("t", "min"),
                                                                      value=("amount", "sum"))
    inv = inv[inv.value > 0]  # a purchase is an invoice with a positive net amount
    return pd.DataFrame({"cust": inv.CustomerID, "day": inv.t.dt.floor("D"), "value": inv.value})


# ------------------------------------------------------------------ likelihoods (scipy)

def bg_ll(lp, s):
    r, al, a, b = np.exp(lp)
    x, tx, T = s
    A1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(al)
    A2 = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    A3 = -(r + x) * np.log(al + T)
    A4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(al + tx),
                  -np.inf)
    return np.sum(A1 + A2 + np.logaddexp(A3, A4))


def nbd_ll(lp, s):
    r, al = np.exp(lp)
    x, _, T = s
    return np.sum(special.gammaln(r + x) - special.gammaln(r) + r * np.log(al) - (r + x) * np.log(al + T))


def gg_ll(lp, s):
    p, q, v = np.exp(lp)
    x, m = s
    return np.sum(special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q)
                  + q * np.log(v) + (p * x - 1) * np.log(m) + p * x * np.log(x)
                  - (p * x + q) * np.log(v + x * m))


def hessian(ll, lp, s, h=1e-4):
    k = len(lp)
    H = np.zeros((k, k))
    E = np.eye(k) * h
    for i in range(k):
        for j in range(k):
            H[i, j] = -(ll(lp + E[i] + E[j], s) - ll(lp + E[i] - E[j], s) - ll(lp - E[i] + E[j], s)
                        + ll(lp - E[i] - E[j], s)) / (4 * h * h)
    return H


def mle(ll, s, starts):
    """Nelder-Mead from several starts, BFGS, then Newton steps on the finite-difference
    Hessian (weakly identified parameters need the last digits)."""
    f = lambda lp: -ll(lp, s)
    best = None
    for st in starts:
        res = optimize.minimize(f, st, method="Nelder-Mead",
                                options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 40000, "maxfev": 80000})
        res = optimize.minimize(f, res.x, method="BFGS", options={"gtol": 1e-7})
        if best is None or res.fun < best.fun:
            best = res
    lp = best.x
    for _ in range(6):
        H = hessian(ll, lp, s)
        g = np.array([(ll(lp + e, s) - ll(lp - e, s)) / 2e-6 for e in np.eye(len(lp)) * 1e-6])
        step = np.linalg.solve(H, g)
        if ll(lp + step, s) >= ll(lp, s):
            lp = lp + step
    H = hessian(ll, lp, s)
    se = np.exp(lp) * np.sqrt(np.diag(np.linalg.inv(H)))
    return np.exp(lp), ll(lp, s), se


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def compare_fit(name, got, got_se, got_ll, want, want_se, want_ll, names):
    for n, g, w in zip(names, got, want):
        check(rel(g, w) < 1e-4, "%s %s = %.7g (scipy %.7g, rel %.1e)" % (name, n, g, w, rel(g, w)))
    check(rel(got_ll, want_ll) < 1e-6, "%s LL = %.6f (scipy %.6f)" % (name, got_ll, want_ll))
    for n, g, w in zip(names, got_se, want_se):
        check(rel(g, w) < 0.02, "%s se(%s) = %.4g (scipy %.4g)" % (name, n, g, w))


def features_summary(path):
    with h5py.File(path, "r") as f:
        c = f["customers"]
        return pd.DataFrame({"x": c["clv_x"][()], "t_x": c["clv_t_x"][()], "T": c["clv_T"][()],
                             "mx": c["clv_mean_repeat_spend"][()],
                             "hold": c["clv_frequency_holdout"][()]})


def same_multiset(a, b, cols):
    ka = a[cols].sort_values(cols).to_numpy()
    kb = b[cols].sort_values(cols).to_numpy()
    return ka.shape == kb.shape and np.array_equal(ka, kb)


def bundles_equal(paths, datasets):
    fs = [h5py.File(p, "r") for p in paths]
    ok = True
    for f in fs[1:]:
        for d in datasets:
            ok = ok and np.array_equal(fs[0][d][()], f[d][()])
        for a in ("bgnbd_loglik", "gg_loglik", "nbd_loglik"):
            if a in fs[0]["clv"].attrs:
                ok = ok and fs[0]["clv"].attrs[a] == f["clv"].attrs[a]
    return ok


def table_row(label, n, window, bg, bg_se, bg_ll_, gg=None, gg_se=None, gg_ll_=None):
    cells = [label, str(n), window]
    cells += ["%.4g (%.2g)" % (v, e) for v, e in zip(bg, bg_se)] + ["%.2f" % bg_ll_]
    if gg is None:
        cells += ["-", "-", "-", "-"]
    else:
        cells += ["%.4g (%.2g)" % (v, e) for v, e in zip(gg, gg_se)] + ["%.2f" % gg_ll_]
    print("TABLE | " + " | ".join(cells) + " |")


# ------------------------------------------------------------------ data sets

def grocery(work):
    csv = os.path.join(DATA, "grocery_btydplus", "groceryElog.csv")
    run(2, "ingest", "-q", "--mapping", os.path.join(SRC, "data-samples", "grocery.ini"),
        "--key", "key.hex", "--buckets", "64", "--out", "g.h5", csv)
    run(2, "features", "-q", "--store", "g.h5", "--cutoff", "2007-01-01", "--horizon", "364",
        "--lookback", "400", "--population", "all", "--zero-value-purchases", "--out", "gf.h5")
    logs = {}
    for n in (1, 2, 3):
        logs[n] = run(n, "train", "--features", "gf.h5", "--out", "gm%d.h5" % n, "--models", "clv")
    check("Gamma-Gamma skipped: no repeat customer has a positive spend" in logs[1],
          "train says Gamma-Gamma is skipped for lack of spend")
    ref = grocery_summary(csv)
    got = features_summary("gf.h5")
    check(len(got) == len(ref) == 1525, "1525 customers (%d, pandas %d)" % (len(got), len(ref)))
    check(same_multiset(got, ref, ["x", "t_x", "T"]), "x / t_x / T equal the pandas summary exactly")
    check((got.mx == 0).all(), "no spend: mean repeat spend 0 everywhere")
    # holdout purchase days, 2007-01-01 .. 2007-12-30 (independent of the fit)
    df = pd.read_csv(csv, dtype={"cust": str})
    hold = df[df.date >= "2007-01-01"].drop_duplicates().groupby("cust").size()
    cal_c = df[df.date < "2007-01-01"].cust.unique()
    check(int(got.hold.sum()) == int(hold.reindex(cal_c, fill_value=0).sum()),
          "holdout purchase days %d (pandas %d)" % (got.hold.sum(), hold.reindex(cal_c, fill_value=0).sum()))
    check(bundles_equal(["gm1.h5", "gm2.h5", "gm3.h5"], ["clv/bgnbd_params", "clv/bgnbd_stderr"]),
          "BG/NBD parameters, standard errors and LL bitwise equal at 1, 2, 3 ranks")
    with h5py.File("gm1.h5", "r") as f:
        check("gg_params" not in f["clv"] and f["clv"].attrs["has_gamma_gamma"] == 0,
              "bundle has BG/NBD only")
        P, SE, LL = f["clv/bgnbd_params"][()], f["clv/bgnbd_stderr"][()], f["clv"].attrs["bgnbd_loglik"]
    s = (ref.x.values, ref.t_x.values, ref["T"].values)
    starts = [np.log([1, ref["T"].sum() / ref.x.sum(), 1, 1]), np.log([0.3, 3, 0.5, 4]), np.log([2, 20, 2, 10])]
    want, wll, wse = mle(bg_ll, s, starts)
    compare_fit("BG/NBD", P, SE, LL, want, wse, wll, ["r", "alpha", "a", "b"])
    table_row("grocery", len(got), "2006-01-01 .. 2006-12-31 (52 weeks)", P, SE, LL)
    return 0


def online_retail(work):
    csv = os.path.join(DATA, "online_retail", "online_retail_2010_2011.csv")
    run(2, "ingest", "-q", "--format", "online-retail", "--key", "key.hex", "--buckets", "64",
        "--out", "or.h5", csv)
    purch = online_retail_purchases(csv)

    # calibration = the whole file: BG/NBD + Gamma-Gamma
    run(2, "features", "-q", "--store", "or.h5", "--cutoff", "2011-12-10", "--horizon", "90",
        "--lookback", "400", "--population", "all", "--out", "of.h5")
    for n in (1, 2, 3):
        run(n, "train", "-q", "--features", "of.h5", "--out", "om%d.h5" % n, "--models", "clv")
    ref = summary(purch, pd.Timestamp("2011-12-10"), pd.Timestamp("2011-12-09"))
    got = features_summary("of.h5")
    check(len(got) == len(ref) == 4338, "4338 customers (%d, pandas %d)" % (len(got), len(ref)))
    check(same_multiset(got, ref, ["x", "t_x", "T", "mx"]),
          "x / t_x / T / mean repeat spend equal the pandas summary exactly")
    check(bundles_equal(["om1.h5", "om2.h5", "om3.h5"],
                        ["clv/bgnbd_params", "clv/bgnbd_stderr", "clv/gg_params", "clv/gg_stderr"]),
          "BG/NBD and Gamma-Gamma parameters, standard errors and LL bitwise equal at 1, 2, 3 ranks")
    with h5py.File("om1.h5", "r") as f:
        c = f["clv"]
        P, SE, LL = c["bgnbd_params"][()], c["bgnbd_stderr"][()], c.attrs["bgnbd_loglik"]
        G, GSE, GLL = c["gg_params"][()], c["gg_stderr"][()], c.attrs["gg_loglik"]
        ngg = int(c.attrs["gg_customers"])
    s = (ref.x.values, ref.t_x.values, ref["T"].values)
    starts = [np.log([1, ref["T"].sum() / ref.x.sum(), 1, 1]), np.log([0.8, 10, 0.01, 5]), np.log([0.5, 5, 0.1, 1])]
    want, wll, wse = mle(bg_ll, s, starts)
    compare_fit("BG/NBD", P, SE, LL, want, wse, wll, ["r", "alpha", "a", "b"])
    rep = ref[(ref.x > 0) & (ref.mx > 0)]
    check(ngg == len(rep), "Gamma-Gamma customers %d (pandas %d)" % (ngg, len(rep)))
    gs = (rep.x.values, rep.mx.values)
    gwant, gwll, gwse = mle(gg_ll, gs, [np.log([1, 3, 2 * rep.mx.mean()]), np.log([3, 5, 300])])
    compare_fit("Gamma-Gamma", G, GSE, GLL, gwant, gwse, gwll, ["p", "q", "gamma"])
    table_row("Online Retail", len(got), "2010-12-01 .. 2011-12-09 (53.3 weeks)", P, SE, LL, G, GSE, GLL)

    # cutoff 2011-09-01: the boundary case
    run(2, "features", "-q", "--store", "or.h5", "--cutoff", "2011-09-01", "--horizon", "90",
        "--lookback", "400", "--population", "all", "--out", "of9.h5")
    logs9 = {}
    for n in (1, 2, 3):
        logs9[n] = run(n, "train", "--features", "of9.h5", "--out", "om9_%d.h5" % n, "--models", "clv",
                       "--summary", "om9_%d.json" % n)
    log = logs9[1]
    check("a/(a+b) is heading to 0" in log, "train reports the no-dropout boundary at cutoff 2011-09-01")
    check("the NBD model" in log, "train says it falls back to the NBD model")
    m = re.search(r"\(LL (-?[0-9.]+)\)", log)
    check(bundles_equal(["om9_1.h5", "om9_2.h5", "om9_3.h5"],
                        ["clv/nbd_params", "clv/nbd_stderr", "clv/gg_params", "clv/gg_stderr"]),
          "NBD and Gamma-Gamma parameters, standard errors and LL bitwise equal at 1, 2, 3 ranks")
    with h5py.File("om9_1.h5", "r") as f:
        c = f["clv"]
        kind = c.attrs.get("purchase_model", b"")
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        check(kind == "nbd" and "bgnbd_params" not in c and "nbd_params" in c,
              "the bundle's lifetime-value model is NBD (purchase_model = %r)" % kind)
        NP, NSE, NLL = c["nbd_params"][()], c["nbd_stderr"][()], c.attrs["nbd_loglik"]
        BGLL = c.attrs["bgnbd_loglik"]
        G9 = c["gg_params"][()]
        opt = {k: c.attrs[k] for k in ("horizon_months", "periods_per_month", "discount_rate_monthly", "margin")}
    with open("om9_1.json") as fh:
        tc = json.load(fh)["train.clv"]
    near = lambda key, v: rel(tc.get(key, np.nan), v) < 1e-9  # the summary keeps 10 digits
    check(tc.get("model") == "nbd" and "heading to 0" in tc.get("reason", "")
          and near("nbd_r", NP[0]) and near("nbd_alpha", NP[1]) and near("nbd_loglik", NLL)
          and near("bgnbd_best_loglik", BGLL),
          "run summary: train.clv model nbd, its parameters, LL, the BG/NBD LL reached and the reason")
    ref9 = summary(purch, pd.Timestamp("2011-09-01"), pd.Timestamp("2011-08-31"))
    got9 = features_summary("of9.h5")
    check(same_multiset(got9, ref9, ["x", "t_x", "T", "mx"]),
          "cutoff 2011-09-01: summary equals pandas (%d customers)" % len(ref9))
    s9 = (ref9.x.values, ref9.t_x.values, ref9["T"].values)
    nbd = optimize.minimize(lambda lp: -nbd_ll(lp, s9), np.log([1, 10]), method="Nelder-Mead",
                            options={"xatol": 1e-12, "fatol": 1e-12})
    nbd = optimize.minimize(lambda lp: -nbd_ll(lp, s9), nbd.x, method="BFGS", options={"gtol": 1e-8})
    sup = -nbd.fun
    wse = np.exp(nbd.x) * np.sqrt(np.diag(np.linalg.inv(hessian(nbd_ll, nbd.x, s9))))
    for n_, g, w in zip(("r", "alpha"), NP, np.exp(nbd.x)):
        check(rel(g, w) < 1e-5, "NBD %s = %.8g (scipy %.8g, rel %.1e)" % (n_, g, w, rel(g, w)))
    check(rel(NLL, sup) < 1e-6 and NLL >= sup - 1e-6, "NBD LL = %.6f (scipy %.6f)" % (NLL, sup))
    for n_, g, w in zip(("r", "alpha"), NSE, wse):
        check(rel(g, w) < 0.02, "NBD se(%s) = %.4g (scipy %.4g)" % (n_, g, w))
    check(BGLL <= NLL, "the best BG/NBD LL reached (%.6f) is not above the NBD maximum" % BGLL)
    print("NBD fallback: r = %.7g (%.3g), alpha = %.7g (%.3g), LL = %.4f; BG/NBD reached LL %.4f"
          % (NP[0], NSE[0], NP[1], NSE[1], NLL, BGLL))

    # scores with the NBD model: P(alive) = 1, CLV = margin E[M] (r+x)/(alpha+T) k
    # sum_m (1+d)^-m (equal expected purchases every month), the value behind the warnings
    # (scoring needs a churn model: a bundle with both, whose NBD model is the same bits)
    run(2, "train", "-q", "--features", "of9.h5", "--out", "om9_s.h5", "--models", "churn,clv")
    check(bundles_equal(["om9_1.h5", "om9_s.h5"], ["clv/nbd_params", "clv/nbd_stderr", "clv/gg_params"]),
          "the churn + CLV bundle has the same NBD model")
    run(2, "score", "-q", "--model", "om9_s.h5", "--features", "of9.h5", "--out", "os9.h5")
    with h5py.File("os9.h5", "r") as f:
        sc_clv, sc_pa, sc_val = (f["scores/" + k][()] for k in ("clv", "p_alive", "value"))
    p_, q_, g_ = G9
    x9, mx9, T9 = got9.x.values, got9.mx.values, got9["T"].values
    em = np.where((x9 > 0) & (mx9 > 0), (g_ + x9 * mx9) * p_ / (p_ * x9 + q_ - 1), p_ * g_ / (q_ - 1))
    H, k, d = int(opt["horizon_months"]), opt["periods_per_month"], opt["discount_rate_monthly"]
    want = opt["margin"] * em * (NP[0] + x9) / (NP[1] + T9) * k * sum((1 + d) ** -mo for mo in range(1, H + 1))
    check(np.all(np.isfinite(sc_clv)) and np.max(np.abs(sc_clv - want) / np.abs(want)) < 1e-12,
          "CLV scores follow the NBD formula (max rel %.1e)" % np.max(np.abs(sc_clv - want) / np.abs(want)))
    check(np.all(sc_pa == 1.0) and np.array_equal(sc_val, sc_clv), "P(alive) = 1 and the value is the CLV")
    # profile likelihood over the mean dropout probability pi = a/(a+b), maximized over r,
    # alpha and a+b: it must fall as pi grows, and stay below the no-dropout limit
    prof = []
    for pi in (1e-2, 1e-3, 1e-4, 1e-5):
        # log(a+b) is kept in [-20, 20]: below that the log-gamma differences lose all
        # precision and the optimizer would climb on rounding noise
        def f(lp):
            k = min(max(lp[2], -20.0), 20.0)
            return -bg_ll(np.array([lp[0], lp[1], np.log(pi) + k, np.log1p(-pi) + k]), s9)
        fits = []
        for k in (4, 0, -4, -12, -19):
            r = optimize.minimize(f, [nbd.x[0], nbd.x[1], k], method="Nelder-Mead",
                                  options={"xatol": 1e-10, "fatol": 1e-11, "maxiter": 20000,
                                           "maxfev": 40000})
            fits.append(optimize.minimize(f, r.x, method="BFGS"))
        best = min(fits, key=lambda r: r.fun)
        prof.append(-best.fun)
        print("profile: mean dropout %.0e  LL %.6f  (LL - NBD %.3e)" % (pi, -best.fun, -best.fun - sup))
    check(all(u < v for u, v in zip(prof, prof[1:])) and prof[-1] < sup,
          "profile LL rises monotonically towards the no-dropout limit (NBD LL %.6f, r %.5f alpha %.5f)"
          % (sup, *np.exp(nbd.x)))
    check(m is not None and float(m.group(1)) <= sup + 1e-6 and sup - float(m.group(1)) < 1e-3,
          "the fit stopped within 1e-3 of the supremum (LL %s)" % (m.group(1) if m else "?"))
    return 0


def main():
    which, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.chdir(work)
    with open("key.hex", "w") as fh:  # a fixed test key: pseudonyms do not matter here
        fh.write("5e" * 32)
    os.chmod("key.hex", 0o600)
    rc = {"grocery": grocery, "online-retail": online_retail}[which](work)
    if rc:
        return rc
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("clv_real %s: all checks passed" % which)
    return 0


if __name__ == "__main__":
    sys.exit(main())
