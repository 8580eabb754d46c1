/* The synthetic mall generator (model: docs/generator.md). Every customer is generated from
 * (seed, customer index) alone with two counter-seeded random streams, so the output does
 * not depend on which rank generates whom, or in which order. */
#include "retain/generate.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "retain/buckets.h"
#include "retain/cli.h"

/* ------------------------------------------------------------------ parameters */

typedef struct {
    const char *name;
    double share;               /* fraction of customers */
    double r, alpha;            /* lambda ~ Gamma(shape r, rate alpha), purchases per day */
    double a, b;                /* p ~ Beta(a, b): dropout probability after a repeat purchase */
    double p, q, gamma;         /* Gamma-Gamma: z ~ Gamma(p, rate nu), nu ~ Gamma(q, rate gamma) */
    double lines;               /* extra lines per basket ~ Poisson(lines) */
    double ret;                 /* base return probability of a line */
    double week[7];             /* Monday .. Sunday relative intensity */
    double xmas, sales;         /* yearly amplitudes: December/Black Friday, Jan/July sales */
    double cat[RTN_GEN_N_CATEGORIES];
    double chan[3];             /* in-store, online, app */
    double store[6];            /* preference for the home store among the physical stores */
} archetype;

static const archetype ARCH[RTN_GEN_N_ARCHETYPES] = {
    {"loyal_premium", 0.15, 4.0, 50.0, 1.0, 40.0, 6.0, 5.0, 80.0, 2.5, 0.04,
     {1.0, 1.0, 1.0, 1.1, 1.3, 1.4, 0.9}, 0.6, 0.2,
     {18, 8, 10, 8, 14, 6, 3, 6, 5, 7, 12, 3}, {0.70, 0.10, 0.20}, {35, 20, 15, 15, 10, 5}},
    {"family_weekend", 0.25, 4.0, 80.0, 1.5, 30.0, 5.0, 5.0, 64.0, 3.0, 0.03,
     {0.45, 0.45, 0.5, 0.6, 0.9, 2.4, 2.0}, 1.0, 0.3,
     {10, 8, 4, 10, 5, 18, 18, 6, 4, 10, 1, 6}, {0.82, 0.10, 0.08}, {15, 15, 15, 10, 35, 10}},
    {"bargain_hunter", 0.20, 3.0, 50.0, 2.0, 20.0, 4.0, 6.0, 30.0, 1.5, 0.06,
     {1.0, 1.1, 1.2, 1.0, 1.0, 1.2, 0.7}, 0.7, 1.2,
     {15, 8, 6, 10, 8, 25, 6, 5, 5, 8, 1, 3}, {0.60, 0.30, 0.10}, {5, 10, 15, 10, 15, 45}},
    {"occasional_visitor", 0.25, 2.0, 160.0, 2.0, 8.0, 4.0, 4.0, 37.5, 1.0, 0.03,
     {0.7, 0.7, 0.8, 0.9, 1.2, 1.6, 1.3}, 1.5, 0.2,
     {12, 6, 8, 6, 6, 6, 6, 6, 6, 20, 3, 15}, {0.88, 0.10, 0.02}, {20, 20, 20, 20, 10, 10}},
    {"online_first", 0.15, 3.0, 85.0, 1.5, 14.0, 5.0, 5.0, 48.0, 1.8, 0.08,
     {1.1, 1.1, 1.1, 1.1, 0.9, 0.8, 1.3}, 0.9, 0.2,
     {16, 8, 22, 10, 8, 4, 5, 7, 14, 1, 3, 2}, {0.10, 0.50, 0.40}, {25, 20, 15, 15, 15, 10}},
};

static const char *const CATEGORY[RTN_GEN_N_CATEGORIES] = {
    "Fashion",     "Footwear",       "Electronics",         "Home & Living",
    "Beauty & Health", "Groceries",  "Toys & Kids",         "Sports & Outdoor",
    "Books & Media",   "Food Court & Cafes", "Jewellery & Watches", "Cinema & Entertainment"};
static const char *const CATCODE[RTN_GEN_N_CATEGORIES] = {"FAS", "FTW", "ELE", "HOM", "BEA", "GRO",
                                                          "TOY", "SPO", "BOO", "FCC", "JEW", "CIN"};
/* relative share of the basket value a line of this category takes (Gamma(2, level)) */
static const double CAT_LEVEL[RTN_GEN_N_CATEGORIES] = {1.5, 1.6, 3.0, 1.5, 0.9, 0.8,
                                                       1.0, 1.3, 0.6, 0.4, 3.0, 0.5};
/* extra units per line ~ Poisson(q) */
static const double CAT_QTY[RTN_GEN_N_CATEGORIES] = {0.1, 0.05, 0.05, 0.2, 0.4, 1.5,
                                                     0.3, 0.1,  0.3,  0.8, 0.05, 1.0};
/* multiplier of the archetype's return probability */
static const double CAT_RETURN[RTN_GEN_N_CATEGORIES] = {2.0, 1.6, 1.0, 0.8, 0.4, 0.1,
                                                        0.8, 1.0, 0.5, 0.0, 0.8, 0.0};
static const char *const STORE[RTN_GEN_N_STORES] = {
    "Central Plaza", "Riverside Galleria", "Northgate Centre", "Harbour Point",
    "Westfield Park", "Outlet Village", "Online Shop"};
#define ONLINE_STORE 6

/* Hour-of-day intensity by channel (in-store opening hours 9-21). */
static const double HOURS[3][24] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 6, 8, 8, 6, 6, 7, 9, 9, 6, 3, 0, 0, 0},
    {2, 1, .5, .3, .3, .5, 1, 2, 3, 3, 3, 3, 4, 4, 3, 3, 3, 4, 5, 7, 8, 8, 6, 4},
    {1.5, .8, .3, .2, .2, .5, 1.5, 4, 4, 2, 2, 2, 5, 4, 2, 2, 3, 5, 5, 6, 7, 7, 5, 3}};

#define ACQ_SPAN 0.9            /* acquisitions uniform over the first 90% of the window */
#define DECAY_DAYS 180.0        /* engagement decays over the last 180 days before dropout */
#define DECAY_RATE 0.75         /* purchase rate falls to 25% at dropout */
#define DECAY_VALUE 0.40        /* basket value falls to 60% at dropout */
#define LAMBDA_MAX 2.0          /* purchases per day (cap of the gamma tail) */
#define CAT_CONC 20.0           /* Dirichlet concentration of per-customer category mix */
#define CHAN_CONC 15.0          /* ... of the per-customer channel mix */
#define HOME_STORE_SHARE 0.8    /* in-store baskets at the home store */
#define MIN_UNIT_PRICE 50       /* cents */
#define MAX_LINES 40

/* ------------------------------------------------------------------ random generator */

/* xoshiro256** as a GSL generator type: seeding is four SplitMix64 steps, so a fresh
 * stream per customer costs nothing (mt19937 would spend most of the time seeding). */
