/* BG/NBD and Gamma-Gamma maximum likelihood with deterministic bucket reductions, and the
 * CLV predictions built on them. Equations and numerics: docs/clv.md. */
#include "retain/clv.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_sf_gamma.h>
#include <gsl/gsl_sf_hyperg.h>
#include <gsl/gsl_sf_psi.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/log.h"

/* GSL reports errors through one process-wide handler (abort by default), yet its
 * hypergeometric function may decline an argument we then sum ourselves, and the optimizer
 * may step where a special function overflows. The handler is therefore off while any
 * thread is inside these calls: the first thread in switches it off, the last one out puts
 * back the handler it found. libretain scores one bundle from several threads at once, so a
 * per-call save/restore would race (a thread could "restore" another's "off" for good). */
static pthread_mutex_t gsl_quiet_lock = PTHREAD_MUTEX_INITIALIZER;
static long gsl_quiet_depth;
static gsl_error_handler_t *gsl_outer_handler;

static void gsl_quiet_enter(void)
{
    pthread_mutex_lock(&gsl_quiet_lock);
    if (gsl_quiet_depth++ == 0) gsl_outer_handler = gsl_set_error_handler_off();
    pthread_mutex_unlock(&gsl_quiet_lock);
}

static void gsl_quiet_leave(void)
{
    pthread_mutex_lock(&gsl_quiet_lock);
    if (--gsl_quiet_depth == 0) gsl_set_error_handler(gsl_outer_handler);
    pthread_mutex_unlock(&gsl_quiet_lock);
}

enum { MODEL_BG = 0, MODEL_GG = 1, MODEL_NBD = 2 };
#define KMAX 4
/* Per-x terms are tabulated up to this many distinct repeat counts; larger counts are
 * computed directly by the same function, so the bits never depend on the table size. */
#define XTAB_MAX 4096
#define BG_W 6 /* lg, dr, da, db, log(b+x-1), 1/(b+x-1) */
#define GG_W 4 /* lgq, dp, dq, log(x) */
#define NBD_W 2 /* lg, dr */

/* ---------------------------------------------------------------------------------
 * Per-customer terms
 * ------------------------------------------------------------------------------- */

static double sigmoid(double l)
{
    if (l >= 0) return 1.0 / (1.0 + exp(-l));
    double e = exp(l);
    return e / (1.0 + e);
}

/* Constants of a BG/NBD evaluation that do not depend on the customer. */
typedef struct {
    double r, alpha, a, b;
    double lgr, lgab_b, psir, psiab, psib, lnalpha, lna;
} bg_consts;

static void bg_consts_init(bg_consts *c, const double *P)
{
    c->r = P[0];
    c->alpha = P[1];
    c->a = P[2];
    c->b = P[3];
    c->lgr = gsl_sf_lngamma(c->r);
    c->lgab_b = gsl_sf_lngamma(c->a + c->b) - gsl_sf_lngamma(c->b);
    c->psir = gsl_sf_psi(c->r);
    c->psiab = gsl_sf_psi(c->a + c->b);
    c->psib = gsl_sf_psi(c->b);
    c->lnalpha = log(c->alpha);
    c->lna = log(c->a);
}

/* Terms that depend only on the repeat count x. */
static void bg_xterms(const bg_consts *c, double x, double *o)
{
    if (x == 0) {
        /* the gamma ratios of A1 and A2 cancel exactly at x = 0 */
        o[0] = o[1] = o[2] = o[3] = o[4] = o[5] = 0.0;
        return;
    }
    double rx = c->r + x, bx = c->b + x, abx = c->a + c->b + x;
    o[0] = gsl_sf_lngamma(rx) - c->lgr + c->lgab_b + gsl_sf_lngamma(bx) - gsl_sf_lngamma(abx);
    double psiabx = gsl_sf_psi(abx);
    o[1] = gsl_sf_psi(rx) - c->psir;
    o[2] = c->psiab - psiabx;
    o[3] = c->psiab + gsl_sf_psi(bx) - c->psib - psiabx;
    o[4] = log(bx - 1.0);
    o[5] = 1.0 / (bx - 1.0);
}

/* One customer's log-likelihood; adds d(LL)/d(r, alpha, a, b) to g when g != NULL. */
static double bg_one(const bg_consts *c, const double *xt, double x, double t_x, double T,
                     double *g)
{
    double r = c->r, alpha = c->alpha, rx = r + x;
    double aT = alpha + T, lat = log(aT);
    double ll = xt[0] + r * c->lnalpha - rx * lat;
    double gr = xt[1] + c->lnalpha - lat;
    double gal = r / alpha - rx / aT;
    double ga = xt[2], gb = xt[3];
    if (x > 0) {
        double atx = alpha + t_x, latx = log(atx);
        double l = c->lna - xt[4] + rx * (lat - latx);
        /* softplus(l) and sigmoid(l) from one exponential */
        double e = exp(-fabs(l));
        double w4 = l >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        ll += (l > 0 ? l : 0.0) + log1p(e);
        gr += w4 * (lat - latx);
        gal += w4 * rx * (1.0 / aT - 1.0 / atx);
        ga += w4 / c->a;
        gb -= w4 * xt[5];
    }
    if (g) {
        g[0] += gr;
        g[1] += gal;
        g[2] += ga;
        g[3] += gb;
    }
    return ll;
}

typedef struct {
    double p, q, gamma, lgq, psiq, lngamma;
} gg_consts;

static void gg_consts_init(gg_consts *c, const double *P)
{
    c->p = P[0];
    c->q = P[1];
    c->gamma = P[2];
    c->lgq = gsl_sf_lngamma(c->q);
    c->psiq = gsl_sf_psi(c->q);
    c->lngamma = log(c->gamma);
}

static void gg_xterms(const gg_consts *c, double x, double *o)
{
    if (x <= 0) {
        o[0] = o[1] = o[2] = o[3] = 0.0;
        return;
    }
    double px = c->p * x, pxq = px + c->q;
    double psipxq = gsl_sf_psi(pxq);
    o[0] = gsl_sf_lngamma(pxq) - gsl_sf_lngamma(px) - c->lgq;
    o[1] = psipxq - gsl_sf_psi(px);
    o[2] = psipxq - c->psiq;
    o[3] = log(x);
}

