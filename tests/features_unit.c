/* Hand-computed fixtures for the per-customer aggregation (docs/features.md): every
 * feature of a few small customers checked to 1e-12. No MPI, no files. */
#include <math.h>
#include <string.h>

#include "retain/features.h"
#include "rtn_test.h"

#define D 86400LL
/* 2024-01-01T00:00:00Z, a Monday. */
#define CUT 1704067200LL

typedef struct {
    uint64_t cu;
    int64_t t, amount;
    int32_t qty, cat, store;
    int8_t ch;
    uint64_t basket;
} row;

static void fill(rtn_txn_block *b, const row *r, size_t n)
{
    REQUIRE(rtn_txn_block_reserve(b, n, RTN_COLS_ALL) == RTN_OK);
    for (size_t i = 0; i < n; i++) {
        b->customer[i] = r[i].cu;
        b->time[i] = r[i].t;
        b->amount[i] = r[i].amount;
        b->quantity[i] = r[i].qty;
        b->item[i] = 0;
        b->category[i] = r[i].cat;
        b->store[i] = r[i].store;
        b->channel[i] = r[i].ch;
        b->basket[i] = r[i].basket;
    }
    b->n = n;
}

static const row fixture[] = {
    /* A: two baskets on Saturday C-100d (one online), a return at C-40d, an app basket at
     * C-20d (Tuesday) with an unknown store and an unknown category, a purchase at C+5d. */
    {10, CUT - 100 * D, 1000, 2, 0, 0, 0, 100},
    {10, CUT - 100 * D, 500, 1, 1, 1, 0, 100},
    {10, CUT - 100 * D + 3600, 2000, 1, 0, 0, 1, 101},
    {10, CUT - 40 * D, -300, -1, 1, 0, 0, 102},
    {10, CUT - 20 * D, 4000, 4, 2, -1, 2, 103},
    {10, CUT - 20 * D, 1000, 1, -1, 2, 2, 103},
    {10, CUT + 5 * D, 700, 1, 0, 0, 0, 104},
    /* B: one purchase 400 days before the cutoff (outside the lookback), a return later. */
    {20, CUT - 400 * D, 1000, 1, 3, 0, 0, 1},
    {20, CUT - 10 * D, -200, -1, 3, 0, 0, 2},
    /* C: a zero-net basket, one purchase 12 hours before the cutoff (Sunday), a purchase
     * exactly at the end of the horizon (outside it). */
    {30, CUT - 5 * D, 500, 1, 0, 1, 0, 7},
    {30, CUT - 5 * D, -500, -1, 0, 1, 0, 7},
    {30, CUT - 43200, 999, 1, 3, 2, 1, 8},
    {30, CUT + 30 * D, 5000, 1, 3, 2, 1, 9},
    /* D: two baskets at the same second (Sunday C-50d) whose rows interleave; a purchase
     * after the horizon. */
    {40, CUT - 50 * D, 100, 1, 0, 0, 2, 7},
    {40, CUT - 50 * D, 200, 1, 1, 0, 0, 5},
    {40, CUT - 50 * D, 300, 1, 0, 0, 1, 7},
    {40, CUT + 40 * D, 100, 1, 0, 0, 0, 11},
    /* E: purchases on three days (Saturday, Tuesday, Wednesday), 1 hour after midnight. */
    {50, CUT - 30 * D + 3600, 100, 1, 0, 0, 0, 1},
    {50, CUT - 20 * D + 3600, 100, 1, 0, 0, 0, 2},
    {50, CUT - 5 * D + 3600, 100, 1, 0, 0, 0, 3},
};

static rtn_features_params params(int pop_all)
{
    rtn_features_params p = {0};
    p.cutoff = CUT;
    p.horizon_days = 30;
    p.lookback_days = 365;
    p.population_all = pop_all;
    p.labels_known = 1;
    p.currency_exponent = 2;
    p.n_categories = 4;
    p.n_stores = 3;
    return p;
}

#define TOL 1e-12
static const double *row_of(const rtn_features_rows *o, uint64_t cu, size_t *idx)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->customer[i] == cu) {
            *idx = i;
            return o->X + i * RTN_FEATURES_D;
        }
    return NULL;
}

