"""Plain reference implementation of `retain features` (docs/features.md) with numpy and
pandas, written from the documentation, plus a writer of small edge-case stores.

    features_reference.py check STORE FEATURES [--summary SUMMARY.json] [--population all]
    features_reference.py edge-store OUT [--seed S]

`check` recomputes every feature, label, CLV column, RFM score and segment, the row order,
the bucket offsets and (with --summary) the data-quality counts, and compares them with
the features file (relative tolerance 1e-9); exit 1 on any difference.
"""
import argparse
import json
import sys

import h5py
import numpy as np
import pandas as pd

DAY = 86400
FEATURES = ["recency_days", "frequency", "n_baskets", "monetary_total", "monetary_mean",
            "tenure_days", "ipi_mean", "ipi_std", "spend_30d", "spend_90d", "spend_prev_90d",
            "spend_trend", "return_rate", "category_entropy", "n_categories",
            "top_category_share", "online_share", "app_share", "weekend_share", "n_stores",
            "mean_basket_quantity"]
CLV = ["clv_x", "clv_t_x", "clv_T", "clv_mean_repeat_spend", "clv_frequency_holdout"]
SEGMENTS = ["Champions", "Loyal", "Potential loyalist", "New", "Promising", "Need attention",
            "About to sleep", "At risk", "Can't lose them", "Hibernating", "Lost"]
COLS = ["customer", "time", "amount", "quantity", "item", "category", "store", "channel",
        "basket"]
M64 = (1 << 64) - 1


def mix64(z):
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def bucket_of(key, nb):
    return (mix64(int(key)) * nb) >> 64


def segment(r, f, m):
    """The rule table of docs/features.md, written as rules."""
    fm = (f + m + 1) // 2
    if r == 1 and fm == 1:
        return "Lost"
    if r <= 2:
        return "Hibernating" if fm <= 2 else ("At risk" if fm <= 4 else "Can't lose them")
    if r == 3:
        return "About to sleep" if fm <= 2 else ("Need attention" if fm == 3 else "Loyal")
    if fm == 1:
        return "Promising" if r == 4 else "New"
    if fm <= 3:
        return "Potential loyalist"
    return "Loyal" if r == 4 else "Champions"


def load_store(path):
    with h5py.File(path, "r") as f:
        cols = {c: f["transactions/" + c][:] for c in COLS}
        a = dict(f.attrs)
        boff = f["index/bucket_offsets"][:]
    return pd.DataFrame(cols), a, boff