/* log f(mx | p, q, gamma, x): the density of the mean of x gamma spends. */
static double gg_one(const gg_consts *c, const double *xt, double x, double m, double *g)
{
    double px = c->p * x, pxq = px + c->q;
    double lm = log(m), gxm = c->gamma + x * m, lg = log(gxm);
    double ll = xt[0] + c->q * c->lngamma + (px - 1.0) * lm + px * xt[3] - pxq * lg;
    if (g) {
        g[0] += x * (xt[1] + lm + xt[3] - lg);
        g[1] += xt[2] + c->lngamma - lg;
        g[2] += c->q / c->gamma - pxq / gxm;
    }
    return ll;
}

/* The NBD model: the BG/NBD terms without A2 and A4 (no dropout). */
typedef struct {
    double r, alpha, lgr, psir, lnalpha;
} nbd_consts;

static void nbd_consts_init(nbd_consts *c, const double *P)
{
    c->r = P[0];
    c->alpha = P[1];
    c->lgr = gsl_sf_lngamma(c->r);
    c->psir = gsl_sf_psi(c->r);
    c->lnalpha = log(c->alpha);
}

static void nbd_xterms(const nbd_consts *c, double x, double *o)
{
    if (x == 0) {
        o[0] = o[1] = 0.0;
        return;
    }
    o[0] = gsl_sf_lngamma(c->r + x) - c->lgr;
    o[1] = gsl_sf_psi(c->r + x) - c->psir;
}

/* lnGamma(r+x) - lnGamma(r) + r log(alpha) - (r+x) log(alpha+T); t_x does not enter. */
static double nbd_one(const nbd_consts *c, const double *xt, double x, double T, double *g)
{
    double rx = c->r + x, aT = c->alpha + T, lat = log(aT);
    if (g) {
        g[0] += xt[1] + c->lnalpha - lat;
        g[1] += c->r / c->alpha - rx / aT;
    }
    return xt[0] + c->r * c->lnalpha - rx * lat;
}

/* ---------------------------------------------------------------------------------
 * Data validation and summary statistics (one deterministic pass)
 * ------------------------------------------------------------------------------- */

enum { S_N, S_SUMX, S_SUMT, S_NREP, S_NGG, S_SUMM, S_NEXCL, S_NSTAT };

static rtn_status check_layout(const rtn_clv_data *d)
{
    if (d->b0 > d->b1 || d->b1 > d->nbuckets || !d->boff)
        return rtn_fail(RTN_ERR_INTERNAL, "clv: bad bucket range [%u,%u) of %u", d->b0, d->b1,
                        d->nbuckets);
    if (d->boff[0] != 0 || d->boff[d->b1 - d->b0] != d->n)
        return rtn_fail(RTN_ERR_INTERNAL, "clv: bucket offsets cover %llu..%llu, expected 0..%zu",
                        (unsigned long long)d->boff[0],
                        (unsigned long long)d->boff[d->b1 - d->b0], d->n);
    for (uint32_t b = d->b0; b < d->b1; b++)
        if (d->boff[b - d->b0 + 1] < d->boff[b - d->b0])
            return rtn_fail(RTN_ERR_INTERNAL, "clv: bucket offsets decrease at bucket %u", b);
    if (d->n && (!d->x || !d->t_x || !d->T))
        return rtn_fail(RTN_ERR_INTERNAL, "clv: missing x, t_x or T column");
    return RTN_OK;
}

static rtn_status check_row(const rtn_clv_data *d, size_t i, int need_mx, int rank)
{
    double x = d->x[i], tx = d->t_x[i], T = d->T[i];
    if (!(isfinite(x) && x >= 0 && x == floor(x) && x < 1e15))
        return rtn_fail(RTN_ERR_DATA,
                        "clv: rank %d, local row %zu: repeat count x = %g is not a whole number >= 0",
                        rank, i, x);
    if (!(isfinite(T) && T >= 0))
        return rtn_fail(RTN_ERR_DATA, "clv: rank %d, local row %zu: T = %g is not >= 0", rank, i,
                        T);
    if (!(isfinite(tx) && tx >= 0 && tx <= T * (1 + 1e-12) + 1e-12))
        return rtn_fail(RTN_ERR_DATA,
                        "clv: rank %d, local row %zu: recency t_x = %g is outside [0, T = %g]",
                        rank, i, tx, T);
    if (need_mx && x > 0 && !isfinite(d->mx[i]))
        return rtn_fail(RTN_ERR_DATA,
                        "clv: rank %d, local row %zu: mean repeat spend %g is not finite", rank, i,
                        d->mx[i]);
    return RTN_OK;
}

/* Collective. stats receives the S_* sums on every rank. *xmax_local: largest local x. */
static rtn_status scan_data(MPI_Comm comm, const rtn_clv_data *d, int need_mx, double *stats,
                            double *xmax_local)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    rtn_status st = check_layout(d);
    if (st == RTN_OK && need_mx && d->n && !d->mx)
        st = rtn_fail(RTN_ERR_INTERNAL, "clv: the Gamma-Gamma model needs the mean spend column");
    for (size_t i = 0; st == RTN_OK && i < d->n; i++) st = check_row(d, i, need_mx, rank);
    st = rtn_agree(comm, st);
    if (st) return st;
    double part[S_NSTAT];
    double *parts = rtn_calloc((size_t)(d->b1 - d->b0) * S_NSTAT + 1, sizeof(double), "clv stats");
    st = rtn_agree(comm, parts ? RTN_OK : RTN_ERR_NOMEM);
    if (st) {
        free(parts);
        return st;
    }
    double xmax = 0;
    for (uint32_t b = d->b0; b < d->b1; b++) {
        memset(part, 0, sizeof part);
        for (uint64_t i = d->boff[b - d->b0]; i < d->boff[b - d->b0 + 1]; i++) {
            double x = d->x[i];
            part[S_N] += 1;
            part[S_SUMX] += x;
            part[S_SUMT] += d->T[i];
            if (x > xmax) xmax = x;
            if (x > 0) {
                part[S_NREP] += 1;
                if (need_mx) {
                    if (d->mx[i] > 0) {
                        part[S_NGG] += 1;
                        part[S_SUMM] += d->mx[i];
                    } else {
                        part[S_NEXCL] += 1;
                    }
                }
            }
        }
        memcpy(parts + (size_t)(b - d->b0) * S_NSTAT, part, sizeof part);
    }
    st = rtn_bucket_sum(comm, d->nbuckets, d->b0, d->b1, S_NSTAT, parts, stats);
    free(parts);
    *xmax_local = xmax;
    return st;
}