typedef struct {
    uint64_t s[4];
} xo_state;

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t xo_next(xo_state *st)
{
    uint64_t *s = st->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

static void xo_set(void *vs, unsigned long seed)
{
    xo_state *st = vs;
    uint64_t z = (uint64_t)seed;
    for (int i = 0; i < 4; i++) {
        st->s[i] = rtn_mix64(z);
        z += 0x9e3779b97f4a7c15ULL;
    }
    if (!(st->s[0] | st->s[1] | st->s[2] | st->s[3])) st->s[0] = 1;
}

static unsigned long xo_get(void *vs) { return (unsigned long)(xo_next(vs) >> 32); }

static double xo_get_double(void *vs) { return (double)(xo_next(vs) >> 11) * 0x1.0p-53; }

static const gsl_rng_type xo_type = {"rtn_xoshiro256ss", 0xffffffffUL, 0, sizeof(xo_state),
                                     xo_set, xo_get, xo_get_double};

#define SALT_KEY 0x52455441494e4b45ULL
#define SALT_A 0x53545245414d2d41ULL
#define SALT_B 0x53545245414d2d42ULL
#define SALT_BASKET 0x4241534b45542d31ULL

static inline uint64_t stream_seed(uint64_t seed, uint64_t salt, uint64_t index)
{
    return rtn_mix64(rtn_mix64(seed ^ salt) ^ index);
}

uint64_t rtn_gen_customer_key(uint64_t seed, uint64_t index)
{
    /* mix64 is a bijection, so K ^ i -> key is one too. mix64 maps exactly one input to 0;
     * if that is K ^ i, use the input with bit 63 set instead: it is not K ^ j for any
     * customer index j < 2^63 and cannot map to 0. */
    uint64_t K = rtn_mix64(seed ^ SALT_KEY);
    uint64_t k = rtn_mix64(K ^ index);
    if (k == 0) k = rtn_mix64(K ^ (index | (1ULL << 63)));
    return k;
}

/* ------------------------------------------------------------------ model */

struct rtn_gen_model {
    rtn_gen_params p;
    int32_t horizon;                        /* days simulated: window + decay span */
    int64_t end;                            /* start + days * 86400 */
    float *season[RTN_GEN_N_ARCHETYPES];    /* per day, max-normalized to 1 */
    double mean_season[RTN_GEN_N_ARCHETYPES];
    double hour_cdf[3][24];
    double store_cdf[RTN_GEN_N_ARCHETYPES][6];
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

static double yearly(const archetype *A, int doy)
{
    double x = (doy - 350) / 12.0, bf = (doy - 331) / 2.5, js = (doy - 10) / 7.0,
           ss = (doy - 185) / 10.0;
    return 1.0 + A->xmas * (exp(-x * x) + 0.5 * exp(-bf * bf)) +
           A->sales * (exp(-js * js) + 0.8 * exp(-ss * ss));
}

rtn_status rtn_gen_model_create(rtn_gen_model **mp, const rtn_gen_params *p)
{
    *mp = NULL;
    if (p->n_customers < 1 || p->n_customers > (1ULL << 40))
        return rtn_fail(RTN_ERR_USAGE, "--customers must be between 1 and 2^40");
    if (p->days < 1 || p->days > RTN_GEN_MAX_DAYS)
        return rtn_fail(RTN_ERR_USAGE, "--days must be between 1 and %d", RTN_GEN_MAX_DAYS);
    if (p->start % 86400 != 0)
        return rtn_fail(RTN_ERR_USAGE, "--start must be a date (midnight UTC)");
    rtn_gen_model *m = rtn_calloc(1, sizeof *m, "generator model");
    if (!m) return RTN_ERR_NOMEM;
    m->p = *p;
    m->horizon = p->days + (int32_t)DECAY_DAYS + 1;
    m->end = p->start + (int64_t)p->days * 86400;
    int64_t day0 = floor_div(p->start, 86400);
    for (int a = 0; a < RTN_GEN_N_ARCHETYPES; a++) {
        m->season[a] = rtn_malloc(sizeof(float) * (size_t)m->horizon, "seasonality table");
        if (!m->season[a]) {
            rtn_gen_model_free(m);
            return RTN_ERR_NOMEM;
        }
    }
    double *raw = rtn_malloc(sizeof(double) * (size_t)m->horizon, "seasonality table");
    if (!raw) {
        rtn_gen_model_free(m);
        return RTN_ERR_NOMEM;
    }
    for (int a = 0; a < RTN_GEN_N_ARCHETYPES; a++) {
        const archetype *A = &ARCH[a];
        double mx = 0;
        for (int32_t d = 0; d < m->horizon; d++) {
            int64_t e = day0 + d;
            int dow = (int)(((e + 3) % 7 + 7) % 7); /* 1970-01-01 was a Thursday; Monday = 0 */
            time_t tt = (time_t)(e * 86400);
            struct tm tm;
            gmtime_r(&tt, &tm);
            raw[d] = A->week[dow] * yearly(A, tm.tm_yday);
            if (raw[d] > mx) mx = raw[d];
        }
        double sum = 0;
        for (int32_t d = 0; d < m->horizon; d++) {
            m->season[a][d] = (float)(raw[d] / mx);
            if (d < p->days) sum += m->season[a][d];
        }
        m->mean_season[a] = sum / p->days;
        double c = 0, tot = 0;
        for (int s = 0; s < 6; s++) tot += A->store[s];
        for (int s = 0; s < 6; s++) m->store_cdf[a][s] = (c += A->store[s]) / tot;
        m->store_cdf[a][5] = 1.0;
    }
    free(raw);
    for (int ch = 0; ch < 3; ch++) {
        double c = 0, tot = 0;
        for (int h = 0; h < 24; h++) tot += HOURS[ch][h];
        for (int h = 0; h < 24; h++) m->hour_cdf[ch][h] = (c += HOURS[ch][h]) / tot;
        m->hour_cdf[ch][23] = 1.0;
    }
    *mp = m;
    return RTN_OK;
}

void rtn_gen_model_free(rtn_gen_model *m)
{
    if (!m) return;
    for (int a = 0; a < RTN_GEN_N_ARCHETYPES; a++) free(m->season[a]);
    free(m);
}

const rtn_gen_params *rtn_gen_model_params(const rtn_gen_model *m) { return &m->p; }

const char *rtn_gen_archetype_name(int a)
{
    return a >= 0 && a < RTN_GEN_N_ARCHETYPES ? ARCH[a].name : "?";
}
const char *rtn_gen_category_name(int c)
{
    return c >= 0 && c < RTN_GEN_N_CATEGORIES ? CATEGORY[c] : "?";
}
const char *rtn_gen_store_name(int s) { return s >= 0 && s < RTN_GEN_N_STORES ? STORE[s] : "?"; }

static rtn_status dict_make(rtn_strdict *d, size_t n)
{
    d->s = rtn_calloc(n, sizeof *d->s, "dictionary");
    d->n = 0;
    return d->s ? RTN_OK : RTN_ERR_NOMEM;
}

static rtn_status dict_add(rtn_strdict *d, const char *s)
{
    d->s[d->n] = strdup(s);
    if (!d->s[d->n]) return rtn_fail(RTN_ERR_NOMEM, "out of memory building a dictionary");
    d->n++;
    return RTN_OK;
}

rtn_status rtn_gen_dicts(rtn_strdict *item, rtn_strdict *category, rtn_strdict *store)
{
    memset(item, 0, sizeof *item);
    memset(category, 0, sizeof *category);
    memset(store, 0, sizeof *store);
    rtn_status st = dict_make(item, RTN_GEN_N_CATEGORIES * RTN_GEN_ITEMS_PER_CATEGORY);
    if (st == RTN_OK) st = dict_make(category, RTN_GEN_N_CATEGORIES);
    if (st == RTN_OK) st = dict_make(store, RTN_GEN_N_STORES);
    for (int c = 0; st == RTN_OK && c < RTN_GEN_N_CATEGORIES; c++) {
        st = dict_add(category, CATEGORY[c]);
        for (int i = 0; st == RTN_OK && i < RTN_GEN_ITEMS_PER_CATEGORY; i++) {
            char buf[32];
            snprintf(buf, sizeof buf, "%s-%03d", CATCODE[c], i + 1);
            st = dict_add(item, buf);
        }
    }
    for (int s = 0; st == RTN_OK && s < RTN_GEN_N_STORES; s++) st = dict_add(store, STORE[s]);
    if (st) {
        rtn_strdict_free(item);
        rtn_strdict_free(category);
        rtn_strdict_free(store);
    }
    return st;
}

static json_t *darray(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

json_t *rtn_gen_describe(const rtn_gen_model *m)
{
    json_t *o = json_object();
    char t0[32], t1[32];
    rtn_format_time(m->p.start, t0, sizeof t0);
    rtn_format_time(m->end, t1, sizeof t1);
    json_object_set_new(o, "source", json_string("retain generate"));
    json_object_set_new(o, "model_version", json_integer(RTN_GEN_MODEL_VERSION));
    json_object_set_new(o, "seed", json_integer((json_int_t)m->p.seed));
    json_object_set_new(o, "customers", json_integer((json_int_t)m->p.n_customers));
    json_object_set_new(o, "days", json_integer(m->p.days));
    json_object_set_new(o, "start", json_string(t0));
    json_object_set_new(o, "end", json_string(t1));
    json_object_set_new(o, "currency", json_string("EUR"));
    json_object_set_new(o, "acquisition_span", json_real(ACQ_SPAN));
    json_object_set_new(o, "decay_days", json_real(DECAY_DAYS));
    json_object_set_new(o, "decay_rate", json_real(DECAY_RATE));
    json_object_set_new(o, "decay_value", json_real(DECAY_VALUE));
    json_t *arr = json_array();
    for (int a = 0; a < RTN_GEN_N_ARCHETYPES; a++) {
        const archetype *A = &ARCH[a];
        json_t *x = json_object();
        json_object_set_new(x, "name", json_string(A->name));
        json_object_set_new(x, "share", json_real(A->share));
        json_object_set_new(x, "lambda_gamma_shape_r", json_real(A->r));
        json_object_set_new(x, "lambda_gamma_rate_alpha", json_real(A->alpha));
        json_object_set_new(x, "dropout_beta_a", json_real(A->a));
        json_object_set_new(x, "dropout_beta_b", json_real(A->b));
        json_object_set_new(x, "spend_p", json_real(A->p));
        json_object_set_new(x, "spend_q", json_real(A->q));
        json_object_set_new(x, "spend_gamma", json_real(A->gamma));
        json_object_set_new(x, "extra_lines_mean", json_real(A->lines));
        json_object_set_new(x, "return_probability", json_real(A->ret));
        json_object_set_new(x, "weekday_weights", darray(A->week, 7));
        json_object_set_new(x, "christmas_amplitude", json_real(A->xmas));
        json_object_set_new(x, "sales_amplitude", json_real(A->sales));
        json_object_set_new(x, "category_weights", darray(A->cat, RTN_GEN_N_CATEGORIES));
        json_object_set_new(x, "channel_weights", darray(A->chan, 3));
        json_object_set_new(x, "home_store_weights", darray(A->store, 6));
        json_array_append_new(arr, x);
    }
    json_object_set_new(o, "archetypes", arr);
    return o;
}

/* ------------------------------------------------------------------ per-customer work */

typedef struct {
    int64_t time;
    double vf;          /* basket value factor (decay) */
    int8_t chan;
    int32_t nlines;
    uint32_t line0;
} gbasket;

typedef struct {
    int8_t cat;
    int64_t ret_time;   /* -1: not returned (in the window) */
} gline;

typedef struct {
    int64_t time;
    uint32_t seq;
} sortkey;

/* customer 360 scratch (defined with the model below) */
typedef struct {
    int64_t time, cents;          /* basket time, sale amount */
    size_t row0;                  /* first sale line in the block */
    int32_t nlines;
    int8_t chan;
} c360_basket;

typedef struct {
    int64_t time;
    int8_t redeem, used;
} c360_coupon;

struct rtn_gen_work {
    const rtn_gen_model *m;
    gsl_rng *ra, *rb;
    gsl_rng *rm, *re, *rf;        /* customer 360 streams M, E, F */
    rtn_gen_member_row *mr;
    size_t nmr, cmr;
    rtn_gen_event_row *er;
    size_t ner, cer;
    rtn_gen_feedback_row *fr;
    size_t nfr, cfr;
    c360_basket *cb;
    size_t ncb, ccb;
    c360_coupon *cp;
    size_t ncp, ccp;
    double *ev;
    size_t nev, cev;
    gbasket *bk;
    size_t nbk, cbk;
    gline *ln;
    size_t nln, cln;
    sortkey *sk;
    size_t csk;
    rtn_txn_block tmp;
    /* stream A state that stream B needs */
    int arch;
    double nu;
};

rtn_status rtn_gen_work_create(rtn_gen_work **wp, const rtn_gen_model *m)
{
    rtn_gen_work *w = rtn_calloc(1, sizeof *w, "generator work");
    if (!w) return RTN_ERR_NOMEM;
    w->m = m;
    w->ra = gsl_rng_alloc(&xo_type);
    w->rb = gsl_rng_alloc(&xo_type);
    w->rm = gsl_rng_alloc(&xo_type);
    w->re = gsl_rng_alloc(&xo_type);
    w->rf = gsl_rng_alloc(&xo_type);
    if (!w->ra || !w->rb || !w->rm || !w->re || !w->rf) {
        rtn_gen_work_free(w);
        return rtn_fail(RTN_ERR_NOMEM, "cannot allocate random generators");
    }
    *wp = w;
    return RTN_OK;
}

void rtn_gen_work_free(rtn_gen_work *w)
{
    if (!w) return;
    if (w->ra) gsl_rng_free(w->ra);
    if (w->rb) gsl_rng_free(w->rb);
    if (w->rm) gsl_rng_free(w->rm);
    if (w->re) gsl_rng_free(w->re);
    if (w->rf) gsl_rng_free(w->rf);
    free(w->mr);
    free(w->er);
    free(w->fr);
    free(w->cb);
    free(w->cp);
    free(w->ev);
    free(w->bk);
    free(w->ln);
    free(w->sk);
    rtn_txn_block_free(&w->tmp);
    free(w);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static inline int pick(const double *cdf, int n, double u)
{
    int i = 0;
    while (i < n - 1 && u >= cdf[i]) i++;
    return i;
}

/* Stream A: archetype, rates, the purchase process and the basket skeletons. */
static rtn_status skeleton(rtn_gen_work *w, uint64_t index, rtn_gen_truth *t)
{
    const rtn_gen_model *m = w->m;
    gsl_rng *r = w->ra;
    gsl_rng_set(r, (unsigned long)stream_seed(m->p.seed, SALT_A, index));
    memset(t, 0, sizeof *t);
    t->index = index;
    t->key = rtn_gen_customer_key(m->p.seed, index);

    double u = gsl_rng_uniform(r), c = ARCH[0].share;
    int a = 0;
    while (a < RTN_GEN_N_ARCHETYPES - 1 && u >= c) c += ARCH[++a].share;
    const archetype *A = &ARCH[a];
    w->arch = a;
    double lambda = gsl_ran_gamma(r, A->r, 1.0 / A->alpha);
    if (lambda > LAMBDA_MAX) lambda = LAMBDA_MAX;
    if (lambda < 1e-6) lambda = 1e-6;
    double p = gsl_ran_beta(r, A->a, A->b);
    if (p < 1e-9) p = 1e-9;
    unsigned J = gsl_ran_geometric(r, p);
    double nu = gsl_ran_gamma(r, A->q, 1.0 / A->gamma);
    if (nu < 1e-6) nu = 1e-6;
    w->nu = nu;
    double acq = gsl_rng_uniform(r) * ACQ_SPAN * m->p.days;

    double alpha[RTN_GEN_N_CATEGORIES], pref[RTN_GEN_N_CATEGORIES], cat_cdf[RTN_GEN_N_CATEGORIES];
    double tot = 0;
    for (int j = 0; j < RTN_GEN_N_CATEGORIES; j++) tot += A->cat[j];
    for (int j = 0; j < RTN_GEN_N_CATEGORIES; j++) alpha[j] = CAT_CONC * A->cat[j] / tot;
    gsl_ran_dirichlet(r, RTN_GEN_N_CATEGORIES, alpha, pref);
    double cc = 0;
    for (int j = 0; j < RTN_GEN_N_CATEGORIES; j++) cat_cdf[j] = (cc += pref[j]);
    double calpha[3], cpref[3], chan_cdf[3];
    for (int j = 0; j < 3; j++) calpha[j] = CHAN_CONC * A->chan[j];
    gsl_ran_dirichlet(r, 3, calpha, cpref);
    chan_cdf[0] = cpref[0];
    chan_cdf[1] = cpref[0] + cpref[1];
    chan_cdf[2] = 1.0;

    /* Purchase process: the first purchase at acquisition, then a Poisson process with
     * seasonal intensity lambda * s(t) / mean(s) (thinning), until the J-th repeat
     * purchase (dropout) or the end of the simulated horizon. */
    w->nev = 0;
    if (grow((void **)&w->ev, &w->cev, 1, sizeof *w->ev))
        return rtn_fail(RTN_ERR_NOMEM, "out of memory generating customer %llu",
                        (unsigned long long)index);
    w->ev[w->nev++] = acq;
    const float *season = m->season[a];
    double mean_gap = m->mean_season[a] / lambda, tt = acq, tau = -1;
    unsigned reps = 0;
    for (;;) {
        tt += gsl_ran_exponential(r, mean_gap);
        if (tt >= m->horizon) break;
        if (gsl_rng_uniform(r) < season[(int32_t)tt]) {
            if (grow((void **)&w->ev, &w->cev, w->nev + 1, sizeof *w->ev))
                return rtn_fail(RTN_ERR_NOMEM, "out of memory generating customer %llu",
                                (unsigned long long)index);
            w->ev[w->nev++] = tt;
            if (++reps == J) {
                tau = tt;
                break;
            }
        }
    }

    /* Baskets in the window; before dropout the rate ramps down and the value shrinks. */
    w->nbk = w->nln = 0;
    int64_t start = m->p.start;
    t->time_min = INT64_MAX;
    t->time_max = INT64_MIN;
    for (size_t k = 0; k < w->nev; k++) {
        double e = w->ev[k], vf = 1.0;
        if (k > 0 && tau >= 0 && e >= tau - DECAY_DAYS) {
            double prog = (e - (tau - DECAY_DAYS)) / DECAY_DAYS;
            if (e < tau && gsl_rng_uniform(r) >= 1.0 - DECAY_RATE * prog) continue;
            vf = 1.0 - DECAY_VALUE * prog;
        }
        if (e >= m->p.days) break;
        if (grow((void **)&w->bk, &w->cbk, w->nbk + 1, sizeof *w->bk))
            return rtn_fail(RTN_ERR_NOMEM, "out of memory generating customer %llu",
                            (unsigned long long)index);
        gbasket *b = &w->bk[w->nbk++];
        int ch = pick(chan_cdf, 3, gsl_rng_uniform(r));
        int hour = pick(m->hour_cdf[ch], 24, gsl_rng_uniform(r));
        int64_t day = (int64_t)e;
        b->time = start + day * 86400 + hour * 3600 + (int64_t)gsl_rng_uniform_int(r, 3600);
        b->vf = vf;
        b->chan = (int8_t)ch;
        unsigned nl = 1 + gsl_ran_poisson(r, A->lines);
        if (nl > MAX_LINES) nl = MAX_LINES;
        b->nlines = (int32_t)nl;
        b->line0 = (uint32_t)w->nln;
        if (grow((void **)&w->ln, &w->cln, w->nln + nl, sizeof *w->ln))
            return rtn_fail(RTN_ERR_NOMEM, "out of memory generating customer %llu",
                            (unsigned long long)index);
        if (b->time < t->time_min) t->time_min = b->time;
        if (b->time > t->time_max) t->time_max = b->time;
        int64_t rt = -1; /* one return trip per basket: its returned lines share the time */
        for (unsigned l = 0; l < nl; l++) {
            gline *g = &w->ln[w->nln++];
            g->cat = (int8_t)pick(cat_cdf, RTN_GEN_N_CATEGORIES, gsl_rng_uniform(r) * cc);
            g->ret_time = -1;
            double rp = A->ret * CAT_RETURN[g->cat] * (ch ? 1.5 : 1.0);
            if (gsl_rng_uniform(r) < rp) {
                if (rt < 0) rt = b->time + (int64_t)((1.0 + gsl_ran_gamma(r, 2.0, 4.0)) * 86400.0);
                if (rt < m->end) {
                    g->ret_time = rt;
                    t->n_returns++;
                    if (rt > t->time_max) t->time_max = rt;
                }
            }
        }
    }
    t->archetype = (int8_t)a;
    t->lambda = lambda;
    t->p_dropout = p;
    t->mean_basket = A->p / nu;
    t->n_baskets = (uint32_t)w->nbk;
    t->n_rows = w->nln + t->n_returns;
    /* Baskets of one day get independent times of day, so the first and last purchase
     * are the earliest and latest basket times (returns always follow their sale). */
    int64_t first_sale = INT64_MAX, last_sale = INT64_MIN;
    for (size_t k = 0; k < w->nbk; k++) {
        if (w->bk[k].time < first_sale) first_sale = w->bk[k].time;
        if (w->bk[k].time > last_sale) last_sale = w->bk[k].time;
    }
    t->acquisition_time = w->nbk ? first_sale : -1;
    if (tau >= 0 && tau < m->p.days) {
        t->dropout_time = last_sale; /* the dropout purchase is the last one */
        t->alive_at_end = 0;
    } else {
        t->dropout_time = tau >= 0 ? start + (int64_t)(tau * 86400.0) : -1;
        t->alive_at_end = 1;
    }
    if (w->nbk == 0) t->time_min = t->time_max = -1;
    return RTN_OK;
}

rtn_status rtn_gen_count(rtn_gen_work *w, uint64_t index, rtn_gen_truth *t)
{
    return skeleton(w, index, t);
}

static int cmp_sortkey(const void *x, const void *y)
{
    const sortkey *a = x, *b = y;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

rtn_status rtn_gen_customer(rtn_gen_work *w, uint64_t index, rtn_txn_block *blk,
                            rtn_gen_truth *t)
{
    RTN_TRY(skeleton(w, index, t));
    const rtn_gen_model *m = w->m;
    const archetype *A = &ARCH[w->arch];
    gsl_rng *r = w->rb;
    gsl_rng_set(r, (unsigned long)stream_seed(m->p.seed, SALT_B, index));
    size_t n = (size_t)t->n_rows;
    rtn_txn_block *tmp = &w->tmp;
    if (tmp->cap < n || tmp->cols != RTN_COLS_ALL)
        RTN_TRY(rtn_txn_block_reserve(tmp, n, RTN_COLS_ALL));
    if (grow((void **)&w->sk, &w->csk, n, sizeof *w->sk))
        return rtn_fail(RTN_ERR_NOMEM, "out of memory generating customer %llu",
                        (unsigned long long)index);
    int home = pick(m->store_cdf[w->arch], 6, gsl_rng_uniform(r));
    size_t j = 0;
    double wgt[MAX_LINES];
    int32_t qty[MAX_LINES], item[MAX_LINES];
    for (size_t k = 0; k < w->nbk; k++) {
        const gbasket *b = &w->bk[k];
        double value = gsl_ran_gamma(r, A->p, 1.0 / w->nu) * b->vf; /* major units */
        int32_t store;
        if (b->chan == RTN_CHANNEL_STORE)
            store = gsl_rng_uniform(r) < HOME_STORE_SHARE ? home
                                                          : (int32_t)gsl_rng_uniform_int(r, 6);
        else
            store = ONLINE_STORE;
        uint64_t bkey = rtn_mix64(t->key ^ rtn_mix64(SALT_BASKET + k)) & ~(1ULL << 63);
        double sw = 0;
        for (int32_t l = 0; l < b->nlines; l++) {
            int cat = w->ln[b->line0 + l].cat;
            double uu = gsl_rng_uniform(r);
            item[l] = cat * RTN_GEN_ITEMS_PER_CATEGORY + (int32_t)(RTN_GEN_ITEMS_PER_CATEGORY * uu * uu);
            wgt[l] = gsl_ran_gamma(r, 2.0, CAT_LEVEL[cat]);
            sw += wgt[l];
            qty[l] = 1 + (int32_t)gsl_ran_poisson(r, CAT_QTY[cat]);
        }
        for (int32_t l = 0; l < b->nlines; l++) {
            const gline *g = &w->ln[b->line0 + l];
            double target = value * 100.0 * wgt[l] / sw;
            int64_t unit = llround(target / qty[l]);
            if (unit < MIN_UNIT_PRICE) unit = MIN_UNIT_PRICE;
            for (int rep = 0; rep < 2; rep++) {
                if (rep == 1 && g->ret_time < 0) break;
                int sgn = rep ? -1 : 1;
                tmp->customer[j] = t->key;
                tmp->time[j] = rep ? g->ret_time : b->time;
                tmp->amount[j] = sgn * unit * qty[l];
                tmp->quantity[j] = sgn * qty[l];
                tmp->item[j] = item[l];
                tmp->category[j] = g->cat;
                tmp->store[j] = store;
                tmp->channel[j] = b->chan;
                tmp->basket[j] = rep ? (bkey | (1ULL << 63)) : bkey;
                w->sk[j].time = tmp->time[j];
                w->sk[j].seq = (uint32_t)j;
                j++;
            }
        }
    }
    if (j != n)
        return rtn_fail(RTN_ERR_INTERNAL, "generator: customer %llu produced %zu rows, "
                        "counted %zu", (unsigned long long)index, j, n);
    if (n > 1) qsort(w->sk, n, sizeof *w->sk, cmp_sortkey);
    if (blk->cap < blk->n + n || (blk->cols & RTN_COLS_ALL) != RTN_COLS_ALL) {
        size_t nc = blk->cap * 2 > blk->n + n ? blk->cap * 2 : blk->n + n;
        RTN_TRY(rtn_txn_block_reserve(blk, nc, RTN_COLS_ALL));
    }
    size_t o = blk->n;
    for (size_t i = 0; i < n; i++) {
        size_t s = w->sk[i].seq;
        blk->customer[o + i] = tmp->customer[s];
        blk->time[o + i] = tmp->time[s];
        blk->amount[o + i] = tmp->amount[s];
        blk->quantity[o + i] = tmp->quantity[s];
        blk->item[o + i] = tmp->item[s];
        blk->category[o + i] = tmp->category[s];
        blk->store[o + i] = tmp->store[s];
        blk->channel[o + i] = tmp->channel[s];
        blk->basket[o + i] = tmp->basket[s];
    }
    blk->n += n;
    return RTN_OK;
}

/* ------------------------------------------------------------------ customer 360
 *
 * Members, clickstream events and feedback of the customer just generated, from three
 * further streams (M, E, F) seeded like A and B. They read the customer's rows and truth
 * and never touch streams A and B, so the transactions are the same with or without them.
 * Model and parameter tables: docs/generator.md, "Customer 360 exports". */

#define SALT_M 0x53545245414d2d4dULL       /* "STREAM-M": membership and tier history */
#define SALT_E 0x53545245414d2d45ULL       /* "STREAM-E": sessions and events */
#define SALT_F 0x53545245414d2d46ULL       /* "STREAM-F": feedback */
#define SALT_VISITOR 0x56495349544f5231ULL
#define SALT_SESSION 0x53455353494f4e31ULL
#define DAY 86400.0

static const char *const ACQ_NAME[RTN_GEN_N_ACQ] = {"store_desk", "app",     "web",
                                                    "referral",   "partner", "campaign"};
/* acquisition channel given alive_at_end (stay) or not (drop) */
static const double ACQ_STAY[RTN_GEN_N_ACQ] = {0.26, 0.18, 0.20, 0.16, 0.08, 0.12};
static const double ACQ_DROP[RTN_GEN_N_ACQ] = {0.14, 0.16, 0.20, 0.06, 0.16, 0.28};
static const char *const TIER_NAME[RTN_GEN_N_TIERS] = {"basic", "silver", "gold", "platinum"};
static const int64_t TIER_CENTS[RTN_GEN_N_TIERS] = {0, 20000, 80000, 200000};
static const char *const EV_NAME[RTN_GEN_N_EVENT_TYPES] = {
    "visit",    "page_view",     "product_view",    "search",   "add_to_cart", "remove_from_cart",
    "checkout_start", "purchase", "coupon_issued", "coupon_redeemed", "app_open", "push_open"};
static const char *const FB_NAME[RTN_GEN_N_FB_KINDS] = {"nps", "csat", "rating", "complaint",
                                                        "ticket"};
static const char *const TOPIC_NAME[RTN_GEN_N_TOPICS] = {
    "delivery", "price", "staff", "product_quality", "checkout", "parking", "app", "other"};
enum { TP_DELIVERY, TP_PRICE, TP_STAFF, TP_QUALITY, TP_CHECKOUT, TP_PARKING, TP_APP, TP_OTHER };
static const char *const CHAN_NAME[3] = {"in-store", "online", "app"};
static const char *const GENDER_NAME[4] = {"female", "male", "other", "empty"};

/* membership */
#define MEMBER_SHARE 0.85
#define NOPURCHASE_SHARE 0.05      /* per customer: one more member who never buys */
#define REG_LEAD_DAYS 30.0          /* registration 0..30 days before the first purchase */
#define BIRTH_EMPTY 0.05
#define AGE_MIN 18.0
#define AGE_SPAN 67.0               /* age at registration 18 + 67 Beta(2, 2.6) */
#define OPT_EMAIL 0.62
#define OPT_SMS 0.28
static const double GENDER_P[4] = {0.52, 0.42, 0.02, 0.04};
static const char *const PC_AREA[6] = {"NG", "LE", "DE", "NN", "CV", "MK"};
static const char PC_UNIT[] = "ABDEFGHJLNPQRSTUWXYZ";

/* sessions and events */
#define SESSION_ID_SHARE 0.70
#define LOGIN_SHARE 0.80            /* members' browse sessions after registration logged in */
#define PUSH_SHARE 0.25             /* logged-in app sessions opened from a push message */
#define BROWSE_LEAD_DAYS 5.0        /* browse sessions precede their basket by Exp(5 days) */
#define STORE_VISIT_SHARE 0.15      /* browse sessions that are in-store Wi-Fi visits */
#define DISCOVERY_SESSIONS 1.2      /* anonymous sessions in the 45 days before registration */
#define DISCOVERY_DAYS 45.0
#define TAIL_SESSIONS 1.5           /* sessions after the dropout purchase, Exp(20 days) */
#define TAIL_DAYS 20.0
#define NOPURCHASE_SESSIONS 3.0     /* members without purchases: sessions in 180 days */
#define NOPURCHASE_DAYS 180.0
#define STEP_MIN_S 3.0              /* seconds between events of a session: 3 + Exp(40) */
#define STEP_MEAN_S 40.0
#define PRODUCT_VIEWS 1.5           /* browse: 1 + Poisson(1.5) product views */
#define EXTRA_VIEWS 1.0             /* purchase: Poisson(1) views beside the basket's items */
#define REMOVE_SHARE 0.2            /* cart sessions with a remove_from_cart */
#define COUPON_DAYS 45.0            /* members get a coupon every 45 days (Poisson) */
#define COUPON_AFTER_DROP_DAYS 60.0
#define COUPON_REDEEM 0.30
#define COUPON_VALID_DAYS 30.0
static const double BROWSE_PER_BASKET[RTN_GEN_N_ARCHETYPES] = {5.5, 3.5, 7.0, 4.0, 10.0};
/* browse (non-purchase) session stage probabilities by channel (in-store: visit only) */
static const double P_VIEW[3] = {0, 0.65, 0.70};      /* reaches product_view */
static const double P_CART[3] = {0, 0.22, 0.25};      /* add_to_cart | product_view (x mult) */
static const double P_CHECKOUT[3] = {0, 0.35, 0.40};  /* checkout_start | add_to_cart */
static const double CART_MULT[RTN_GEN_N_ARCHETYPES + 1] = {1.2, 1.0, 1.3, 0.7, 1.1, 0.8};
static const double PAGE_VIEWS[3] = {0, 3.0, 2.5};    /* extra page views, Poisson */
static const double SEARCHES[3] = {0, 0.7, 0.5};      /* searches, Poisson */

/* feedback */
#define FB_WINDOW_DAYS 90.0         /* the pre-dropout window (drop - 90 d, drop + 14 d] */
#define FB_AFTER_DAYS 14.0
#define NPS_RATE 0.60               /* NPS answers per 90 days */
#define CSAT_SHARE 0.07             /* baskets followed by a CSAT answer */
#define RATING_SHARE 0.05           /* online/app baskets followed by a product rating */
#define COMMENT_SHARE 0.5           /* survey answers with a comment (complaints: all) */
#define CONTACT_SHARE 0.2           /* comments with a (fake) name and phone / e-mail */
#define CONTACT_SHARE_COMPLAINT 0.35
static const double COMPLAINT_RATE[2] = {0.05, 0.60}; /* per 90 days: normal, window */
static const double TICKET_RATE[2] = {0.08, 0.20};
static const double NPS_BETA[2][2] = {{6.0, 1.6}, {2.5, 2.5}};   /* score = round(10 x) */
static const double CSAT_BETA[2][2] = {{5.0, 1.6}, {2.2, 2.2}};  /* score = 1 + round(4 x) */
static const double TOPIC_W[3][RTN_GEN_N_TOPICS] = {
    {0, .20, .25, .20, .10, .20, 0, .05}, /* in store */
    {.40, .15, 0, .20, .15, 0, 0, .10},   /* online */
    {.20, .10, 0, .10, .20, 0, .35, .05}}; /* app */

static const char *const NEG[RTN_GEN_N_TOPICS][3] = {
    {"Parcel arrived late, box was \"damaged\"", "Still waiting for my order, third time asking",
     "Courier left it outside in the rain"},
    {"Prices went up again, not worth it", "Charged twice for one item",
     "The \"sale\" price was higher than last week"},
    {"Staff at the till were rude, no apology", "Nobody on the floor to help, waited 20 minutes",
     "Security followed me around the shop"},
    {"Zip broke after a week, want a refund", "Item not as described, cheap material",
     "Food was cold, \"fresh\" my foot"},
    {"Self-checkout kept saying \"unexpected item\"",
     "Payment failed twice, then went through twice", "Queue of 15 people, only one till open"},
    {"Parking full again, gave up and went home",
     "Machine ate my ticket, had to pay the \"lost ticket\" fee",
     "Car park lifts out of order, again"},
    {"App crashes at checkout, lost my basket", "Can't log in, password reset never arrives",
     "Push messages every day, please stop"},
    {"Not what it used to be", "Toilets closed, no signs", "Too loud, too crowded, too hot"}};
static const char *const NEU[4] = {"OK, nothing special", "Fine, but queues at the weekend",
                                   "Average, some shops closed", "Decent, prices a bit high"};
static const char *const POS[5] = {"Great experience, will come back", "All good, thanks!",
                                   "Quick and easy, \"5 stars\"", "Lovely staff, very helpful",
                                   "Love the new food court, great choice"};
static const char *const FIRST[12] = {"Jane", "John",  "Priya",  "Mohammed", "Emma", "Oliver",
                                      "Sophie", "Liam", "Aisha", "Tom",      "Chloe", "Jack"};
static const char *const LAST[10] = {"Doe",   "Smith", "Patel",    "Khan",   "Jones",
                                     "Taylor", "Brown", "Williams", "Wilson", "Evans"};

const char *rtn_gen_acq_channel_name(int c)
{
    return c >= 0 && c < RTN_GEN_N_ACQ ? ACQ_NAME[c] : "?";
}
const char *rtn_gen_tier_name(int t) { return t >= 0 && t < RTN_GEN_N_TIERS ? TIER_NAME[t] : "?"; }
const char *rtn_gen_event_type_name(int e)
{
    return e >= 0 && e < RTN_GEN_N_EVENT_TYPES ? EV_NAME[e] : "?";
}
const char *rtn_gen_feedback_kind_name(int k)
{
    return k >= 0 && k < RTN_GEN_N_FB_KINDS ? FB_NAME[k] : "?";
}
const char *rtn_gen_topic_name(int t)
{
    return t >= 0 && t < RTN_GEN_N_TOPICS ? TOPIC_NAME[t] : "?";
}

/* Visitor ids: a bijection of 2 x index + device on 48 bits (xor, odd multiplications and
 * xor-shifts modulo 2^48), so two devices never share an id (indices < 2^46). */
static uint64_t visitor_id(uint64_t seed, uint64_t index, int dev)
{
    const uint64_t M = (1ULL << 48) - 1;
    uint64_t x = ((index << 1) | (uint64_t)dev) & M;
    x ^= rtn_mix64(seed ^ SALT_VISITOR) & M;
    x = (x * 0x9E3779B97F4BULL) & M;
    x ^= x >> 24;
    x = (x * 0xBF58476D1CE5ULL) & M;
    x ^= x >> 23;
    return x;
}

typedef struct {
    uint64_t id;                 /* member index (C%08u), also the session-id namespace */
    int member;                  /* has a membership */
    int64_t reg;                 /* registration time (members) */
    uint64_t vis[2];             /* web and app/phone device */
    uint32_t nsess;
    uint64_t sess_key;
    int fa;                      /* funnel row: archetype, or RTN_GEN_N_ARCHETYPES */
    const rtn_txn_block *blk;    /* purchase history for the products seen */
    size_t row0, row1;
    double app_share;            /* digital sessions in the app (rest: web) */
    size_t ev0;
    uint32_t seq;
} person;

#define OOM(what) rtn_fail(RTN_ERR_NOMEM, "out of memory generating %s", what)

static rtn_status ev_push(rtn_gen_work *w, person *p, int64_t time, int type, int ch,
                          int logged, int dev, int has_sid, uint64_t sid, int item, int cat)
{
    if (grow((void **)&w->er, &w->cer, w->ner + 1, sizeof *w->er)) return OOM("events");
    rtn_gen_event_row *e = &w->er[w->ner++];
    e->time = time;
    e->member = logged ? p->id : RTN_GEN_NONE;
    e->visitor = dev >= 0 ? p->vis[dev] : RTN_GEN_NONE;
    e->session = sid;
    e->has_session = (int8_t)has_sid;
    e->seq = p->seq++;
    e->item = (int16_t)item;
    e->category = (int8_t)cat;
    e->type = (int8_t)type;
    e->channel = (int8_t)ch;
    return RTN_OK;
}

static inline int64_t step(gsl_rng *r)
{
    return (int64_t)(STEP_MIN_S + gsl_ran_exponential(r, STEP_MEAN_S));
}

static uint64_t next_sid(person *p)
{
    uint64_t c = p->nsess++ & 0xfffff;
    return rtn_mix64(p->sess_key ^ (p->id << 20) ^ c);
}

static void pick_product(gsl_rng *r, const person *p, int *item, int *cat)
{
    if (p->row1 > p->row0) {
        size_t i = p->row0 + gsl_rng_uniform_int(r, (unsigned long)(p->row1 - p->row0));
        *item = p->blk->item[i];
        *cat = p->blk->category[i];
    } else {
        int c = (int)gsl_rng_uniform_int(r, RTN_GEN_N_CATEGORIES);
        double u = gsl_rng_uniform(r);
        *cat = c;
        *item = c * RTN_GEN_ITEMS_PER_CATEGORY + (int)(RTN_GEN_ITEMS_PER_CATEGORY * u * u);
    }
}

static void count_session(rtn_gen_c360_stats *st, const person *p, int ch, int stage,
                          int purchased, int has_sid)
{
    st->sessions++;
    st->sessions_with_id += (uint64_t)has_sid;
    for (int s = 0; s <= stage; s++) st->funnel[p->fa][ch][s]++;
    if (purchased) st->funnel[p->fa][ch][4]++;
}

/* A session that does not end in a purchase, starting at s: an in-store Wi-Fi visit, or a
 * web/app session that stops after browsing, with the cart, or at the checkout. Sessions
 * reaching past the window end are not observed (dropped whole). */
static rtn_status browse_session(rtn_gen_work *w, person *p, int64_t s, int ch,
                                 rtn_gen_c360_stats *st)
{
    gsl_rng *r = w->re;
    int logged = p->member && s >= p->reg && gsl_rng_uniform(r) < LOGIN_SHARE;
    int dev = ch == RTN_CHANNEL_ONLINE ? 0 : 1;
    int has_sid = gsl_rng_uniform(r) < SESSION_ID_SHARE;
    uint64_t sid = next_sid(p);
    size_t n0 = w->ner;
    int stage = 0, item = -1, cat = -1;
    int64_t t = s;
    if (ch == RTN_CHANNEL_STORE) {
        RTN_TRY(ev_push(w, p, t, RTN_EV_VISIT, ch, logged, dev, has_sid, sid, -1, -1));
    } else {
        int entry = ch == RTN_CHANNEL_ONLINE ? RTN_EV_VISIT
                    : (logged && gsl_rng_uniform(r) < PUSH_SHARE) ? RTN_EV_PUSH_OPEN
                                                                  : RTN_EV_APP_OPEN;
        RTN_TRY(ev_push(w, p, t, entry, ch, logged, dev, has_sid, sid, -1, -1));
        unsigned npv = gsl_ran_poisson(r, PAGE_VIEWS[ch]);
        for (unsigned k = 0; k < npv; k++)
            RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_PAGE_VIEW, ch, logged, dev, has_sid, sid,
                            -1, -1));
        unsigned ns = gsl_ran_poisson(r, SEARCHES[ch]);
        for (unsigned k = 0; k < ns; k++) {
            pick_product(r, p, &item, &cat);
            RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_SEARCH, ch, logged, dev, has_sid, sid, -1,
                            cat));
        }
        if (gsl_rng_uniform(r) < P_VIEW[ch]) {
            stage = 1;
            unsigned nv = 1 + gsl_ran_poisson(r, PRODUCT_VIEWS);
            for (unsigned k = 0; k < nv; k++) {
                pick_product(r, p, &item, &cat);
                RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_PRODUCT_VIEW, ch, logged, dev, has_sid,
                                sid, item, cat));
            }
            if (gsl_rng_uniform(r) < P_CART[ch] * CART_MULT[p->fa]) {
                stage = 2; /* the last product viewed goes into the cart */
                RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_ADD_TO_CART, ch, logged, dev, has_sid,
                                sid, item, cat));
                if (gsl_rng_uniform(r) < REMOVE_SHARE)
                    RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_REMOVE_FROM_CART, ch, logged, dev,
                                    has_sid, sid, item, cat));
                if (gsl_rng_uniform(r) < P_CHECKOUT[ch]) {
                    stage = 3;
                    RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_CHECKOUT_START, ch, logged, dev,
                                    has_sid, sid, -1, -1));
                }
            }
        }
    }
    if (t >= w->m->end) {
        w->ner = n0;
        return RTN_OK;
    }
    count_session(st, p, ch, stage, 0, has_sid);
    return RTN_OK;
}

