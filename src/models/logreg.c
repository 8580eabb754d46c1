/* Distributed logistic regression (include/retain/logreg.h, docs/churn-model.md).
 *
 * Data layout. The training rows are copied once, standardized, into per-bucket runs of
 * blocks of at most RTN_LR_BLOCK rows stored column-major (a block of nr rows is d
 * columns of nr contiguous values); each bucket's run is padded with zero-weight rows to a
 * multiple of 8. A data pass then needs no masks, no transposition and no tails: margins
 * are column sweeps (z += x_j * beta_j), gradients are dot products with eight explicit
 * partial sums. All arithmetic orders are fixed by the code (no reassociation flags), so a
 * bucket's partial sums are the same bits whichever rank holds it and however the
 * compiler vectorizes; partials are combined with rtn_breduce. exp and log1p are our own
 * branch-free kernels so the compiler can vectorize them. */
#include "retain/logreg.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "retain/buckets.h"
#include "retain/log.h"

/* 128 rows: a block (24 columns: 24 KiB) stays in L1/L2 between its margin and gradient
 * sweeps. While a block is worked on, the block after the next one is prefetched into L2,
 * a cache line at a time from inside the margin, loss and gradient loops
 * (RTN_LR_PF_LOSS lines per 8 rows of loss, one per margin step, two per gradient step),
 * so the memory stream stays busy through every phase. Measured (5e6 x 24, against the
 * read of the same bytes, docs/performance.md): prefetch of the next block only during the
 * loss 1.27-1.56x; spread over all phases mostly 1.21-1.30x; with the 4-column gradient
 * sweep 1.17-1.19x on 1 rank; 64-row blocks no better (and other sums, other bits). */
#define RTN_LR_BLOCK 128
#define RTN_LR_PREFETCH_LOCALITY 2
#define RTN_LR_PF_AHEAD RTN_LR_BLOCK /* rows between the current block and the prefetch */
#define RTN_LR_PF_LOSS 16

/* Run-time dispatch of the data-pass kernels (GCC function multi-versioning); sanitizer
 * builds and other compilers use the baseline version. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(RETAIN_NO_CLONES)
#define RTN_LR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RTN_LR_CLONES
#endif

/* ---- exp(-a) and log(1+e) ------------------------------------------------------------ */

static const double LN2_HI = 6.93147180369123816490e-01; /* trailing zeros: n*LN2_HI exact */
static const double LN2_LO = 1.90821492927058770002e-10;

static inline __attribute__((always_inline)) double expm_k(double a)
{
    double x = a < 708.0 ? -a : -708.0; /* exp(-708) is still a normal number */
    const double shifter = 0x1.8p52;
    double kd = x * 0x1.71547652b82fep0 + shifter; /* round(x / ln 2) in the low bits */
    double n = kd - shifter;
    double r = (x - n * LN2_HI) - n * LN2_LO; /* |r| <= ln2/2 (+ rounding) */
    /* Taylor to degree 13: truncation < 1e-17 relative on |r| <= 0.35. */
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    uint64_t bits;
    memcpy(&bits, &kd, sizeof bits);
    /* bits = bits(shifter) + n; 2^n has exponent field n + 1023 (n in [-1022, 0]). */
    uint64_t sbits = (bits - 0x4338000000000000ULL + 1023ULL) << 52;
    double scale;
    memcpy(&scale, &sbits, sizeof scale);
    return p * scale;
}

/* inv must be 1.0 / (1.0 + e) (the caller has it already: saves a division). */
static inline __attribute__((always_inline)) double log1p01_k(double e, double inv)
{
    double u = 1.0 + e;                  /* in [1, 2] */
    double c = (e - (u - 1.0)) * inv;    /* first-order correction for the rounding of u */
    int big = u > 1.4142135623730951;
    double m = big ? u * 0.5 : u;        /* m in (0.707, 1.415] */
    double k = big ? 1.0 : 0.0;
    double f = m - 1.0;                  /* exact (Sterbenz) */
    double s = f / (2.0 + f);            /* log m = 2 atanh(s), |s| <= 0.1716 */
    double s2 = s * s;
    double q = 1.0 / 21.0;
    q = q * s2 + 1.0 / 19.0;
    q = q * s2 + 1.0 / 17.0;
    q = q * s2 + 1.0 / 15.0;
    q = q * s2 + 1.0 / 13.0;
    q = q * s2 + 1.0 / 11.0;
    q = q * s2 + 1.0 / 9.0;
    q = q * s2 + 1.0 / 7.0;
    q = q * s2 + 1.0 / 5.0;
    q = q * s2 + 1.0 / 3.0;
    double s2s = 2.0 * s;
    double lm = s2s + s2s * s2 * q;
    return (k * LN2_HI + lm) + (k * LN2_LO + c);
}

double rtn_logreg_expm(double a) { return expm_k(a); }
double rtn_logreg_log1p01(double e) { return log1p01_k(e, 1.0 / (1.0 + e)); }

/* ---- options ----------------------------------------------------------------------- */

void rtn_logreg_defaults(rtn_logreg_options *o)
{
    memset(o, 0, sizeof *o);
    o->lambda = 1e-4;
    o->l1_ratio = 0.0;
    o->fit_intercept = 1;
    o->class_weight_balanced = 0;
    o->standardize = 1;
    o->tol = 1e-7;
    o->max_iter = 500;
    o->memory = 10;
}

double rtn_logreg_lambda_from_C(double C, double weight_sum) { return 1.0 / (C * weight_sum); }

static rtn_status check_options(const rtn_logreg_options *o)
{
    if (!(o->lambda >= 0) || !isfinite(o->lambda))
        return rtn_fail(RTN_ERR_USAGE, "logistic regression: lambda must be >= 0 (got %g)",
                        o->lambda);
    if (!(o->l1_ratio >= 0 && o->l1_ratio <= 1))
        return rtn_fail(RTN_ERR_USAGE, "logistic regression: l1_ratio must be in [0,1] (got %g)",
                        o->l1_ratio);
    if (!(o->tol >= 0)) return rtn_fail(RTN_ERR_USAGE, "logistic regression: tol must be >= 0");
    if (o->max_iter < 0 || o->memory < 1 || o->memory > 1000)
        return rtn_fail(RTN_ERR_USAGE, "logistic regression: bad max_iter %d or memory %d",
                        o->max_iter, o->memory);
    return RTN_OK;
}

/* ---- the problem ------------------------------------------------------------------- */