static void check_population_lookback(void)
{
    rtn_txn_block b = {0};
    fill(&b, fixture, sizeof fixture / sizeof fixture[0]);
    rtn_features_params p = params(0);
    rtn_features_ctx *ctx;
    REQUIRE(rtn_features_ctx_new(&ctx, &p) == RTN_OK);
    REQUIRE(rtn_features_ctx_dq(ctx, CUT - 500 * D, CUT + 100 * D, 3) == RTN_OK);
    rtn_features_rows o = {0};
    /* Two calls (as the command does per bucket): A+B, then C+D+E. */
    CHECK(rtn_features_compute(ctx, &b, 0, 9, &o) == RTN_OK);
    CHECK(rtn_features_compute(ctx, &b, 9, b.n, &o) == RTN_OK);
    CHECK_EQ_INT(o.n, 4);
    CHECK_EQ_INT(o.customer[0], 10);
    CHECK_EQ_INT(o.customer[1], 30);
    CHECK_EQ_INT(o.customer[2], 40);
    CHECK_EQ_INT(o.customer[3], 50);
    size_t i;
    const double *x;

    x = row_of(&o, 10, &i);
    REQUIRE(x);
    CHECK_NEAR(x[RTN_F_RECENCY_DAYS], 20, TOL);
    CHECK_NEAR(x[RTN_F_FREQUENCY], 2, TOL);
    CHECK_NEAR(x[RTN_F_N_BASKETS], 3, TOL);
    CHECK_NEAR(x[RTN_F_MONETARY_TOTAL], 85.0, TOL);
    CHECK_NEAR(x[RTN_F_MONETARY_MEAN], 85.0 / 3, TOL);
    CHECK_NEAR(x[RTN_F_TENURE_DAYS], 100, TOL);
    CHECK_NEAR(x[RTN_F_IPI_MEAN], 80, TOL);
    CHECK_NEAR(x[RTN_F_IPI_STD], 0, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_30D], 50.0, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_90D], 50.0, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_PREV_90D], 35.0, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_TREND], 1500.0 / 8500.0, TOL);
    CHECK_NEAR(x[RTN_F_RETURN_RATE], 300.0 / 8800.0, TOL);
    CHECK_NEAR(x[RTN_F_CATEGORY_ENTROPY],
               -(0.4 * log(0.4) + (1.0 / 15) * log(1.0 / 15) + (8.0 / 15) * log(8.0 / 15)), TOL);
    CHECK_NEAR(x[RTN_F_N_CATEGORIES], 3, TOL);
    CHECK_NEAR(x[RTN_F_TOP_CATEGORY_SHARE], 8.0 / 15, TOL);
    CHECK_NEAR(x[RTN_F_ONLINE_SHARE], 1.0 / 3, TOL);
    CHECK_NEAR(x[RTN_F_APP_SHARE], 1.0 / 3, TOL);
    CHECK_NEAR(x[RTN_F_WEEKEND_SHARE], 2.0 / 3, TOL);
    CHECK_NEAR(x[RTN_F_N_STORES], 3, TOL);
    CHECK_NEAR(x[RTN_F_MEAN_BASKET_QUANTITY], 3, TOL);
    CHECK_EQ_INT(o.label[i], 0);
    const double *v = o.clv + i * RTN_CLV_N;
    CHECK_NEAR(v[RTN_CLV_X], 1, TOL);
    CHECK_NEAR(v[RTN_CLV_T_X], 80.0 / 7, TOL);
    CHECK_NEAR(v[RTN_CLV_T], 99.0 / 7, TOL);
    CHECK_NEAR(v[RTN_CLV_MEAN_REPEAT_SPEND], 50.0, TOL);
    CHECK_NEAR(v[RTN_CLV_FREQUENCY_HOLDOUT], 1, TOL);
    CHECK_EQ_INT(o.rfm_key[i * 3 + RTN_RFM_R], CUT - 20 * D);
    CHECK_EQ_INT(o.rfm_key[i * 3 + RTN_RFM_F], 2);
    CHECK_EQ_INT(o.rfm_key[i * 3 + RTN_RFM_M], 8500);

    x = row_of(&o, 30, &i);
    REQUIRE(x);
    CHECK_NEAR(x[RTN_F_RECENCY_DAYS], 0.5, TOL);
    CHECK_NEAR(x[RTN_F_FREQUENCY], 1, TOL);
    CHECK_NEAR(x[RTN_F_N_BASKETS], 1, TOL);
    CHECK_NEAR(x[RTN_F_MONETARY_TOTAL], 9.99, TOL);
    CHECK_NEAR(x[RTN_F_MONETARY_MEAN], 9.99, TOL);
    CHECK_NEAR(x[RTN_F_TENURE_DAYS], 0.5, TOL);
    CHECK_NEAR(x[RTN_F_IPI_MEAN], 0.5, TOL); /* single purchase: tenure */
    CHECK_NEAR(x[RTN_F_IPI_STD], 0, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_30D], 9.99, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_90D], 9.99, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_PREV_90D], 0, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_TREND], 1, TOL);
    CHECK_NEAR(x[RTN_F_RETURN_RATE], 500.0 / 1999.0, TOL);
    CHECK_NEAR(x[RTN_F_CATEGORY_ENTROPY], 0, TOL);
    CHECK(!signbit(x[RTN_F_CATEGORY_ENTROPY]));
    CHECK_NEAR(x[RTN_F_N_CATEGORIES], 1, TOL);
    CHECK_NEAR(x[RTN_F_TOP_CATEGORY_SHARE], 1, TOL);
    CHECK_NEAR(x[RTN_F_ONLINE_SHARE], 1, TOL);
    CHECK_NEAR(x[RTN_F_APP_SHARE], 0, TOL);
    CHECK_NEAR(x[RTN_F_WEEKEND_SHARE], 1, TOL);
    CHECK_NEAR(x[RTN_F_N_STORES], 1, TOL);
    CHECK_NEAR(x[RTN_F_MEAN_BASKET_QUANTITY], 1, TOL);
    CHECK_EQ_INT(o.label[i], 1); /* the purchase at cutoff + horizon is outside the window */
    v = o.clv + i * RTN_CLV_N;
    CHECK_NEAR(v[RTN_CLV_X], 0, TOL);
    CHECK_NEAR(v[RTN_CLV_T_X], 0, TOL);
    CHECK_NEAR(v[RTN_CLV_T], 0, TOL);
    CHECK_NEAR(v[RTN_CLV_MEAN_REPEAT_SPEND], 0, TOL);
    CHECK_NEAR(v[RTN_CLV_FREQUENCY_HOLDOUT], 0, TOL);

    x = row_of(&o, 40, &i);
    REQUIRE(x);
    CHECK_NEAR(x[RTN_F_RECENCY_DAYS], 50, TOL);
    CHECK_NEAR(x[RTN_F_FREQUENCY], 1, TOL);
    CHECK_NEAR(x[RTN_F_N_BASKETS], 2, TOL); /* basket 7's rows are merged */
    CHECK_NEAR(x[RTN_F_MONETARY_TOTAL], 6.0, TOL);
    CHECK_NEAR(x[RTN_F_MONETARY_MEAN], 3.0, TOL);
    CHECK_NEAR(x[RTN_F_TENURE_DAYS], 50, TOL);
    CHECK_NEAR(x[RTN_F_IPI_MEAN], 50, TOL);
    CHECK_NEAR(x[RTN_F_IPI_STD], 0, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_30D], 0, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_90D], 6.0, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_PREV_90D], 0, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_TREND], 1, TOL);
    CHECK_NEAR(x[RTN_F_RETURN_RATE], 0, TOL);
    CHECK_NEAR(x[RTN_F_CATEGORY_ENTROPY],
               -((2.0 / 3) * log(2.0 / 3) + (1.0 / 3) * log(1.0 / 3)), TOL);
    CHECK_NEAR(x[RTN_F_N_CATEGORIES], 2, TOL);
    CHECK_NEAR(x[RTN_F_TOP_CATEGORY_SHARE], 2.0 / 3, TOL);
    CHECK_NEAR(x[RTN_F_ONLINE_SHARE], 0, TOL); /* basket 7 takes its first row's channel */
    CHECK_NEAR(x[RTN_F_APP_SHARE], 0.5, TOL);
    CHECK_NEAR(x[RTN_F_WEEKEND_SHARE], 1, TOL);
    CHECK_NEAR(x[RTN_F_N_STORES], 1, TOL);
    CHECK_NEAR(x[RTN_F_MEAN_BASKET_QUANTITY], 1.5, TOL);
    CHECK_EQ_INT(o.label[i], 1);
    v = o.clv + i * RTN_CLV_N;
    CHECK_NEAR(v[RTN_CLV_T], 7, TOL);

    x = row_of(&o, 50, &i);
    REQUIRE(x);
    CHECK_NEAR(x[RTN_F_RECENCY_DAYS], 5 - 1.0 / 24, TOL);
    CHECK_NEAR(x[RTN_F_TENURE_DAYS], 30 - 1.0 / 24, TOL);
    CHECK_NEAR(x[RTN_F_FREQUENCY], 3, TOL);
    CHECK_NEAR(x[RTN_F_IPI_MEAN], 12.5, TOL);
    CHECK_NEAR(x[RTN_F_IPI_STD], 2.5, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_30D], 3.0, TOL); /* C-30d+1h is inside [C-30d, C) */
    CHECK_NEAR(x[RTN_F_WEEKEND_SHARE], 1.0 / 3, TOL);
    v = o.clv + i * RTN_CLV_N;
    CHECK_NEAR(v[RTN_CLV_X], 2, TOL);
    CHECK_NEAR(v[RTN_CLV_T_X], 25.0 / 7, TOL);
    CHECK_NEAR(v[RTN_CLV_T], 29.0 / 7, TOL);
    CHECK_NEAR(v[RTN_CLV_MEAN_REPEAT_SPEND], 1.0, TOL);

    for (size_t k = 0; k < o.n * RTN_FEATURES_D; k++) CHECK(isfinite(o.X[k]));

    const rtn_features_counts *c = rtn_features_ctx_counts(ctx);
    CHECK_EQ_INT(c->rows, b.n);
    CHECK_EQ_INT(c->customers, 5);
    CHECK_EQ_INT(c->customers_history, 5);
    CHECK_EQ_INT(c->customers_purchase, 5);
    CHECK_EQ_INT(c->population, 4);
    CHECK_EQ_INT(c->single_purchase, 2); /* C and D */
    CHECK_EQ_INT(c->negative_net, 0);
    CHECK_EQ_INT(c->churned, 3);  /* C, D and E */
    CHECK_EQ_INT(c->retained, 1); /* A */
    CHECK_EQ_INT(c->duplicate_basket_runs, 1);
    /* the three largest |amount| values: 5000, 4000, 2000 */
    size_t hn;
    const uint64_t *h = rtn_features_ctx_heap(ctx, &hn);
    CHECK_EQ_INT(hn, 3);
    uint64_t hs = 0, hmin = UINT64_MAX;
    for (size_t k = 0; k < hn; k++) {
        hs += h[k];
        if (h[k] < hmin) hmin = h[k];
    }
    CHECK_EQ_INT(hs, 11000);
    CHECK_EQ_INT(hmin, 2000);
    size_t nd;
    const uint8_t *days = rtn_features_ctx_days(ctx, &nd);
    CHECK_EQ_INT(nd, 601);
    size_t have = 0;
    for (size_t k = 0; k < nd; k++) have += days[k];
    /* distinct days with rows: -400 -100 -50 -40 -30 -20 -10 -5 -1 +5 +30 +40 */
    CHECK_EQ_INT(have, 12);
    /* preferred category (most spend in the lookback window, purchase baskets only):
     * A: cat 0 30.00, cat 1 5.00 (its return basket is no purchase), cat 2 40.00;
     * C: the zero-net basket does not count, cat 3; D: cat 0 4.00 > cat 1 2.00; E: cat 0 */
    static const int32_t want_pref[4] = {2, 3, 0, 0};
    for (size_t k = 0; k < 4; k++) CHECK_EQ_INT(o.preferred_category[k], want_pref[k]);
    rtn_features_rows_free(&o);
    rtn_features_ctx_free(ctx);
    rtn_txn_block_free(&b);
}