/* ---------------------------------------------------------------------------------
 * Objective: mean negative log-likelihood in log-parameters
 * ------------------------------------------------------------------------------- */

typedef struct {
    MPI_Comm comm;
    const rtn_clv_data *d;
    int model, k;
    rtn_breduce *red;
    double inv_n;
    size_t xcap;  /* table rows: x = 0 .. xcap-1 */
    double *tab;  /* xcap * width */
    rtn_status st;
    long nevals;
    int have_last;
    double last_th[KMAX], last_f, last_g[KMAX], last_ll;
} fit_ctx;

/* The per-evaluation constants of whichever model is being fitted. */
typedef struct {
    bg_consts bg;
    gg_consts gg;
    nbd_consts nbd;
} model_consts;

static int model_width(int model)
{
    return model == MODEL_BG ? BG_W : model == MODEL_NBD ? NBD_W : GG_W;
}

static int model_nparams(int model)
{
    return model == MODEL_BG ? 4 : model == MODEL_NBD ? 2 : 3;
}

static void model_consts_init(int model, model_consts *mc, const double *P)
{
    memset(mc, 0, sizeof *mc);
    if (model == MODEL_BG) bg_consts_init(&mc->bg, P);
    else if (model == MODEL_NBD) nbd_consts_init(&mc->nbd, P);
    else gg_consts_init(&mc->gg, P);
}

static void model_xterms(int model, const model_consts *mc, double x, double *o)
{
    if (model == MODEL_BG) bg_xterms(&mc->bg, x, o);
    else if (model == MODEL_NBD) nbd_xterms(&mc->nbd, x, o);
    else gg_xterms(&mc->gg, x, o);
}

/* Collective: total LL and its gradient with respect to the natural parameters. */
static rtn_status eval_sums(fit_ctx *c, const double *P, double *ll, double *grad)
{
    const rtn_clv_data *d = c->d;
    int k = c->k;
    double part[KMAX + 1], out[KMAX + 1], xt[BG_W];
    model_consts mc;
    int w = model_width(c->model);
    model_consts_init(c->model, &mc, P);
    for (size_t x = 0; x < c->xcap; x++) model_xterms(c->model, &mc, (double)x, c->tab + x * w);
    rtn_status st = RTN_OK;
    for (uint32_t b = d->b0; b < d->b1 && st == RTN_OK; b++) {
        memset(part, 0, sizeof part);
        for (uint64_t i = d->boff[b - d->b0]; i < d->boff[b - d->b0 + 1]; i++) {
            double x = d->x[i];
            const double *t = xt;
            if (x < (double)c->xcap) t = c->tab + (size_t)x * w;
            else model_xterms(c->model, &mc, x, xt);
            if (c->model == MODEL_BG) {
                part[0] += bg_one(&mc.bg, t, x, d->t_x[i], d->T[i], part + 1);
            } else if (c->model == MODEL_NBD) {
                part[0] += nbd_one(&mc.nbd, t, x, d->T[i], part + 1);
            } else {
                if (!(x > 0 && d->mx[i] > 0)) continue;
                part[0] += gg_one(&mc.gg, t, x, d->mx[i], part + 1);
            }
        }
        st = rtn_breduce_push(c->red, b, part);
    }
    st = rtn_agree(c->comm, st);
    if (st == RTN_OK) st = rtn_breduce_finish(c->red, out);
    if (st) return st;
    *ll = out[0];
    memcpy(grad, out + 1, (size_t)k * sizeof(double));
    c->nevals++;
    return RTN_OK;
}

/* f = -LL/N and its gradient in th = log(params); cached on the last point. */
static void objective(fit_ctx *c, const double *th, double *f, double *g)
{
    if (c->have_last && memcmp(th, c->last_th, (size_t)c->k * sizeof(double)) == 0) {
        if (f) *f = c->last_f;
        if (g) memcpy(g, c->last_g, (size_t)c->k * sizeof(double));
        return;
    }
    double P[KMAX], grad[KMAX], ll = NAN, ff = NAN, gg[KMAX];
    for (int j = 0; j < c->k; j++) P[j] = exp(th[j]);
    if (c->st == RTN_OK) c->st = eval_sums(c, P, &ll, grad);
    if (c->st == RTN_OK) {
        ff = -ll * c->inv_n;
        for (int j = 0; j < c->k; j++) gg[j] = -P[j] * grad[j] * c->inv_n;
    } else {
        for (int j = 0; j < c->k; j++) gg[j] = NAN;
    }
    memcpy(c->last_th, th, (size_t)c->k * sizeof(double));
    c->last_f = ff;
    c->last_ll = ll;
    memcpy(c->last_g, gg, sizeof gg);
    c->have_last = 1;
    if (f) *f = ff;
    if (g) memcpy(g, gg, (size_t)c->k * sizeof(double));
}

static void vec_to_arr(const gsl_vector *v, double *a, int k)
{
    for (int j = 0; j < k; j++) a[j] = gsl_vector_get(v, (size_t)j);
}

static double gsl_obj_f(const gsl_vector *v, void *p)
{
    fit_ctx *c = p;
    double th[KMAX], f;
    vec_to_arr(v, th, c->k);
    objective(c, th, &f, NULL);
    return f;
}

static void gsl_obj_df(const gsl_vector *v, void *p, gsl_vector *df)
{
    fit_ctx *c = p;
    double th[KMAX], g[KMAX];
    vec_to_arr(v, th, c->k);
    objective(c, th, NULL, g);
    for (int j = 0; j < c->k; j++) gsl_vector_set(df, (size_t)j, g[j]);
}

static void gsl_obj_fdf(const gsl_vector *v, void *p, double *f, gsl_vector *df)
{
    fit_ctx *c = p;
    double th[KMAX], g[KMAX];
    vec_to_arr(v, th, c->k);
    objective(c, th, f, g);
    for (int j = 0; j < c->k; j++) gsl_vector_set(df, (size_t)j, g[j]);
}

static double norm2(const double *g, int k)
{
    double s = 0;
    for (int j = 0; j < k; j++) s += g[j] * g[j];
    return sqrt(s);
}

/* Cholesky factorization and inverse of a small SPD matrix (k <= 4), in plain C so the
 * result does not depend on BLAS kernels. Returns 0 when not positive definite. */
