/* Per-customer point-in-time features (definitions: docs/features.md), the global RFM
 * quantiles, the features file writer and loader (layout: docs/formats.md). */
#include "retain/features.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "retain/buckets.h"
#include "retain/cli.h"
#include "retain/h5.h"
#include "retain/log.h"
#include "retain/version.h"

const char *const rtn_feature_names[RTN_FEATURES_D] = {
    "recency_days",     "frequency",         "n_baskets",          "monetary_total",
    "monetary_mean",    "tenure_days",       "ipi_mean",           "ipi_std",
    "spend_30d",        "spend_90d",         "spend_prev_90d",     "spend_trend",
    "return_rate",      "category_entropy",  "n_categories",       "top_category_share",
    "online_share",     "app_share",         "weekend_share",      "n_stores",
    "mean_basket_quantity"};

const char *const rtn_clv_names[RTN_CLV_N] = {"clv_x", "clv_t_x", "clv_T",
                                              "clv_mean_repeat_spend", "clv_frequency_holdout"};

const char *const rtn_rfm_segment_names[RTN_SEG_N] = {
    "Champions",     "Loyal",          "Potential loyalist", "New",
    "Promising",     "Need attention", "About to sleep",     "At risk",
    "Can't lose them", "Hibernating",  "Lost"};

/* Rows: R = 1..5, columns: FM = 1..5 (docs/features.md). */
static const int8_t segment_table[5][5] = {
    /* R=1 */ {RTN_SEG_LOST, RTN_SEG_HIBERNATING, RTN_SEG_AT_RISK, RTN_SEG_AT_RISK,
               RTN_SEG_CANT_LOSE},
    /* R=2 */ {RTN_SEG_HIBERNATING, RTN_SEG_HIBERNATING, RTN_SEG_AT_RISK, RTN_SEG_AT_RISK,
               RTN_SEG_CANT_LOSE},
    /* R=3 */ {RTN_SEG_ABOUT_TO_SLEEP, RTN_SEG_ABOUT_TO_SLEEP, RTN_SEG_NEED_ATTENTION,
               RTN_SEG_LOYAL, RTN_SEG_LOYAL},
    /* R=4 */ {RTN_SEG_PROMISING, RTN_SEG_POTENTIAL_LOYALIST, RTN_SEG_POTENTIAL_LOYALIST,
               RTN_SEG_LOYAL, RTN_SEG_LOYAL},
    /* R=5 */ {RTN_SEG_NEW, RTN_SEG_POTENTIAL_LOYALIST, RTN_SEG_POTENTIAL_LOYALIST,
               RTN_SEG_CHAMPIONS, RTN_SEG_CHAMPIONS}};

int rtn_rfm_segment(int r, int f, int m)
{
    if (r < 1 || r > 5 || f < 1 || f > 5 || m < 1 || m > 5) return -1;
    int fm = (f + m + 1) / 2;
    return segment_table[r - 1][fm - 1];
}

/* floor(t / 86400) for any sign. */
static inline int64_t day_of(int64_t t)
{
    return t >= 0 ? t / RTN_SECONDS_PER_DAY : -((-t + RTN_SECONDS_PER_DAY - 1) / RTN_SECONDS_PER_DAY);
}

/* ------------------------------------------------------------------ aggregation */

/* A run of consecutive rows of one customer with the same basket id. Runs of the same
 * basket that are not adjacent (possible when two baskets share a timestamp) are merged
 * into the earliest one, the head. */
typedef struct {
    uint64_t id;
    int64_t t;      /* time of the run's first row */
    int64_t net;    /* sum of amounts (merged into the head) */
    int64_t qty;    /* sum of quantities (merged into the head) */
    size_t r0, r1;  /* rows [r0, r1) of the block */
    size_t head;    /* run index of the basket's head */
    int8_t channel; /* channel of the first row */
} brun;

typedef struct {
    int64_t day;
    int64_t value; /* purchase value of the day, minor units */
} pday;

struct rtn_features_ctx {
    rtn_features_params p;
    double scale;
    int64_t t_look, t_30, t_90, t_180, t_hend, cut_last_day;
    brun *runs;
    size_t runs_cap;
    size_t *ridx, ridx_cap; /* run of each row of the customer */
    uint8_t *rflag;         /* per run: RF_* flags of its basket (head) */
    size_t rflag_cap;
    size_t *slots, slots_cap;
    pday *days;
    size_t days_cap;
    uint32_t stamp;
    uint32_t *cat_stamp, *store_stamp;
    int64_t *cat_sum;
    int32_t *cat_touched;
    /* preferred category: spend and purchase lines per category in the lookback window */
    uint32_t *pref_stamp;
    int64_t *pref_spend, *pref_lines;
    int32_t *pref_touched;
    /* the same for dictionaries of at most 64 codes, index 64 a sink (zero between
     * customers) */
    int64_t small_csum[65], small_pspend[65], small_plines[65];
    int32_t small_ctouch[65];
    rtn_features_counts counts;
    /* data quality */
    uint8_t *daymap;
    size_t ndays;
    int64_t day0, tmin, tmax;
    uint64_t outside;
    uint64_t *heap;
    size_t heap_n, heap_k;
};

rtn_status rtn_features_ctx_new(rtn_features_ctx **out, const rtn_features_params *p)
{
    *out = NULL;
    if (p->horizon_days < 0 || p->lookback_days < 0 || p->n_categories < 0 || p->n_stores < 0 ||
        p->currency_exponent < 0 || p->currency_exponent > 18)
        return rtn_fail(RTN_ERR_INTERNAL, "features: invalid parameters");
    rtn_features_ctx *c = rtn_calloc(1, sizeof *c, "features context");
    if (!c) return RTN_ERR_NOMEM;
    c->p = *p;
    c->scale = 1;
    for (int i = 0; i < p->currency_exponent; i++) c->scale *= 10;
    const int64_t D = RTN_SECONDS_PER_DAY;
    c->t_look = p->cutoff - p->lookback_days * D;
    c->t_30 = p->cutoff - 30 * D;
    c->t_90 = p->cutoff - 90 * D;
    c->t_180 = p->cutoff - 180 * D;
    c->t_hend = p->cutoff + p->horizon_days * D;
    c->cut_last_day = day_of(p->cutoff - 1);
    size_t nc = p->n_categories ? (size_t)p->n_categories : 1;
    size_t ns = p->n_stores ? (size_t)p->n_stores : 1;
    c->cat_stamp = rtn_calloc(nc, sizeof *c->cat_stamp, "category marks");
    c->cat_sum = rtn_calloc(nc, sizeof *c->cat_sum, "category sums");
    c->cat_touched = rtn_calloc(nc, sizeof *c->cat_touched, "category list");
    c->store_stamp = rtn_calloc(ns, sizeof *c->store_stamp, "store marks");
    c->pref_stamp = rtn_calloc(nc, sizeof *c->pref_stamp, "category marks");
    c->pref_spend = rtn_calloc(nc, sizeof *c->pref_spend, "category spend");
    c->pref_lines = rtn_calloc(nc, sizeof *c->pref_lines, "category lines");
    c->pref_touched = rtn_calloc(nc, sizeof *c->pref_touched, "category list");
    if (!c->cat_stamp || !c->cat_sum || !c->cat_touched || !c->store_stamp || !c->pref_stamp ||
        !c->pref_spend || !c->pref_lines || !c->pref_touched) {
        rtn_features_ctx_free(c);
        return RTN_ERR_NOMEM;
    }
    *out = c;
    return RTN_OK;
}

void rtn_features_ctx_free(rtn_features_ctx *c)
{
    if (!c) return;
    free(c->runs);
    free(c->ridx);
    free(c->rflag);
    free(c->slots);
    free(c->days);
    free(c->cat_stamp);
    free(c->cat_sum);
    free(c->cat_touched);
    free(c->store_stamp);
    free(c->pref_stamp);
    free(c->pref_spend);
    free(c->pref_lines);
    free(c->pref_touched);
    free(c->daymap);
    free(c->heap);
    free(c);
}

const rtn_features_counts *rtn_features_ctx_counts(const rtn_features_ctx *c) { return &c->counts; }