struct rtn_logreg_problem {
    MPI_Comm comm;
    size_t d;
    uint32_t nbuckets, b0, b1;
    uint64_t *prow;   /* b1-b0+1 padded row offsets of the local buckets */
    double *Xp;       /* blocked column-major standardized training rows */
    double *sw;       /* effective weight / W per padded row (0 for padding), negated for
                         label 1: one array instead of two keeps the pass's extra traffic
                         at 8 bytes a row */
    double *xlast;    /* d+1: the point of the last eval (the curvature of hv is recomputed
                         from it rather than stored per row, which cost 16 bytes a row of
                         memory traffic in every pass) */
    int have_x;
    double l2, l1;    /* lambda*(1-l1_ratio), lambda*l1_ratio */
    int fit_intercept;
    uint64_t n, npos;
    double wsum, wpos, cw[2];
    double dbar;      /* sum_i D_i at the last eval: the intercept's Hessian entry */
    int evals;
    rtn_breduce *red_f, *red_h;
    double *part;     /* d+3 */
    double *blk;      /* scratch: 4 * RTN_LR_BLOCK */
};

/* Zeroed allocation for the large per-row arrays, on transparent huge pages where the
 * system allows it (madvise mode): first-touch page faults are then 512x fewer. */
static double *alloc_rows(size_t count, const char *what)
{
    size_t bytes = (count ? count : 1) * sizeof(double);
    void *mem = NULL;
    if (posix_memalign(&mem, (size_t)1 << 21, bytes) != 0) {
        rtn_fail(RTN_ERR_NOMEM, "out of memory allocating %zu bytes for %s", bytes, what);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    if (bytes >= ((size_t)1 << 21)) (void)madvise(mem, bytes, MADV_HUGEPAGE);
#endif
    memset(mem, 0, bytes);
    return mem;
}

void rtn_logreg_problem_free(rtn_logreg_problem *p)
{
    if (!p) return;
    free(p->prow);
    free(p->Xp);
    free(p->sw);
    free(p->xlast);
    rtn_breduce_free(p->red_f);
    rtn_breduce_free(p->red_h);
    free(p->part);
    free(p->blk);
    free(p);
}

void rtn_logreg_problem_info(const rtn_logreg_problem *p, uint64_t *n, uint64_t *npos,
                             double *wsum, double class_weight[2])
{
    if (n) *n = p->n;
    if (npos) *npos = p->npos;
    if (wsum) *wsum = p->wsum;
    if (class_weight) {
        class_weight[0] = p->cw[0];
        class_weight[1] = p->cw[1];
    }
}

void rtn_logreg_problem_data(const rtn_logreg_problem *p, const double **xp, size_t *nvals)
{
    *xp = p->Xp;
    *nvals = (size_t)p->prow[p->b1 - p->b0] * p->d;
}

/* Validates the local training rows and counts them per bucket. */
static rtn_status scan_rows(const rtn_bucketed_rows *X, const int8_t *y, const double *w,
                            const uint8_t *mask, uint64_t *cnt, uint64_t *npos)
{
    uint32_t nb = X->b1 - X->b0;
    *npos = 0;
    for (uint32_t k = 0; k < nb; k++) {
        cnt[k] = 0;
        for (uint64_t i = X->boff[k]; i < X->boff[k + 1]; i++) {
            if (mask && !mask[i]) continue;
            if (y[i] != 0 && y[i] != 1)
                return rtn_fail(RTN_ERR_DATA,
                                "logistic regression: label %d of local row %llu (bucket %u) is "
                                "not 0 or 1",
                                (int)y[i], (unsigned long long)i, X->b0 + k);
            if (w && !(w[i] >= 0 && isfinite(w[i])))
                return rtn_fail(RTN_ERR_DATA,
                                "logistic regression: weight %g of local row %llu (bucket %u) "
                                "is negative or not finite",
                                w[i], (unsigned long long)i, X->b0 + k);
            cnt[k]++; /* features are checked while they are copied */
            *npos += (uint64_t)y[i];
        }
    }
    return RTN_OK;
}

rtn_status rtn_logreg_problem_create(rtn_logreg_problem **out, MPI_Comm comm,
                                     const rtn_bucketed_rows *X, const int8_t *y,
                                     const double *w, const uint8_t *mask,
                                     const rtn_scaler *scaler, const rtn_logreg_options *opt)
{
    *out = NULL;
    size_t d = X->d;
    uint32_t nb = X->b1 - X->b0;
    rtn_status st = check_options(opt);
    if (st == RTN_OK && scaler && scaler->d != d)
        st = rtn_fail(RTN_ERR_INTERNAL, "logistic regression: scaler has %zu columns, data %zu",
                      scaler->d, d);
    rtn_logreg_problem *p = st ? NULL : rtn_calloc(1, sizeof *p, "logistic regression problem");
    if (st == RTN_OK && !p) st = RTN_ERR_NOMEM;
    uint64_t *cnt = NULL;
    if (st == RTN_OK) {
        p->comm = comm;
        p->d = d;
        p->nbuckets = X->nbuckets;
        p->b0 = X->b0;
        p->b1 = X->b1;
        p->l2 = opt->lambda * (1.0 - opt->l1_ratio);
        p->l1 = opt->lambda * opt->l1_ratio;
        p->fit_intercept = opt->fit_intercept;
        p->prow = rtn_calloc((size_t)nb + 1, sizeof *p->prow, "bucket row offsets");
        cnt = rtn_calloc((size_t)nb + 1, sizeof *cnt, "bucket counts");
        p->part = rtn_calloc(d + 3, sizeof(double), "partial sums");
        p->blk = rtn_calloc(4 * RTN_LR_BLOCK, sizeof(double), "block scratch");
        p->xlast = rtn_calloc(d + 1, sizeof(double), "last point");
        if (!p->prow || !cnt || !p->part || !p->blk || !p->xlast) st = RTN_ERR_NOMEM;
    }
    uint64_t npos_local = 0;
    if (st == RTN_OK) st = scan_rows(X, y, w, mask, cnt, &npos_local);
    if (st == RTN_OK) {
        for (uint32_t k = 0; k < nb; k++) p->prow[k + 1] = p->prow[k] + ((cnt[k] + 7) & ~7ULL);
        size_t np = p->prow[nb];
        p->Xp = alloc_rows(np * d, "standardized training rows");
        p->sw = alloc_rows(np, "weights and labels");
        if (!p->Xp || !p->sw) st = RTN_ERR_NOMEM;
    }
    st = rtn_agree(comm, st);
    if (st == RTN_OK) st = rtn_breduce_create(&p->red_f, comm, X->nbuckets, X->b0, X->b1, d + 3);
    if (st == RTN_OK) st = rtn_breduce_create(&p->red_h, comm, X->nbuckets, X->b0, X->b1, d + 1);
    st = rtn_agree(comm, st);
    if (st) goto fail;

    /* Global counts are integers: a plain allreduce is exact and order-free. */
    uint64_t loc[2] = {0, npos_local}, glob[2];
    for (uint32_t k = 0; k < nb; k++) loc[0] += cnt[k];
    MPI_Allreduce(loc, glob, 2, MPI_UINT64_T, MPI_SUM, comm);
    p->n = glob[0];
    p->npos = glob[1];
    if (p->n == 0)
        st = rtn_fail(RTN_ERR_DATA, "logistic regression: no training rows");
    else if (p->npos == 0 || p->npos == p->n)
        st = rtn_fail(RTN_ERR_DATA,
                      "logistic regression: the %llu training rows all have label %d; both "
                      "classes are needed",
                      (unsigned long long)p->n, p->npos ? 1 : 0);
    if (st) goto fail; /* same decision on every rank */
    p->cw[0] = p->cw[1] = 1.0;
    if (opt->class_weight_balanced) {
        /* scikit-learn's compute_class_weight('balanced'): n / (2 * count), unweighted. */
        p->cw[0] = (double)p->n / (2.0 * (double)(p->n - p->npos));
        p->cw[1] = (double)p->n / (2.0 * (double)p->npos);
    }

    /* Copy, standardize (multiplying by 1/scale: one division per column, not per value)
     * and transpose into blocks; per-bucket weight sums for W. */
    double *wpart = rtn_calloc(2 * (size_t)nb + 1, sizeof(double), "weight partials");
    double *mu = rtn_calloc(2 * d + 1, sizeof(double), "standardization"), *rs = mu + d;
    st = rtn_agree(comm, wpart && mu ? RTN_OK : RTN_ERR_NOMEM);
    if (st) {
        free(wpart);
        free(mu);
        goto fail;
    }
    for (size_t j = 0; j < d; j++) {
        mu[j] = scaler ? scaler->mean[j] : 0.0;
        rs[j] = scaler ? 1.0 / scaler->scale[j] : 1.0;
    }
    for (uint32_t k = 0; k < nb && st == RTN_OK; k++) {
        uint64_t t = 0, m8 = p->prow[k + 1] - p->prow[k];
        double ws = 0, wp = 0;
        for (uint64_t i = X->boff[k]; i < X->boff[k + 1]; i++) {
            if (mask && !mask[i]) continue;
            uint64_t blk = t / RTN_LR_BLOCK, ii = t % RTN_LR_BLOCK;
            uint64_t r0 = blk * RTN_LR_BLOCK;
            uint64_t nr = m8 - r0 < RTN_LR_BLOCK ? m8 - r0 : RTN_LR_BLOCK;
            double *base = p->Xp + (p->prow[k] + r0) * d;
            const double *xi = X->X + i * d;
            int bad = 0;
            for (size_t j = 0; j < d; j++) {
                double v = (xi[j] - mu[j]) * rs[j];
                bad |= !isfinite(v);
                base[j * nr + ii] = v;
            }
            if (bad) {
                size_t j = 0;
                while (j < d && isfinite((xi[j] - mu[j]) * rs[j])) j++;
                st = rtn_fail(RTN_ERR_DATA,
                              "logistic regression: feature %zu of local row %llu (bucket %u) is "
                              "not finite (%g)",
                              j, (unsigned long long)i, X->b0 + k, j < d ? xi[j] : 0.0);
                break;
            }
            double si = (w ? w[i] : 1.0) * p->cw[y[i]];
            p->sw[p->prow[k] + t] = si; /* label sign added after the division by W */
            ws += si;
            if (y[i]) wp += si;
            t++;
        }
        wpart[2 * k] = ws;
        wpart[2 * k + 1] = wp;
    }
    free(mu);
    st = rtn_agree(comm, st);
    double wt[2] = {0, 0};
    if (st == RTN_OK) st = rtn_bucket_sum(comm, X->nbuckets, X->b0, X->b1, 2, wpart, wt);
    p->wsum = wt[0];
    p->wpos = wt[1];
    free(wpart);
    if (st == RTN_OK && !(p->wsum > 0))
        st = rtn_fail(RTN_ERR_DATA, "logistic regression: total training weight is %g", p->wsum);
    if (st) goto fail;
    for (size_t i = 0; i < p->prow[nb]; i++) p->sw[i] /= p->wsum;
    for (uint32_t k = 0; k < nb; k++) { /* second walk: the labels of the copied rows */
        uint64_t t = 0;
        for (uint64_t i = X->boff[k]; i < X->boff[k + 1]; i++) {
            if (mask && !mask[i]) continue;
            if (y[i]) p->sw[p->prow[k] + t] = -p->sw[p->prow[k] + t];
            t++;
        }
    }
    free(cnt);
    *out = p;
    return RTN_OK;
fail:
    free(cnt);
    rtn_logreg_problem_free(p);
    return st;
}

/* Eight explicit lanes (GCC vector extension; lowered to whatever width the target has,
 * with the same per-lane arithmetic). */
typedef double v8d __attribute__((vector_size(64), aligned(8), may_alias));

/* Software prefetch of the next block into L2, a cache line at a time from inside every
 * phase of the current block's work (margin, loss, gradient), so that the memory stream
 * stays busy while the core computes instead of waiting for one phase. */
typedef struct {
    const double *p, *end;
} pf_cursor;

static inline __attribute__((always_inline)) void pf_step(pf_cursor *c)
{
    if (c->p < c->end) {
        __builtin_prefetch(c->p, 0, RTN_LR_PREFETCH_LOCALITY);
        c->p += 8;
    }
}

/* z[i] = x0 + sum_j col_j[i] * x[1+j], four columns per sweep (explicit order). */
static inline __attribute__((always_inline)) void block_margin(const double *restrict base,
                                                               size_t nr, size_t d,
                                                               const double *restrict x,
                                                               double *restrict z, pf_cursor *pf)
{
    for (size_t i = 0; i < nr; i += 8) {
        v8d v = {x[0], x[0], x[0], x[0], x[0], x[0], x[0], x[0]};
        *(v8d *)(z + i) = v;
    }
    size_t j = 0;
    for (; j + 4 <= d; j += 4) {
        const double *c0 = base + j * nr, *c1 = c0 + nr, *c2 = c1 + nr, *c3 = c2 + nr;
        double a0 = x[1 + j], a1 = x[2 + j], a2 = x[3 + j], a3 = x[4 + j];
        for (size_t i = 0; i < nr; i += 8) {
            pf_step(pf);
            v8d t = (*(const v8d *)(c0 + i) * a0 + *(const v8d *)(c1 + i) * a1) +
                    (*(const v8d *)(c2 + i) * a2 + *(const v8d *)(c3 + i) * a3);
            *(v8d *)(z + i) = *(v8d *)(z + i) + t;
        }
    }
    for (; j < d; j++) {
        const double *c = base + j * nr;
        double a = x[1 + j];
        for (size_t i = 0; i < nr; i += 8) {
            *(v8d *)(z + i) = *(v8d *)(z + i) + *(const v8d *)(c + i) * a;
        }
    }
}

/* By pointer and always inlined: a vector passed by value would change the calling
 * convention between the multi-versioned callers. */
static inline __attribute__((always_inline)) double hsum8(const v8d *v)
{
    const double *a = (const double *)v;
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* Sum with eight fixed partial sums (nr is a multiple of 8). */
static inline __attribute__((always_inline)) double lanesum(const double *restrict a, size_t nr)
{
    v8d acc = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < nr; i += 8) acc += *(const v8d *)(a + i);
    return hsum8(&acc);
}

/* g[0] += sum r; g[1+j] += sum_i r[i] col_j[i], four (then two, one) columns per sweep;
 * every column has its own eight lanes, so the grouping does not change the sums. */
static inline __attribute__((always_inline)) void block_grad(const double *restrict base, size_t nr, size_t d,
                              const double *restrict r, double *restrict g, pf_cursor *pf)
{
    g[0] += lanesum(r, nr);
    size_t j = 0;
    for (; j + 4 <= d; j += 4) { /* four columns per sweep: r is loaded once per four */
        const double *c0 = base + j * nr, *c1 = c0 + nr, *c2 = c1 + nr, *c3 = c2 + nr;
        v8d a = {0, 0, 0, 0, 0, 0, 0, 0}, b = a, c = a, e = a;
        for (size_t i = 0; i < nr; i += 8) {
            pf_step(pf);
            pf_step(pf);
            v8d rv = *(const v8d *)(r + i);
            a += rv * *(const v8d *)(c0 + i);
            b += rv * *(const v8d *)(c1 + i);
            c += rv * *(const v8d *)(c2 + i);
            e += rv * *(const v8d *)(c3 + i);
        }
        g[1 + j] += hsum8(&a);
        g[2 + j] += hsum8(&b);
        g[3 + j] += hsum8(&c);
        g[4 + j] += hsum8(&e);
    }
    for (; j + 2 <= d; j += 2) {
        const double *c0 = base + j * nr, *c1 = c0 + nr;
        v8d a = {0, 0, 0, 0, 0, 0, 0, 0}, b = a;
        for (size_t i = 0; i < nr; i += 8) {
            pf_step(pf);
            v8d rv = *(const v8d *)(r + i);
            a += rv * *(const v8d *)(c0 + i);
            b += rv * *(const v8d *)(c1 + i);
        }
        g[1 + j] += hsum8(&a);
        g[2 + j] += hsum8(&b);
    }
    for (; j < d; j++) {
        const double *c = base + j * nr;
        v8d a = {0, 0, 0, 0, 0, 0, 0, 0};
        for (size_t i = 0; i < nr; i += 8) a += *(const v8d *)(r + i) * *(const v8d *)(c + i);
        g[1 + j] += hsum8(&a);
    }
}

/* Weight and label (1.0 or 0.0) of a row from its signed weight, by bit operations (they
 * vectorize where signbit() does not). */
static inline __attribute__((always_inline)) void sw_split(double w, double *si, double *yi)
{
    uint64_t b, m;
    memcpy(&b, &w, sizeof b);
    m = b & 0x7fffffffffffffffULL;
    memcpy(si, &m, sizeof m);
    m = (0 - (b >> 63)) & 0x3ff0000000000000ULL; /* bits of 1.0 when the sign is set */
    memcpy(yi, &m, sizeof m);
}

/* Loss, residual and curvature of a block (sw: signed weights, see the problem struct);
 * returns the weighted loss sum and adds sum D (D is block scratch). */
static inline __attribute__((always_inline)) double block_loss(size_t nr, const double *restrict sw,
                         double *restrict z_r, double *restrict D, double *restrict lossv,
                         double *dsum, pf_cursor *pf)
{
    for (size_t c = 0; c < nr; c += 8) {
        for (int e = 0; e < RTN_LR_PF_LOSS; e++) pf_step(pf);
        for (size_t i = c; i < c + 8; i++) {
            double t = z_r[i];
            double a = fabs(t);
            double e = expm_k(a);
            double inv = 1.0 / (1.0 + e);
            double l = log1p01_k(e, inv);
            double p = t >= 0 ? inv : e * inv;
            double pos = t > 0 ? t : 0.0;
            double si, yi;
            sw_split(sw[i], &si, &yi);
            lossv[i] = si * ((l + pos) - yi * t); /* log(1+exp(t)) - y t */
            z_r[i] = si * (p - yi);
            D[i] = si * (e * inv * inv); /* p (1-p) without cancellation */
        }
    }
    *dsum += lanesum(D, nr);
    return lanesum(lossv, nr);
}

/* The curvature D of block_loss alone, from the margins z (same operations, same bits). */
static inline __attribute__((always_inline)) void block_curv(size_t nr, const double *restrict sw,
                                                             const double *restrict z,
                                                             double *restrict D)
{
    for (size_t i = 0; i < nr; i++) {
        double e = expm_k(fabs(z[i]));
        double inv = 1.0 / (1.0 + e);
        D[i] = fabs(sw[i]) * (e * inv * inv);
    }
}

/* The prefetch range of one block from value offset `from` in Xp, clipped to its end. */
static inline __attribute__((always_inline)) pf_cursor pf_range(const rtn_logreg_problem *p,
                                                                uint64_t from)
{
    uint64_t total = p->prow[p->b1 - p->b0] * p->d, to = from + RTN_LR_BLOCK * p->d;
    pf_cursor c = {p->Xp + (from < total ? from : total), p->Xp + (to < total ? to : total)};
    return c;
}

/* One bucket's partial [loss, sum D, g0, g1..gd] (part zeroed by the caller). Compiled
 * for several instruction sets (chosen at run time); every variant performs the same IEEE
 * operations in the same order (lane groupings are explicit, no FMA contraction), so the
 * bits do not depend on the machine's vector width. */
RTN_LR_CLONES
static void bucket_eval(const rtn_logreg_problem *p, uint32_t k, const double *x, double *part,
                        double *z, double *lossv, double *D)
{
    size_t d = p->d;
    uint64_t r0 = p->prow[k], m8 = p->prow[k + 1] - r0;
    for (uint64_t o = 0; o < m8; o += RTN_LR_BLOCK) {
        size_t nr = (size_t)(m8 - o < RTN_LR_BLOCK ? m8 - o : RTN_LR_BLOCK);
        const double *base = p->Xp + (r0 + o) * d;
        /* blocks follow each other in memory, across buckets too */
        pf_cursor pf = pf_range(p, (r0 + o + nr + RTN_LR_PF_AHEAD) * d);
        block_margin(base, nr, d, x, z, &pf);
        part[0] += block_loss(nr, p->sw + r0 + o, z, D, lossv, &part[1], &pf);
        block_grad(base, nr, d, z, part + 2, &pf);
    }
}

/* One bucket's partial of the Hessian-vector product [sum u, sum u x_j]; the curvature is
 * recomputed from the margins at the last eval's point (zero before any eval). */
RTN_LR_CLONES
static void bucket_hv(const rtn_logreg_problem *p, uint32_t k, const double *v, double *part,
                      double *u, double *z, double *D)
{
    size_t d = p->d;
    uint64_t r0 = p->prow[k], m8 = p->prow[k + 1] - r0;
    for (uint64_t o = 0; o < m8; o += RTN_LR_BLOCK) {
        size_t nr = (size_t)(m8 - o < RTN_LR_BLOCK ? m8 - o : RTN_LR_BLOCK);
        const double *base = p->Xp + (r0 + o) * d;
        pf_cursor pf = pf_range(p, (r0 + o + nr + RTN_LR_PF_AHEAD) * d);
        if (p->have_x) {
            block_margin(base, nr, d, p->xlast, z, &pf);
            block_curv(nr, p->sw + r0 + o, z, D);
        } else {
            memset(D, 0, nr * sizeof(double));
        }
        block_margin(base, nr, d, v, u, &pf);
        for (size_t i = 0; i < nr; i++) u[i] *= D[i];
        block_grad(base, nr, d, u, part, &pf);
    }
}

rtn_status rtn_logreg_problem_eval(rtn_logreg_problem *p, const double *x, double *f, double *g)
{
    size_t d = p->d;
    double *z = p->blk, *lossv = p->blk + RTN_LR_BLOCK, *D = p->blk + 3 * RTN_LR_BLOCK;
    rtn_status st = RTN_OK;
    memcpy(p->xlast, x, (d + 1) * sizeof(double));
    p->have_x = 1;
    for (uint32_t k = 0; k < p->b1 - p->b0 && st == RTN_OK; k++) {
        double *part = p->part; /* [loss, dsum, g0, g1..gd] */
        memset(part, 0, (d + 3) * sizeof(double));
        bucket_eval(p, k, x, part, z, lossv, D);
        st = rtn_breduce_push(p->red_f, p->b0 + k, part);
    }
    st = rtn_agree(p->comm, st);
    if (st) return st;
    double *tot = p->blk + 2 * RTN_LR_BLOCK; /* d+3 <= RTN_LR_BLOCK checked below */
    double *buf = d + 3 <= RTN_LR_BLOCK ? tot : rtn_malloc((d + 3) * sizeof(double), "sums");
    st = rtn_agree(p->comm, buf ? RTN_OK : RTN_ERR_NOMEM);
    if (st) return st;
    st = rtn_breduce_finish(p->red_f, buf);
    if (st == RTN_OK) {
        double reg = 0;
        for (size_t j = 1; j <= d; j++) reg += x[j] * x[j];
        *f = buf[0] + 0.5 * p->l2 * reg;
        p->dbar = buf[1];
        g[0] = p->fit_intercept ? buf[2] : 0.0;
        for (size_t j = 1; j <= d; j++) g[j] = buf[2 + j] + p->l2 * x[j];
        p->evals++;
    }
    if (buf != tot) free(buf);
    return st;
}

rtn_status rtn_logreg_problem_hv(rtn_logreg_problem *p, const double *v, double *hv)
{
    size_t d = p->d;
    double *u = p->blk;
    double *part = rtn_malloc((d + 1) * sizeof(double), "hv partial");
    rtn_status st = rtn_agree(p->comm, part ? RTN_OK : RTN_ERR_NOMEM);
    if (st) return st;
    double *vv = rtn_malloc((d + 1) * sizeof(double), "hv vector");
    st = rtn_agree(p->comm, vv ? RTN_OK : RTN_ERR_NOMEM);
    if (st) {
        free(part);
        return st;
    }
    memcpy(vv, v, (d + 1) * sizeof(double));
    if (!p->fit_intercept) vv[0] = 0.0;
    for (uint32_t k = 0; k < p->b1 - p->b0 && st == RTN_OK; k++) {
        memset(part, 0, (d + 1) * sizeof(double));
        bucket_hv(p, k, vv, part, u, p->blk + RTN_LR_BLOCK, p->blk + 3 * RTN_LR_BLOCK);
        st = rtn_breduce_push(p->red_h, p->b0 + k, part);
    }
    st = rtn_agree(p->comm, st);
    if (st == RTN_OK) st = rtn_breduce_finish(p->red_h, hv);
    if (st == RTN_OK) {
        if (!p->fit_intercept) hv[0] = 0.0;
        for (size_t j = 1; j <= d; j++) hv[j] += p->l2 * vv[j];
    }
    free(part);
    free(vv);
    return st;
}

/* Hessian of the smooth part estimated on a deterministic subsample: the first S rows of
 * every bucket (rows inside a bucket are in key-hash order, so effectively random), with
 * S = max(64, 65536 / B); rescaled by the sampled share of the weight. Used only as the
 * initial matrix of L-BFGS, which makes the first steps Newton-like (a warm start then
 * converges in a few iterations). H is (d+1) x (d+1), full. Collective. */
static rtn_status sample_hessian(rtn_logreg_problem *p, double *H)
{
    size_t n = p->d + 1, d = p->d, np = n * (n + 1) / 2;
    uint64_t S = 65536 / (p->nbuckets ? p->nbuckets : 1);
    if (S < 64) S = 64;
    S = (S + 7) & ~7ULL;
    double *part = rtn_calloc(np + 1, sizeof(double), "hessian partial");
    double *tot = rtn_calloc(np + 1, sizeof(double), "hessian sums");
    double *v = rtn_calloc(n, sizeof(double), "hessian row");
    rtn_breduce *red = NULL;
    rtn_status st = part && tot && v ? RTN_OK : RTN_ERR_NOMEM;
    if (st == RTN_OK) st = rtn_breduce_create(&red, p->comm, p->nbuckets, p->b0, p->b1, np + 1);
    st = rtn_agree(p->comm, st);
    for (uint32_t k = 0; st == RTN_OK && k < p->b1 - p->b0; k++) {
        memset(part, 0, (np + 1) * sizeof(double));
        uint64_t r0 = p->prow[k], m8 = p->prow[k + 1] - r0, lim = m8 < S ? m8 : S;
        for (uint64_t o = 0; o < lim; o += RTN_LR_BLOCK) {
            size_t nr = (size_t)(m8 - o < RTN_LR_BLOCK ? m8 - o : RTN_LR_BLOCK);
            size_t use = (size_t)(lim - o < nr ? lim - o : nr);
            const double *base = p->Xp + (r0 + o) * d;
            double *z = p->blk, *D = p->blk + 3 * RTN_LR_BLOCK;
            pf_cursor none = {p->Xp, p->Xp}; /* no prefetch */
            block_margin(base, nr, d, p->xlast, z, &none);
            block_curv(nr, p->sw + r0 + o, z, D);
            for (size_t i = 0; i < use; i++) {
                double Di = D[i];
                part[np] += fabs(p->sw[r0 + o + i]);
                if (Di == 0) continue;
                v[0] = 1.0;
                for (size_t j = 0; j < d; j++) v[1 + j] = base[j * nr + i];
                size_t q = 0;
                for (size_t a = 0; a < n; a++) {
                    double da = Di * v[a];
                    for (size_t b = a; b < n; b++) part[q++] += da * v[b];
                }
            }
        }
        st = rtn_breduce_push(red, p->b0 + k, part);
    }
    st = rtn_agree(p->comm, st);
    if (st == RTN_OK) st = rtn_breduce_finish(red, tot);
    if (st == RTN_OK) {
        double sc = tot[np] > 0 ? 1.0 / tot[np] : 0.0;
        size_t q = 0;
        for (size_t a = 0; a < n; a++)
            for (size_t b = a; b < n; b++, q++) H[a * n + b] = H[b * n + a] = tot[q] * sc;
        for (size_t a = 1; a < n; a++) H[a * n + a] += p->l2;
        if (!p->fit_intercept) {
            for (size_t a = 0; a < n; a++) H[a] = H[a * n] = 0;
            H[0] = 1;
        }
    }
    rtn_breduce_free(red);
    free(part);
    free(tot);
    free(v);
    return st;
}

/* In-place Cholesky H = L L^T (lower triangle); returns 0 when not positive definite. */
static int cholesky(double *H, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        double s = H[j * n + j];
        for (size_t k = 0; k < j; k++) s -= H[j * n + k] * H[j * n + k];
        if (!(s > 1e-14 * (1 + fabs(H[j * n + j])))) return 0;
        double l = sqrt(s);
        H[j * n + j] = l;
        for (size_t i = j + 1; i < n; i++) {
            double t = H[i * n + j];
            for (size_t k = 0; k < j; k++) t -= H[i * n + k] * H[j * n + k];
            H[i * n + j] = t / l;
        }
    }
    return 1;
}