static int spd_inverse(int k, const double *A, double *inv, double *L)
{
    memset(L, 0, sizeof(double) * (size_t)(k * k));
    for (int i = 0; i < k; i++)
        for (int j = 0; j <= i; j++) {
            double s = A[i * k + j];
            for (int m = 0; m < j; m++) s -= L[i * k + m] * L[j * k + m];
            if (i == j) {
                if (!(s > 0) || !isfinite(s)) return 0;
                L[i * k + i] = sqrt(s);
            } else {
                L[i * k + j] = s / L[j * k + j];
            }
        }
    /* Solve L L^T inv = I column by column. */
    for (int col = 0; col < k; col++) {
        double y[KMAX];
        for (int i = 0; i < k; i++) {
            double s = (i == col) ? 1.0 : 0.0;
            for (int m = 0; m < i; m++) s -= L[i * k + m] * y[m];
            y[i] = s / L[i * k + i];
        }
        for (int i = k - 1; i >= 0; i--) {
            double s = y[i];
            for (int m = i + 1; m < k; m++) s -= L[m * k + i] * inv[m * k + col];
            inv[i * k + col] = s / L[i * k + i];
        }
    }
    return 1;
}

/* Hessian of f (mean NLL) in log-parameters by central differences of the analytic
 * gradient, symmetrized. Collective (2k gradient evaluations). */
static rtn_status hessian(fit_ctx *c, const double *th, double h, double *H)
{
    int k = c->k;
    double tp[KMAX], gp[KMAX], gm[KMAX];
    for (int j = 0; j < k; j++) {
        memcpy(tp, th, sizeof(double) * (size_t)k);
        tp[j] = th[j] + h;
        objective(c, tp, NULL, gp);
        tp[j] = th[j] - h;
        objective(c, tp, NULL, gm);
        if (c->st) return c->st;
        for (int i = 0; i < k; i++) H[i * k + j] = (gp[i] - gm[i]) / (2 * h);
    }
    for (int i = 0; i < k; i++)
        for (int j = 0; j < i; j++) {
            double s = 0.5 * (H[i * k + j] + H[j * k + i]);
            H[i * k + j] = H[j * k + i] = s;
        }
    return RTN_OK;
}

typedef struct {
    double th[KMAX];
    double P[KMAX], se[KMAX], cov[KMAX * KMAX];
    double ll, gnorm;
    int iterations, converged, hessian_ok;
} fit_out;

/* The common driver: BFGS on log-parameters, then Newton polishing with the
 * finite-difference Hessian, then standard errors. Every rank runs it in lockstep on
 * identical reduced values. */
static rtn_status run_fit(fit_ctx *c, const double *th0, int max_iter, double gtol, double h,
                          double n_total, fit_out *o)
{
    int k = c->k;
    memset(o, 0, sizeof *o);
    gsl_multimin_function_fdf fdf = {gsl_obj_f, gsl_obj_df, gsl_obj_fdf, (size_t)k, c};
    gsl_vector *x0 = gsl_vector_alloc((size_t)k);
    gsl_multimin_fdfminimizer *s =
        gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, (size_t)k);
    rtn_status st = rtn_agree(c->comm, (x0 && s) ? RTN_OK
                                                 : rtn_fail(RTN_ERR_NOMEM, "clv: optimizer alloc"));
    if (st) {
        if (x0) gsl_vector_free(x0);
        if (s) gsl_multimin_fdfminimizer_free(s);
        return st;
    }
    gsl_quiet_enter();
    for (int j = 0; j < k; j++) gsl_vector_set(x0, (size_t)j, th0[j]);
    int gs = gsl_multimin_fdfminimizer_set(s, &fdf, x0, 0.1, 0.1);
    int iter = 0;
    double th[KMAX], g[KMAX], f;
    if (gs == GSL_SUCCESS && c->st == RTN_OK && isfinite(s->f)) {
        while (iter < max_iter) {
            iter++;
            gs = gsl_multimin_fdfminimizer_iterate(s);
            if (c->st || gs != GSL_SUCCESS) break;
            if (gsl_multimin_test_gradient(s->gradient, gtol) == GSL_SUCCESS) break;
        }
    }
    vec_to_arr(s->x, th, k);
    gsl_quiet_leave();
    gsl_multimin_fdfminimizer_free(s);
    gsl_vector_free(x0);
    if (c->st) return c->st;

    objective(c, th, &f, g);
    if (c->st) return c->st;
    if (!isfinite(f) || !isfinite(norm2(g, k)))
        return rtn_fail(RTN_ERR_NUMERIC,
                        "clv: optimizer reached a point where the likelihood is not finite");

    /* Newton polishing: BFGS stops when the mean NLL no longer decreases in double
     * precision, which can leave |g| above gtol; the gradient is still accurate, so a few
     * Newton steps with the finite-difference Hessian finish the job. */
    double H[KMAX * KMAX], Hinv[KMAX * KMAX], L[KMAX * KMAX];
    for (int it = 0; it < 8 && iter < max_iter && norm2(g, k) > gtol; it++) {
        RTN_TRY(hessian(c, th, h, H));
        if (!spd_inverse(k, H, Hinv, L)) break;
        double tn[KMAX], gn[KMAX], fn;
        for (int i = 0; i < k; i++) {
            double s2 = 0;
            for (int j = 0; j < k; j++) s2 += Hinv[i * k + j] * g[j];
            tn[i] = th[i] - s2;
        }
        objective(c, tn, &fn, gn);
        if (c->st) return c->st;
        if (!(isfinite(fn) && norm2(gn, k) < norm2(g, k) && fn <= f + 1e-12 * fabs(f))) break;
        memcpy(th, tn, sizeof th);
        memcpy(g, gn, sizeof g);
        f = fn;
        iter++;
    }
    o->gnorm = norm2(g, k);
    o->iterations = iter;
    o->converged = o->gnorm <= gtol;
    objective(c, th, &f, g);
    o->ll = c->last_ll;
    memcpy(o->th, th, sizeof th);
    for (int j = 0; j < k; j++) o->P[j] = exp(th[j]);

    /* Standard errors: covariance of log-parameters = inverse Hessian of the total NLL;
     * the delta method maps it to the natural parameters (exact at a stationary point). */
    RTN_TRY(hessian(c, th, h, H));
    for (int i = 0; i < k * k; i++) H[i] *= n_total;
    o->hessian_ok = spd_inverse(k, H, Hinv, L);
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++)
            o->cov[i * k + j] = o->hessian_ok ? o->P[i] * o->P[j] * Hinv[i * k + j] : NAN;
    for (int j = 0; j < k; j++) o->se[j] = o->hessian_ok ? sqrt(o->cov[j * k + j]) : NAN;
    return RTN_OK;
}