rtn_status rtn_features_ctx_dq(rtn_features_ctx *c, int64_t time_min, int64_t time_max,
                               size_t heap_k)
{
    free(c->daymap);
    free(c->heap);
    c->daymap = NULL;
    c->heap = NULL;
    c->ndays = 0;
    c->heap_n = 0;
    c->heap_k = heap_k;
    c->tmin = time_min;
    c->tmax = time_max;
    if (time_max >= time_min) {
        int64_t nd = day_of(time_max) - day_of(time_min) + 1;
        /* A range of more than 10^7 days (27,000 years) is not a calendar: skip the map. */
        if (nd <= 10000000) {
            c->day0 = day_of(time_min);
            c->ndays = (size_t)nd;
            c->daymap = rtn_calloc(c->ndays, 1, "day coverage map");
            if (!c->daymap) return RTN_ERR_NOMEM;
        }
    }
    if (heap_k) {
        c->heap = rtn_malloc(heap_k * sizeof *c->heap, "amount percentile heap");
        if (!c->heap) return RTN_ERR_NOMEM;
    }
    return RTN_OK;
}

const uint8_t *rtn_features_ctx_days(const rtn_features_ctx *c, size_t *ndays)
{
    *ndays = c->ndays;
    return c->daymap;
}

const uint64_t *rtn_features_ctx_heap(const rtn_features_ctx *c, size_t *n)
{
    *n = c->heap_n;
    return c->heap;
}

uint64_t rtn_features_ctx_rows_outside(const rtn_features_ctx *c) { return c->outside; }

/* Min-heap of the heap_k largest values seen (out of line: it is rare after the start,
 * and inlined it cost the row loops their registers). */
__attribute__((noinline)) static void heap_push(rtn_features_ctx *c, uint64_t v)
{
    uint64_t *h = c->heap;
    size_t n = c->heap_n;
    if (n < c->heap_k) {
        size_t i = c->heap_n++;
        while (i > 0) {
            size_t par = (i - 1) / 2;
            if (h[par] <= v) break;
            h[i] = h[par];
            i = par;
        }
        h[i] = v;
        return;
    }
    if (v <= h[0]) return;
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        uint64_t mv = v;
        if (l < n && h[l] < mv) m = l, mv = h[l];
        if (r < n && h[r] < mv) m = r, mv = h[r];
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    h[i] = v;
}

static rtn_status grow(void **p, size_t *cap, size_t need, size_t elem, const char *what)
{
    if (need <= *cap) return RTN_OK;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return rtn_fail(RTN_ERR_NOMEM, "out of memory: %zu entries of %s", nc, what);
    *p = q;
    *cap = nc;
    return RTN_OK;
}

static rtn_status rows_reserve(rtn_features_rows *r, size_t need)
{
    if (need <= r->cap) return RTN_OK;
    size_t nc = r->cap ? r->cap * 2 : 1024;
    while (nc < need) nc *= 2;
    uint64_t *cu = realloc(r->customer, nc * sizeof *cu);
    if (cu) r->customer = cu;
    double *X = realloc(r->X, nc * RTN_FEATURES_D * sizeof *X);
    if (X) r->X = X;
    int8_t *lb = realloc(r->label, nc * sizeof *lb);
    if (lb) r->label = lb;
    double *clv = realloc(r->clv, nc * RTN_CLV_N * sizeof *clv);
    if (clv) r->clv = clv;
    int64_t *k = realloc(r->rfm_key, nc * RTN_RFM_N * sizeof *k);
    if (k) r->rfm_key = k;
    int32_t *pc = realloc(r->preferred_category, nc * sizeof *pc);
    if (pc) r->preferred_category = pc;
    if (!cu || !X || !lb || !clv || !k || !pc)
        return rtn_fail(RTN_ERR_NOMEM, "out of memory: %zu feature rows", nc);
    r->cap = nc;
    return RTN_OK;
}

void rtn_features_rows_free(rtn_features_rows *r)
{
    free(r->customer);
    free(r->X);
    free(r->label);
    free(r->clv);
    free(r->rfm_key);
    free(r->preferred_category);
    memset(r, 0, sizeof *r);
}

/* Merges runs of the same basket id into their earliest run (open-addressing hash of the
 * ids, O(runs)). Returns how many runs were merged away. */
static rtn_status merge_runs(rtn_features_ctx *c, size_t nr, size_t *merged)
{
    *merged = 0;
    if (nr < 3) return RTN_OK; /* adjacent runs have different ids by construction */
    size_t cap = 8;
    while (cap < 2 * nr) cap <<= 1;
    RTN_TRY(grow((void **)&c->slots, &c->slots_cap, cap, sizeof *c->slots, "basket hash"));
    memset(c->slots, 0, cap * sizeof *c->slots);
    brun *R = c->runs;
    const size_t mask = cap - 1;
    for (size_t j = 0; j < nr; j++) {
        size_t h = (size_t)rtn_mix64(R[j].id) & mask;
        for (;;) {
            size_t s = c->slots[h];
            if (s == 0) {
                c->slots[h] = j + 1;
                break;
            }
            brun *hd = &R[s - 1];
            if (hd->id == R[j].id) {
                R[j].head = s - 1;
                hd->net += R[j].net;
                hd->qty += R[j].qty;
                (*merged)++;
                break;
            }
            h = (h + 1) & mask;
        }
    }
    return RTN_OK;
}

/* Flags of a run's basket for the row pass. */
enum { RF_HIST = 1, RF_PURCHASE = 2, RF_WINDOW = 4 };

/* First row of [a, b) that the branch-free row pass flagged as invalid, as the error the
 * row-by-row checks give (store code first, then category code, in row order). */
static rtn_status row_code_error(const rtn_features_ctx *c, const rtn_txn_block *blk, size_t a,
                                 size_t b)
{
    for (size_t k = a; k < b; k++) {
        if (!(c->rflag[c->ridx[k - a]] & RF_PURCHASE)) continue;
        int32_t s = blk->store[k], g = blk->category[k];
        if (s >= 0 && s >= c->p.n_stores)
            return rtn_fail(RTN_ERR_FORMAT, "block row %zu: store code %d outside the "
                            "dictionary (%d entries)", k, s, c->p.n_stores);
        if (g >= c->p.n_categories)
            return rtn_fail(RTN_ERR_FORMAT, "block row %zu: category code %d outside the "
                            "dictionary (%d entries)", k, g, c->p.n_categories);
    }
    return rtn_fail(RTN_ERR_INTERNAL, "features: invalid code not found again");
}

/* Marks the UTC days of rows [r0, r1) (one run, in time order) in the day map. */
static void mark_days(rtn_features_ctx *c, const int64_t *tm, size_t r0, size_t r1)
{
    int64_t t0 = tm[r0];
    if (t0 == tm[r1 - 1]) { /* the usual case: one time for the whole basket */
        if (t0 < c->tmin || t0 > c->tmax) c->outside += r1 - r0;
        else c->daymap[day_of(t0) - c->day0] = 1;
        return;
    }
    for (size_t k = r0; k < r1; k++) {
        int64_t t = tm[k];
        if (t < c->tmin || t > c->tmax) c->outside++;
        else c->daymap[day_of(t) - c->day0] = 1;
    }
}

/* 0 when the run ids are certainly distinct (no merging needed): a 256-bit filter of a
 * multiplicative hash, collision-free for the usual small, often consecutive basket ids;
 * 1 (check exactly) on any collision. */
static int runs_may_repeat(const brun *R, size_t nr)
{
    if (nr < 3) return 0; /* adjacent runs have different ids by construction */
    uint64_t f[4] = {0, 0, 0, 0};
    for (size_t j = 0; j < nr; j++) {
        unsigned h = (unsigned)((R[j].id * 0x9e3779b97f4a7c15ULL) >> 56);
        uint64_t bit = 1ULL << (h & 63);
        if (f[h >> 6] & bit) return 1;
        f[h >> 6] |= bit;
    }
    return 0;
}

/* One customer's rows [a, b) of blk.
 *
 * Written for the scan's speed without changing a result: the per-row passes have no
 * data-dependent branches (a mispredicted branch per basket or per new category cost more
 * than all the arithmetic), so run boundaries, basket sums and the category and store
 * bookkeeping are computed with compare-and-select and stores to a sink entry. */