/* Preferred category: ties go to the lowest code; with zero amounts the most purchase
 * lines decide; purchases before the lookback window do not count. */
static void check_preferred_category(void)
{
    static const row r[] = {
        /* 60: zero-value log: cat 2 twice and cat 1 twice in the window (tie -> 1), cat 0
         * three times 400 days ago (outside the 365-day window) */
        {60, CUT - 400 * D, 0, 1, 0, -1, 0, 1},
        {60, CUT - 400 * D, 0, 1, 0, -1, 0, 1},
        {60, CUT - 400 * D, 0, 1, 0, -1, 0, 1},
        {60, CUT - 30 * D, 0, 1, 2, -1, 0, 2},
        {60, CUT - 20 * D, 0, 1, 1, -1, 0, 3},
        {60, CUT - 20 * D, 0, 1, 2, -1, 0, 3},
        {60, CUT - 10 * D, 0, 1, 1, -1, 0, 4},
        /* 70: only a purchase before the window -> none */
        {70, CUT - 500 * D, 900, 1, 3, -1, 0, 1},
        /* 80: equal spend in cat 3 and cat 2 -> 2; a zero line of cat 1 counts only when
         * the window has no spend */
        {80, CUT - 5 * D, 500, 1, 3, -1, 0, 1},
        {80, CUT - 5 * D, 500, 1, 2, -1, 0, 1},
        {80, CUT - 4 * D, 0, 1, 1, -1, 0, 2},
        {80, CUT - 4 * D, 0, 1, 1, -1, 0, 2},
        {80, CUT - 4 * D, 0, 1, 1, -1, 0, 2},
        /* 90: no category at all -> none */
        {90, CUT - 5 * D, 500, 1, -1, -1, 0, 1},
    };
    rtn_txn_block b = {0};
    fill(&b, r, sizeof r / sizeof r[0]);
    rtn_features_params p = params(1);
    p.zero_value_purchases = 1;
    rtn_features_ctx *ctx;
    REQUIRE(rtn_features_ctx_new(&ctx, &p) == RTN_OK);
    rtn_features_rows o = {0};
    CHECK(rtn_features_compute(ctx, &b, 0, b.n, &o) == RTN_OK);
    CHECK_EQ_INT(o.n, 4);
    static const int32_t want[4] = {1, -1, 2, -1};
    for (size_t k = 0; k < o.n && k < 4; k++) CHECK_EQ_INT(o.preferred_category[k], want[k]);
    rtn_features_rows_free(&o);
    rtn_features_ctx_free(ctx);
    rtn_txn_block_free(&b);
}