static rtn_status ctx_init(fit_ctx *c, MPI_Comm comm, const rtn_clv_data *d, int model,
                           double xmax_local, double n_total)
{
    memset(c, 0, sizeof *c);
    c->comm = comm;
    c->d = d;
    c->model = model;
    c->k = model_nparams(model);
    c->inv_n = 1.0 / n_total;
    c->xcap = (size_t)fmin(xmax_local + 1, XTAB_MAX);
    int w = model_width(model);
    c->tab = rtn_calloc(c->xcap * (size_t)w + 1, sizeof(double), "clv x table");
    rtn_status st = c->tab ? RTN_OK : RTN_ERR_NOMEM;
    if (st == RTN_OK)
        st = rtn_breduce_create(&c->red, comm, d->nbuckets, d->b0, d->b1, (size_t)c->k + 1);
    st = rtn_agree(comm, st);
    if (st) {
        free(c->tab);
        rtn_breduce_free(c->red);
        c->tab = NULL;
        c->red = NULL;
    }
    return st;
}

static void ctx_free(fit_ctx *c)
{
    free(c->tab);
    rtn_breduce_free(c->red);
    c->tab = NULL;
    c->red = NULL;
}

/* ---------------------------------------------------------------------------------
 * Public fitting API
 * ------------------------------------------------------------------------------- */

static int valid_bg(const rtn_bgnbd_params *p)
{
    return p && isfinite(p->r) && p->r > 0 && isfinite(p->alpha) && p->alpha > 0 &&
           isfinite(p->a) && p->a > 0 && isfinite(p->b) && p->b > 0;
}

static int valid_gg(const rtn_gg_params *p)
{
    return p && isfinite(p->p) && p->p > 0 && isfinite(p->q) && p->q > 0 &&
           isfinite(p->gamma) && p->gamma > 0;
}

static int valid_nbd(const rtn_nbd_params *p)
{
    return p && isfinite(p->r) && p->r > 0 && isfinite(p->alpha) && p->alpha > 0;
}

/* Optimizer settings shared by the three models' option structs. */
typedef struct {
    int max_iter;
    double gtol, hess_step;
} fit_settings;

static fit_settings settings(int max_iter, double gtol, double hess_step)
{
    fit_settings s = {max_iter > 0 ? max_iter : 1000, gtol > 0 ? gtol : 1e-9,
                      hess_step > 0 ? hess_step : 1e-4};
    return s;
}

static const char *model_name(int model)
{
    return model == MODEL_BG ? "BG/NBD" : model == MODEL_NBD ? "NBD" : "Gamma-Gamma";
}

/* Collective: checks the starting point (init: natural parameters, NULL = automatic;
 * init_ok: whether they are valid), validates the data and runs the optimizer. stats
 * receives the data summary, filled before any data error so callers can report counts. */
static rtn_status fit_model(MPI_Comm comm, const rtn_clv_data *d, int model, const double *init,
                            int init_ok, fit_settings fs, double *stats, fit_out *fo,
                            long *nevals)
{
    memset(stats, 0, S_NSTAT * sizeof(double));
    if (init && !init_ok)
        return rtn_agree(comm, rtn_fail(RTN_ERR_USAGE, "%s: starting point not positive",
                                        model_name(model)));
    double xmax;
    RTN_TRY(scan_data(comm, d, model == MODEL_GG, stats, &xmax));
    double th0[KMAX];
    int k = model_nparams(model);
    if (model == MODEL_GG) {
        if (!(stats[S_NGG] >= 2))
            return rtn_fail(RTN_ERR_DATA,
                            "Gamma-Gamma: %.0f repeat customers with a positive mean spend; at "
                            "least 2 are needed",
                            stats[S_NGG]);
        /* Start: p = 1, q = 3 and gamma matching the population mean spend p*gamma/(q-1). */
        th0[0] = 0;
        th0[1] = log(3.0);
        th0[2] = log(2.0 * stats[S_SUMM] / stats[S_NGG]);
    } else {
        if (!(stats[S_NREP] > 0) || !(stats[S_SUMT] > 0))
            return rtn_fail(RTN_ERR_DATA,
                            "%s: %.0f customers, none with a repeat purchase over a positive "
                            "period: the model cannot be fitted",
                            model_name(model), stats[S_N]);
        /* Start: r = 1 with the pooled repeat rate r/alpha = sum x / sum T (and a = b = 1). */
        th0[0] = th0[2] = th0[3] = 0;
        th0[1] = log(stats[S_SUMT] / stats[S_SUMX]);
    }
    if (init)
        for (int j = 0; j < k; j++) th0[j] = log(init[j]);
    double n = model == MODEL_GG ? stats[S_NGG] : stats[S_N];
    fit_ctx c;
    RTN_TRY(ctx_init(&c, comm, d, model, xmax, n));
    rtn_status st = run_fit(&c, th0, fs.max_iter, fs.gtol, fs.hess_step, n, fo);
    *nevals = c.nevals;
    ctx_free(&c);
    return st;
}

/* Logs a finished fit (debug level) and returns the error for one that did not converge,
 * naming the final point; why is appended to the message. */
static rtn_status fit_outcome(int model, const fit_out *fo, long nevals, double gtol,
                              const char *why)
{
    static const char *const names[3][KMAX] = {
        [MODEL_BG] = {"r", "alpha", "a", "b"},
        [MODEL_GG] = {"p", "q", "gamma"},
        [MODEL_NBD] = {"r", "alpha"},
    };
    char p6[192] = "", p4[192] = "";
    size_t l6 = 0, l4 = 0;
    for (int j = 0; j < model_nparams(model); j++) {
        const char *sep = j ? " " : "";
        l6 += (size_t)snprintf(p6 + l6, sizeof p6 - l6, "%s%s=%.6g", sep, names[model][j], fo->P[j]);
        l4 += (size_t)snprintf(p4 + l4, sizeof p4 - l4, "%s%s=%.4g", sep, names[model][j], fo->P[j]);
    }
    rtn_debug("%s: %s LL=%.6f after %d iterations (%ld evals)", model_name(model), p6, fo->ll,
              fo->iterations, nevals);
    if (fo->converged) return RTN_OK;
    return rtn_fail(RTN_ERR_NUMERIC,
                    "%s: no convergence after %d iterations (|gradient| = %.3g > %.3g) at %s "
                    "(LL %.6f)%s",
                    model_name(model), fo->iterations, fo->gnorm, gtol, p4, fo->ll, why);
}