static rtn_status one_customer(rtn_features_ctx *c, const rtn_txn_block *blk, size_t a, size_t b,
                               rtn_features_rows *out)
{
    const int64_t *tm = blk->time, *am = blk->amount;
    const int32_t *qt = blk->quantity;
    const uint64_t *bk = blk->basket;
    const int8_t *ch = blk->channel;
    const int64_t C = c->p.cutoff;
    const size_t n = b - a;

    /* Pass over the rows: run starts (a row whose basket id differs from the previous
     * row's), the running sums of amount and quantity at each run start and each row's
     * run. R[nr] is written on every row and kept (nr advanced) only at a run start. */
    RTN_TRY(grow((void **)&c->runs, &c->runs_cap, n + 1, sizeof *c->runs, "runs"));
    RTN_TRY(grow((void **)&c->ridx, &c->ridx_cap, n, sizeof *c->ridx, "row runs"));
    brun *R = c->runs;
    size_t *ridx = c->ridx;
    size_t nr = 0;
    int64_t sa = 0, sq = 0, tprev = tm[a];
    uint64_t prev = ~bk[a];
    int back = 0;
    for (size_t k = a; k < b; k++) {
        int64_t t = tm[k];
        uint64_t id = bk[k];
        back |= t < tprev;
        tprev = t;
        R[nr].r0 = k;
        R[nr].net = sa;
        R[nr].qty = sq;
        nr += id != prev;
        prev = id;
        ridx[k - a] = nr - 1;
        sa += am[k];
        sq += qt[k];
    }
    if (back) {
        size_t k = a + 1;
        while (tm[k] >= tm[k - 1]) k++;
        return rtn_fail(RTN_ERR_FORMAT, "customer %016llx: time goes backwards at block "
                        "row %zu (the store must be ordered by customer and time)",
                        (unsigned long long)blk->customer[a], k);
    }
    R[nr].r0 = b;
    R[nr].net = sa;
    R[nr].qty = sq;
    /* running sums to per-run sums; the day-coverage scan, one check per run */
    for (size_t j = 0; j < nr; j++) {
        size_t r0 = R[j].r0, r1 = R[j + 1].r0;
        R[j].r1 = r1;
        R[j].net = R[j + 1].net - R[j].net;
        R[j].qty = R[j + 1].qty - R[j].qty;
        R[j].id = bk[r0];
        R[j].t = tm[r0];
        R[j].head = j;
        R[j].channel = ch[r0];
        if (c->daymap) mark_days(c, tm, r0, r1);
    }
    c->counts.rows += n;
    c->counts.customers++;
    size_t merged = 0;
    if (runs_may_repeat(R, nr)) RTN_TRY(merge_runs(c, nr, &merged));
    c->counts.duplicate_basket_runs += merged;

    /* Baskets in time order (heads only). */
    RTN_TRY(grow((void **)&c->days, &c->days_cap, nr, sizeof *c->days, "days"));
    pday *days = c->days;
    int has_hist = 0, in_look = 0;
    int64_t net_all = 0, S = 0, qsum = 0, s30 = 0, s90 = 0, sp90 = 0;
    int64_t t_first = 0, t_last = 0, hold_last_day = INT64_MIN;
    uint64_t nb = 0, n_online = 0, n_app = 0, n_weekend = 0, hold_days = 0;
    size_t nd = 0;
    for (size_t j = 0; j < nr; j++) {
        if (R[j].head != j) continue;
        int64_t t = R[j].t, net = R[j].net;
        if (t < C) {
            has_hist = 1;
            net_all += net;
            if (net < 0 || (net == 0 && !c->p.zero_value_purchases)) continue;
            if (nb == 0) t_first = t;
            t_last = t;
            nb++;
            S += net;
            qsum += R[j].qty;
            int64_t d = day_of(t);
            /* same purchase day as the last one: add to it, else start a new day */
            size_t newday = nd == 0 || days[nd - 1].day != d;
            size_t di = nd + newday - 1;
            days[di].value = (newday ? 0 : days[di].value) + net;
            days[di].day = d;
            nd += newday;
            if (t >= c->t_look) in_look = 1;
            if (t >= c->t_90) {
                s90 += net;
                if (t >= c->t_30) s30 += net;
            } else if (t >= c->t_180) {
                sp90 += net;
            }
            n_online += R[j].channel == RTN_CHANNEL_ONLINE;
            n_app += R[j].channel == RTN_CHANNEL_APP;
            int64_t dow = ((d + 3) % 7 + 7) % 7; /* 1970-01-01 was a Thursday; Monday = 0 */
            n_weekend += dow >= 5;
        } else if (t < c->t_hend && (net > 0 || (net == 0 && c->p.zero_value_purchases))) {
            int64_t d = day_of(t);
            if (d != hold_last_day) hold_days++;
            hold_last_day = d;
        }
    }
    if (has_hist) {
        c->counts.customers_history++;
        if (net_all < 0) c->counts.negative_net++;
    }
    if (nb) c->counts.customers_purchase++;
    if (!(c->p.population_all ? nb > 0 : in_look)) return RTN_OK;

    /* Row-level features over the rows of the baskets before the cutoff: flags per run
     * (from its basket's head), then a pass over the rows up to the last such run. */
    RTN_TRY(grow((void **)&c->rflag, &c->rflag_cap, nr, sizeof *c->rflag, "run flags"));
    uint8_t *rflag = c->rflag;
    size_t kend = a;
    for (size_t j = 0; j < nr; j++) {
        const brun *h = &R[R[j].head];
        int hist = h->t < C;
        int purchase = hist && (h->net > 0 || (h->net == 0 && c->p.zero_value_purchases));
        int in_window = purchase && h->t >= c->t_look;
        rflag[j] = (uint8_t)(hist * RF_HIST + purchase * RF_PURCHASE + in_window * RF_WINDOW);
        if (hist) kend = R[j].r1;
    }
    const int32_t NC = c->p.n_categories, NS = c->p.n_stores;
    const int32_t *cat = blk->category, *sto = blk->store;
    int64_t G = 0, Rv = 0, pref_total = 0;
    size_t ncat = 0, nstore = 0;
    int32_t pref = -1;
    const int64_t *csum;       /* spend by category code, for the codes in ctouch */
    const int32_t *ctouch;     /* categories in first-touch order (the entropy sums in it) */
    if (NC <= 64 && NS <= 64) {
        /* Small dictionaries (the usual case): sets of codes as bit masks and per-code sums
         * in fixed arrays, no branch per row; code 64 is a sink for rows that count
         * nowhere. The arrays are zero between customers. */
        int64_t *cs = c->small_csum, *ps = c->small_pspend, *pl = c->small_plines;
        int32_t *ct = c->small_ctouch;
        uint64_t smask = 0, cmask = 0, pmask = 0;
        int bad = 0;
        for (size_t k = a; k < kend; k++) {
            unsigned f = rflag[ridx[k - a]];
            int64_t v = am[k];
            int64_t hm = -(int64_t)(f & RF_HIST);
            G += (v > 0 ? v : 0) & hm;
            Rv += (v < 0 ? -v : 0) & hm;
            int pur = (f & RF_PURCHASE) != 0, win = (f & RF_WINDOW) != 0;
            int32_t s = sto[k], g = cat[k];
            bad |= pur & ((s >= NS) | (g >= NC));
            int sok = pur & (s >= 0) & (s < NS);
            smask |= (uint64_t)sok << (s & 63);
            int gok = (g >= 0) & (g < NC);
            int32_t gi = gok ? g : 64;
            int creal = pur & gok & (v > 0);
            ct[ncat] = gi;
            ncat += (size_t)(creal & (int)(~cmask >> (gi & 63) & 1));
            cmask |= (uint64_t)creal << (gi & 63);
            cs[gi] += v & -(int64_t)creal;
            int preal = win & gok & (v >= 0);
            int64_t pv = v & -(int64_t)preal;
            ps[gi] += pv;
            pl[gi] += preal;
            pmask |= (uint64_t)preal << (gi & 63);
            pref_total += pv;
        }
        if (bad) {
            memset(cs, 0, sizeof c->small_csum);
            memset(ps, 0, sizeof c->small_pspend);
            memset(pl, 0, sizeof c->small_plines);
            return row_code_error(c, blk, a, kend);
        }
        nstore = (size_t)__builtin_popcountll(smask);
        /* Most spend; most purchase lines when the window's spend is zero (logs without
         * amounts); ties to the lowest code (ascending here), independent of row order. */
        int64_t pref_best = -1;
        for (uint64_t m = pmask; m; m &= m - 1) {
            int32_t g = __builtin_ctzll(m);
            int64_t w = pref_total > 0 ? ps[g] : pl[g];
            if (w > pref_best) {
                pref_best = w;
                pref = g;
            }
            ps[g] = pl[g] = 0;
        }
        ps[64] = pl[64] = 0;
        csum = cs;
        ctouch = ct;
    } else {
        uint32_t stamp = ++c->stamp;
        if (stamp == 0) { /* wrapped: reset the marks */
            memset(c->cat_stamp, 0, (size_t)NC * sizeof *c->cat_stamp);
            memset(c->store_stamp, 0, (size_t)NS * sizeof *c->store_stamp);
            memset(c->pref_stamp, 0, (size_t)NC * sizeof *c->pref_stamp);
            stamp = c->stamp = 1;
        }
        size_t npref = 0;
        for (size_t j = 0; j < nr; j++) {
            unsigned f = rflag[j];
            if (!(f & RF_HIST)) continue;
            int purchase = (f & RF_PURCHASE) != 0, in_window = (f & RF_WINDOW) != 0;
            for (size_t k = R[j].r0; k < R[j].r1; k++) {
                int64_t v = am[k];
                if (v > 0) G += v;
                else Rv -= v;
                if (!purchase) continue;
                int32_t s = sto[k];
                if (s >= 0) {
                    if (s >= NS)
                        return rtn_fail(RTN_ERR_FORMAT, "block row %zu: store code %d outside "
                                        "the dictionary (%d entries)", k, s, NS);
                    if (c->store_stamp[s] != stamp) {
                        c->store_stamp[s] = stamp;
                        nstore++;
                    }
                }
                int32_t g = cat[k];
                if (g >= NC)
                    return rtn_fail(RTN_ERR_FORMAT, "block row %zu: category code %d outside "
                                    "the dictionary (%d entries)", k, g, NC);
                if (g >= 0 && v > 0) {
                    if (c->cat_stamp[g] != stamp) {
                        c->cat_stamp[g] = stamp;
                        c->cat_sum[g] = 0;
                        c->cat_touched[ncat++] = g;
                    }
                    c->cat_sum[g] += v;
                }
                if (g >= 0 && in_window && v >= 0) {
                    if (c->pref_stamp[g] != stamp) {
                        c->pref_stamp[g] = stamp;
                        c->pref_spend[g] = c->pref_lines[g] = 0;
                        c->pref_touched[npref++] = g;
                    }
                    c->pref_spend[g] += v;
                    c->pref_lines[g]++;
                    pref_total += v;
                }
            }
        }
        /* as above; here in first-touch order, so the tie rule is explicit */
        int64_t pref_best = -1;
        for (size_t i = 0; i < npref; i++) {
            int32_t g = c->pref_touched[i];
            int64_t w = pref_total > 0 ? c->pref_spend[g] : c->pref_lines[g];
            if (w > pref_best || (w == pref_best && g < pref)) {
                pref_best = w;
                pref = g;
            }
        }
        csum = c->cat_sum;
        ctouch = c->cat_touched;
    }
    double entropy = 0, top = 0;
    if (ncat) {
        int64_t W = 0, wmax = 0;
        for (size_t i = 0; i < ncat; i++) {
            int64_t w = csum[ctouch[i]];
            W += w;
            if (w > wmax) wmax = w;
        }
        for (size_t i = 0; i < ncat; i++) {
            double pc = (double)csum[ctouch[i]] / (double)W;
            entropy -= pc * log(pc);
        }
        if (entropy < 0) entropy = 0; /* -0.0 and rounding for one category */
        top = (double)wmax / (double)W;
    }
    if (csum == c->small_csum) { /* leave the small arrays zero for the next customer */
        for (size_t i = 0; i < ncat; i++) c->small_csum[ctouch[i]] = 0;
        c->small_csum[64] = 0;
    }

    RTN_TRY(rows_reserve(out, out->n + 1));
    size_t i = out->n++;
    const double sc = c->scale, day = RTN_SECONDS_PER_DAY;
    double *x = out->X + i * RTN_FEATURES_D;
    double nbd = (double)nb;
    x[RTN_F_RECENCY_DAYS] = (double)(C - t_last) / day;
    x[RTN_F_FREQUENCY] = (double)nd;
    x[RTN_F_N_BASKETS] = nbd;
    x[RTN_F_MONETARY_TOTAL] = (double)S / sc;
    x[RTN_F_MONETARY_MEAN] = (double)S / sc / nbd;
    x[RTN_F_TENURE_DAYS] = (double)(C - t_first) / day;
    if (nd >= 2) {
        double mean = (double)(c->days[nd - 1].day - c->days[0].day) / (double)(nd - 1);
        double ss = 0;
        for (size_t k = 1; k < nd; k++) {
            double dd = (double)(c->days[k].day - c->days[k - 1].day) - mean;
            ss += dd * dd;
        }
        x[RTN_F_IPI_MEAN] = mean;
        x[RTN_F_IPI_STD] = sqrt(ss / (double)(nd - 1));
    } else {
        x[RTN_F_IPI_MEAN] = x[RTN_F_TENURE_DAYS];
        x[RTN_F_IPI_STD] = 0;
    }
    x[RTN_F_SPEND_30D] = (double)s30 / sc;
    x[RTN_F_SPEND_90D] = (double)s90 / sc;
    x[RTN_F_SPEND_PREV_90D] = (double)sp90 / sc;
    x[RTN_F_SPEND_TREND] = s90 + sp90 > 0 ? (double)(s90 - sp90) / (double)(s90 + sp90) : 0.0;
    x[RTN_F_RETURN_RATE] = G + Rv > 0 ? (double)Rv / (double)(G + Rv) : 0.0;
    x[RTN_F_CATEGORY_ENTROPY] = entropy;
    x[RTN_F_N_CATEGORIES] = (double)ncat;
    x[RTN_F_TOP_CATEGORY_SHARE] = top;
    x[RTN_F_ONLINE_SHARE] = (double)n_online / nbd;
    x[RTN_F_APP_SHARE] = (double)n_app / nbd;
    x[RTN_F_WEEKEND_SHARE] = (double)n_weekend / nbd;
    x[RTN_F_N_STORES] = (double)nstore;
    x[RTN_F_MEAN_BASKET_QUANTITY] = (double)qsum / nbd;

    out->customer[i] = blk->customer[a];
    out->preferred_category[i] = pref;
    if (!c->p.labels_known) {
        out->label[i] = -1;
    } else if (hold_days > 0) {
        out->label[i] = 0;
        c->counts.retained++;
    } else {
        out->label[i] = 1;
        c->counts.churned++;
    }
    double *v = out->clv + i * RTN_CLV_N;
    v[RTN_CLV_X] = (double)(nd - 1);
    v[RTN_CLV_T_X] = (double)(c->days[nd - 1].day - c->days[0].day) / 7.0;
    v[RTN_CLV_T] = (double)(c->cut_last_day - c->days[0].day) / 7.0;
    if (nd >= 2) {
        int64_t rep = 0;
        for (size_t k = 1; k < nd; k++) rep += c->days[k].value;
        v[RTN_CLV_MEAN_REPEAT_SPEND] = (double)rep / sc / (double)(nd - 1);
    } else {
        v[RTN_CLV_MEAN_REPEAT_SPEND] = 0;
    }
    v[RTN_CLV_FREQUENCY_HOLDOUT] = (double)hold_days;
    int64_t *key = out->rfm_key + i * RTN_RFM_N;
    key[RTN_RFM_R] = t_last;
    key[RTN_RFM_F] = (int64_t)nd;
    key[RTN_RFM_M] = S;
    c->counts.population++;
    if (nd == 1) c->counts.single_purchase++;
    return RTN_OK;
}