/* The session of a basket: an in-store visit shortly before it, or the web/app funnel
 * entry -> page views -> product views of its items -> add_to_cart -> checkout_start ->
 * (coupon_redeemed) -> purchase at the basket time. */
static rtn_status basket_session(rtn_gen_work *w, person *p, const c360_basket *b, int coupon,
                                 rtn_gen_c360_stats *st)
{
    gsl_rng *r = w->re;
    int ch = b->chan, dev = ch == RTN_CHANNEL_ONLINE ? 0 : 1;
    int logged = p->member && b->time >= p->reg;
    int has_sid = gsl_rng_uniform(r) < SESSION_ID_SHARE;
    uint64_t sid = next_sid(p);
    if (ch == RTN_CHANNEL_STORE) {
        int64_t lead = 120 + (int64_t)gsl_rng_uniform_int(r, 3480);
        RTN_TRY(ev_push(w, p, b->time - lead, RTN_EV_VISIT, ch, logged, dev, has_sid, sid, -1,
                        -1));
        if (coupon)
            RTN_TRY(ev_push(w, p, b->time, RTN_EV_COUPON_REDEEMED, ch, logged, dev, has_sid, sid,
                            -1, -1));
        count_session(st, p, ch, 0, 1, has_sid);
        return RTN_OK;
    }
    size_t n0 = w->ner;
    int64_t t = 0; /* relative times, shifted to end at the basket time */
    int entry = ch == RTN_CHANNEL_ONLINE ? RTN_EV_VISIT
                : (logged && gsl_rng_uniform(r) < PUSH_SHARE) ? RTN_EV_PUSH_OPEN
                                                              : RTN_EV_APP_OPEN;
    int item = -1, cat = -1;
    RTN_TRY(ev_push(w, p, t, entry, ch, logged, dev, has_sid, sid, -1, -1));
    unsigned npv = gsl_ran_poisson(r, PAGE_VIEWS[ch]);
    for (unsigned k = 0; k < npv; k++)
        RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_PAGE_VIEW, ch, logged, dev, has_sid, sid, -1,
                        -1));
    unsigned ns = gsl_ran_poisson(r, SEARCHES[ch]);
    for (unsigned k = 0; k < ns; k++) {
        size_t line = b->row0 + gsl_rng_uniform_int(r, (unsigned long)b->nlines);
        RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_SEARCH, ch, logged, dev, has_sid, sid, -1,
                        p->blk->category[line]));
    }
    unsigned nx = gsl_ran_poisson(r, EXTRA_VIEWS);
    for (unsigned k = 0; k < nx; k++) {
        pick_product(r, p, &item, &cat);
        RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_PRODUCT_VIEW, ch, logged, dev, has_sid, sid,
                        item, cat));
    }
    if (nx && gsl_rng_uniform(r) < REMOVE_SHARE) { /* an extra item in and out of the cart */
        RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_ADD_TO_CART, ch, logged, dev, has_sid, sid,
                        item, cat));
        RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_REMOVE_FROM_CART, ch, logged, dev, has_sid,
                        sid, item, cat));
    }
    for (int32_t l = 0; l < b->nlines; l++) {
        size_t i = b->row0 + (size_t)l;
        int it = p->blk->item[i], ca = p->blk->category[i];
        unsigned nv = 1 + gsl_ran_poisson(r, 0.3);
        for (unsigned k = 0; k < nv; k++)
            RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_PRODUCT_VIEW, ch, logged, dev, has_sid, sid,
                            it, ca));
        RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_ADD_TO_CART, ch, logged, dev, has_sid, sid, it,
                        ca));
    }
    RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_CHECKOUT_START, ch, logged, dev, has_sid, sid, -1,
                    -1));
    if (coupon)
        RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_COUPON_REDEEMED, ch, logged, dev, has_sid, sid,
                        -1, -1));
    RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_PURCHASE, ch, logged, dev, has_sid, sid, -1, -1));
    int64_t shift = b->time - t;
    for (size_t i = n0; i < w->ner; i++) w->er[i].time += shift;
    count_session(st, p, ch, 3, 1, has_sid);
    return RTN_OK;
}