/* Copies the optimizer's output into a public result struct, which for every model has
 * these fields (params and se: k doubles; cov: k x k). */
#define FILL_RESULT(out, fo, k)                                                            \
    do {                                                                                   \
        _Static_assert(sizeof (out)->params == (k) * sizeof(double), "parameter layout");  \
        memcpy(&(out)->params, (fo).P, sizeof (out)->params);                              \
        memcpy(&(out)->se, (fo).se, sizeof (out)->se);                                     \
        memcpy((out)->cov, (fo).cov, sizeof (out)->cov);                                   \
        (out)->loglik = (fo).ll;                                                           \
        (out)->grad_norm = (fo).gnorm;                                                     \
        (out)->iterations = (fo).iterations;                                               \
        (out)->converged = (fo).converged;                                                 \
        (out)->hessian_ok = (fo).hessian_ok;                                               \
    } while (0)

rtn_status rtn_bgnbd_fit(MPI_Comm comm, const rtn_clv_data *d, const rtn_bgnbd_options *opt,
                         rtn_bgnbd_fit_result *out)
{
    memset(out, 0, sizeof *out);
    rtn_bgnbd_options o = opt ? *opt : (rtn_bgnbd_options){0};
    fit_settings fs = settings(o.max_iter, o.gtol, o.hess_step);
    double stats[S_NSTAT];
    fit_out fo;
    long nevals = 0;
    rtn_status st = fit_model(
        comm, d, MODEL_BG,
        o.init ? (double[4]){o.init->r, o.init->alpha, o.init->a, o.init->b} : NULL,
        valid_bg(o.init), fs, stats, &fo, &nevals);
    out->n_customers = (uint64_t)stats[S_N];
    out->n_repeaters = (uint64_t)stats[S_NREP];
    if (st) return st;
    FILL_RESULT(out, fo, 4);
    /* A mean dropout probability a/(a+b) running to 0 is the known boundary case: the
     * likelihood keeps rising towards the NBD model without dropout (docs/clv.md, Online
     * Retail at cutoff 2011-09-01), so no interior maximum exists to converge to. */
    double mean_dropout = fo.P[2] / (fo.P[2] + fo.P[3]);
    out->at_boundary = !fo.converged && mean_dropout < 1e-3;
    return fit_outcome(MODEL_BG, &fo, nevals, fs.gtol,
                       out->at_boundary
                           ? "; the mean dropout probability a/(a+b) is heading to 0: the data "
                             "show no sign of dropout and the likelihood is highest on the "
                             "boundary (the NBD model without dropout)"
                           : "; very large a and b mean the data show no sign of dropout");
}

rtn_status rtn_nbd_fit(MPI_Comm comm, const rtn_clv_data *d, const rtn_nbd_options *opt,
                       rtn_nbd_fit_result *out)
{
    memset(out, 0, sizeof *out);
    rtn_nbd_options o = opt ? *opt : (rtn_nbd_options){0};
    fit_settings fs = settings(o.max_iter, o.gtol, o.hess_step);
    double stats[S_NSTAT];
    fit_out fo;
    long nevals = 0;
    rtn_status st = fit_model(comm, d, MODEL_NBD,
                              o.init ? (double[2]){o.init->r, o.init->alpha} : NULL,
                              valid_nbd(o.init), fs, stats, &fo, &nevals);
    out->n_customers = (uint64_t)stats[S_N];
    out->n_repeaters = (uint64_t)stats[S_NREP];
    if (st) return st;
    FILL_RESULT(out, fo, 2);
    return fit_outcome(MODEL_NBD, &fo, nevals, fs.gtol, "");
}

rtn_status rtn_purchase_fit(MPI_Comm comm, const rtn_clv_data *d, const rtn_bgnbd_options *opt,
                            rtn_purchase_fit_result *out)
{
    memset(out, 0, sizeof *out);
    out->kind = RTN_PURCHASE_BGNBD;
    rtn_status st = rtn_bgnbd_fit(comm, d, opt, &out->bgnbd);
    if (st != RTN_ERR_NUMERIC || !out->bgnbd.at_boundary) return st;
    /* Every rank holds the same reduced values, so every rank takes this branch. */
    snprintf(out->bgnbd_message, sizeof out->bgnbd_message, "%s", rtn_errmsg());
    rtn_clear_error();
    rtn_nbd_options no = {0};
    if (opt) no = (rtn_nbd_options){opt->max_iter, opt->gtol, opt->hess_step, NULL};
    RTN_TRY(rtn_nbd_fit(comm, d, &no, &out->nbd));
    /* The NBD maximum is the supremum of the BG/NBD likelihood only if no BG/NBD point
     * reached lies above it (rounding aside); otherwise the runaway was something else. */
    double tol = 1e-9 * fabs(out->bgnbd.loglik);
    if (!(out->nbd.loglik >= out->bgnbd.loglik - tol))
        return rtn_fail(RTN_ERR_NUMERIC,
                        "%s; the NBD model's maximum (LL %.6f) lies below that point, so it is "
                        "not the boundary solution",
                        out->bgnbd_message, out->nbd.loglik);
    out->kind = RTN_PURCHASE_NBD;
    return RTN_OK;
}

rtn_status rtn_gg_fit(MPI_Comm comm, const rtn_clv_data *d, const rtn_gg_options *opt,
                      rtn_gg_fit_result *out)
{
    memset(out, 0, sizeof *out);
    rtn_gg_options o = opt ? *opt : (rtn_gg_options){0};
    fit_settings fs = settings(o.max_iter, o.gtol, o.hess_step);
    double stats[S_NSTAT];
    fit_out fo;
    long nevals = 0;
    rtn_status st = fit_model(comm, d, MODEL_GG,
                              o.init ? (double[3]){o.init->p, o.init->q, o.init->gamma} : NULL,
                              valid_gg(o.init), fs, stats, &fo, &nevals);
    out->n_used = (uint64_t)stats[S_NGG];
    out->n_excluded = (uint64_t)stats[S_NEXCL];
    if (st) return st;
    FILL_RESULT(out, fo, 3);
    return fit_outcome(MODEL_GG, &fo, nevals, fs.gtol, "");
}