rtn_status rtn_features_compute(rtn_features_ctx *c, const rtn_txn_block *blk, size_t i0,
                                size_t i1, rtn_features_rows *out)
{
    if (i1 > blk->n || i0 > i1)
        return rtn_fail(RTN_ERR_INTERNAL, "features: rows [%zu,%zu) outside the block", i0, i1);
    if (i1 > i0 && (blk->cols & RTN_FEATURES_COLS) != RTN_FEATURES_COLS)
        return rtn_fail(RTN_ERR_INTERNAL, "features: the block lacks columns");
    /* The store-wide largest-|amount| heap, in row order as before, in its own tight loop:
     * after the first rows almost no value passes the threshold. */
    if (c->heap_k) {
        const int64_t *am = blk->amount;
        for (size_t k = i0; k < i1; k++) {
            int64_t v = am[k];
            uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            if (c->heap_n < c->heap_k || u > c->heap[0]) heap_push(c, u);
        }
    }
    const uint64_t *cu = blk->customer;
    size_t a = i0;
    while (a < i1) {
        size_t b = a + 1;
        uint64_t id = cu[a];
        while (b < i1 && cu[b] == id) b++;
        if (b < i1 && cu[b] < id)
            return rtn_fail(RTN_ERR_FORMAT, "block row %zu: customers out of order (the store "
                            "must be ordered by customer within a bucket)", b);
        RTN_TRY(one_customer(c, blk, a, b, out));
        a = b;
    }
    return RTN_OK;
}