static void chol_solve(const double *L, size_t n, double *x)
{
    for (size_t i = 0; i < n; i++) {
        double t = x[i];
        for (size_t k = 0; k < i; k++) t -= L[i * n + k] * x[k];
        x[i] = t / L[i * n + i];
    }
    for (size_t i = n; i-- > 0;) {
        double t = x[i];
        for (size_t k = i + 1; k < n; k++) t -= L[k * n + i] * x[k];
        x[i] = t / L[i * n + i];
    }
}

/* ---- OWL-QN / L-BFGS ----------------------------------------------------------------- */

/* Pseudo-gradient of F = f + l1 * sum_{j>=1} |x_j| (the minimum-norm subgradient). */
static void pseudo_grad(size_t n, const double *x, const double *g, double l1, double *pg)
{
    pg[0] = g[0];
    for (size_t j = 1; j < n; j++) {
        if (l1 == 0) pg[j] = g[j];
        else if (x[j] > 0) pg[j] = g[j] + l1;
        else if (x[j] < 0) pg[j] = g[j] - l1;
        else if (g[j] + l1 < 0) pg[j] = g[j] + l1;
        else if (g[j] - l1 > 0) pg[j] = g[j] - l1;
        else pg[j] = 0;
    }
}

static double l1_norm(size_t n, const double *x)
{
    double s = 0;
    for (size_t j = 1; j < n; j++) s += fabs(x[j]);
    return s;
}

