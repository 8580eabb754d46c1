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

struct rtn_gen_work {
    const rtn_gen_model *m;
    gsl_rng *ra, *rb;
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
    if (!w->ra || !w->rb) {
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
    qsort(w->sk, n, sizeof *w->sk, cmp_sortkey);
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