static void check_population_all_and_unknown(void)
{
    rtn_txn_block b = {0};
    fill(&b, fixture, sizeof fixture / sizeof fixture[0]);
    rtn_features_params p = params(1);
    p.labels_known = 0;
    rtn_features_ctx *ctx;
    REQUIRE(rtn_features_ctx_new(&ctx, &p) == RTN_OK);
    rtn_features_rows o = {0};
    CHECK(rtn_features_compute(ctx, &b, 0, b.n, &o) == RTN_OK);
    CHECK_EQ_INT(o.n, 5);
    size_t i;
    const double *x = row_of(&o, 20, &i);
    REQUIRE(x);
    CHECK_NEAR(x[RTN_F_RECENCY_DAYS], 400, TOL);
    CHECK_NEAR(x[RTN_F_IPI_MEAN], 400, TOL);
    CHECK_NEAR(x[RTN_F_RETURN_RATE], 200.0 / 1200.0, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_90D], 0, TOL);
    CHECK_NEAR(x[RTN_F_SPEND_TREND], 0, TOL); /* no spend in either window */
    CHECK_NEAR(x[RTN_F_N_STORES], 1, TOL);
    for (size_t k = 0; k < o.n; k++) CHECK_EQ_INT(o.label[k], -1);
    CHECK_EQ_INT(rtn_features_ctx_counts(ctx)->churned + rtn_features_ctx_counts(ctx)->retained, 0);
    rtn_features_rows_free(&o);
    rtn_features_ctx_free(ctx);
    rtn_txn_block_free(&b);
}