/* ------------------------------------------------------------------ global quantiles */

rtn_status rtn_global_select_u64(MPI_Comm comm, const uint64_t *keys, size_t n, size_t stride,
                                 const uint64_t *pos, int npos, uint64_t *out)
{
    if (npos <= 0) return RTN_OK;
    uint64_t *hist = rtn_calloc((size_t)npos * 256, sizeof *hist, "select histogram");
    uint64_t *prefix = rtn_calloc((size_t)npos, sizeof *prefix, "select prefix");
    uint64_t *rem = rtn_malloc((size_t)npos * sizeof *rem, "select ranks");
    rtn_status st = hist && prefix && rem ? RTN_OK : RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    if (st) {
        free(hist);
        free(prefix);
        free(rem);
        return st;
    }
    memcpy(rem, pos, (size_t)npos * sizeof *rem);
    /* The bytes every key shares (those above the highest bit where the global minimum and
     * maximum differ) are known without counting: RFM keys are small numbers behind a sign
     * flip, so this usually saves five to seven of the eight passes. */
    uint64_t kmin = UINT64_MAX, kmax = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = keys[i * stride];
        if (k < kmin) kmin = k;
        if (k > kmax) kmax = k;
    }
    uint64_t range[2] = {kmin, ~kmax}; /* ~max, so that one MIN reduction gives both */
    if (MPI_Allreduce(MPI_IN_PLACE, range, 2, MPI_UINT64_T, MPI_MIN, comm) != MPI_SUCCESS)
        st = rtn_fail(RTN_ERR_MPI, "allreduce of the quantile key range failed");
    kmin = range[0];
    kmax = ~range[1];
    int top = 56;
    if (st == RTN_OK && kmin <= kmax) { /* kmin > kmax: no keys anywhere */
        uint64_t diff = kmin ^ kmax;
        while (top > 0 && (diff >> top) == 0) top -= 8;
        for (int j = 0; j < npos; j++) prefix[j] = top == 56 ? 0 : kmin >> (top + 8) << (top + 8);
    }
    /* Rounds of 8-bit digits, most significant unknown first: each round narrows every
     * target to the keys sharing its known high bits (exact integer counts). */
    for (int shift = top; shift >= 0 && st == RTN_OK; shift -= 8) {
        memset(hist, 0, (size_t)npos * 256 * sizeof *hist);
        for (size_t i = 0; i < n; i++) {
            uint64_t k = keys[i * stride];
            unsigned dig = (unsigned)(k >> shift) & 255u;
            for (int j = 0; j < npos; j++)
                if (shift == 56 || ((k ^ prefix[j]) >> (shift + 8)) == 0)
                    hist[(size_t)j * 256 + dig]++;
        }
        if (MPI_Allreduce(MPI_IN_PLACE, hist, npos * 256, MPI_UINT64_T, MPI_SUM, comm) !=
            MPI_SUCCESS)
            st = rtn_fail(RTN_ERR_MPI, "allreduce of a quantile histogram failed");
        for (int j = 0; j < npos && st == RTN_OK; j++) {
            uint64_t cum = 0;
            unsigned d = 0;
            for (; d < 256; d++) {
                uint64_t h = hist[(size_t)j * 256 + d];
                if (rem[j] < cum + h) break;
                cum += h;
            }
            if (d == 256) {
                st = rtn_fail(RTN_ERR_INTERNAL, "quantile position %llu beyond the key count",
                              (unsigned long long)pos[j]);
                break;
            }
            rem[j] -= cum;
            prefix[j] |= (uint64_t)d << shift;
        }
    }
    if (st == RTN_OK) memcpy(out, prefix, (size_t)npos * sizeof *out);
    free(hist);
    free(prefix);
    free(rem);
    return st;
}

rtn_status rtn_features_rfm_thresholds(MPI_Comm comm, const rtn_features_rows *rows,
                                       int64_t q[RTN_RFM_N][4])
{
    uint64_t n = rows->n, N = 0;
    MPI_Allreduce(&n, &N, 1, MPI_UINT64_T, MPI_SUM, comm);
    memset(q, 0, sizeof(int64_t) * RTN_RFM_N * 4);
    if (N == 0) return RTN_OK;
    /* Order-preserving map of int64 keys to uint64. */
    uint64_t *u = rtn_malloc((rows->n ? rows->n : 1) * RTN_RFM_N * sizeof *u, "rfm keys");
    rtn_status st = rtn_agree(comm, u ? RTN_OK : RTN_ERR_NOMEM);
    if (st) {
        free(u);
        return st;
    }
    for (size_t i = 0; i < rows->n * RTN_RFM_N; i++)
        u[i] = (uint64_t)rows->rfm_key[i] ^ 0x8000000000000000ULL;
    uint64_t pos[4];
    for (int k = 1; k <= 4; k++)
        pos[k - 1] = (uint64_t)(((unsigned __int128)k * N + 4) / 5) - 1;
    for (int f = 0; f < RTN_RFM_N && st == RTN_OK; f++) {
        uint64_t res[4];
        st = rtn_global_select_u64(comm, u + f, rows->n, RTN_RFM_N, pos, 4, res);
        for (int k = 0; k < 4 && st == RTN_OK; k++)
            q[f][k] = (int64_t)(res[k] ^ 0x8000000000000000ULL);
    }
    free(u);
    return st;
}

/* ------------------------------------------------------------------ digest */

/* XXH3-128 per bucket over (customer, X row, label) -- fast enough to be negligible next
 * to reading the file -- then SHA-256 over the feature names and the bucket digests in
 * bucket order, so it does not depend on the rank count. boff: b1-b0+1 local offsets. */
static rtn_status content_digest(MPI_Comm comm, uint32_t B, uint32_t b0, uint32_t b1,
                                 const uint64_t *boff, const uint64_t *customer,
                                 const double *X, size_t d, const int8_t *label,
                                 const char *const *names, char hex[65])
{
    enum { DB = 16 };
    unsigned char *dig = rtn_calloc(B, DB, "bucket digests");
    XXH3_state_t *xs = XXH3_createState();
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    rtn_status st = (dig && xs && ctx) ? RTN_OK : rtn_fail(RTN_ERR_NOMEM, "digest");
    for (uint32_t b = b0; st == RTN_OK && b < b1; b++) {
        XXH3_128bits_reset(xs);
        for (uint64_t i = boff[b - b0]; i < boff[b - b0 + 1]; i++) {
            XXH3_128bits_update(xs, &customer[i], 8);
            XXH3_128bits_update(xs, X + i * d, d * sizeof(double));
            XXH3_128bits_update(xs, &label[i], 1);
        }
        XXH128_canonicalFromHash((XXH128_canonical_t *)(dig + (size_t)b * DB),
                                 XXH3_128bits_digest(xs));
    }
    st = rtn_agree(comm, st);
    if (st == RTN_OK) {
        /* buckets outside every range are empty: digest of nothing, same on every rank */
        unsigned char empty[DB];
        XXH3_128bits_reset(xs);
        XXH128_canonicalFromHash((XXH128_canonical_t *)empty, XXH3_128bits_digest(xs));
        MPI_Allreduce(MPI_IN_PLACE, dig, (int)B * DB, MPI_UNSIGNED_CHAR, MPI_BOR, comm);
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        EVP_DigestUpdate(ctx, "retain-features/2", 18);
        for (size_t j = 0; j < d; j++) EVP_DigestUpdate(ctx, names[j], strlen(names[j]) + 1);
        for (uint32_t b = 0; b < B; b++) {
            static const unsigned char zero[DB];
            EVP_DigestUpdate(ctx, memcmp(dig + (size_t)b * DB, zero, DB) ? dig + (size_t)b * DB : empty, DB);
        }
        unsigned char out[32];
        unsigned int len = 32;
        EVP_DigestFinal_ex(ctx, out, &len);
        for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", out[i]);
    }
    free(dig);
    XXH3_freeState(xs);
    EVP_MD_CTX_free(ctx);
    return st;
}

rtn_status rtn_features_content_digest(MPI_Comm comm, const rtn_features_data *fd, char hex[65])
{
    return content_digest(comm, fd->nbuckets, fd->b0, fd->b1, fd->boff, fd->customer, fd->X,
                          fd->d, fd->label, (const char *const *)fd->feature_names, hex);
}

/* ------------------------------------------------------------------ writer */