static rtn_status loglik_at(MPI_Comm comm, const rtn_clv_data *d, int model, const double *P,
                            double *ll)
{
    double stats[S_NSTAT], xmax, grad[KMAX];
    RTN_TRY(scan_data(comm, d, model == MODEL_GG, stats, &xmax));
    fit_ctx c;
    RTN_TRY(ctx_init(&c, comm, d, model, xmax, stats[S_N] > 0 ? stats[S_N] : 1));
    rtn_status st = eval_sums(&c, P, ll, grad);
    ctx_free(&c);
    return st;
}

rtn_status rtn_bgnbd_loglik(MPI_Comm comm, const rtn_clv_data *d, const rtn_bgnbd_params *p,
                            double *ll)
{
    if (!valid_bg(p))
        return rtn_agree(comm, rtn_fail(RTN_ERR_USAGE, "BG/NBD: parameters must be positive"));
    double P[4] = {p->r, p->alpha, p->a, p->b};
    return loglik_at(comm, d, MODEL_BG, P, ll);
}

rtn_status rtn_gg_loglik(MPI_Comm comm, const rtn_clv_data *d, const rtn_gg_params *p,
                         double *ll)
{
    if (!valid_gg(p))
        return rtn_agree(comm,
                         rtn_fail(RTN_ERR_USAGE, "Gamma-Gamma: parameters must be positive"));
    double P[3] = {p->p, p->q, p->gamma};
    return loglik_at(comm, d, MODEL_GG, P, ll);
}

rtn_status rtn_nbd_loglik(MPI_Comm comm, const rtn_clv_data *d, const rtn_nbd_params *p,
                          double *ll)
{
    if (!valid_nbd(p))
        return rtn_agree(comm, rtn_fail(RTN_ERR_USAGE, "NBD: parameters must be positive"));
    double P[2] = {p->r, p->alpha};
    return loglik_at(comm, d, MODEL_NBD, P, ll);
}

double rtn_nbd_loglik_one(const rtn_nbd_params *p, double x, double T)
{
    if (!valid_nbd(p) || !(x >= 0 && x == floor(x)) || !(T >= 0)) return NAN;
    double P[2] = {p->r, p->alpha}, xt[NBD_W];
    nbd_consts c;
    nbd_consts_init(&c, P);
    nbd_xterms(&c, x, xt);
    return nbd_one(&c, xt, x, T, NULL);
}

double rtn_bgnbd_loglik_one(const rtn_bgnbd_params *p, double x, double t_x, double T)
{
    if (!valid_bg(p) || !(x >= 0 && x == floor(x)) || !(T >= 0) || !(t_x >= 0 && t_x <= T))
        return NAN;
    double P[4] = {p->r, p->alpha, p->a, p->b}, xt[BG_W];
    bg_consts c;
    bg_consts_init(&c, P);
    bg_xterms(&c, x, xt);
    return bg_one(&c, xt, x, t_x, T, NULL);
}

double rtn_gg_loglik_one(const rtn_gg_params *p, double x, double mx)
{
    if (!valid_gg(p) || !(x > 0 && x == floor(x)) || !(mx > 0)) return NAN;
    double P[3] = {p->p, p->q, p->gamma}, xt[GG_W];
    gg_consts c;
    gg_consts_init(&c, P);
    gg_xterms(&c, x, xt);
    return gg_one(&c, xt, x, mx, NULL);
}

/* ---------------------------------------------------------------------------------
 * Predictions
 * ------------------------------------------------------------------------------- */

/* Plain Gauss series, the fallback when GSL declines (|z| < 1 always holds here). */
static double hyp2f1_series(double A, double B, double C, double z)
{
    double sum = 1.0, term = 1.0;
    for (long k = 0; k < 20000000L; k++) {
        double ratio = (A + k) * (B + k) / ((C + k) * (k + 1.0)) * z;
        term *= ratio;
        sum += term;
        if (term == 0.0) return sum;
        if (fabs(ratio) < 1.0 && fabs(term) <= 1e-17 * fabs(sum)) return sum;
        if (!isfinite(sum)) break;
    }
    return NAN;
}

static double hyp2f1(double A, double B, double C, double z)
{
    gsl_sf_result r;
    int s = gsl_sf_hyperg_2F1_e(A, B, C, z, &r); /* callers hold gsl_quiet_enter() */
    if (s == GSL_SUCCESS && isfinite(r.val) && r.err <= 1e-9 * fmax(1.0, fabs(r.val)))
        return r.val;
    return hyp2f1_series(A, B, C, z);
}

/* (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)],
 * z = t/(alpha+T+t), evaluated through Euler's transformation
 *   (1-z)^(r+x) 2F1(r+x, b+x; c; z) = (1-z)^(a-1) 2F1(a+b-1-r, a-1; c; z),
 * whose parameters stay small for any x (no overflow, fast convergence). */
static double bg_numer(double r, double alpha, double a, double b, double t, double x, double T)
{
    if (!(t > 0)) return 0.0;
    double am1 = a - 1.0, C = a + b + x - 1.0, A = a + b - 1.0 - r;
    double aT = alpha + T;
    double lz1 = log(aT) - log(aT + t); /* log(1-z) */
    double z = t / (aT + t);
    if (fabs(am1) < 1e-4) {
        /* Near the removable singularity at a = 1 the difference 1 - G cancels. With
         * 2F1(A, a-1; C; z) = 1 + (a-1) U, U = sum_{k>=1} (A)_k (a)_{k-1} z^k / ((C)_k k!),
         *   (1-G)/(a-1) = -expm1((a-1) log(1-z))/(a-1) - (1-z)^(a-1) U,
         * which has no cancellation and a finite limit at a = 1. */
        double e = am1 == 0.0 ? -lz1 : -expm1(am1 * lz1) / am1;
        double U = 0.0, u = A * z / C;
        for (long k = 1;; k++) {
            U += u;
            double ratio = (A + k) * (a + k - 1.0) / ((C + k) * (k + 1.0)) * z;
            u *= ratio;
            if (u == 0.0 || (fabs(ratio) < 1.0 && fabs(u) <= 1e-17 * fabs(U))) break;
            if (k > 20000000L || !isfinite(U)) return NAN;
        }
        return C * (e - exp(am1 * lz1) * U);
    }
    double F = hyp2f1(A, am1, C, z);
    double G = exp(am1 * lz1) * F;
    return C / am1 * (1.0 - G);
}

double rtn_bgnbd_p_alive(const rtn_bgnbd_params *p, double x, double t_x, double T)
{
    if (!valid_bg(p) || !(x >= 0) || !(T >= 0) || !(t_x >= 0 && t_x <= T)) return NAN;
    if (x == 0) return 1.0;
    double l = log(p->a) - log(p->b + x - 1.0) +
               (p->r + x) * (log(p->alpha + T) - log(p->alpha + t_x));
    return sigmoid(-l);
}