static void check_errors(void)
{
    rtn_txn_block b = {0};
    rtn_features_params p = params(0);
    rtn_features_ctx *ctx;
    REQUIRE(rtn_features_ctx_new(&ctx, &p) == RTN_OK);
    rtn_features_rows o = {0};
    row back[] = {{1, CUT - 10 * D, 100, 1, 0, 0, 0, 1}, {1, CUT - 11 * D, 100, 1, 0, 0, 0, 2}};
    fill(&b, back, 2);
    CHECK(rtn_features_compute(ctx, &b, 0, 2, &o) == RTN_ERR_FORMAT);
    row badcat[] = {{1, CUT - 10 * D, 100, 1, 4, 0, 0, 1}};
    fill(&b, badcat, 1);
    CHECK(rtn_features_compute(ctx, &b, 0, 1, &o) == RTN_ERR_FORMAT);
    row badstore[] = {{1, CUT - 10 * D, 100, 1, 0, 3, 0, 1}};
    fill(&b, badstore, 1);
    CHECK(rtn_features_compute(ctx, &b, 0, 1, &o) == RTN_ERR_FORMAT);
    row order[] = {{2, CUT - 10 * D, 100, 1, 0, 0, 0, 1}, {1, CUT - 10 * D, 100, 1, 0, 0, 0, 1}};
    fill(&b, order, 2);
    CHECK(rtn_features_compute(ctx, &b, 0, 2, &o) == RTN_ERR_FORMAT);
    rtn_features_rows_free(&o);
    rtn_features_ctx_free(ctx);
    rtn_txn_block_free(&b);
}