static rtn_status write_col(hid_t f, const char *name, hid_t ftype, hid_t mtype, uint64_t N,
                            uint64_t d, uint64_t row0, uint64_t n, const void *buf,
                            const char *const *names, size_t nnames)
{
    hid_t ds;
    rtn_status st = d ? rtn_h5_create_2d(f, name, ftype, N, d, 0, &ds)
                      : rtn_h5_create_1d(f, name, ftype, N, 0, &ds);
    if (st) return st;
    if (N > 0) st = rtn_h5_write_rows(ds, mtype, row0, n, buf, 1);
    if (st == RTN_OK && names) st = rtn_h5_attr_strings(ds, "feature_names", names, nnames);
    H5Dclose(ds);
    return st;
}

rtn_status rtn_features_write(MPI_Comm comm, const char *path, const rtn_features_rows *rows,
                              const rtn_features_file_meta *m)
{
    const rtn_features_params *p = m->params;
    int rank;
    MPI_Comm_rank(comm, &rank);
    size_t n = rows->n;
    uint64_t n64 = n, row0 = 0, N = 0;
    MPI_Exscan(&n64, &row0, 1, MPI_UINT64_T, MPI_SUM, comm);
    if (rank == 0) row0 = 0;
    MPI_Allreduce(&n64, &N, 1, MPI_UINT64_T, MPI_SUM, comm);

    /* Global bucket offsets from every rank's per-bucket counts. */
    uint64_t *boff = rtn_calloc((size_t)m->nbuckets + 1, sizeof *boff, "bucket offsets");
    int8_t *small = rtn_malloc((n ? n : 1) * 4, "rfm scores");
    double *col = rtn_malloc((n ? n : 1) * sizeof *col, "clv column");
    rtn_status st = boff && small && col ? RTN_OK : RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    if (st) goto done;
    uint64_t check = 0;
    for (uint32_t b = m->b0; b < m->b1; b++) {
        boff[b + 1] = m->bucket_rows[b - m->b0];
        check += boff[b + 1];
    }
    if (check != n64)
        st = rtn_fail(RTN_ERR_INTERNAL, "features writer: bucket rows sum to %llu, not %zu",
                      (unsigned long long)check, n);
    st = rtn_agree(comm, st);
    if (st) goto done;
    MPI_Allreduce(MPI_IN_PLACE, boff + 1, (int)m->nbuckets, MPI_UINT64_T, MPI_SUM, comm);
    for (uint32_t b = 0; b < m->nbuckets; b++) boff[b + 1] += boff[b];

    int8_t *sr = small, *sf = small + n, *sm = small + 2 * n, *sg = small + 3 * n;
    for (size_t i = 0; i < n; i++) {
        const int64_t *k = rows->rfm_key + i * RTN_RFM_N;
        sr[i] = (int8_t)rtn_rfm_score(k[RTN_RFM_R], m->rfm_q[RTN_RFM_R]);
        sf[i] = (int8_t)rtn_rfm_score(k[RTN_RFM_F], m->rfm_q[RTN_RFM_F]);
        sm[i] = (int8_t)rtn_rfm_score(k[RTN_RFM_M], m->rfm_q[RTN_RFM_M]);
        sg[i] = (int8_t)rtn_rfm_segment(sr[i], sf[i], sm[i]);
    }

    /* the digest of what is written, recorded so that loaders can recompute it */
    char digest[65] = "";
    uint64_t *loff = rtn_malloc(((size_t)(m->b1 - m->b0) + 1) * sizeof *loff, "bucket offsets");
    st = loff ? RTN_OK : RTN_ERR_NOMEM;
    if (loff) {
        loff[0] = 0;
        for (uint32_t b = m->b0; b < m->b1; b++) loff[b - m->b0 + 1] = loff[b - m->b0] + m->bucket_rows[b - m->b0];
    }
    st = rtn_agree(comm, st);
    if (st == RTN_OK)
        st = content_digest(comm, m->nbuckets, m->b0, m->b1, loff, rows->customer, rows->X,
                            RTN_FEATURES_D, rows->label, rtn_feature_names, digest);
    free(loff);
    if (st) goto done;

    rtn_h5_out out;
    st = rtn_h5_out_create(&out, comm, path);
    if (st) goto done;
    hid_t f = out.file;
    st = write_col(f, "/customers/customer", H5T_STD_U64LE, H5T_NATIVE_UINT64, N, 0, row0, n,
                   rows->customer, NULL, 0);
    if (st == RTN_OK)
        st = write_col(f, "/customers/X", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, N, RTN_FEATURES_D,
                       row0, n, rows->X, rtn_feature_names, RTN_FEATURES_D);
    if (st == RTN_OK)
        st = write_col(f, "/customers/label", H5T_STD_I8LE, H5T_NATIVE_INT8, N, 0, row0, n,
                       rows->label, NULL, 0);
    static const char *const sname[4] = {"/customers/rfm_r", "/customers/rfm_f",
                                         "/customers/rfm_m", "/customers/rfm_segment"};
    for (int j = 0; j < 4 && st == RTN_OK; j++)
        st = write_col(f, sname[j], H5T_STD_I8LE, H5T_NATIVE_INT8, N, 0, row0, n, small + j * n,
                       NULL, 0);
    for (int j = 0; j < RTN_CLV_N && st == RTN_OK; j++) {
        for (size_t i = 0; i < n; i++) col[i] = rows->clv[i * RTN_CLV_N + j];
        char name[64];
        snprintf(name, sizeof name, "/customers/%s", rtn_clv_names[j]);
        st = write_col(f, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, N, 0, row0, n, col, NULL, 0);
    }
    if (st == RTN_OK)
        st = write_col(f, "/customers/preferred_category", H5T_STD_I32LE, H5T_NATIVE_INT32, N, 0,
                       row0, n, rows->preferred_category, NULL, 0);
    /* the store's dictionary travels with the codes, so scores can name the category
     * without the store */
    if (st == RTN_OK)
        st = rtn_h5_write_strings(comm, 0, f, "/customers/category_names", m->category_names,
                                  m->n_category_names);
    if (st == RTN_OK) {
        uint64_t dims[1] = {(uint64_t)m->nbuckets + 1};
        st = rtn_h5_write_small(comm, 0, f, "/customers/bucket_offsets", H5T_STD_U64LE, 1, dims,
                                boff);
    }
    if (st == RTN_OK)
        st = rtn_h5_write_strings(comm, 0, f, "/customers/rfm_segment_names",
                                  rtn_rfm_segment_names, RTN_SEG_N);
    /* RFM thresholds in feature units, so that scores can be re-derived from X. */
    if (st == RTN_OK) {
        static const char *const rn[3] = {"/customers/rfm_r", "/customers/rfm_f",
                                          "/customers/rfm_m"};
        for (int j = 0; j < 3 && st == RTN_OK; j++) {
            double t[4];
            for (int k = 0; k < 4; k++) {
                int64_t q = m->rfm_q[j][k];
                t[k] = j == RTN_RFM_R ? (double)(p->cutoff - q) / RTN_SECONDS_PER_DAY
                       : j == RTN_RFM_M ? (double)q / pow(10.0, p->currency_exponent)
                                        : (double)q;
            }
            hid_t ds = H5Dopen2(f, rn[j], H5P_DEFAULT);
            if (ds < 0) {
                st = rtn_fail(RTN_ERR_IO, "cannot reopen %s", rn[j]);
                break;
            }
            st = rtn_h5_attr_f64_array(ds, "thresholds", t, 4);
            H5Dclose(ds);
        }
    }
    if (st == RTN_OK) {
        char iso[32], created[32];
        rtn_format_time(p->cutoff, iso, sizeof iso);
        rtn_h5_timestamp(comm, created, sizeof created);
        st = rtn_h5_attr_str(f, "format", RTN_FEATURES_FORMAT);
        if (st == RTN_OK) st = rtn_h5_attr_i64(f, "format_version", RTN_FEATURES_FORMAT_VERSION);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "cutoff", iso);
        if (st == RTN_OK) st = rtn_h5_attr_i64(f, "cutoff_seconds", p->cutoff);
        if (st == RTN_OK) st = rtn_h5_attr_i64(f, "horizon_days", p->horizon_days);
        if (st == RTN_OK) st = rtn_h5_attr_i64(f, "lookback_days", p->lookback_days);
        if (st == RTN_OK)
            st = rtn_h5_attr_str(f, "population", p->population_all ? "all" : "lookback");
        if (st == RTN_OK)
            st = rtn_h5_attr_i64(f, "zero_value_purchases", p->zero_value_purchases);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "store_digest", m->store_digest);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "content_digest", digest);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "store_path", m->store_path);
        if (st == RTN_OK && m->data_quality_json)
            st = rtn_h5_attr_str(f, "data_quality", m->data_quality_json);
        if (st == RTN_OK) st = rtn_h5_attr_u64(f, "buckets", m->nbuckets);
        if (st == RTN_OK) st = rtn_h5_attr_u64(f, "n_customers", N);
        if (st == RTN_OK) st = rtn_h5_attr_i64(f, "labels_known", p->labels_known ? 1 : 0);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "currency", m->currency);
        if (st == RTN_OK) st = rtn_h5_attr_i64(f, "currency_exponent", p->currency_exponent);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "created_by", m->created_by ? m->created_by : "");
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "creator_version", RTN_VERSION_STRING);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "created_at", created);
    }
    st = rtn_h5_out_finish(&out, st);