static double dot(size_t n, const double *a, const double *b)
{
    double s = 0;
    for (size_t j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

static double inf_norm(size_t n, const double *a)
{
    double m = 0;
    for (size_t j = 0; j < n; j++)
        if (fabs(a[j]) > m) m = fabs(a[j]);
    return m;
}

void rtn_logreg_state_free(rtn_logreg_state *s)
{
    if (!s) return;
    free(s->x);
    free(s->g);
    free(s->S);
    free(s->Y);
    free(s->rho);
    free(s->L0);
    free(s->history);
    memset(s, 0, sizeof *s);
}

static rtn_status state_alloc(rtn_logreg_state *s, size_t n, int mem, int cap)
{
    rtn_logreg_state_free(s);
    s->n = n;
    s->memory = mem;
    s->history_cap = cap;
    s->x = rtn_calloc(n, sizeof(double), "solver state");
    s->g = rtn_calloc(n, sizeof(double), "solver state");
    s->S = rtn_calloc(n * (size_t)mem, sizeof(double), "solver state");
    s->Y = rtn_calloc(n * (size_t)mem, sizeof(double), "solver state");
    s->rho = rtn_calloc((size_t)mem, sizeof(double), "solver state");
    s->L0 = rtn_calloc(n * n, sizeof(double), "solver state");
    s->history = rtn_calloc((size_t)cap, sizeof(double), "solver state");
    if (!s->x || !s->g || !s->S || !s->Y || !s->rho || !s->L0 || !s->history) {
        rtn_logreg_state_free(s);
        return RTN_ERR_NOMEM;
    }
    return RTN_OK;
}

static rtn_status solve(rtn_logreg_problem *p, double *x, rtn_logreg_model *info,
                        rtn_logreg_state *state, rtn_logreg_boundary boundary, void *ctx);

rtn_status rtn_logreg_problem_solve(rtn_logreg_problem *p, double *x, rtn_logreg_model *info)
{
    return solve(p, x, info, NULL, NULL, NULL);
}

static rtn_status solve(rtn_logreg_problem *p, double *x, rtn_logreg_model *info,
                        rtn_logreg_state *state, rtn_logreg_boundary boundary, void *ctx)
{
    size_t n = p->d + 1;
    int mem = info->options.memory, max_iter = info->options.max_iter;
    double tol = info->options.tol, l1 = p->l1;
    double *buf = rtn_calloc(n * (7 + 2 * (size_t)mem) + (size_t)mem * 2, sizeof(double),
                             "solver state");
    double *hist = rtn_calloc((size_t)max_iter + 1, sizeof(double), "objective history");
    double *L0 = rtn_calloc(n * n, sizeof(double), "initial Hessian");
    rtn_status st = rtn_agree(p->comm, buf && hist && L0 ? RTN_OK : RTN_ERR_NOMEM);
    if (st) {
        free(buf);
        free(hist);
        free(L0);
        return st;
    }
    double *g = buf, *pg = g + n, *dir = pg + n, *xt = dir + n, *gt = xt + n, *pgt = gt + n,
           *q = pgt + n, *S = q + n, *Y = S + n * (size_t)mem, *rho = Y + n * (size_t)mem,
           *alph = rho + mem;
    int npairs = 0, newest = -1;
    if (!p->fit_intercept) x[0] = 0.0;
    int evals0 = p->evals, evals_before = 0;
    double f, F = 0, gn = 0;
    int have_L0 = 0;
    int nh = 0, it = 0, converged = 0;
    const char *reason = "maximum iterations reached";
    int resumed = state && state->valid;
    if (resumed && (state->n != n || state->memory != mem || state->n_history < 1 ||
                    state->n_history > max_iter + 1 || state->iteration != state->n_history - 1))
        st = rtn_fail(RTN_ERR_FORMAT, "logistic regression: the checkpointed solver state "
                      "(%zu coefficients, memory %d, %d iterations) does not fit this problem "
                      "(%zu, %d, max %d)", state->n, state->memory, state->iteration, n, mem,
                      max_iter);
    else if (resumed) {
        /* everything the loop reads at the top of an iteration, as it was */
        memcpy(x, state->x, n * sizeof(double));
        memcpy(g, state->g, n * sizeof(double));
        memcpy(S, state->S, n * (size_t)mem * sizeof(double));
        memcpy(Y, state->Y, n * (size_t)mem * sizeof(double));
        memcpy(rho, state->rho, (size_t)mem * sizeof(double));
        memcpy(L0, state->L0, n * n * sizeof(double));
        memcpy(hist, state->history, (size_t)state->n_history * sizeof(double));
        nh = state->n_history;
        it = state->iteration;
        npairs = state->npairs;
        newest = state->newest;
        have_L0 = state->have_L0;
        evals_before = state->evaluations;
        F = state->objective;
        if (state->finished) {
            converged = state->converged;
            reason = state->stop_reason;
        }
    } else {
        st = rtn_logreg_problem_eval(p, x, &f, g);
        F = f + l1 * l1_norm(n, x);
        pseudo_grad(n, x, g, l1, pg);
        gn = inf_norm(n, pg);
        if (st == RTN_OK && gn > tol && l1 == 0) { /* OWL-QN fares better without it */
            st = sample_hessian(p, L0);
            if (st == RTN_OK) have_L0 = cholesky(L0, n); /* same bits on every rank */
        }
        hist[nh++] = F;
        if (st == RTN_OK && state) {
            st = rtn_agree(p->comm, state_alloc(state, n, mem, max_iter + 1));
            if (st == RTN_OK) {
                memcpy(state->L0, L0, n * n * sizeof(double));
                state->have_L0 = have_L0;
                state->history[0] = F;
                state->n_history = 1;
                state->valid = 1;
            }
        }
    }
    if (resumed) {
        pseudo_grad(n, x, g, l1, pg);
        gn = inf_norm(n, pg);
    }
    while (st == RTN_OK && !(resumed && state->finished)) {
        if (!isfinite(F) || !isfinite(gn)) {
            st = rtn_fail(RTN_ERR_NUMERIC, "logistic regression: objective is not finite");
            break;
        }
        if (gn <= tol) {
            converged = 1;
            reason = "gradient tolerance reached";
            break;
        }
        if (it >= max_iter) break;
        /* Direction -H pg by the two-loop recursion. */
        memcpy(q, pg, n * sizeof(double));
        for (int c = 0; c < npairs; c++) {
            int i = (newest - c + mem) % mem;
            alph[i] = rho[i] * dot(n, S + (size_t)i * n, q);
            for (size_t j = 0; j < n; j++) q[j] -= alph[i] * Y[(size_t)i * n + j];
        }
        if (have_L0) {
            chol_solve(L0, n, q); /* initial matrix: the sampled Hessian at the start */
        } else {
            double gamma;
            if (npairs) {
                const double *sv = S + (size_t)newest * n, *yv = Y + (size_t)newest * n;
                gamma = dot(n, sv, yv) / dot(n, yv, yv);
            } else {
                /* Standardized columns: the Hessian diagonal is about mean curvature + l2. */
                gamma = 1.0 / (p->dbar + p->l2);
            }
            for (size_t j = 0; j < n; j++) q[j] *= gamma;
        }
        for (int c = npairs - 1; c >= 0; c--) {
            int i = (newest - c + mem) % mem;
            double b = rho[i] * dot(n, Y + (size_t)i * n, q);
            for (size_t j = 0; j < n; j++) q[j] += S[(size_t)i * n + j] * (alph[i] - b);
        }
        for (size_t j = 0; j < n; j++) dir[j] = -q[j];
        if (l1 > 0)
            for (size_t j = 1; j < n; j++)
                if (dir[j] * pg[j] >= 0) dir[j] = 0; /* stay in the orthant of -pg */
        if (!p->fit_intercept) dir[0] = 0;
        if (dot(n, dir, pg) >= 0) { /* not a descent direction: restart from steepest */
            npairs = 0;
            for (size_t j = 0; j < n; j++) dir[j] = -pg[j] / (p->dbar + p->l2);
        }
        /* Backtracking line search on the projected path. */
        double t = 1.0, Ft = 0, ft = 0;
        int accepted = 0;
        for (int ls = 0; ls < 60 && st == RTN_OK; ls++) {
            for (size_t j = 0; j < n; j++) {
                xt[j] = x[j] + t * dir[j];
                if (l1 > 0 && j > 0) {
                    double xi = x[j] != 0 ? x[j] : -pg[j];
                    if (xt[j] * xi <= 0) xt[j] = 0;
                }
            }
            st = rtn_logreg_problem_eval(p, xt, &ft, gt);
            if (st) break;
            Ft = ft + l1 * l1_norm(n, xt);
            double dec = 0;
            for (size_t j = 0; j < n; j++) dec += pg[j] * (xt[j] - x[j]);
            if (Ft <= F + 1e-4 * dec) {
                accepted = 1;
                break;
            }
            /* Objective flat within rounding: accept if the gradient still shrinks. */
            if (fabs(Ft - F) <= 8 * DBL_EPSILON * fabs(F)) {
                pseudo_grad(n, xt, gt, l1, pgt);
                if (inf_norm(n, pgt) < gn) {
                    accepted = 1;
                    break;
                }
            }
            t *= 0.5;
        }
        if (st) break;
        if (!accepted) {
            reason = "line search made no progress (objective flat at machine precision)";
            break;
        }
        /* Curvature pair from the smooth gradients. */
        int slot = (newest + 1) % mem;
        double *sv = S + (size_t)slot * n, *yv = Y + (size_t)slot * n;
        for (size_t j = 0; j < n; j++) {
            sv[j] = xt[j] - x[j];
            yv[j] = gt[j] - g[j];
        }
        double sy = dot(n, sv, yv), yy = dot(n, yv, yv);
        if (sy > DBL_EPSILON * yy && sy > 0) {
            rho[slot] = 1.0 / sy;
            newest = slot;
            if (npairs < mem) npairs++;
        }
        memcpy(x, xt, n * sizeof(double));
        memcpy(g, gt, n * sizeof(double));
        F = Ft;
        pseudo_grad(n, x, g, l1, pg);
        gn = inf_norm(n, pg);
        it++;
        rtn_debug("logistic regression: iteration %d objective %.17g gradient %.3e step %g", it, F,
                  gn, t);
        hist[nh++] = F;
        if (state) {
            memcpy(state->x, x, n * sizeof(double));
            memcpy(state->g, g, n * sizeof(double));
            memcpy(state->S, S, n * (size_t)mem * sizeof(double));
            memcpy(state->Y, Y, n * (size_t)mem * sizeof(double));
            memcpy(state->rho, rho, (size_t)mem * sizeof(double));
            state->history[nh - 1] = F;
            state->n_history = nh;
            state->iteration = it;
            state->npairs = npairs;
            state->newest = newest;
            state->objective = F;
            state->evaluations = evals_before + p->evals - evals0;
            if (boundary) st = boundary(ctx, state);
        }
    }
    if (st == RTN_OK && state && !(resumed && state->finished)) {
        /* the final state: a resumed run rebuilds the model from it without solving */
        memcpy(state->x, x, n * sizeof(double));
        memcpy(state->g, g, n * sizeof(double));
        memcpy(state->history, hist, (size_t)nh * sizeof(double));
        state->n_history = nh;
        state->iteration = it;
        state->objective = F;
        state->evaluations = evals_before + p->evals - evals0;
        state->finished = 1;
        state->converged = converged;
        snprintf(state->stop_reason, sizeof state->stop_reason, "%s", reason);
        reason = state->stop_reason;
        if (boundary) st = boundary(ctx, state);
    }
    if (st == RTN_OK) {
        info->objective = F;
        info->grad_norm = gn;
        info->iterations = it;
        info->evaluations = evals_before + p->evals - evals0;
        info->converged = converged;
        snprintf(info->stop_reason, sizeof info->stop_reason, "%s", reason);
        free(info->history);
        info->history = hist;
        info->n_history = nh;
        hist = NULL;
    }
    free(hist);
    free(buf);
    free(L0);
    return st;
}

/* ---- fit / predict ------------------------------------------------------------------- */

void rtn_logreg_model_free(rtn_logreg_model *m)
{
    if (!m) return;
    rtn_scaler_free(&m->scaler);
    free(m->coef_std);
    free(m->coef);
    free(m->history);
    m->coef_std = m->coef = m->history = NULL;
}

rtn_status rtn_logreg_fit(MPI_Comm comm, const rtn_bucketed_rows *X, const int8_t *y,
                          const double *w, const uint8_t *train_mask,
                          const rtn_logreg_options *opt, const double *warm_start_orig,
                          rtn_logreg_model *out)
{
    return rtn_logreg_fit_resumable(comm, X, y, w, train_mask, opt, warm_start_orig, NULL, NULL,
                                    NULL, out);
}

rtn_status rtn_logreg_fit_resumable(MPI_Comm comm, const rtn_bucketed_rows *X, const int8_t *y,
                                    const double *w, const uint8_t *train_mask,
                                    const rtn_logreg_options *opt, const double *warm_start_orig,
                                    rtn_logreg_state *state, rtn_logreg_boundary boundary,
                                    void *ctx, rtn_logreg_model *out)
{
    size_t d = X->d;
    memset(out, 0, sizeof *out);
    out->d = d;
    out->options = *opt;
    rtn_status st = rtn_agree(comm, check_options(opt));
    if (st) return st;
    if (opt->standardize) {
        st = rtn_scaler_fit(&out->scaler, comm, X, train_mask, NULL);
        if (st) return st;
        /* A non-finite feature poisons its column's mean: name the first such row. */
        for (size_t j = 0; j < d && st == RTN_OK; j++) {
            if (isfinite(out->scaler.mean[j])) continue;
            for (size_t i = 0; i < X->n && st == RTN_OK; i++)
                if ((!train_mask || train_mask[i]) && !isfinite(X->X[i * d + j]))
                    st = rtn_fail(RTN_ERR_DATA,
                                  "logistic regression: feature %zu of local row %zu is not "
                                  "finite (%g)",
                                  j, i, X->X[i * d + j]);
            if (st == RTN_OK) /* the bad value is on another rank */
                st = rtn_fail(RTN_ERR_DATA,
                              "logistic regression: feature %zu has non-finite values", j);
        }
        st = rtn_agree(comm, st);
        if (st) {
            rtn_logreg_model_free(out);
            return st;
        }
    } else {
        out->scaler.d = d;
        out->scaler.mean = rtn_calloc(d + 1, sizeof(double), "scaler mean");
        out->scaler.scale = rtn_malloc((d + 1) * sizeof(double), "scaler scale");
        st = out->scaler.mean && out->scaler.scale ? RTN_OK : RTN_ERR_NOMEM;
        if (st == RTN_OK)
            for (size_t j = 0; j < d; j++) out->scaler.scale[j] = 1.0;
        st = rtn_agree(comm, st);
        if (st) {
            rtn_logreg_model_free(out);
            return st;
        }
    }
    out->coef_std = rtn_calloc(d + 1, sizeof(double), "coefficients");
    out->coef = rtn_calloc(d + 1, sizeof(double), "coefficients");
    double *x = rtn_calloc(d + 1, sizeof(double), "solver point");
    st = rtn_agree(comm, out->coef_std && out->coef && x ? RTN_OK : RTN_ERR_NOMEM);
    rtn_logreg_problem *p = NULL;
    if (st == RTN_OK)
        st = rtn_logreg_problem_create(&p, comm, X, y, w, train_mask,
                                       opt->standardize ? &out->scaler : NULL, opt);
    if (st == RTN_OK) {
        rtn_logreg_problem_info(p, &out->n_train, &out->n_pos, &out->weight_sum,
                                out->class_weight);
        if (warm_start_orig) {
            /* Same decision function in the new standardized units. */
            x[0] = warm_start_orig[0];
            for (size_t j = 0; j < d; j++) {
                x[1 + j] = warm_start_orig[1 + j] * out->scaler.scale[j];
                x[0] += warm_start_orig[1 + j] * out->scaler.mean[j];
            }
            if (!opt->fit_intercept) x[0] = 0;
        } else if (opt->fit_intercept && p->wpos > 0 && p->wpos < p->wsum) {
            /* Cold start at the intercept-only optimum of the weighted loss. */
            x[0] = log(p->wpos / (p->wsum - p->wpos));
        }
        st = solve(p, x, out, state, boundary, ctx);
    }
    rtn_logreg_problem_free(p);
    if (st == RTN_OK) {
        out->intercept_std = x[0];
        out->intercept = x[0];
        for (size_t j = 0; j < d; j++) {
            out->coef_std[j] = x[1 + j];
            out->coef[j] = x[1 + j] / out->scaler.scale[j];
            out->intercept -= x[1 + j] * out->scaler.mean[j] / out->scaler.scale[j];
        }
    }
    free(x);
    if (st) rtn_logreg_model_free(out);
    return st;
}

void rtn_logreg_decision(const rtn_logreg_model *m, const double *X, size_t n, double *z)
{
    size_t d = m->d;
    for (size_t i = 0; i < n; i++) {
        double t = m->intercept_std;
        const double *xi = X + i * d;
        for (size_t j = 0; j < d; j++)
            t += m->coef_std[j] * ((xi[j] - m->scaler.mean[j]) / m->scaler.scale[j]);
        z[i] = t;
    }
}

void rtn_logreg_predict(const rtn_logreg_model *m, const double *X, size_t n, double *prob)
{
    rtn_logreg_decision(m, X, n, prob);
    for (size_t i = 0; i < n; i++) {
        double t = prob[i];
        double e = expm_k(fabs(t));
        double inv = 1.0 / (1.0 + e);
        prob[i] = t >= 0 ? inv : e * inv;
    }
}