static void check_rfm_rules(void)
{
    /* Every cell of the (R, FM) table, docs/features.md. */
    static const char *const table[5][5] = {
        {"Lost", "Hibernating", "At risk", "At risk", "Can't lose them"},
        {"Hibernating", "Hibernating", "At risk", "At risk", "Can't lose them"},
        {"About to sleep", "About to sleep", "Need attention", "Loyal", "Loyal"},
        {"Promising", "Potential loyalist", "Potential loyalist", "Loyal", "Loyal"},
        {"New", "Potential loyalist", "Potential loyalist", "Champions", "Champions"}};
    for (int r = 1; r <= 5; r++)
        for (int fm = 1; fm <= 5; fm++) {
            /* f = m = fm gives FM = fm */
            int s = rtn_rfm_segment(r, fm, fm);
            REQUIRE(s >= 0 && s < RTN_SEG_N);
            CHECK(strcmp(rtn_rfm_segment_names[s], table[r - 1][fm - 1]) == 0);
        }
    /* FM rounds half up: f=4, m=1 -> 3; f=1, m=2 -> 2; f=5, m=4 -> 5. */
    CHECK_EQ_INT(rtn_rfm_segment(3, 4, 1), RTN_SEG_NEED_ATTENTION);
    CHECK_EQ_INT(rtn_rfm_segment(5, 1, 2), RTN_SEG_POTENTIAL_LOYALIST);
    CHECK_EQ_INT(rtn_rfm_segment(1, 5, 4), RTN_SEG_CANT_LOSE);
    CHECK_EQ_INT(rtn_rfm_segment(0, 1, 1), -1);
    int seen[RTN_SEG_N] = {0};
    for (int r = 1; r <= 5; r++)
        for (int f = 1; f <= 5; f++)
            for (int m = 1; m <= 5; m++) seen[rtn_rfm_segment(r, f, m)] = 1;
    for (int s = 0; s < RTN_SEG_N; s++) CHECK(seen[s]);
    /* quintile rule: keys 1,1,2,3 -> thresholds at positions 0,1,2,3 */
    const int64_t q[4] = {1, 1, 2, 3};
    CHECK_EQ_INT(rtn_rfm_score(1, q), 1);
    CHECK_EQ_INT(rtn_rfm_score(2, q), 3);
    CHECK_EQ_INT(rtn_rfm_score(3, q), 4);
    CHECK_EQ_INT(rtn_rfm_score(4, q), 5);
}

/* Dictionaries of more than 64 codes take the general bookkeeping (marks per code), the
 * usual small ones bit masks: both must give the same bits. */