done:
    free(boff);
    free(small);
    free(col);
    return st;
}

/* ------------------------------------------------------------------ loader */

/* Reads a 1-D fixed-length string attribute into n malloc'ed strings. */
static rtn_status read_attr_strings(hid_t obj, const char *name, char ***out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (H5Aexists(obj, name) <= 0) return rtn_fail(RTN_ERR_FORMAT, "attribute '%s' is missing", name);
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    hid_t sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
    rtn_status st = RTN_OK;
    hsize_t cnt = 0;
    if (a < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) > 0 ||
        H5Sget_simple_extent_ndims(sp) != 1)
        st = rtn_fail(RTN_ERR_FORMAT, "attribute '%s' is not a fixed-length string list", name);
    char *buf = NULL;
    char **res = NULL;
    size_t len = 0;
    if (st == RTN_OK) {
        H5Sget_simple_extent_dims(sp, &cnt, NULL);
        len = H5Tget_size(ft);
        buf = rtn_calloc(cnt ? cnt : 1, len, "string attribute");
        res = rtn_calloc(cnt ? cnt : 1, sizeof *res, "string list");
        if (!buf || !res) st = RTN_ERR_NOMEM;
    }
    if (st == RTN_OK && cnt) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, len);
        H5Tset_strpad(mt, H5T_STR_NULLPAD);
        H5Tset_cset(mt, H5T_CSET_UTF8);
        if (H5Aread(a, mt, buf) < 0) st = rtn_fail(RTN_ERR_FORMAT, "cannot read attribute '%s'", name);
        H5Tclose(mt);
    }
    for (hsize_t i = 0; st == RTN_OK && i < cnt; i++) {
        res[i] = rtn_calloc(len + 1, 1, "string");
        if (!res[i]) st = RTN_ERR_NOMEM;
        else memcpy(res[i], buf + i * len, len);
    }
    free(buf);
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    if (st) {
        rtn_strings_free(res, cnt);
        return st;
    }
    *out = res;
    *nout = cnt;
    return RTN_OK;
}

void rtn_features_data_free(rtn_features_data *d)
{
    free(d->boff);
    free(d->customer);
    free(d->X);
    free(d->label);
    free(d->rfm_r);
    free(d->rfm_f);
    free(d->rfm_m);
    free(d->rfm_segment);
    for (int j = 0; j < RTN_CLV_N; j++) free(d->clv[j]);
    free(d->preferred_category);
    rtn_strings_free(d->category_names, d->n_category_names);
    rtn_strings_free(d->feature_names, d->d);
    rtn_strings_free(d->segment_names, d->n_segments);
    free(d->store_path);
    free(d->data_quality_json);
    memset(d, 0, sizeof *d);
}

/* Header, sizes and bucket offsets: same metadata calls on every rank (the file is
 * opened with collective metadata operations). */
static rtn_status load_header(hid_t f, const char *path, rtn_features_data *d, uint64_t **offs,
                              int *has_pref)
{
    char fmt[64] = "";
    if (H5Aexists(f, "format") <= 0 || rtn_h5_read_attr_str(f, "format", fmt, sizeof fmt) ||
        strcmp(fmt, RTN_FEATURES_FORMAT) != 0)
        return rtn_fail(RTN_ERR_FORMAT, "'%s' is not a retain features file (root attribute "
                        "format is '%s', expected '%s')", path, fmt, RTN_FEATURES_FORMAT);
    int64_t ver = 0, lk = 0, ce = 0;
    uint64_t B = 0, N = 0;
    rtn_status st = rtn_h5_read_attr_i64(f, "format_version", &ver);
    if (st == RTN_OK && (ver < 1 || ver > RTN_FEATURES_FORMAT_VERSION))
        st = rtn_fail(RTN_ERR_FORMAT, "features format version %lld is not supported (1..%d)",
                      (long long)ver, RTN_FEATURES_FORMAT_VERSION);
    if (st == RTN_OK) st = rtn_h5_read_attr_i64(f, "cutoff_seconds", &d->cutoff);
    if (st == RTN_OK) st = rtn_h5_read_attr_str(f, "cutoff", d->cutoff_iso, sizeof d->cutoff_iso);
    if (st == RTN_OK) st = rtn_h5_read_attr_i64(f, "horizon_days", &d->horizon_days);
    if (st == RTN_OK) st = rtn_h5_read_attr_i64(f, "lookback_days", &d->lookback_days);
    if (st == RTN_OK) st = rtn_h5_read_attr_i64(f, "labels_known", &lk);
    if (st == RTN_OK) st = rtn_h5_read_attr_i64(f, "currency_exponent", &ce);
    if (st == RTN_OK) st = rtn_h5_read_attr_str(f, "currency", d->currency, sizeof d->currency);
    if (st == RTN_OK)
        st = rtn_h5_read_attr_str(f, "population", d->population, sizeof d->population);
    if (st == RTN_OK)
        st = rtn_h5_read_attr_str(f, "store_digest", d->store_digest, sizeof d->store_digest);
    if (st == RTN_OK) st = rtn_h5_read_attr_str_alloc(f, "store_path", &d->store_path);
    if (st == RTN_OK && H5Aexists(f, "data_quality") > 0)
        st = rtn_h5_read_attr_str_alloc(f, "data_quality", &d->data_quality_json);
    if (st == RTN_OK) st = rtn_h5_read_attr_u64(f, "buckets", &B);
    if (st == RTN_OK) st = rtn_h5_read_attr_u64(f, "n_customers", &N);
    if (st) return st;
    d->labels_known = lk != 0;
    d->currency_exponent = (int32_t)ce;
    if (B == 0 || B > RTN_STORE_MAX_BUCKETS)
        return rtn_fail(RTN_ERR_FORMAT, "bucket count %llu is invalid", (unsigned long long)B);
    d->nbuckets = (uint32_t)B;
    d->n_total = N;
    int r;
    uint64_t dims[2];
    RTN_TRY(rtn_h5_dims(f, "/customers/X", &r, dims));
    if (r != 2 || dims[0] != N)
        return rtn_fail(RTN_ERR_FORMAT, "/customers/X has %llu rows, n_customers is %llu",
                        (unsigned long long)dims[0], (unsigned long long)N);
    size_t D = (size_t)dims[1];
    hid_t ds = H5Dopen2(f, "/customers/X", H5P_DEFAULT);
    if (ds < 0) return rtn_fail(RTN_ERR_FORMAT, "cannot open /customers/X");
    size_t nn = 0;
    st = read_attr_strings(ds, "feature_names", &d->feature_names, &nn);
    H5Dclose(ds);
    if (st) return st;
    d->d = nn;
    if (nn != D)
        return rtn_fail(RTN_ERR_FORMAT, "/customers/X has %zu columns but %zu feature names", D, nn);
    RTN_TRY(rtn_h5_read_strings(f, "/customers/rfm_segment_names", &d->segment_names,
                                &d->n_segments));
    static const char *const cols1[] = {"/customers/customer", "/customers/label",
                                        "/customers/rfm_r", "/customers/rfm_f",
                                        "/customers/rfm_m", "/customers/rfm_segment"};
    for (size_t j = 0; j < sizeof cols1 / sizeof cols1[0]; j++) {
        RTN_TRY(rtn_h5_dims(f, cols1[j], &r, dims));
        if (r != 1 || dims[0] != N)
            return rtn_fail(RTN_ERR_FORMAT, "%s has %llu rows, expected %llu", cols1[j],
                            (unsigned long long)dims[0], (unsigned long long)N);
    }
    for (int j = 0; j < RTN_CLV_N; j++) {
        char name[64];
        snprintf(name, sizeof name, "/customers/%s", rtn_clv_names[j]);
        RTN_TRY(rtn_h5_dims(f, name, &r, dims));
        if (r != 1 || dims[0] != N)
            return rtn_fail(RTN_ERR_FORMAT, "%s has %llu rows, expected %llu", name,
                            (unsigned long long)dims[0], (unsigned long long)N);
    }
    /* files written before the preferred category existed lack both datasets */
    *has_pref = rtn_h5_exists(f, "/customers/preferred_category");
    if (*has_pref) {
        RTN_TRY(rtn_h5_dims(f, "/customers/preferred_category", &r, dims));
        if (r != 1 || dims[0] != N)
            return rtn_fail(RTN_ERR_FORMAT, "/customers/preferred_category has %llu rows, "
                            "expected %llu", (unsigned long long)dims[0], (unsigned long long)N);
        RTN_TRY(rtn_h5_read_strings(f, "/customers/category_names", &d->category_names,
                                    &d->n_category_names));
    }
    RTN_TRY(rtn_h5_dims(f, "/customers/bucket_offsets", &r, dims));
    if (r != 1 || dims[0] != B + 1)
        return rtn_fail(RTN_ERR_FORMAT, "/customers/bucket_offsets has %llu entries, expected %llu",
                        (unsigned long long)dims[0], (unsigned long long)(B + 1));
    *offs = rtn_malloc((B + 1) * sizeof **offs, "bucket offsets");
    if (!*offs) return RTN_ERR_NOMEM;
    ds = H5Dopen2(f, "/customers/bucket_offsets", H5P_DEFAULT);
    st = ds >= 0 ? rtn_h5_read_rows(ds, H5T_NATIVE_UINT64, 0, B + 1, *offs)
                 : rtn_fail(RTN_ERR_FORMAT, "cannot open /customers/bucket_offsets");
    if (ds >= 0) H5Dclose(ds);
    if (st) return st;
    if ((*offs)[0] != 0 || (*offs)[B] != N)
        return rtn_fail(RTN_ERR_FORMAT, "/customers/bucket_offsets does not span [0, %llu]",
                        (unsigned long long)N);
    for (uint64_t b = 0; b < B; b++)
        if ((*offs)[b + 1] < (*offs)[b])
            return rtn_fail(RTN_ERR_FORMAT, "/customers/bucket_offsets decreases at bucket %llu",
                            (unsigned long long)b);
    return RTN_OK;
}