/* The first login: the registration session on the web or in the app links the device's
 * visitor id to the member id (no event for registrations at the store desk). */
static rtn_status registration_session(rtn_gen_work *w, person *p, int acq,
                                       rtn_gen_c360_stats *st)
{
    gsl_rng *r = w->re;
    if (acq == 0) return RTN_OK;
    int ch = acq == 1 ? RTN_CHANNEL_APP : RTN_CHANNEL_ONLINE, dev = ch == RTN_CHANNEL_APP;
    int has_sid = gsl_rng_uniform(r) < SESSION_ID_SHARE;
    uint64_t sid = next_sid(p);
    int64_t t = p->reg;
    RTN_TRY(ev_push(w, p, t, ch == RTN_CHANNEL_APP ? RTN_EV_APP_OPEN : RTN_EV_VISIT, ch, 1, dev,
                    has_sid, sid, -1, -1));
    RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_PAGE_VIEW, ch, 1, dev, has_sid, sid, -1, -1));
    RTN_TRY(ev_push(w, p, t += step(r), RTN_EV_PAGE_VIEW, ch, 1, dev, has_sid, sid, -1, -1));
    count_session(st, p, ch, 0, 0, has_sid);
    return RTN_OK;
}

static int digital_channel(gsl_rng *r, const person *p)
{
    return gsl_rng_uniform(r) < p->app_share ? RTN_CHANNEL_APP : RTN_CHANNEL_ONLINE;
}