static void compute_all(const rtn_txn_block *b, int pop_all, int32_t ncat, int32_t nstore,
                        rtn_features_rows *o)
{
    rtn_features_params p = params(pop_all);
    p.n_categories = ncat;
    p.n_stores = nstore;
    rtn_features_ctx *ctx;
    REQUIRE(rtn_features_ctx_new(&ctx, &p) == RTN_OK);
    CHECK(rtn_features_compute(ctx, b, 0, 9, o) == RTN_OK);
    CHECK(rtn_features_compute(ctx, b, 9, b->n, o) == RTN_OK);
    rtn_features_ctx_free(ctx);
}

static void check_dictionary_paths(void)
{
    rtn_txn_block b = {0};
    fill(&b, fixture, sizeof fixture / sizeof fixture[0]);
    for (int pop_all = 0; pop_all < 2; pop_all++) {
        rtn_features_rows s = {0}, g = {0};
        compute_all(&b, pop_all, 4, 3, &s);
        compute_all(&b, pop_all, 100, 65, &g);
        CHECK_EQ_INT(s.n, g.n);
        if (s.n == g.n && s.n) {
            CHECK(memcmp(s.customer, g.customer, s.n * sizeof *s.customer) == 0);
            CHECK(memcmp(s.X, g.X, s.n * RTN_FEATURES_D * sizeof *s.X) == 0);
            CHECK(memcmp(s.label, g.label, s.n * sizeof *s.label) == 0);
            CHECK(memcmp(s.clv, g.clv, s.n * RTN_CLV_N * sizeof *s.clv) == 0);
            CHECK(memcmp(s.rfm_key, g.rfm_key, s.n * RTN_RFM_N * sizeof *s.rfm_key) == 0);
            CHECK(memcmp(s.preferred_category, g.preferred_category,
                         s.n * sizeof *s.preferred_category) == 0);
        }
        rtn_features_rows_free(&s);
        rtn_features_rows_free(&g);
    }
    /* codes outside a large dictionary are errors too, and a small-dictionary context
     * computes correctly after an error */
    rtn_features_params p = params(0);
    p.n_categories = 70;
    rtn_features_ctx *ctx;
    REQUIRE(rtn_features_ctx_new(&ctx, &p) == RTN_OK);
    rtn_features_rows o = {0};
    row badcat[] = {{1, CUT - 10 * D, 100, 1, 70, 0, 0, 1}};
    fill(&b, badcat, 1);
    CHECK(rtn_features_compute(ctx, &b, 0, 1, &o) == RTN_ERR_FORMAT);
    rtn_features_ctx_free(ctx);
    p = params(0);
    REQUIRE(rtn_features_ctx_new(&ctx, &p) == RTN_OK);
    row bad2[] = {{1, CUT - 10 * D, 100, 1, 2, 0, 0, 1}, {1, CUT - 9 * D, 300, 1, 5, 0, 0, 2}};
    fill(&b, bad2, 2);
    CHECK(rtn_features_compute(ctx, &b, 0, 2, &o) == RTN_ERR_FORMAT);
    row good[] = {{2, CUT - 10 * D, 100, 1, 1, 0, 0, 1}, {2, CUT - 9 * D, 300, 1, 3, 0, 0, 2}};
    fill(&b, good, 2);
    CHECK(rtn_features_compute(ctx, &b, 0, 2, &o) == RTN_OK);
    CHECK_EQ_INT(o.n, 1);
    if (o.n == 1) {
        CHECK_NEAR(o.X[RTN_F_N_CATEGORIES], 2, TOL);
        CHECK_NEAR(o.X[RTN_F_TOP_CATEGORY_SHARE], 0.75, TOL);
        CHECK_EQ_INT(o.preferred_category[0], 3);
    }
    rtn_features_rows_free(&o);
    rtn_features_ctx_free(ctx);
    rtn_txn_block_free(&b);
}

int main(void)
{
    check_dictionary_paths();
    check_population_lookback();
    check_population_all_and_unknown();
    check_preferred_category();
    check_errors();
    check_rfm_rules();
    return rtn_test_finish("features.unit");
}