def reference(store, cutoff, horizon, lookback, pop_all, zero_value=False):
    df, attrs, boff = load_store(store)
    C = int(cutoff)
    scale = 10.0 ** int(attrs["currency_exponent"])
    tmax = int(attrs["time_max"])
    known = tmax >= C + horizon * DAY - 1
    df["row"] = np.arange(len(df))
    # A basket is a (customer, basket id) pair; its time is its earliest row's time and its
    # channel the channel of its first stored row.
    bk = (df.groupby(["customer", "basket"], sort=False)
            .agg(t=("time", "min"), net=("amount", "sum"), qty=("quantity", "sum"),
                 channel=("channel", "first"))
            .reset_index())
    bk["day"] = np.floor_divide(bk["t"].to_numpy(), DAY)
    cal = bk[bk.t < C]
    P = cal[cal.net > 0].copy()
    out = {}
    g = P.groupby("customer")
    nb = g.size()
    cust = nb.index.to_numpy(dtype=np.uint64)
    if pop_all:
        pop = set(cust.tolist())
    else:
        pop = set(P[P.t >= C - lookback * DAY].customer.unique().tolist())
    S = g.net.sum()
    qsum = g.qty.sum()
    t_first = g.t.min()
    t_last = g.t.max()

    def wsum(lo, hi):
        w = P[(P.t >= lo) & (P.t < hi)].groupby("customer").net.sum()
        return w.reindex(nb.index, fill_value=0)

    s30 = wsum(C - 30 * DAY, C)
    s90 = wsum(C - 90 * DAY, C)
    sp90 = wsum(C - 180 * DAY, C - 90 * DAY)
    online = P[P.channel == 1].groupby("customer").size().reindex(nb.index, fill_value=0)
    app = P[P.channel == 2].groupby("customer").size().reindex(nb.index, fill_value=0)
    P["dow"] = (P["day"] + 3) % 7  # 1970-01-01 was a Thursday, Monday = 0
    wk = P[P.dow >= 5].groupby("customer").size().reindex(nb.index, fill_value=0)
    dayval = P.groupby(["customer", "day"]).net.sum()
    days = {c: v for c, v in dayval.groupby(level=0)}
    hold = bk[(bk.t >= C) & (bk.t < C + horizon * DAY) & (bk.net > 0)]
    hold_days = hold.groupby("customer").day.nunique()

    # Row-level: the rows of the baskets before the cutoff.
    rows = df.merge(bk[["customer", "basket", "t", "net"]], on=["customer", "basket"])
    rows = rows[rows.t < C]
    G = rows[rows.amount > 0].groupby("customer").amount.sum()
    Rv = (-rows[rows.amount < 0].amount).groupby(rows[rows.amount < 0].customer).sum()
    pr = rows[rows.net > 0]
    nst = pr[pr.store >= 0].groupby("customer").store.nunique()
    cw = pr[(pr.amount > 0) & (pr.category >= 0)].groupby(["customer", "category"]).amount.sum()
    cats = {c: v.to_numpy() for c, v in cw.groupby(level=0)}
    # Preferred category: lines of purchase baskets in the lookback window; most spend, or
    # most lines when the customer's window spend is zero; ties to the lowest code.
    buy = (rows.net > 0) | ((rows.net == 0) if zero_value else False)
    win = rows[buy & (rows.t >= C - lookback * DAY) & (rows.category >= 0) & (rows.amount >= 0)]
    pw = win.groupby(["customer", "category"]).agg(spend=("amount", "sum"),
                                                   lines=("amount", "size")).reset_index()
    pw["w"] = np.where(pw.groupby("customer").spend.transform("sum") > 0, pw.spend, pw.lines)
    pw = pw.sort_values(["customer", "w", "category"], ascending=[True, False, True])
    pref = pw.groupby("customer").category.first()

    cut_last_day = (C - 1) // DAY
    recs = []
    for c in cust:
        c = int(c)
        if c not in pop:
            continue
        n = int(nb[c])
        x = {}
        x["recency_days"] = (C - int(t_last[c])) / DAY
        dv = days[c]
        dd = dv.index.get_level_values(1).to_numpy()
        vals = dv.to_numpy()
        k = len(dd)
        x["frequency"] = k
        x["n_baskets"] = n
        x["monetary_total"] = int(S[c]) / scale
        x["monetary_mean"] = int(S[c]) / scale / n
        x["tenure_days"] = (C - int(t_first[c])) / DAY
        if k >= 2:
            dif = np.diff(dd).astype(float)
            x["ipi_mean"] = dif.mean()
            x["ipi_std"] = dif.std()
        else:
            x["ipi_mean"] = x["tenure_days"]
            x["ipi_std"] = 0.0
        a, b = int(s90[c]), int(sp90[c])
        x["spend_30d"] = int(s30[c]) / scale
        x["spend_90d"] = a / scale
        x["spend_prev_90d"] = b / scale
        x["spend_trend"] = (a - b) / (a + b) if a + b > 0 else 0.0
        gp, rv = int(G.get(c, 0)), int(Rv.get(c, 0))
        x["return_rate"] = rv / (gp + rv) if gp + rv > 0 else 0.0
        w = cats.get(c)
        if w is None or len(w) == 0:
            x["category_entropy"] = 0.0
            x["n_categories"] = 0
            x["top_category_share"] = 0.0
        else:
            p = w / w.sum()
            x["category_entropy"] = float(-(p * np.log(p)).sum())
            x["n_categories"] = len(w)
            x["top_category_share"] = w.max() / w.sum()
        x["online_share"] = int(online[c]) / n
        x["app_share"] = int(app[c]) / n
        x["weekend_share"] = int(wk[c]) / n
        x["n_stores"] = int(nst.get(c, 0))
        x["mean_basket_quantity"] = int(qsum[c]) / n
        h = int(hold_days.get(c, 0))
        label = (0 if h > 0 else 1) if known else -1
        clv = [k - 1, (dd[-1] - dd[0]) / 7.0, (cut_last_day - dd[0]) / 7.0,
               (int(vals[1:].sum()) / scale / (k - 1)) if k >= 2 else 0.0, h]
        recs.append((bucket_of(c, len(boff) - 1), c, [x[f] for f in FEATURES], label, clv,
                     (int(t_last[c]), k, int(S[c])), int(pref.get(c, -1))))
    recs.sort(key=lambda r: (r[0], r[1]))
    N = len(recs)
    out["bucket"] = np.array([r[0] for r in recs], dtype=np.int64)
    out["customer"] = np.array([r[1] for r in recs], dtype=np.uint64)
    out["X"] = np.array([r[2] for r in recs], dtype=float).reshape(N, len(FEATURES))
    out["label"] = np.array([r[3] for r in recs], dtype=np.int8)
    out["clv"] = np.array([r[4] for r in recs], dtype=float).reshape(N, len(CLV))
    out["preferred_category"] = np.array([r[6] for r in recs], dtype=np.int32)
    keys = np.array([r[5] for r in recs], dtype=np.int64).reshape(N, 3)
    scores = np.zeros((N, 3), dtype=np.int8)
    for j in range(3):
        srt = np.sort(keys[:, j])
        less = np.searchsorted(srt, keys[:, j], side="left")
        scores[:, j] = 1 + (5 * less) // max(N, 1)
    out["rfm"] = scores
    out["segment"] = [segment(*map(int, s)) for s in scores]
    nbk = len(boff) - 1
    counts = np.bincount(out["bucket"], minlength=nbk) if N else np.zeros(nbk, dtype=np.int64)
    out["bucket_offsets"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
    out["known"] = int(known)
    # Data quality
    dq = {}
    dq["single_purchase_customers"] = int(sum(1 for r in recs if r[4][0] == 0))
    netall = cal.groupby("customer").net.sum()
    dq["negative_net_spend_customers"] = int((netall < 0).sum())
    absamt = np.sort(np.abs(df.amount.to_numpy()))
    if len(absamt):
        m = (999 * len(absamt) + 999) // 1000
        q = absamt[m - 1]
        dq["amount_abs_p999"] = q / scale
        dq["extreme_amount_rows"] = int((absamt > q).sum())
    tmin = int(attrs["time_min"])
    d0, d1 = tmin // DAY, tmax // DAY
    inr = df.time[(df.time >= tmin) & (df.time <= tmax)].to_numpy() // DAY
    have = np.zeros(d1 - d0 + 1, dtype=bool)
    have[inr - d0] = True
    dq["coverage_days"] = int(len(have))
    dq["zero_transaction_days"] = int((~have).sum())
    longest = run = 0
    for h in have:
        run = 0 if h else run + 1
        longest = max(longest, run)
    dq["longest_gap_days"] = longest
    out["dq"] = dq
    return out


def close(a, b, rtol=1e-9, atol=1e-12):
    return np.abs(a - b) <= atol + rtol * np.abs(b)


def check(store, features, summary=None):
    bad = []
    with h5py.File(features, "r") as f:
        a = f.attrs
        C = int(a["cutoff_seconds"])
        H = int(a["horizon_days"])
        L = int(a["lookback_days"])
        pop_all = a["population"] == "all" if isinstance(a["population"], str) else \
            a["population"].decode() == "all"
        zv = bool(int(a["zero_value_purchases"])) if "zero_value_purchases" in a else False
        ref = reference(store, C, H, L, pop_all, zv)
        got = {k: f["customers/" + k][:] for k in
               ["customer", "X", "label", "rfm_r", "rfm_f", "rfm_m", "rfm_segment",
                "bucket_offsets", "preferred_category"] + CLV}
        catnames = [v.decode() if isinstance(v, bytes) else v for v in f["customers/category_names"][:]]
        names = [s.decode() if isinstance(s, bytes) else s for s in f["customers/X"].attrs["feature_names"]]
        segnames = [s.decode() for s in f["customers/rfm_segment_names"][:]]
        if names != FEATURES:
            bad.append("feature names %s" % names)
        if segnames != SEGMENTS:
            bad.append("segment names %s" % segnames)
        if int(a["n_customers"]) != len(ref["customer"]):
            bad.append("n_customers %d vs %d" % (int(a["n_customers"]), len(ref["customer"])))
        if int(a["labels_known"]) != ref["known"]:
            bad.append("labels_known")
        with h5py.File(store, "r") as s:
            sd = s.attrs["content_digest"]
            sd = sd.decode() if isinstance(sd, bytes) else sd
        fd = a["store_digest"]
        fd = fd.decode() if isinstance(fd, bytes) else fd
        if sd != fd:
            bad.append("store_digest")
        with h5py.File(store, "r") as s:
            storecats = [v.decode() if isinstance(v, bytes) else v for v in s["dict/category"][:]]
        if catnames != storecats:
            bad.append("category_names differ from the store's dictionary")
    if not np.array_equal(got["customer"], ref["customer"]):
        bad.append("customer order differs (%d vs %d rows)" % (len(got["customer"]),
                                                              len(ref["customer"])))
        return bad
    if not np.array_equal(got["bucket_offsets"], ref["bucket_offsets"]):
        bad.append("bucket_offsets")
    X, RX = got["X"], ref["X"]
    if not np.all(np.isfinite(X)):
        bad.append("non-finite values in X")
    for j, nm in enumerate(FEATURES):
        ok = close(X[:, j], RX[:, j])
        if not ok.all():
            i = int(np.argmin(ok))
            bad.append("%s: %d rows differ, e.g. customer %d: %r vs reference %r"
                       % (nm, int((~ok).sum()), int(ref["customer"][i]), X[i, j], RX[i, j]))
    for j, nm in enumerate(CLV):
        ok = close(got[nm], ref["clv"][:, j])
        if not ok.all():
            i = int(np.argmin(ok))
            bad.append("%s: %d rows differ, e.g. %r vs %r" % (nm, int((~ok).sum()), got[nm][i],
                                                              ref["clv"][i, j]))
    if not np.array_equal(got["preferred_category"], ref["preferred_category"]):
        bad.append("preferred_category: %d rows differ" %
                   int((got["preferred_category"] != ref["preferred_category"]).sum()))
    if not np.array_equal(got["label"], ref["label"]):
        bad.append("label: %d rows differ" % int((got["label"] != ref["label"]).sum()))
    for j, nm in enumerate(["rfm_r", "rfm_f", "rfm_m"]):
        if not np.array_equal(got[nm], ref["rfm"][:, j]):
            bad.append("%s: %d rows differ" % (nm, int((got[nm] != ref["rfm"][:, j]).sum())))
    seg = [SEGMENTS[int(s)] for s in got["rfm_segment"]]
    if seg != ref["segment"]:
        bad.append("rfm_segment: %d rows differ" % sum(1 for x, y in zip(seg, ref["segment"]) if x != y))
    if summary:
        with open(summary) as fh:
            sm = json.load(fh)["features"]
        dq = sm["data_quality"]
        for k, v in ref["dq"].items():
            if (abs(dq[k] - v) > 1e-9 * max(1, abs(v))):
                bad.append("data_quality.%s = %r, reference %r" % (k, dq[k], v))
        if sm["population"] != len(ref["customer"]):
            bad.append("summary population")
        if ref["known"]:
            if sm["churned"] != int((ref["label"] == 1).sum()) or \
               sm["retained"] != int((ref["label"] == 0).sum()):
                bad.append("summary churned/retained")
    return bad


class _FixedStrAttrs:
    """Writes str attributes as fixed-length UTF-8 strings, as retain itself does."""

    def __init__(self, attrs):
        self.attrs = attrs

    def __setitem__(self, k, v):
        if isinstance(v, str):
            b = v.encode()
            self.attrs.create(k, np.array(b, dtype=h5py.string_dtype("utf-8", max(1, len(b)))))
        else:
            self.attrs[k] = v


def edge_store(path, seed=7, ncust=400):
    """A small store full of edge cases: returns, zero-net and negative-net baskets,
    baskets whose rows are not adjacent, same-day baskets, unknown category/store codes,
    customers active only after the cutoff, single purchases, currency exponent 3."""
    rng = np.random.default_rng(seed)
    t0 = int(pd.Timestamp("2022-01-01", tz="UTC").timestamp())
    t1 = int(pd.Timestamp("2023-06-30", tz="UTC").timestamp())
    ncat, nstore, nb = 9, 5, 16
    rows = []
    keys = rng.integers(1, 2**64 - 1, size=ncust, dtype=np.uint64)
    seq = 0
    for ci, key in enumerate(keys):
        key = int(key)
        kind = ci % 8
        nbask = int(rng.integers(1, 14)) if kind != 3 else 1
        lo, hi = t0, t1
        if kind == 5:
            lo = int(pd.Timestamp("2023-02-01", tz="UTC").timestamp())  # only after the cutoff
        times = np.sort(rng.integers(lo, hi, size=nbask))
        if kind == 6 and nbask >= 2:
            times[1] = times[0]  # two baskets at the same second, lines interleaved below
        for b, t in enumerate(times):
            bid = int(rng.integers(0, 2**63))
            nl = int(rng.integers(1, 5))
            sign = -1 if (kind == 4 and b % 2 == 1) or rng.random() < 0.08 else 1
            for ln in range(nl):
                q = int(rng.integers(1, 6))
                amt = sign * q * int(rng.integers(1, 200000))
                if kind == 2 and ln == 0 and b == 0:
                    amt = 0
                tt = int(t) + (3600 * ln if kind == 7 else 0)  # basket spread over hours
                rows.append((key, tt, amt, sign * q, int(rng.integers(-1, 30)),
                             int(rng.integers(-1, ncat)), int(rng.integers(-1, nstore)),
                             int(rng.integers(0, 3)), bid, seq))
                seq += 1
                if kind == 7 and ln == 0:
                    # an unrelated basket between this basket's lines
                    rows.append((key, tt + 1800, 1000, 1, 0, 0, 0, 0, bid ^ 1, seq))
                    seq += 1
    df = pd.DataFrame(rows, columns=COLS + ["seq"])
    df["customer"] = df["customer"].astype(np.uint64)
    df["basket"] = df["basket"].astype(np.uint64)
    B = nb
    df["bucket"] = [bucket_of(k, B) for k in df.customer]
    # kind 6: identical times; shuffle the writer order within equal times so lines of the
    # two baskets interleave (the store keeps the writer's order within equal times)
    df["tie"] = rng.random(len(df))
    df = df.sort_values(["bucket", "customer", "time", "tie"], kind="stable").reset_index(drop=True)
    counts = np.bincount(df.bucket.to_numpy(), minlength=B)
    boff = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
    with h5py.File(path, "w") as f:
        f["transactions/customer"] = df.customer.to_numpy(np.uint64)
        f["transactions/time"] = df.time.to_numpy(np.int64)
        f["transactions/amount"] = df.amount.to_numpy(np.int64)
        f["transactions/quantity"] = df.quantity.to_numpy(np.int32)
        f["transactions/item"] = df.item.to_numpy(np.int32)
        f["transactions/category"] = df.category.to_numpy(np.int32)
        f["transactions/store"] = df.store.to_numpy(np.int32)
        f["transactions/channel"] = df.channel.to_numpy(np.int8)
        f["transactions/basket"] = df.basket.to_numpy(np.uint64)
        f["index/bucket_offsets"] = boff
        f["index/bucket_digest"] = np.zeros((B, 16), dtype=np.uint8)
        f["dict/item"] = np.array([b"item%d" % i for i in range(30)], dtype=h5py.string_dtype("utf-8", 8))
        f["dict/category"] = np.array([b"cat%d" % i for i in range(ncat)], dtype=h5py.string_dtype("utf-8", 8))
        f["dict/store"] = np.array([b"store%d" % i for i in range(nstore)], dtype=h5py.string_dtype("utf-8", 8))
        at = _FixedStrAttrs(f.attrs)
        at["format"] = "retain-transaction-store"
        at["format_version"] = np.int64(1)
        at["buckets"] = np.uint64(B)
        at["bucket_function"] = "splitmix64-multiply-shift"
        at["n_rows"] = np.uint64(len(df))
        at["n_customers"] = np.uint64(df.customer.nunique())
        at["time_min"] = np.int64(t0 - 5 * DAY)  # leading days without transactions
        at["time_max"] = np.int64(t1 + 3 * DAY)
        at["currency"] = "XTS"
        at["currency_exponent"] = np.int64(3)
        at["content_digest"] = "e" * 64
        at["created_by"] = "features_reference.py edge-store"
        at["creator_version"] = "test"
        at["created_at"] = "2024-01-01T00:00:00Z"
        at["provenance"] = "{}"


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("store")
    c.add_argument("features")
    c.add_argument("--summary")
    e = sub.add_parser("edge-store")
    e.add_argument("out")
    e.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.cmd == "edge-store":
        edge_store(args.out, args.seed)
        return 0
    bad = check(args.store, args.features, args.summary)
    if bad:
        print("features differ from the reference:\n  " + "\n  ".join(bad))
        return 1
    print("features match the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