double rtn_bgnbd_expected_purchases(const rtn_bgnbd_params *p, double t, double x, double t_x,
                                    double T)
{
    double pa = rtn_bgnbd_p_alive(p, x, t_x, T);
    if (!isfinite(pa) || !(t >= 0)) return NAN;
    gsl_quiet_enter();
    double n = bg_numer(p->r, p->alpha, p->a, p->b, t, x, T);
    gsl_quiet_leave();
    return n * pa;
}

double rtn_bgnbd_expected_purchases_uncond(const rtn_bgnbd_params *p, double t)
{
    if (!valid_bg(p) || !(t >= 0)) return NAN;
    gsl_quiet_enter();
    double n = bg_numer(p->r, p->alpha, p->a, p->b, t, 0.0, 0.0);
    gsl_quiet_leave();
    return n;
}

double rtn_nbd_expected_purchases(const rtn_nbd_params *p, double t, double x, double T)
{
    if (!valid_nbd(p) || !(x >= 0) || !(T >= 0) || !(t >= 0)) return NAN;
    return (p->r + x) / (p->alpha + T) * t;
}

double rtn_purchase_p_alive(const rtn_purchase_model *pm, double x, double t_x, double T)
{
    if (pm->kind == RTN_PURCHASE_BGNBD) return rtn_bgnbd_p_alive(&pm->bgnbd, x, t_x, T);
    if (!valid_nbd(&pm->nbd) || !(x >= 0) || !(T >= 0) || !(t_x >= 0 && t_x <= T)) return NAN;
    return 1.0; /* no dropout */
}

double rtn_purchase_expected_purchases(const rtn_purchase_model *pm, double t, double x,
                                       double t_x, double T)
{
    if (pm->kind == RTN_PURCHASE_BGNBD)
        return rtn_bgnbd_expected_purchases(&pm->bgnbd, t, x, t_x, T);
    if (!isfinite(rtn_purchase_p_alive(pm, x, t_x, T))) return NAN;
    return rtn_nbd_expected_purchases(&pm->nbd, t, x, T);
}

double rtn_gg_expected_spend(const rtn_gg_params *p, double x, double mx)
{
    if (!valid_gg(p) || !(p->q > 1) || !(x >= 0)) return NAN;
    if (x == 0 || !(mx > 0)) return p->p * p->gamma / (p->q - 1.0);
    return (p->gamma + x * mx) * p->p / (p->p * x + p->q - 1.0);
}

rtn_clv_options rtn_clv_options_default(void)
{
    rtn_clv_options o = {12, 365.25 / 12.0 / 7.0, 0.01, 1.0};
    return o;
}

double rtn_purchase_clv_value(const rtn_purchase_model *pm, const rtn_gg_params *gg,
                              const rtn_clv_options *opt, double x, double t_x, double T,
                              double mx)
{
    rtn_clv_options o = opt ? *opt : rtn_clv_options_default();
    if (o.horizon_months < 0 || !(o.periods_per_month > 0) || !(o.monthly_discount > -1) ||
        !isfinite(o.margin))
        return NAN;
    double em = rtn_gg_expected_spend(gg, x, mx);
    double pa = rtn_purchase_p_alive(pm, x, t_x, T);
    if (!isfinite(em) || !isfinite(pa)) return NAN;
    const rtn_bgnbd_params *bg = &pm->bgnbd;
    double prev = 0, sum = 0, disc = 1;
    gsl_quiet_enter();
    for (int m = 1; m <= o.horizon_months; m++) {
        double t = m * o.periods_per_month;
        double cur = pm->kind == RTN_PURCHASE_NBD
                         ? rtn_nbd_expected_purchases(&pm->nbd, t, x, T)
                         : bg_numer(bg->r, bg->alpha, bg->a, bg->b, t, x, T) * pa;
        disc /= 1.0 + o.monthly_discount;
        sum += (cur - prev) * disc;
        prev = cur;
    }
    gsl_quiet_leave();
    return o.margin * em * sum;
}

double rtn_clv_value(const rtn_bgnbd_params *bg, const rtn_gg_params *gg,
                     const rtn_clv_options *opt, double x, double t_x, double T, double mx)
{
    if (!bg) return NAN;
    rtn_purchase_model pm = {RTN_PURCHASE_BGNBD, *bg, {0, 0}};
    return rtn_purchase_clv_value(&pm, gg, opt, x, t_x, T, mx);
}

rtn_status rtn_clv_predict(const rtn_bgnbd_params *bg, const rtn_gg_params *gg,
                           const rtn_clv_options *opt, double t, size_t n, const double *x,
                           const double *t_x, const double *T, const double *mx,
                           double *p_alive, double *expected_purchases,
                           double *expected_spend, double *clv)
{
    if (!valid_bg(bg)) return rtn_fail(RTN_ERR_USAGE, "CLV scoring: invalid BG/NBD parameters");
    if ((expected_spend || clv) && (!valid_gg(gg) || !(gg->q > 1) || !mx))
        return rtn_fail(RTN_ERR_USAGE,
                        "CLV scoring: expected spend needs Gamma-Gamma parameters with q > 1 and "
                        "the mean spend column");
    for (size_t i = 0; i < n; i++) {
        double v[4] = {0, 0, 0, 0};
        if (p_alive) v[0] = p_alive[i] = rtn_bgnbd_p_alive(bg, x[i], t_x[i], T[i]);
        if (expected_purchases)
            v[1] = expected_purchases[i] = rtn_bgnbd_expected_purchases(bg, t, x[i], t_x[i], T[i]);
        if (expected_spend) v[2] = expected_spend[i] = rtn_gg_expected_spend(gg, x[i], mx[i]);
        if (clv) v[3] = clv[i] = rtn_clv_value(bg, gg, opt, x[i], t_x[i], T[i], mx[i]);
        for (int j = 0; j < 4; j++)
            if (!isfinite(v[j]))
                return rtn_fail(RTN_ERR_NUMERIC,
                                "CLV scoring: row %zu (x=%g, t_x=%g, T=%g) gives a non-finite %s",
                                i, x[i], t_x[i], T[i],
                                j == 0   ? "P(alive)"
                                : j == 1 ? "expected purchase count"
                                : j == 2 ? "expected spend"
                                         : "CLV");
    }
    return RTN_OK;
}