static rtn_status read_col(hid_t f, const char *name, hid_t mtype, uint64_t row0, size_t n,
                           size_t width, size_t elem, void **buf)
{
    *buf = rtn_malloc((n ? n : 1) * width * elem, name);
    if (!*buf) return RTN_ERR_NOMEM;
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) return rtn_fail(RTN_ERR_FORMAT, "cannot open %s", name);
    rtn_status st = rtn_h5_read_rows(ds, mtype, row0, n, *buf);
    H5Dclose(ds);
    return st;
}

rtn_status rtn_features_load(MPI_Comm comm, const char *path, rtn_features_data *d)
{
    memset(d, 0, sizeof *d);
    hid_t f;
    RTN_TRY(rtn_h5_open_read(comm, path, &f));
    uint64_t *offs = NULL;
    int has_pref = 0;
    rtn_status st = load_header(f, path, d, &offs, &has_pref);
    st = rtn_agree(comm, st);
    if (st == RTN_OK) {
        int rank, size;
        MPI_Comm_rank(comm, &rank);
        MPI_Comm_size(comm, &size);
        rtn_partition_buckets(offs, d->nbuckets, size, rank, &d->b0, &d->b1);
        d->row0 = offs[d->b0];
        d->n = (size_t)(offs[d->b1] - offs[d->b0]);
        d->boff = rtn_malloc(((size_t)(d->b1 - d->b0) + 1) * sizeof *d->boff, "bucket offsets");
        if (!d->boff) st = RTN_ERR_NOMEM;
        for (uint32_t b = d->b0; st == RTN_OK && b <= d->b1; b++)
            d->boff[b - d->b0] = offs[b] - d->row0;
    }
    /* Every rank opens the same datasets in the same order (collective metadata). */
    struct {
        const char *name;
        hid_t type;
        size_t width, elem;
        void **dst;
    } cols[] = {
        {"/customers/customer", H5T_NATIVE_UINT64, 1, 8, (void **)&d->customer},
        {"/customers/X", H5T_NATIVE_DOUBLE, d->d, 8, (void **)&d->X},
        {"/customers/label", H5T_NATIVE_INT8, 1, 1, (void **)&d->label},
        {"/customers/rfm_r", H5T_NATIVE_INT8, 1, 1, (void **)&d->rfm_r},
        {"/customers/rfm_f", H5T_NATIVE_INT8, 1, 1, (void **)&d->rfm_f},
        {"/customers/rfm_m", H5T_NATIVE_INT8, 1, 1, (void **)&d->rfm_m},
        {"/customers/rfm_segment", H5T_NATIVE_INT8, 1, 1, (void **)&d->rfm_segment},
        {"/customers/clv_x", H5T_NATIVE_DOUBLE, 1, 8, (void **)&d->clv[RTN_CLV_X]},
        {"/customers/clv_t_x", H5T_NATIVE_DOUBLE, 1, 8, (void **)&d->clv[RTN_CLV_T_X]},
        {"/customers/clv_T", H5T_NATIVE_DOUBLE, 1, 8, (void **)&d->clv[RTN_CLV_T]},
        {"/customers/clv_mean_repeat_spend", H5T_NATIVE_DOUBLE, 1, 8,
         (void **)&d->clv[RTN_CLV_MEAN_REPEAT_SPEND]},
        {"/customers/clv_frequency_holdout", H5T_NATIVE_DOUBLE, 1, 8,
         (void **)&d->clv[RTN_CLV_FREQUENCY_HOLDOUT]},
    };
    for (size_t j = 0; j < sizeof cols / sizeof cols[0] && st == RTN_OK; j++) {
        st = read_col(f, cols[j].name, cols[j].type, d->row0, d->n, cols[j].width, cols[j].elem,
                      cols[j].dst);
        st = rtn_agree(comm, st);
    }
    if (st == RTN_OK && has_pref) {
        st = read_col(f, "/customers/preferred_category", H5T_NATIVE_INT32, d->row0, d->n, 1, 4,
                      (void **)&d->preferred_category);
        for (size_t i = 0; st == RTN_OK && i < d->n; i++)
            if (d->preferred_category[i] < -1 ||
                d->preferred_category[i] >= (int64_t)d->n_category_names)
                st = rtn_fail(RTN_ERR_FORMAT, "/customers/preferred_category row %llu: code %d "
                              "outside the %zu category names",
                              (unsigned long long)(d->row0 + i), d->preferred_category[i],
                              d->n_category_names);
        st = rtn_agree(comm, st);
    } else if (st == RTN_OK) {
        d->preferred_category = rtn_malloc((d->n ? d->n : 1) * sizeof *d->preferred_category,
                                           "preferred category");
        if (!d->preferred_category) st = RTN_ERR_NOMEM;
        for (size_t i = 0; st == RTN_OK && i < d->n; i++) d->preferred_category[i] = -1;
        st = rtn_agree(comm, st);
    }
    if (st == RTN_OK && H5Aexists(f, "content_digest") > 0) {
        /* files from before the attribute existed are taken as they are */
        char recorded[65] = "", now[65] = "";
        st = rtn_h5_read_attr_str(f, "content_digest", recorded, sizeof recorded);
        st = rtn_agree(comm, st);
        if (st == RTN_OK) {
            st = content_digest(comm, d->nbuckets, d->b0, d->b1, d->boff, d->customer, d->X,
                                d->d, d->label, (const char *const *)d->feature_names, now);
        }
        if (st == RTN_OK && strcmp(recorded, now) != 0)
            st = rtn_fail(RTN_ERR_FORMAT, "damaged features file: its content does not match "
                          "its recorded digest (recorded %.12s..., content %.12s...)", recorded,
                          now);
    }
    if (st) st = rtn_fail_context(st, "features file '%s'", path);
    H5Fclose(f);
    free(offs);
    if (st) {
        rtn_features_data_free(d);
        return st;
    }
    d->rows.n = d->n;
    d->rows.d = d->d;
    d->rows.X = d->X;
    d->rows.nbuckets = d->nbuckets;
    d->rows.b0 = d->b0;
    d->rows.b1 = d->b1;
    d->rows.boff = d->boff;
    return RTN_OK;
}