static rtn_status discovery_sessions(rtn_gen_work *w, person *p, int64_t before,
                                     rtn_gen_c360_stats *st)
{
    gsl_rng *r = w->re;
    unsigned n = gsl_ran_poisson(r, DISCOVERY_SESSIONS);
    for (unsigned k = 0; k < n; k++) {
        int64_t s = before - 60 - (int64_t)(gsl_rng_uniform(r) * DISCOVERY_DAYS * DAY);
        RTN_TRY(browse_session(w, p, s, digital_channel(r, p), st));
    }
    return RTN_OK;
}

static int cmp_event(const void *x, const void *y)
{
    const rtn_gen_event_row *a = x, *b = y;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int cmp_feedback(const void *x, const void *y)
{
    const rtn_gen_feedback_row *a = x, *b = y;
    if (a->time != b->time) return a->time < b->time ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Sorts a person's events and counts them. */
static void finish_person(rtn_gen_work *w, person *p, rtn_gen_c360_stats *st)
{
    rtn_gen_event_row *e = w->er + p->ev0;
    size_t n = w->ner - p->ev0;
    if (n > 1) qsort(e, n, sizeof *e, cmp_event);
    int seen[2] = {0, 0}, linked[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        st->events_by_type[e[i].type]++;
        if (e[i].member == RTN_GEN_NONE) st->events_anonymous++;
        for (int d = 0; d < 2; d++)
            if (e[i].visitor == p->vis[d]) {
                seen[d] = 1;
                if (e[i].member != RTN_GEN_NONE) linked[d] = 1;
            }
    }
    st->visitors += (uint64_t)(seen[0] + seen[1]);
    st->visitors_linked += (uint64_t)(linked[0] + linked[1]);
    st->event_rows += n;
}

static void person_init(person *p, const rtn_gen_model *m, uint64_t id, const rtn_txn_block *blk,
                        size_t row0, size_t row1, size_t ev0)
{
    memset(p, 0, sizeof *p);
    p->id = id;
    p->vis[0] = visitor_id(m->p.seed, id, 0);
    p->vis[1] = visitor_id(m->p.seed, id, 1);
    p->sess_key = rtn_mix64(m->p.seed ^ SALT_SESSION);
    p->blk = blk;
    p->row0 = row0;
    p->row1 = row1;
    p->ev0 = ev0;
}

/* Profile fields of a member row (stream M, fixed number of draws). */
static void draw_profile(gsl_rng *r, rtn_gen_member_row *row)
{
    double ue = gsl_rng_uniform(r), age = AGE_MIN + AGE_SPAN * gsl_ran_beta(r, 2.0, 2.6);
    double ud = gsl_rng_uniform(r);
    int64_t reg_day = floor_div(row->registered_at, 86400);
    int64_t bd = reg_day - (int64_t)(age * 365.2425) - (int64_t)(ud * 365.0);
    /* age at registration stays within 18..85 */
    int64_t youngest = reg_day - (int64_t)(AGE_MIN * 365.2425);
    if (bd > youngest) bd = youngest - 1;
    row->birth_day = ue < BIRTH_EMPTY ? INT32_MIN : (int32_t)bd;
    double ug = gsl_rng_uniform(r), c = 0;
    row->gender = 3;
    for (int g = 0; g < 4; g++)
        if (ug < (c += GENDER_P[g])) {
            row->gender = (int8_t)g;
            break;
        }
    int area = (int)gsl_rng_uniform_int(r, 6), district = 1 + (int)gsl_rng_uniform_int(r, 19);
    int sector = (int)gsl_rng_uniform_int(r, 10);
    int u1 = (int)gsl_rng_uniform_int(r, sizeof PC_UNIT - 1);
    int u2 = (int)gsl_rng_uniform_int(r, sizeof PC_UNIT - 1);
    char *pc = row->postcode; /* e.g. "NG7 2RD", "LE15 9AB" */
    *pc++ = PC_AREA[area][0];
    *pc++ = PC_AREA[area][1];
    if (district >= 10) *pc++ = (char)('0' + district / 10);
    *pc++ = (char)('0' + district % 10);
    *pc++ = ' ';
    *pc++ = (char)('0' + sector);
    *pc++ = PC_UNIT[u1];
    *pc++ = PC_UNIT[u2];
    *pc = 0;
    row->opt_in_email = gsl_rng_uniform(r) < OPT_EMAIL;
    row->opt_in_sms = gsl_rng_uniform(r) < OPT_SMS;
}

static int pick_acq(gsl_rng *r, const double *p)
{
    double u = gsl_rng_uniform(r), c = 0;
    for (int k = 0; k < RTN_GEN_N_ACQ - 1; k++)
        if (u < (c += p[k])) return k;
    return RTN_GEN_N_ACQ - 1;
}

static rtn_status push_member(rtn_gen_work *w, const rtn_gen_member_row *row)
{
    if (grow((void **)&w->mr, &w->cmr, w->nmr + 1, sizeof *w->mr)) return OOM("members");
    w->mr[w->nmr++] = *row;
    return RTN_OK;
}

static void make_comment(gsl_rng *r, char *buf, int polarity, int topic, double contact)
{
    const char *text;
    if (polarity < 0)
        text = NEG[topic][gsl_rng_uniform_int(r, 3)];
    else if (polarity == 0)
        text = NEU[gsl_rng_uniform_int(r, 4)];
    else
        text = POS[gsl_rng_uniform_int(r, 5)];
    if (gsl_rng_uniform(r) >= contact) {
        snprintf(buf, RTN_GEN_COMMENT_MAX, "%s", text);
        return;
    }
    const char *f = FIRST[gsl_rng_uniform_int(r, 12)], *l = LAST[gsl_rng_uniform_int(r, 10)];
    unsigned phone = (unsigned)gsl_rng_uniform_int(r, 1000);
    unsigned form = (unsigned)gsl_rng_uniform_int(r, 3);
    if (form == 0)
        snprintf(buf, RTN_GEN_COMMENT_MAX, "%s. Call me, %s %s 07700 900%03u", text, f, l, phone);
    else if (form == 1) {
        char lf[16], ll[16];
        size_t i;
        for (i = 0; f[i] && i < sizeof lf - 1; i++) lf[i] = (char)(f[i] | 0x20);
        lf[i] = 0;
        for (i = 0; l[i] && i < sizeof ll - 1; i++) ll[i] = (char)(l[i] | 0x20);
        ll[i] = 0;
        snprintf(buf, RTN_GEN_COMMENT_MAX, "%s - please email %s.%s@example.com", text, lf, ll);
    } else
        snprintf(buf, RTN_GEN_COMMENT_MAX, "%s (%s %s, tel 07700 900%03u)", text, f, l, phone);
}

static int pick_topic(gsl_rng *r, int ch)
{
    double u = gsl_rng_uniform(r), c = 0;
    for (int k = 0; k < RTN_GEN_N_TOPICS - 1; k++)
        if (u < (c += TOPIC_W[ch][k])) return k;
    return TP_OTHER;
}

typedef struct {
    int has_drop, alive;
    int64_t w0, w1;      /* pre-dropout window (w0, w1] */
} fbctx;

static rtn_status push_feedback(rtn_gen_work *w, const person *p, const fbctx *fc, int kind,
                                int64_t time, int ch, uint32_t *seq)
{
    gsl_rng *r = w->rf;
    if (grow((void **)&w->fr, &w->cfr, w->nfr + 1, sizeof *w->fr)) return OOM("feedback");
    rtn_gen_feedback_row *f = &w->fr[w->nfr++];
    int inw = fc->has_drop && time > fc->w0 && time <= fc->w1;
    f->member = p->id;
    f->time = time;
    f->kind = (int8_t)kind;
    f->channel = (int8_t)ch;
    f->seq = (*seq)++;
    int pol = 0, topic;
    double cshare = COMMENT_SHARE, contact = CONTACT_SHARE;
    switch (kind) {
    case RTN_FB_NPS:
        f->score = (int8_t)lround(10.0 * gsl_ran_beta(r, NPS_BETA[inw][0], NPS_BETA[inw][1]));
        pol = f->score <= 6 ? -1 : f->score >= 9 ? 1 : 0;
        topic = gsl_rng_uniform(r) < 0.5 ? TP_OTHER : pick_topic(r, ch);
        break;
    case RTN_FB_CSAT:
    case RTN_FB_RATING:
        f->score =
            (int8_t)(1 + lround(4.0 * gsl_ran_beta(r, CSAT_BETA[inw][0], CSAT_BETA[inw][1])));
        pol = f->score <= 2 ? -1 : f->score >= 4 ? 1 : 0;
        topic = kind == RTN_FB_RATING ? TP_QUALITY : pick_topic(r, ch);
        break;
    default:
        f->score = -1;
        pol = kind == RTN_FB_COMPLAINT || gsl_rng_uniform(r) < 0.5 ? -1 : 0;
        topic = pick_topic(r, ch);
        cshare = 1.0;
        contact = CONTACT_SHARE_COMPLAINT;
    }
    f->topic = (int8_t)topic;
    f->comment[0] = 0;
    if (gsl_rng_uniform(r) < cshare) make_comment(r, f->comment, pol, topic, contact);
    return RTN_OK;
}

/* Feedback of a member with purchases (stream F): complaints, tickets and NPS answers as
 * Poisson processes whose rates (and scores) change in the pre-dropout window, plus CSAT
 * answers and product ratings after baskets. */
static rtn_status feedback(rtn_gen_work *w, const person *p, const rtn_gen_truth *t,
                           rtn_gen_c360_stats *st)
{
    const rtn_gen_model *m = w->m;
    gsl_rng *r = w->rf;
    fbctx fc = {.has_drop = t->dropout_time >= 0, .alive = t->alive_at_end};
    fc.w0 = fc.has_drop ? t->dropout_time - (int64_t)(FB_WINDOW_DAYS * DAY) : INT64_MAX;
    fc.w1 = fc.has_drop ? t->dropout_time + (int64_t)(FB_AFTER_DAYS * DAY) : INT64_MAX;
    int64_t fs = p->reg > m->p.start ? p->reg : m->p.start;
    int64_t fe = fc.has_drop && fc.w1 < m->end ? fc.w1 : m->end;
    size_t f0 = w->nfr;
    uint32_t seq = 0;
    if (fs < fe) {
        /* segments [fs, w0] at the normal rates and (w0, fe) at the window rates */
        int64_t cut = fc.w0 < fs ? fs : fc.w0 > fe ? fe : fc.w0;
        int64_t sa[2] = {fs, cut}, sb[2] = {cut, fe};
        for (int kind = 0; kind < 3; kind++) {
            for (int g = 0; g < 2; g++) {
                double len = (double)(sb[g] - sa[g]);
                if (len <= 0) continue;
                double rate = kind == 0 ? COMPLAINT_RATE[g] : kind == 1 ? TICKET_RATE[g] : NPS_RATE;
                unsigned n = gsl_ran_poisson(r, rate * len / (FB_WINDOW_DAYS * DAY));
                for (unsigned k = 0; k < n; k++) {
                    int64_t time = sa[g] + (int64_t)(gsl_rng_uniform(r) * len);
                    if (g == 1 && time == sa[g]) time++;
                    int ch = w->cb[gsl_rng_uniform_int(r, (unsigned long)w->ncb)].chan;
                    int fk = kind == 0 ? RTN_FB_COMPLAINT : kind == 1 ? RTN_FB_TICKET : RTN_FB_NPS;
                    if (time < fe) RTN_TRY(push_feedback(w, p, &fc, fk, time, ch, &seq));
                }
            }
        }
        for (size_t k = 0; k < w->ncb; k++) {
            const c360_basket *b = &w->cb[k];
            if (gsl_rng_uniform(r) < CSAT_SHARE) {
                int64_t time = b->time + 3600 + (int64_t)gsl_rng_uniform_int(r, 47 * 3600);
                if (time >= fs && time < fe)
                    RTN_TRY(push_feedback(w, p, &fc, RTN_FB_CSAT, time, b->chan, &seq));
            }
            if (b->chan != RTN_CHANNEL_STORE && gsl_rng_uniform(r) < RATING_SHARE) {
                int64_t time = b->time + 86400 + (int64_t)gsl_rng_uniform_int(r, 13 * 86400);
                if (time >= fs && time < fe)
                    RTN_TRY(push_feedback(w, p, &fc, RTN_FB_RATING, time, b->chan, &seq));
            }
        }
    }
    rtn_gen_feedback_row *f = w->fr + f0;
    size_t n = w->nfr - f0;
    if (n > 1) qsort(f, n, sizeof *f, cmp_feedback);
    /* realized rates */
    int64_t ref = fc.alive ? m->end : t->dropout_time, r0 = ref - (int64_t)(FB_WINDOW_DAYS * DAY);
    int flagged = 0;
    for (size_t i = 0; i < n; i++) {
        int inw = fc.has_drop && f[i].time > fc.w0 && f[i].time <= fc.w1;
        int g = fc.alive ? 0 : inw ? 1 : 2;
        st->fb_by_kind[f[i].kind]++;
        if (f[i].kind == RTN_FB_NPS) {
            st->fb_nps_n[g]++;
            st->fb_nps_sum[g] += (uint64_t)f[i].score;
            st->fb_nps_detractors[g] += f[i].score <= 6;
            st->fb_nps_promoters[g] += f[i].score >= 9;
        } else if (f[i].kind == RTN_FB_CSAT) {
            st->fb_csat_n[g]++;
            st->fb_csat_sum[g] += (uint64_t)f[i].score;
        } else if (f[i].kind == RTN_FB_COMPLAINT) {
            st->fb_complaints[g]++;
        } else if (f[i].kind == RTN_FB_TICKET) {
            st->fb_tickets[g]++;
        }
        if (f[i].time > r0 && f[i].time <= ref &&
            (f[i].kind == RTN_FB_COMPLAINT || (f[i].kind == RTN_FB_NPS && f[i].score <= 6)))
            flagged = 1;
    }
    if (fs < fe) {
        uint64_t total = (uint64_t)(fe - fs);
        if (fc.alive) {
            st->fb_exposure_s[0] += total;
        } else {
            int64_t a = fc.w0 > fs ? fc.w0 : fs, b = fc.w1 < fe ? fc.w1 : fe;
            uint64_t in = b > a ? (uint64_t)(b - a) : 0;
            st->fb_exposure_s[1] += in;
            st->fb_exposure_s[2] += total - in;
        }
    }
    st->last90_members[fc.alive ? 0 : 1]++;
    st->last90_flagged[fc.alive ? 0 : 1] += (uint64_t)flagged;
    st->feedback_rows += n;
    return RTN_OK;
}

rtn_status rtn_gen_c360_customer(rtn_gen_work *w, const rtn_gen_truth *t,
                                 const rtn_txn_block *blk, size_t row0, rtn_gen_c360 *out,
                                 rtn_gen_c360_stats *st)
{
    const rtn_gen_model *m = w->m;
    const uint64_t index = t->index, N = m->p.n_customers;
    size_t row1 = blk->n;
    w->nmr = w->ner = w->nfr = w->ncb = w->ncp = 0;
    memset(out, 0, sizeof *out);
    st->customers++;

    /* the customer's baskets (sale lines of one basket are consecutive in its rows) */
    unsigned n_dig[3] = {0, 0, 0};
    for (size_t i = row0; i < row1; i++) {
        if (blk->basket[i] >> 63) continue;
        if (w->ncb && blk->basket[w->cb[w->ncb - 1].row0] == blk->basket[i]) {
            w->cb[w->ncb - 1].nlines++;
            w->cb[w->ncb - 1].cents += blk->amount[i];
            continue;
        }
        if (grow((void **)&w->cb, &w->ccb, w->ncb + 1, sizeof *w->cb)) return OOM("baskets");
        w->cb[w->ncb++] = (c360_basket){blk->time[i], blk->amount[i], i, 1, blk->channel[i]};
        n_dig[blk->channel[i]]++;
    }
    if (w->ncb == 0)
        return rtn_fail(RTN_ERR_INTERNAL, "generator: customer %llu has no basket",
                        (unsigned long long)index);

    /* ---- stream M: membership, acquisition channel, profile, tier history */
    gsl_rng *r = w->rm;
    gsl_rng_set(r, (unsigned long)stream_seed(m->p.seed, SALT_M, index));
    int member = gsl_rng_uniform(r) < MEMBER_SHARE;
    int acq = pick_acq(r, t->alive_at_end ? ACQ_STAY : ACQ_DROP);
    rtn_gen_member_row mrow;
    memset(&mrow, 0, sizeof mrow);
    mrow.member = index;
    mrow.acq_channel = (int8_t)acq;
    mrow.registered_at = t->acquisition_time - (int64_t)(gsl_rng_uniform(r) * REG_LEAD_DAYS * DAY);
    mrow.updated_at = mrow.registered_at;
    draw_profile(r, &mrow);
    int nopurchase = gsl_rng_uniform(r) < NOPURCHASE_SHARE;
    rtn_gen_member_row nrow;
    memset(&nrow, 0, sizeof nrow);
    if (nopurchase) {
        nrow.member = N + index;
        nrow.acq_channel = (int8_t)pick_acq(r, ACQ_DROP);
        nrow.registered_at =
            m->p.start + (int64_t)(gsl_rng_uniform(r) * (double)(m->end - m->p.start));
        nrow.updated_at = nrow.registered_at;
        draw_profile(r, &nrow);
    }
    if (member) {
        RTN_TRY(push_member(w, &mrow));
        int64_t cum = 0;
        int tier = 0;
        for (size_t k = 0; k < w->ncb; k++) {
            cum += w->cb[k].cents;
            int nt = tier;
            while (nt < RTN_GEN_N_TIERS - 1 && cum >= TIER_CENTS[nt + 1]) nt++;
            if (nt > tier) {
                tier = nt;
                rtn_gen_member_row x = mrow;
                x.tier = (int8_t)tier;
                x.updated_at = w->cb[k].time;
                x.points = cum / 100;
                RTN_TRY(push_member(w, &x));
                st->tier_changes++;
            }
        }
        st->members++;
        st->tier_final[tier]++;
        if (t->alive_at_end)
            st->acq_stay[acq]++;
        else
            st->acq_drop[acq]++;
    }
    if (nopurchase) {
        RTN_TRY(push_member(w, &nrow));
        st->members_nopurchase++;
    }
    st->member_rows += w->nmr;

    /* ---- stream E: sessions and events */
    r = w->re;
    gsl_rng_set(r, (unsigned long)stream_seed(m->p.seed, SALT_E, index));
    person p;
    person_init(&p, m, index, blk, row0, row1, 0);
    p.member = member;
    p.reg = mrow.registered_at;
    p.fa = t->archetype;
    p.app_share = (n_dig[RTN_CHANNEL_APP] + 0.5) /
                  (n_dig[RTN_CHANNEL_ONLINE] + n_dig[RTN_CHANNEL_APP] + 1.0);
    RTN_TRY(discovery_sessions(w, &p, member ? p.reg : t->acquisition_time, st));
    if (member) {
        RTN_TRY(registration_session(w, &p, acq, st));
        /* coupons: a Poisson process while the member is engaged */
        int64_t cs = p.reg > m->p.start ? p.reg : m->p.start, ce = m->end;
        if (t->dropout_time >= 0 && t->dropout_time + (int64_t)(COUPON_AFTER_DROP_DAYS * DAY) < ce)
            ce = t->dropout_time + (int64_t)(COUPON_AFTER_DROP_DAYS * DAY);
        double tc = (double)cs;
        for (;;) {
            tc += gsl_ran_exponential(r, COUPON_DAYS * DAY);
            if (tc >= (double)ce) break;
            if (grow((void **)&w->cp, &w->ccp, w->ncp + 1, sizeof *w->cp)) return OOM("coupons");
            c360_coupon *c = &w->cp[w->ncp++];
            c->time = (int64_t)tc;
            c->redeem = gsl_rng_uniform(r) < COUPON_REDEEM;
            c->used = 0;
            int item, cat;
            pick_product(r, &p, &item, &cat);
            RTN_TRY(ev_push(w, &p, c->time, RTN_EV_COUPON_ISSUED,
                            p.app_share > 0.5 ? RTN_CHANNEL_APP : RTN_CHANNEL_ONLINE, 1, -1, 0, 0,
                            -1, cat));
            st->coupons_issued++;
        }
    }
    for (size_t k = 0; k < w->ncb; k++) {
        const c360_basket *b = &w->cb[k];
        unsigned nb = gsl_ran_poisson(r, BROWSE_PER_BASKET[t->archetype]);
        for (unsigned j = 0; j < nb; j++) {
            int64_t s = b->time - 60 - (int64_t)gsl_ran_exponential(r, BROWSE_LEAD_DAYS * DAY);
            int ch = gsl_rng_uniform(r) < STORE_VISIT_SHARE ? RTN_CHANNEL_STORE
                                                             : digital_channel(r, &p);
            RTN_TRY(browse_session(w, &p, s, ch, st));
        }
        int coupon = 0;
        for (size_t c = 0; c < w->ncp; c++) {
            c360_coupon *cp = &w->cp[c];
            if (!cp->used && cp->redeem && cp->time < b->time &&
                b->time <= cp->time + (int64_t)(COUPON_VALID_DAYS * DAY)) {
                cp->used = 1;
                coupon = 1;
                st->coupons_redeemed++;
                break;
            }
        }
        RTN_TRY(basket_session(w, &p, b, coupon, st));
    }
    if (t->dropout_time >= 0) {
        unsigned n = gsl_ran_poisson(r, TAIL_SESSIONS);
        for (unsigned j = 0; j < n; j++) {
            int64_t s = t->dropout_time + 60 + (int64_t)gsl_ran_exponential(r, TAIL_DAYS * DAY);
            RTN_TRY(browse_session(w, &p, s, digital_channel(r, &p), st));
        }
    }
    finish_person(w, &p, st);
    if (nopurchase) {
        person q;
        person_init(&q, m, N + index, blk, row0, row0, w->ner);
        q.member = 1;
        q.reg = nrow.registered_at;
        q.fa = RTN_GEN_N_ARCHETYPES;
        q.app_share = 0.5;
        RTN_TRY(discovery_sessions(w, &q, q.reg, st));
        RTN_TRY(registration_session(w, &q, nrow.acq_channel, st));
        unsigned n = gsl_ran_poisson(r, NOPURCHASE_SESSIONS);
        for (unsigned j = 0; j < n; j++) {
            int64_t s = q.reg + 60 + (int64_t)(gsl_rng_uniform(r) * NOPURCHASE_DAYS * DAY);
            RTN_TRY(browse_session(w, &q, s, digital_channel(r, &q), st));
        }
        finish_person(w, &q, st);
    }

    /* ---- stream F: feedback of the member */
    if (member) {
        gsl_rng_set(w->rf, (unsigned long)stream_seed(m->p.seed, SALT_F, index));
        RTN_TRY(feedback(w, &p, t, st));
    }
    out->members = w->mr;
    out->n_members = w->nmr;
    out->events = w->er;
    out->n_events = w->ner;
    out->feedback = w->fr;
    out->n_feedback = w->nfr;
    return RTN_OK;
}

/* ---- the truth summary */

#define JI(x) json_integer((json_int_t)(x))
#define SET json_object_set_new

static json_t *ratio(uint64_t a, uint64_t b)
{
    return b ? json_real((double)a / (double)b) : json_null();
}

static json_t *obj_of(const char *const *names, const double *v, int n)
{
    json_t *o = json_object();
    for (int i = 0; i < n; i++) SET(o, names[i], json_real(v[i]));
    return o;
}

static json_t *count_obj(const char *const *names, const uint64_t *v, int n)
{
    json_t *o = json_object();
    for (int i = 0; i < n; i++) SET(o, names[i], JI(v[i]));
    return o;
}

static json_t *funnel_obj(const uint64_t f[3][5], int ch)
{
    static const char *const STAGE[5] = {"sessions", "product_view", "add_to_cart",
                                         "checkout_start", "purchase"};
    json_t *o = json_object();
    if (ch == RTN_CHANNEL_STORE) {
        SET(o, "sessions", JI(f[ch][0]));
        SET(o, "purchase", JI(f[ch][4]));
        SET(o, "rate_purchase", ratio(f[ch][4], f[ch][0]));
        return o;
    }
    for (int s = 0; s < 5; s++) SET(o, STAGE[s], JI(f[ch][s]));
    for (int s = 1; s < 5; s++) {
        char k[64];
        snprintf(k, sizeof k, "rate_%s", STAGE[s]); /* reached stage s given stage s-1 */
        SET(o, k, ratio(f[ch][s], f[ch][s - 1]));
    }
    return o;
}

static json_t *fb_group(const rtn_gen_c360_stats *s, int g)
{
    json_t *o = json_object();
    double per90 = s->fb_exposure_s[g] / (FB_WINDOW_DAYS * DAY);
    SET(o, "exposure_days", json_real(s->fb_exposure_s[g] / DAY));
    SET(o, "nps_answers", JI(s->fb_nps_n[g]));
    SET(o, "mean_nps", ratio(s->fb_nps_sum[g], s->fb_nps_n[g]));
    SET(o, "nps_detractor_share", ratio(s->fb_nps_detractors[g], s->fb_nps_n[g]));
    SET(o, "nps_promoter_share", ratio(s->fb_nps_promoters[g], s->fb_nps_n[g]));
    SET(o, "csat_answers", JI(s->fb_csat_n[g]));
    SET(o, "mean_csat", ratio(s->fb_csat_sum[g], s->fb_csat_n[g]));
    SET(o, "complaints", JI(s->fb_complaints[g]));
    SET(o, "tickets", JI(s->fb_tickets[g]));
    SET(o, "complaints_per_90_days",
                        per90 > 0 ? json_real(s->fb_complaints[g] / per90) : json_null());
    SET(o, "tickets_per_90_days",
                        per90 > 0 ? json_real(s->fb_tickets[g] / per90) : json_null());
    return o;
}

json_t *rtn_gen_c360_describe(const rtn_gen_model *m, const rtn_gen_c360_stats *s)
{
    (void)m;
    json_t *o = json_object();
    SET(o, "version", json_integer(RTN_GEN_C360_VERSION));
    json_t *rows = json_object();
    SET(rows, "members", JI(s->member_rows));
    SET(rows, "events", JI(s->event_rows));
    SET(rows, "feedback", JI(s->feedback_rows));
    SET(o, "rows", rows);

    /* membership */
    json_t *mb = json_object();
    SET(mb, "member_share", json_real(MEMBER_SHARE));
    SET(mb, "members_without_purchases_share", json_real(NOPURCHASE_SHARE));
    SET(mb, "registration_lead_days_max", json_real(REG_LEAD_DAYS));
    json_t *th = json_array();
    for (int k = 1; k < RTN_GEN_N_TIERS; k++)
        json_array_append_new(th, json_real(TIER_CENTS[k] / 100.0));
    SET(mb, "tier_thresholds", th);
    SET(mb, "points_per_currency_unit", json_integer(1));
    SET(mb, "birth_date_empty_share", json_real(BIRTH_EMPTY));
    SET(mb, "gender_shares", obj_of(GENDER_NAME, GENDER_P, 4));
    SET(mb, "opt_in_email_share", json_real(OPT_EMAIL));
    SET(mb, "opt_in_sms_share", json_real(OPT_SMS));
    SET(mb, "customers", JI(s->customers));
    SET(mb, "members", JI(s->members));
    SET(mb, "members_without_purchases", JI(s->members_nopurchase));
    SET(mb, "realized_member_share", ratio(s->members, s->customers));
    SET(mb, "tier_changes", JI(s->tier_changes));
    SET(mb, "current_tier", count_obj(TIER_NAME, s->tier_final, RTN_GEN_N_TIERS));
    SET(o, "membership", mb);

    /* acquisition channel vs retention (members with purchases) */
    json_t *ac = json_array();
    uint64_t ts = 0, td = 0;
    for (int k = 0; k < RTN_GEN_N_ACQ; k++) {
        ts += s->acq_stay[k];
        td += s->acq_drop[k];
    }
    for (int k = 0; k < RTN_GEN_N_ACQ; k++) {
        json_t *x = json_object();
        SET(x, "channel", json_string(ACQ_NAME[k]));
        SET(x, "p_given_alive", json_real(ACQ_STAY[k]));
        SET(x, "p_given_dropped", json_real(ACQ_DROP[k]));
        SET(x, "members", JI(s->acq_stay[k] + s->acq_drop[k]));
        SET(x, "alive_at_end", JI(s->acq_stay[k]));
        SET(x, "retention", ratio(s->acq_stay[k], s->acq_stay[k] + s->acq_drop[k]));
        SET(x, "realized_p_given_alive", ratio(s->acq_stay[k], ts));
        SET(x, "realized_p_given_dropped", ratio(s->acq_drop[k], td));
        json_array_append_new(ac, x);
    }
    json_t *acw = json_object();
    SET(acw, "channels", ac);
    SET(acw, "retention_all_members", ratio(ts, ts + td));
    SET(o, "acquisition_channel", acw);

    /* events */
    json_t *ev = json_object();
    SET(ev, "session_id_share", json_real(SESSION_ID_SHARE));
    SET(ev, "login_share", json_real(LOGIN_SHARE));
    SET(ev, "push_share", json_real(PUSH_SHARE));
    const char *an[RTN_GEN_N_ARCHETYPES + 1];
    for (int a = 0; a < RTN_GEN_N_ARCHETYPES; a++) an[a] = ARCH[a].name;
    an[RTN_GEN_N_ARCHETYPES] = "member_without_purchases";
    SET(ev, "browse_sessions_per_basket", obj_of(an, BROWSE_PER_BASKET, RTN_GEN_N_ARCHETYPES));
    SET(ev, "browse_lead_days_mean", json_real(BROWSE_LEAD_DAYS));
    SET(ev, "store_visit_share", json_real(STORE_VISIT_SHARE));
    SET(ev, "discovery_sessions_mean", json_real(DISCOVERY_SESSIONS));
    SET(ev, "tail_sessions_mean", json_real(TAIL_SESSIONS));
    json_t *sp = json_object();
    for (int ch = 1; ch < 3; ch++) {
        json_t *x = json_object();
        SET(x, "product_view", json_real(P_VIEW[ch]));
        SET(x, "add_to_cart", json_real(P_CART[ch]));
        SET(x, "checkout_start", json_real(P_CHECKOUT[ch]));
        SET(sp, CHAN_NAME[ch], x);
    }
    SET(ev, "browse_stage_probabilities", sp);
    SET(ev, "add_to_cart_multiplier", obj_of(an, CART_MULT, RTN_GEN_N_ARCHETYPES + 1));
    SET(ev, "coupon_every_days", json_real(COUPON_DAYS));
    SET(ev, "coupon_redeem_share", json_real(COUPON_REDEEM));
    SET(ev, "coupon_valid_days", json_real(COUPON_VALID_DAYS));
    uint64_t tot[3][5];
    memset(tot, 0, sizeof tot);
    for (int a = 0; a <= RTN_GEN_N_ARCHETYPES; a++)
        for (int ch = 0; ch < 3; ch++)
            for (int k = 0; k < 5; k++) tot[ch][k] += s->funnel[a][ch][k];
    json_t *fu = json_object();
    for (int ch = 0; ch < 3; ch++)
        SET(fu, CHAN_NAME[ch], funnel_obj((const uint64_t(*)[5])tot, ch));
    json_t *fa = json_object();
    for (int a = 0; a <= RTN_GEN_N_ARCHETYPES; a++) {
        json_t *x = json_object();
        for (int ch = 0; ch < 3; ch++)
            SET(x, CHAN_NAME[ch], funnel_obj((const uint64_t(*)[5])s->funnel[a], ch));
        SET(fa, an[a], x);
    }
    SET(fu, "by_archetype", fa);
    SET(ev, "funnel", fu);
    SET(ev, "sessions", JI(s->sessions));
    SET(ev, "sessions_with_id", JI(s->sessions_with_id));
    SET(ev, "events_by_type", count_obj(EV_NAME, s->events_by_type, RTN_GEN_N_EVENT_TYPES));
    SET(ev, "anonymous_events", JI(s->events_anonymous));
    SET(ev, "visitors", JI(s->visitors));
    SET(ev, "visitors_linked", JI(s->visitors_linked));
    SET(ev, "coupons_issued", JI(s->coupons_issued));
    SET(ev, "coupons_redeemed", JI(s->coupons_redeemed));
    SET(o, "events", ev);

    /* feedback */
    json_t *fb = json_object();
    SET(fb, "window_days_before_dropout", json_real(FB_WINDOW_DAYS));
    SET(fb, "window_days_after_dropout", json_real(FB_AFTER_DAYS));
    json_t *pl = json_object();
    SET(pl, "complaints_per_90_days", json_pack("[ff]", COMPLAINT_RATE[0], COMPLAINT_RATE[1]));
    SET(pl, "tickets_per_90_days", json_pack("[ff]", TICKET_RATE[0], TICKET_RATE[1]));
    SET(pl, "nps_answers_per_90_days", json_real(NPS_RATE));
    SET(pl, "nps_beta", json_pack("[[ff][ff]]", NPS_BETA[0][0], NPS_BETA[0][1], NPS_BETA[1][0],
                                  NPS_BETA[1][1]));
    SET(pl, "csat_beta", json_pack("[[ff][ff]]", CSAT_BETA[0][0], CSAT_BETA[0][1], CSAT_BETA[1][0],
                                   CSAT_BETA[1][1]));
    SET(pl, "csat_share_of_baskets", json_real(CSAT_SHARE));
    SET(pl, "rating_share_of_online_baskets", json_real(RATING_SHARE));
    SET(pl, "comment_share", json_real(COMMENT_SHARE));
    SET(pl, "contact_share", json_real(CONTACT_SHARE));
    SET(pl, "contact_share_complaints", json_real(CONTACT_SHARE_COMPLAINT));
    SET(pl, "note", json_string("[outside, inside] the pre-dropout window"));
    SET(fb, "planted", pl);
    SET(fb, "stayers", fb_group(s, 0));
    SET(fb, "droppers_window", fb_group(s, 1));
    SET(fb, "droppers_outside_window", fb_group(s, 2));
    json_t *l9 = json_object();
    SET(l9, "stayers_members", JI(s->last90_members[0]));
    SET(l9, "stayers_flagged_share", ratio(s->last90_flagged[0], s->last90_members[0]));
    SET(l9, "droppers_members", JI(s->last90_members[1]));
    SET(l9, "droppers_flagged_share", ratio(s->last90_flagged[1], s->last90_members[1]));
    SET(fb, "complaint_or_detractor_last_90_days", l9);
    SET(fb, "by_kind", count_obj(FB_NAME, s->fb_by_kind, RTN_GEN_N_FB_KINDS));
    SET(o, "feedback", fb);
    return o;
}

#undef JI
#undef SET
