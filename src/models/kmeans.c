/* Distributed k-means: k-means|| initialization, Lloyd iterations with bucket-ordered
 * reductions, deterministic empty-cluster re-seeding, restarts, k selection.
 * Design and determinism argument: docs/segmentation.md. */
#include "retain/kmeans.h"

#include <cblas.h>
#include <immintrin.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/log.h"

/* ------------------------------------------------------------------------------------ */
/* options, model                                                                       */

void rtn_kmeans_options_default(rtn_kmeans_options *o, int k)
{
    memset(o, 0, sizeof *o);
    o->k = k;
    o->max_iter = 300;
    o->tol = 1e-4;
    o->n_init = 3;
    o->seed = 42;
    o->oversampling = 0;
    o->init_rounds = 5;
    o->local_iter = 30;
    o->kernel = RTN_KMEANS_KERNEL_AUTO;
}

void rtn_kmeans_model_free(rtn_kmeans_model *m)
{
    if (!m) return;
    free(m->centroids);
    free(m->sizes);
    m->centroids = m->sizes = NULL;
}

static rtn_status model_alloc(rtn_kmeans_model *m, int k, size_t d)
{
    memset(m, 0, sizeof *m);
    m->k = k;
    m->d = d;
    m->centroids = rtn_calloc((size_t)k * d + 1, sizeof(double), "k-means centroids");
    m->sizes = rtn_calloc((size_t)k + 1, sizeof(double), "k-means sizes");
    if (!m->centroids || !m->sizes) {
        rtn_kmeans_model_free(m);
        return RTN_ERR_NOMEM;
    }
    return RTN_OK;
}

rtn_status rtn_kmeans_model_copy(rtn_kmeans_model *dst, const rtn_kmeans_model *src)
{
    RTN_TRY(model_alloc(dst, src->k, src->d));
    double *c = dst->centroids, *s = dst->sizes;
    *dst = *src;
    dst->centroids = c;
    dst->sizes = s;
    memcpy(c, src->centroids, (size_t)src->k * src->d * sizeof(double));
    memcpy(s, src->sizes, (size_t)src->k * sizeof(double));
    return RTN_OK;
}

/* ------------------------------------------------------------------------------------ */
/* hashing: randomness is a function of (seed, round, row identity) only                */

static inline uint64_t row_hash(uint64_t seed, uint64_t round, uint64_t id)
{
    return rtn_mix64(rtn_mix64(rtn_mix64(seed) ^ (round * 0xd1b54a32d192ed03ULL)) ^ id);
}

static inline double hash01(uint64_t h)
{
    return (double)(h >> 11) * 0x1p-53;
}

static inline uint64_t row_id(const rtn_bucketed_rows *R, const uint64_t *keys, uint32_t b,
                              uint64_t i)
{
    if (keys) return keys[i];
    return ((uint64_t)b << 32) | (i - R->boff[b - R->b0]);
}

/* A small sequential generator for the work every rank repeats identically. */
typedef struct {
    uint64_t s;
} lrng;

static double lrng_next(lrng *g)
{
    g->s += 0x9e3779b97f4a7c15ULL;
    return hash01(rtn_mix64(g->s));
}

/* ------------------------------------------------------------------------------------ */
/* the distance kernel                                                                  */
/*
 * For a row x and centroid c the kernel computes v(x, c) = |c|^2 - 2 x.c as
 * acc = |c|^2; for j = 0..d-1: acc = fma(x_j, -2 c_j, acc), always in this order and with
 * a single rounding per step, whatever the instruction set (AVX-512, AVX2 or scalar fma()).
 * A row's result therefore depends only on the row and the centroids, never on its
 * position in a block, the block size or the rank count. argmin_c v(x, c) is the nearest
 * centroid (|x|^2 is the same for all c); ties go to the lowest index.
 * Centroids are stored in panels of 8: panel[g][j][l] = -2 c_{8g+l, j}, padding lanes 0
 * with |c|^2 = +inf so they never win. The BLAS variant computes -2 X C^T with dgemm on
 * blocks that start at a bucket's first row (so it too is independent of the rank count).
 */
#define KBLOCK 128 /* rows per block: 128 x 24 doubles stay in L1 */

typedef struct {
    int k, ng;
    size_t d;
    int blas;
    double *panel; /* ng x d x 8 */
    double *cn;    /* ng x 8 */
    double *C;     /* k x d copy (BLAS) */
    double *work;  /* KBLOCK x k (BLAS) */
} kpanel;

/* Zeroed doubles on a 64-byte boundary: a 512-bit load that straddles two cache lines
 * costs two, and the panel is read in the innermost loop. */
static double *calloc64(size_t count, const char *what)
{
    size_t bytes = (count * sizeof(double) + 63) & ~(size_t)63;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) {
        rtn_fail(RTN_ERR_NOMEM, "out of memory: %s (%zu bytes)", what, bytes);
        return NULL;
    }
    memset(p, 0, bytes ? bytes : 64);
    return p;
}

static void kpanel_free(kpanel *P)
{
    free(P->panel);
    free(P->cn);
    free(P->C);
    free(P->work);
    memset(P, 0, sizeof *P);
}

static rtn_status kpanel_init(kpanel *P, int k, size_t d, rtn_kmeans_kernel kernel)
{
    memset(P, 0, sizeof *P);
    P->k = k;
    P->d = d;
    P->ng = (k + 7) / 8;
    P->blas = kernel == RTN_KMEANS_KERNEL_BLAS || (kernel == RTN_KMEANS_KERNEL_AUTO && k > 64);
    P->panel = calloc64((size_t)P->ng * d * 8 + 8, "k-means panel");
    P->cn = calloc64((size_t)P->ng * 8 + 8, "k-means norms");
    P->C = rtn_calloc((size_t)k * d + 1, sizeof(double), "k-means centroids");
    P->work = rtn_calloc((size_t)KBLOCK * (size_t)k + 1, sizeof(double), "k-means block");
    if (!P->panel || !P->cn || !P->C || !P->work) {
        kpanel_free(P);
        return RTN_ERR_NOMEM;
    }
    return RTN_OK;
}

static void kpanel_set(kpanel *P, const double *C)
{
    size_t d = P->d;
    memcpy(P->C, C, (size_t)P->k * d * sizeof(double));
    for (int g = 0; g < P->ng; g++)
        for (int l = 0; l < 8; l++) {
            int c = 8 * g + l;
            double nrm = 0;
            for (size_t j = 0; j < d; j++) {
                double v = c < P->k ? C[(size_t)c * d + j] : 0.0;
                P->panel[((size_t)g * d + j) * 8 + l] = -2.0 * v;
                nrm += v * v;
            }
            P->cn[g * 8 + l] = c < P->k ? nrm : INFINITY;
        }
}

static void nearest_scalar(const kpanel *P, const double *X, size_t m, int32_t *lab, double *val)
{
    size_t d = P->d;
    for (size_t i = 0; i < m; i++) {
        const double *x = X + i * d;
        double best = INFINITY;
        int32_t bi = 0;
        for (int g = 0; g < P->ng; g++) {
            const double *pan = P->panel + (size_t)g * d * 8;
            for (int l = 0; l < 8; l++) {
                double acc = P->cn[g * 8 + l];
                for (size_t j = 0; j < d; j++) acc = fma(x[j], pan[j * 8 + l], acc);
                if (acc < best) {
                    best = acc;
                    bi = 8 * g + l;
                }
            }
        }
        lab[i] = bi;
        val[i] = best;
    }
}

__attribute__((target("avx512f,fma"))) static void
nearest_avx512(const kpanel *P, const double *X, size_t m, int32_t *lab, double *val)
{
    size_t d = P->d;
    for (size_t i = 0; i < m; i++) {
        lab[i] = 0;
        val[i] = INFINITY;
    }
    for (int g = 0; g < P->ng; g++) {
        const double *pan = P->panel + (size_t)g * d * 8;
        __m512d cn = _mm512_loadu_pd(P->cn + g * 8);
        size_t i = 0;
        __m512d a[8];
        for (; i + 8 <= m; i += 8) {
            const double *x = X + i * d;
            /* the hardware prefetcher loses track of 8 interleaved row streams: fetch the
             * group after next (rows are contiguous, also across blocks and buckets; a
             * prefetch past the end of the array is harmless) */
            for (size_t q = 0; q < 8 * d; q += 8)
                _mm_prefetch((const char *)(x + 16 * d + q), _MM_HINT_T0);
            for (int r = 0; r < 8; r++) a[r] = cn;
            for (size_t j = 0; j < d; j++) {
                __m512d c = _mm512_loadu_pd(pan + j * 8);
                a[0] = _mm512_fmadd_pd(_mm512_set1_pd(x[j]), c, a[0]);
                a[1] = _mm512_fmadd_pd(_mm512_set1_pd(x[d + j]), c, a[1]);
                a[2] = _mm512_fmadd_pd(_mm512_set1_pd(x[2 * d + j]), c, a[2]);
                a[3] = _mm512_fmadd_pd(_mm512_set1_pd(x[3 * d + j]), c, a[3]);
                a[4] = _mm512_fmadd_pd(_mm512_set1_pd(x[4 * d + j]), c, a[4]);
                a[5] = _mm512_fmadd_pd(_mm512_set1_pd(x[5 * d + j]), c, a[5]);
                a[6] = _mm512_fmadd_pd(_mm512_set1_pd(x[6 * d + j]), c, a[6]);
                a[7] = _mm512_fmadd_pd(_mm512_set1_pd(x[7 * d + j]), c, a[7]);
            }
            for (int r = 0; r < 8; r++) {
                double mn = _mm512_reduce_min_pd(a[r]);
                if (mn < val[i + r]) {
                    __mmask8 eq = _mm512_cmp_pd_mask(a[r], _mm512_set1_pd(mn), _CMP_EQ_OQ);
                    val[i + r] = mn;
                    lab[i + r] = 8 * g + __builtin_ctz((unsigned)eq);
                }
            }
        }
        for (; i < m; i++) {
            const double *x = X + i * d;
            __m512d acc = cn;
            for (size_t j = 0; j < d; j++)
                acc = _mm512_fmadd_pd(_mm512_set1_pd(x[j]), _mm512_loadu_pd(pan + j * 8), acc);
            double mn = _mm512_reduce_min_pd(acc);
            if (mn < val[i]) {
                __mmask8 eq = _mm512_cmp_pd_mask(acc, _mm512_set1_pd(mn), _CMP_EQ_OQ);
                val[i] = mn;
                lab[i] = 8 * g + __builtin_ctz((unsigned)eq);
            }
        }
    }
}

/* k <= 8 (one panel), 8 rows at a time: the 8 rows' distance vectors are transposed (row r
 * in lane r, one vector per centroid) so that the argmin is 8 vertical compare-and-blend
 * steps in centroid order, strict "<" from +inf and label 0: the scalar kernel's rule, ties
 * to the lowest index, instead of a horizontal minimum and a compare per row. Padding lanes
 * (l >= k) are skipped: they are +inf or NaN and never win in the scalar kernel either. */
__attribute__((target("avx512f,fma"))) static inline __m512i
k8_group(const double *pan, __m512d cn, size_t d, int k, const double *x, __m512d *bestp)
{
    for (size_t q = 0; q < 8 * d; q += 8) /* see nearest_avx512 */
        _mm_prefetch((const char *)(x + 16 * d + q), _MM_HINT_T0);
    __m512d a0 = cn, a1 = cn, a2 = cn, a3 = cn, a4 = cn, a5 = cn, a6 = cn, a7 = cn;
    for (size_t j = 0; j < d; j++) {
        __m512d c = _mm512_loadu_pd(pan + j * 8);
        a0 = _mm512_fmadd_pd(_mm512_set1_pd(x[j]), c, a0);
        a1 = _mm512_fmadd_pd(_mm512_set1_pd(x[d + j]), c, a1);
        a2 = _mm512_fmadd_pd(_mm512_set1_pd(x[2 * d + j]), c, a2);
        a3 = _mm512_fmadd_pd(_mm512_set1_pd(x[3 * d + j]), c, a3);
        a4 = _mm512_fmadd_pd(_mm512_set1_pd(x[4 * d + j]), c, a4);
        a5 = _mm512_fmadd_pd(_mm512_set1_pd(x[5 * d + j]), c, a5);
        a6 = _mm512_fmadd_pd(_mm512_set1_pd(x[6 * d + j]), c, a6);
        a7 = _mm512_fmadd_pd(_mm512_set1_pd(x[7 * d + j]), c, a7);
    }
    /* 8 x 8 transpose: pairs of rows, then pairs of pairs, then 256-bit halves */
    __m512d t0 = _mm512_unpacklo_pd(a0, a1), t1 = _mm512_unpackhi_pd(a0, a1);
    __m512d t2 = _mm512_unpacklo_pd(a2, a3), t3 = _mm512_unpackhi_pd(a2, a3);
    __m512d t4 = _mm512_unpacklo_pd(a4, a5), t5 = _mm512_unpackhi_pd(a4, a5);
    __m512d t6 = _mm512_unpacklo_pd(a6, a7), t7 = _mm512_unpackhi_pd(a6, a7);
    const __m512i lo = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
    const __m512i hi = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    __m512d u0 = _mm512_permutex2var_pd(t0, lo, t2), u1 = _mm512_permutex2var_pd(t0, hi, t2);
    __m512d u2 = _mm512_permutex2var_pd(t1, lo, t3), u3 = _mm512_permutex2var_pd(t1, hi, t3);
    __m512d u4 = _mm512_permutex2var_pd(t4, lo, t6), u5 = _mm512_permutex2var_pd(t4, hi, t6);
    __m512d u6 = _mm512_permutex2var_pd(t5, lo, t7), u7 = _mm512_permutex2var_pd(t5, hi, t7);
    __m512d best = _mm512_set1_pd(INFINITY);
    __m512i idx = _mm512_setzero_si512();
    __mmask8 lt;
#define K8_STEP(l, v)                                                                        \
    do {                                                                                     \
        __m512d col_ = (v);                                                                  \
        lt = _mm512_cmp_pd_mask(col_, best, _CMP_LT_OQ);                                     \
        best = _mm512_mask_mov_pd(best, lt, col_);                                           \
        idx = _mm512_mask_mov_epi32(idx, (__mmask16)lt, _mm512_set1_epi32(l));               \
    } while (0)
    K8_STEP(0, _mm512_shuffle_f64x2(u0, u4, 0x44));
    if (k > 1) K8_STEP(1, _mm512_shuffle_f64x2(u2, u6, 0x44));
    if (k > 2) K8_STEP(2, _mm512_shuffle_f64x2(u1, u5, 0x44));
    if (k > 3) K8_STEP(3, _mm512_shuffle_f64x2(u3, u7, 0x44));
    if (k > 4) K8_STEP(4, _mm512_shuffle_f64x2(u0, u4, 0xEE));
    if (k > 5) K8_STEP(5, _mm512_shuffle_f64x2(u2, u6, 0xEE));
    if (k > 6) K8_STEP(6, _mm512_shuffle_f64x2(u1, u5, 0xEE));
    if (k > 7) K8_STEP(7, _mm512_shuffle_f64x2(u3, u7, 0xEE));
#undef K8_STEP
    *bestp = best;
    return idx; /* int32 lanes 0..7 */
}

/* One row against a single panel with the scalar kernel's argmin rule (group tails). */
__attribute__((target("avx512f,fma"))) static inline int32_t
k8_row(const double *pan, __m512d cn, size_t d, int k, const double *x, double *bestp)
{
    __m512d acc = cn;
    for (size_t j = 0; j < d; j++)
        acc = _mm512_fmadd_pd(_mm512_set1_pd(x[j]), _mm512_loadu_pd(pan + j * 8), acc);
    double t[8], best = INFINITY;
    int32_t bi = 0;
    _mm512_storeu_pd(t, acc);
    for (int l = 0; l < k; l++)
        if (t[l] < best) {
            best = t[l];
            bi = l;
        }
    *bestp = best;
    return bi;
}

/* The assignment pass for k <= 8 in one sweep over the rows: labels of 8 rows, then (sums
 * != NULL) their sums and counts while the rows are in L1, in row order as accumulate()
 * adds them, so the memory stream is not interrupted by a second loop per block. Returns
 * the number of labels in L that changed. */
__attribute__((target("avx512f,fma"))) static int64_t
assign_k8_avx512(const kpanel *P, const double *X, size_t m, int32_t *L, double *sums,
                 double *cnt)
{
    size_t d = P->d;
    int k = P->k;
    const double *pan = P->panel;
    __m512d cn = _mm512_loadu_pd(P->cn);
    size_t dv = d & ~(size_t)7;
    __mmask8 tail = (__mmask8)((1u << (d - dv)) - 1u);
    int64_t ch = 0;
    size_t i = 0;
    for (; i + 8 <= m; i += 8) {
        const double *x = X + i * d;
        __m512d best;
        __m512i idx = k8_group(pan, cn, d, k, x, &best);
        __m512i old = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(L + i)));
        ch += __builtin_popcount((unsigned)_mm512_mask_cmpneq_epi32_mask(0xFF, idx, old));
        _mm256_storeu_si256((__m256i *)(L + i), _mm512_castsi512_si256(idx));
        if (sums)
            for (int r = 0; r < 8; r++) {
                double *s = sums + (size_t)L[i + r] * d;
                const double *xr = x + (size_t)r * d;
                size_t j = 0;
                for (; j < dv; j += 8)
                    _mm512_storeu_pd(s + j, _mm512_add_pd(_mm512_loadu_pd(s + j),
                                                          _mm512_loadu_pd(xr + j)));
                if (tail)
                    _mm512_mask_storeu_pd(s + j, tail,
                                          _mm512_add_pd(_mm512_maskz_loadu_pd(tail, s + j),
                                                        _mm512_maskz_loadu_pd(tail, xr + j)));
                cnt[L[i + r]] += 1;
            }
    }
    for (; i < m; i++) {
        const double *x = X + i * d;
        double best;
        int32_t bi = k8_row(pan, cn, d, k, x, &best);
        ch += L[i] != bi;
        L[i] = bi;
        if (sums) {
            double *s = sums + (size_t)bi * d;
            for (size_t j = 0; j < d; j++) s[j] += x[j];
            cnt[bi] += 1;
        }
    }
    return ch;
}

__attribute__((target("avx512f,fma"))) static void
nearest_k8_avx512(const kpanel *P, const double *X, size_t m, int32_t *lab, double *val)
{
    size_t d = P->d;
    __m512d cn = _mm512_loadu_pd(P->cn);
    size_t i = 0;
    for (; i + 8 <= m; i += 8) {
        __m512d best;
        __m512i idx = k8_group(P->panel, cn, d, P->k, X + i * d, &best);
        _mm512_storeu_pd(val + i, best);
        _mm256_storeu_si256((__m256i *)(lab + i), _mm512_castsi512_si256(idx));
    }
    for (; i < m; i++) lab[i] = k8_row(P->panel, cn, d, P->k, X + i * d, val + i);
}

__attribute__((target("avx2,fma"))) static void
nearest_avx2(const kpanel *P, const double *X, size_t m, int32_t *lab, double *val)
{
    size_t d = P->d;
    for (size_t i = 0; i < m; i++) {
        lab[i] = 0;
        val[i] = INFINITY;
    }
    for (int g = 0; g < P->ng; g++) {
        const double *pan = P->panel + (size_t)g * d * 8;
        __m256d cl = _mm256_loadu_pd(P->cn + g * 8), ch = _mm256_loadu_pd(P->cn + g * 8 + 4);
        size_t i = 0;
        for (; i + 4 <= m; i += 4) {
            const double *x = X + i * d;
            __m256d l0 = cl, l1 = cl, l2 = cl, l3 = cl, h0 = ch, h1 = ch, h2 = ch, h3 = ch;
            for (size_t j = 0; j < d; j++) {
                __m256d pl = _mm256_loadu_pd(pan + j * 8), ph = _mm256_loadu_pd(pan + j * 8 + 4);
                __m256d x0 = _mm256_broadcast_sd(x + j), x1 = _mm256_broadcast_sd(x + d + j);
                __m256d x2 = _mm256_broadcast_sd(x + 2 * d + j);
                __m256d x3 = _mm256_broadcast_sd(x + 3 * d + j);
                l0 = _mm256_fmadd_pd(x0, pl, l0);
                h0 = _mm256_fmadd_pd(x0, ph, h0);
                l1 = _mm256_fmadd_pd(x1, pl, l1);
                h1 = _mm256_fmadd_pd(x1, ph, h1);
                l2 = _mm256_fmadd_pd(x2, pl, l2);
                h2 = _mm256_fmadd_pd(x2, ph, h2);
                l3 = _mm256_fmadd_pd(x3, pl, l3);
                h3 = _mm256_fmadd_pd(x3, ph, h3);
            }
            double t[4][8];
            _mm256_storeu_pd(t[0], l0);
            _mm256_storeu_pd(t[0] + 4, h0);
            _mm256_storeu_pd(t[1], l1);
            _mm256_storeu_pd(t[1] + 4, h1);
            _mm256_storeu_pd(t[2], l2);
            _mm256_storeu_pd(t[2] + 4, h2);
            _mm256_storeu_pd(t[3], l3);
            _mm256_storeu_pd(t[3] + 4, h3);
            for (int r = 0; r < 4; r++)
                for (int l = 0; l < 8; l++)
                    if (t[r][l] < val[i + r]) {
                        val[i + r] = t[r][l];
                        lab[i + r] = 8 * g + l;
                    }
        }
        for (; i < m; i++) {
            const double *x = X + i * d;
            __m256d lo = cl, hi = ch;
            for (size_t j = 0; j < d; j++) {
                __m256d xv = _mm256_broadcast_sd(x + j);
                lo = _mm256_fmadd_pd(xv, _mm256_loadu_pd(pan + j * 8), lo);
                hi = _mm256_fmadd_pd(xv, _mm256_loadu_pd(pan + j * 8 + 4), hi);
            }
            double t[8];
            _mm256_storeu_pd(t, lo);
            _mm256_storeu_pd(t + 4, hi);
            for (int l = 0; l < 8; l++)
                if (t[l] < val[i]) {
                    val[i] = t[l];
                    lab[i] = 8 * g + l;
                }
        }
    }
}

static void nearest_blas(kpanel *P, const double *X, size_t m, int32_t *lab, double *val)
{
    size_t d = P->d;
    int k = P->k;
    for (size_t i0 = 0; i0 < m; i0 += KBLOCK) {
        size_t mb = m - i0 < KBLOCK ? m - i0 : KBLOCK;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)mb, k, (int)d, -2.0,
                    X + i0 * d, (int)d, P->C, (int)d, 0.0, P->work, k);
        for (size_t i = 0; i < mb; i++) {
            const double *w = P->work + i * (size_t)k;
            double best = INFINITY;
            int32_t bi = 0;
            for (int c = 0; c < k; c++) {
                double v = w[c] + P->cn[c];
                if (v < best) {
                    best = v;
                    bi = c;
                }
            }
            lab[i0 + i] = bi;
            val[i0 + i] = best;
        }
    }
}

/* sums[lab[t]] += x_t for the rows of a block, in row order: element-wise additions, so
 * the vector widths below give the same bits as the scalar loop. */
static void accumulate_scalar(const double *X, size_t m, size_t d, const int32_t *lab,
                              double *sums)
{
    for (size_t t = 0; t < m; t++) {
        double *s = sums + (size_t)lab[t] * d;
        const double *x = X + t * d;
        for (size_t j = 0; j < d; j++) s[j] += x[j];
    }
}

__attribute__((target("avx512f"))) static void
accumulate_avx512(const double *X, size_t m, size_t d, const int32_t *lab, double *sums)
{
    size_t dv = d & ~(size_t)7;
    __mmask8 tail = (__mmask8)((1u << (d - dv)) - 1u);
    for (size_t t = 0; t < m; t++) {
        double *s = sums + (size_t)lab[t] * d;
        const double *x = X + t * d;
        size_t j = 0;
        for (; j < dv; j += 8)
            _mm512_storeu_pd(s + j, _mm512_add_pd(_mm512_loadu_pd(s + j), _mm512_loadu_pd(x + j)));
        if (tail)
            _mm512_mask_storeu_pd(s + j, tail,
                                  _mm512_add_pd(_mm512_maskz_loadu_pd(tail, s + j),
                                                _mm512_maskz_loadu_pd(tail, x + j)));
    }
}

__attribute__((target("avx2"))) static void
accumulate_avx2(const double *X, size_t m, size_t d, const int32_t *lab, double *sums)
{
    size_t dv = d & ~(size_t)3;
    for (size_t t = 0; t < m; t++) {
        double *s = sums + (size_t)lab[t] * d;
        const double *x = X + t * d;
        size_t j = 0;
        for (; j < dv; j += 4)
            _mm256_storeu_pd(s + j, _mm256_add_pd(_mm256_loadu_pd(s + j), _mm256_loadu_pd(x + j)));
        for (; j < d; j++) s[j] += x[j];
    }
}

static int isa_level = -1; /* 2: AVX-512, 1: AVX2, 0: scalar */

static void detect_isa(void)
{
    if (isa_level < 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma")) isa_level = 2;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa_level = 1;
        else isa_level = 0;
        const char *force = getenv("RETAIN_KMEANS_ISA"); /* tests: compare the code paths */
        if (force) {
            int f = atoi(force);
            if (f >= 0 && f < isa_level) isa_level = f;
        }
    }
}

static void accumulate(const double *X, size_t m, size_t d, const int32_t *lab, double *sums)
{
    detect_isa();
    if (isa_level == 2) accumulate_avx512(X, m, d, lab, sums);
    else if (isa_level == 1) accumulate_avx2(X, m, d, lab, sums);
    else accumulate_scalar(X, m, d, lab, sums);
}

static void nearest(kpanel *P, const double *X, size_t m, int32_t *lab, double *val)
{
    if (P->blas) {
        nearest_blas(P, X, m, lab, val);
        return;
    }
    detect_isa();
    if (isa_level == 2 && P->ng == 1) nearest_k8_avx512(P, X, m, lab, val);
    else if (isa_level == 2) nearest_avx512(P, X, m, lab, val);
    else if (isa_level == 1) nearest_avx2(P, X, m, lab, val);
    else nearest_scalar(P, X, m, lab, val);
}

/* Exact squared distance, used where a value is reported (inertia, re-seeding). */
static inline double sqdist(const double *a, const double *b, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++) {
        double t = a[j] - b[j];
        s += t * t;
    }
    return s;
}

/* sqdist of 8 consecutive rows to their centroids, with 8 independent chains. */
static void sqdist8(const double *X, size_t d, const double *C, const int32_t *lab, double *q)
{
    const double *c[8];
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int r = 0; r < 8; r++) c[r] = C + (size_t)lab[r] * d;
    for (size_t j = 0; j < d; j++)
        for (int r = 0; r < 8; r++) {
            double t = X[(size_t)r * d + j] - c[r][j];
            s[r] += t * t;
        }
    for (int r = 0; r < 8; r++) q[r] = s[r];
}

/* ------------------------------------------------------------------------------------ */
/* helpers for collectives                                                              */

static rtn_status bsum_scalar(MPI_Comm comm, const rtn_bucketed_rows *R, const double *perbucket,
                              double *out)
{
    return rtn_bucket_sum(comm, R->nbuckets, R->b0, R->b1, 1, perbucket, out);
}

/* Gathers the rows flagged in sel (local order) on every rank, in rank order, which is
 * bucket-then-row order because bucket ranges are contiguous. *out is malloc'ed. */
static rtn_status gather_rows(MPI_Comm comm, const rtn_bucketed_rows *R, const uint8_t *sel,
                              double **out, size_t *count)
{
    int size;
    MPI_Comm_size(comm, &size);
    size_t d = R->d;
    size_t mine = 0;
    for (size_t i = 0; i < R->n; i++) mine += sel[i] != 0;
    double *buf = rtn_malloc(mine * d * sizeof(double) + 1, "k-means gather");
    int *counts = rtn_malloc(sizeof(int) * (size_t)size * 2, "k-means gather counts");
    rtn_status st = (buf && counts) ? RTN_OK : RTN_ERR_NOMEM;
    if (st == RTN_OK && mine * d > (size_t)INT32_MAX / 2)
        st = rtn_fail(RTN_ERR_DATA, "k-means: too many rows to gather (%zu)", mine);
    st = rtn_agree(comm, st);
    if (st) {
        free(buf);
        free(counts);
        return st;
    }
    size_t o = 0;
    for (size_t i = 0; i < R->n; i++)
        if (sel[i]) memcpy(buf + (o++) * d, R->X + i * d, d * sizeof(double));
    int mycount = (int)(mine * d);
    MPI_Allgather(&mycount, 1, MPI_INT, counts, 1, MPI_INT, comm);
    int *displs = counts + size;
    long long total = 0;
    for (int r = 0; r < size; r++) {
        displs[r] = (int)total;
        total += counts[r];
    }
    double *all = NULL;
    if (total <= INT32_MAX) all = rtn_malloc((size_t)total * sizeof(double) + 1, "k-means gather");
    else rtn_fail(RTN_ERR_DATA, "k-means: gathered sample too large");
    st = rtn_agree(comm, all ? RTN_OK : RTN_ERR_NOMEM);
    if (st == RTN_OK)
        MPI_Allgatherv(buf, mycount, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, comm);
    free(buf);
    free(counts);
    if (st) {
        free(all);
        return st;
    }
    *out = all;
    *count = (size_t)total / (d ? d : 1);
    return RTN_OK;
}

/* Mean over columns of the population variance (scikit-learn's tolerance scale), with two
 * bucket-ordered passes. */
static rtn_status mean_variance(MPI_Comm comm, const rtn_bucketed_rows *R, double *out)
{
    size_t d = R->d, nb = R->b1 - R->b0;
    double *part = rtn_calloc(nb * (d + 1) + 1, sizeof(double), "k-means variance");
    double *tot = rtn_calloc(d + 1, sizeof(double), "k-means variance");
    rtn_status st = (part && tot) ? RTN_OK : RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    if (st == RTN_OK) {
        for (size_t b = 0; b < nb; b++) {
            double *p = part + b * (d + 1);
            for (uint64_t i = R->boff[b]; i < R->boff[b + 1]; i++) {
                p[0] += 1;
                for (size_t j = 0; j < d; j++) p[1 + j] += R->X[i * d + j];
            }
        }
        st = rtn_bucket_sum(comm, R->nbuckets, R->b0, R->b1, d + 1, part, tot);
    }
    if (st == RTN_OK) {
        double n = tot[0];
        double *mean = tot + 1;
        for (size_t j = 0; j < d; j++) mean[j] = n > 0 ? mean[j] / n : 0;
        memset(part, 0, (nb * (d + 1) + 1) * sizeof(double));
        for (size_t b = 0; b < nb; b++) {
            double *p = part + b * d;
            for (uint64_t i = R->boff[b]; i < R->boff[b + 1]; i++)
                for (size_t j = 0; j < d; j++) {
                    double t = R->X[i * d + j] - mean[j];
                    p[j] += t * t;
                }
        }
        double *var = rtn_calloc(d + 1, sizeof(double), "k-means variance");
        st = rtn_agree(comm, var ? RTN_OK : RTN_ERR_NOMEM);
        if (st == RTN_OK) st = rtn_bucket_sum(comm, R->nbuckets, R->b0, R->b1, d, part, var);
        if (st == RTN_OK) {
            double s = 0;
            for (size_t j = 0; j < d; j++) s += n > 0 ? var[j] / n : 0;
            *out = d ? s / (double)d : 0;
        }
        free(var);
    }
    free(part);
    free(tot);
    return st;
}

/* ------------------------------------------------------------------------------------ */
/* k-means|| (Bahmani et al. 2012)                                                      */

/* Weighted k-means++ (greedy, 2 + ln k trials per centre as scikit-learn) followed by
 * weighted Lloyd iterations, on the m candidates; every rank runs it identically. */
static rtn_status local_kmeanspp(const double *P, const double *w, size_t m, size_t d, int k,
                                 int local_iter, uint64_t seed, double *C)
{
    double *D2 = rtn_malloc(m * sizeof(double) + 1, "k-means++ distances");
    double *sums = rtn_calloc((size_t)k * (d + 1) + 1, sizeof(double), "k-means++ sums");
    int32_t *lab = rtn_malloc(m * sizeof(int32_t) + 1, "k-means++ labels");
    if (!D2 || !sums || !lab) {
        free(D2);
        free(sums);
        free(lab);
        return RTN_ERR_NOMEM;
    }
    rtn_status st = RTN_OK;
    lrng g = {rtn_mix64(seed ^ 0x6b6d65616e732b2bULL)};
    int trials = 2 + (int)log((double)k);
    /* first centre: probability proportional to weight */
    double wt = 0;
    for (size_t i = 0; i < m; i++) wt += w[i];
    size_t first = m;
    double r = lrng_next(&g) * wt, cum = 0;
    for (size_t i = 0; i < m; i++) {
        cum += w[i];
        if (w[i] > 0) first = i;
        if (w[i] > 0 && cum > r) break;
    }
    if (first == m) {
        st = rtn_fail(RTN_ERR_DATA, "k-means||: no weighted candidates");
        goto done;
    }
    memcpy(C, P + first * d, d * sizeof(double));
    double pot = 0;
    for (size_t i = 0; i < m; i++) {
        D2[i] = sqdist(P + i * d, C, d);
        pot += w[i] * D2[i];
    }
    for (int c = 1; c < k; c++) {
        if (!(pot > 0)) {
            st = rtn_fail(RTN_ERR_DATA, "k-means: fewer than k=%d distinct points (found %d)", k,
                          c);
            goto done;
        }
        size_t best = m;
        double best_pot = INFINITY;
        for (int t = 0; t < trials; t++) {
            double rr = lrng_next(&g) * pot, cc = 0;
            size_t pick = m;
            for (size_t i = 0; i < m; i++) {
                double v = w[i] * D2[i];
                cc += v;
                if (v > 0) pick = i;
                if (v > 0 && cc > rr) break;
            }
            double p2 = 0;
            for (size_t i = 0; i < m; i++) {
                double dd = sqdist(P + i * d, P + pick * d, d);
                p2 += w[i] * (dd < D2[i] ? dd : D2[i]);
            }
            if (p2 < best_pot) {
                best_pot = p2;
                best = pick;
            }
        }
        memcpy(C + (size_t)c * d, P + best * d, d * sizeof(double));
        pot = 0;
        for (size_t i = 0; i < m; i++) {
            double dd = sqdist(P + i * d, P + best * d, d);
            if (dd < D2[i]) D2[i] = dd;
            pot += w[i] * D2[i];
        }
    }
    /* weighted Lloyd on the candidates (an empty cluster keeps its centre) */
    for (size_t i = 0; i < m; i++) lab[i] = -1;
    for (int it = 0; it < local_iter; it++) {
        int changed = 0;
        memset(sums, 0, (size_t)k * (d + 1) * sizeof(double));
        for (size_t i = 0; i < m; i++) {
            double bd = INFINITY;
            int32_t bc = 0;
            for (int c = 0; c < k; c++) {
                double dd = sqdist(P + i * d, C + (size_t)c * d, d);
                if (dd < bd) {
                    bd = dd;
                    bc = c;
                }
            }
            if (bc != lab[i]) changed = 1;
            lab[i] = bc;
            double *s = sums + (size_t)bc * (d + 1);
            s[0] += w[i];
            for (size_t j = 0; j < d; j++) s[1 + j] += w[i] * P[i * d + j];
        }
        if (!changed) break;
        for (int c = 0; c < k; c++) {
            double *s = sums + (size_t)c * (d + 1);
            if (s[0] > 0)
                for (size_t j = 0; j < d; j++) C[(size_t)c * d + j] = s[1 + j] / s[0];
        }
    }
done:
    free(D2);
    free(sums);
    free(lab);
    return st;
}

rtn_status rtn_kmeans_init_parallel(MPI_Comm comm, const rtn_bucketed_rows *R,
                                    const uint64_t *keys, const rtn_kmeans_options *opt,
                                    uint64_t seed, double *centroids)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    size_t n = R->n, d = R->d, nb = R->b1 - R->b0;
    int k = opt->k;
    double l = opt->oversampling > 0 ? opt->oversampling : 2.0 * k;
    int rounds = opt->init_rounds > 0 ? opt->init_rounds : 5;

    double *d2 = rtn_malloc(n * sizeof(double) + 1, "k-means|| distances");
    double *xn = rtn_malloc(n * sizeof(double) + 1, "k-means|| norms");
    double *val = rtn_malloc(KBLOCK * sizeof(double), "k-means|| block");
    int32_t *lab = rtn_malloc(KBLOCK * sizeof(int32_t), "k-means|| block");
    uint8_t *sel = rtn_calloc(n + 1, 1, "k-means|| selection");
    double *pb = rtn_calloc(nb + 1, sizeof(double), "k-means|| partials");
    double *cand = NULL, *wpart = NULL, *w = NULL;
    size_t ncand = 0;
    kpanel P;
    memset(&P, 0, sizeof P);
    rtn_status st = (d2 && xn && val && lab && sel && pb) ? RTN_OK : RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    if (st) goto done;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) s += R->X[i * d + j] * R->X[i * d + j];
        xn[i] = s;
    }

    /* first candidate: the row with the smallest hash (a uniform draw, same for any P) */
    {
        uint64_t best = UINT64_MAX;
        size_t bi = n;
        for (uint32_t b = R->b0; b < R->b1; b++)
            for (uint64_t i = R->boff[b - R->b0]; i < R->boff[b - R->b0 + 1]; i++) {
                uint64_t h = row_hash(seed, 0, row_id(R, keys, b, i));
                if (h < best || bi == n) {
                    best = h;
                    bi = i;
                }
            }
        uint64_t *all = rtn_malloc(sizeof(uint64_t) * 2 * (size_t)size, "k-means|| first");
        st = rtn_agree(comm, all ? RTN_OK : RTN_ERR_NOMEM);
        if (st) goto done;
        uint64_t mine[2] = {best, bi < n ? 1u : 0u};
        MPI_Allgather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, comm);
        int owner = -1;
        for (int r = 0; r < size; r++)
            if (all[2 * r + 1] && (owner < 0 || all[2 * r] < all[2 * owner])) owner = r;
        free(all);
        if (owner < 0) {
            st = rtn_agree(comm, rtn_fail(RTN_ERR_DATA, "k-means: no rows"));
            goto done;
        }
        cand = rtn_malloc(d * sizeof(double) + 1, "k-means|| candidates");
        st = rtn_agree(comm, cand ? RTN_OK : RTN_ERR_NOMEM);
        if (st) goto done;
        if (rank == owner) {
            memcpy(cand, R->X + bi * d, d * sizeof(double));
            sel[bi] = 1;
        }
        MPI_Bcast(cand, (int)d, MPI_DOUBLE, owner, comm);
        ncand = 1;
    }

    /* d2 = distance to the candidates; the kernel value |x|^2 + min_c v(x,c) */
    size_t newfrom = 0; /* candidates [newfrom, ncand) not yet folded into d2 */
    for (size_t i = 0; i < n; i++) d2[i] = INFINITY;
    for (int round = 1;; round++) {
        size_t nnew = ncand - newfrom;
        st = rtn_agree(comm, kpanel_init(&P, (int)nnew, d, RTN_KMEANS_KERNEL_FUSED));
        if (st) goto done;
        kpanel_set(&P, cand + newfrom * d);
        for (uint32_t b = R->b0; b < R->b1; b++) {
            double acc = 0;
            for (uint64_t i0 = R->boff[b - R->b0]; i0 < R->boff[b - R->b0 + 1]; i0 += KBLOCK) {
                uint64_t e = R->boff[b - R->b0 + 1];
                size_t mb = e - i0 < KBLOCK ? (size_t)(e - i0) : KBLOCK;
                nearest(&P, R->X + i0 * d, mb, lab, val);
                for (size_t t = 0; t < mb; t++) {
                    size_t i = i0 + t;
                    double v = xn[i] + val[t];
                    if (v < 0 || sel[i]) v = 0; /* a chosen row is at distance 0 */
                    if (v < d2[i]) d2[i] = v;
                }
            }
            for (uint64_t i = R->boff[b - R->b0]; i < R->boff[b - R->b0 + 1]; i++) acc += d2[i];
            pb[b - R->b0] = acc;
        }
        kpanel_free(&P);
        newfrom = ncand;
        double phi = 0;
        st = bsum_scalar(comm, R, pb, &phi);
        if (st) goto done;
        if (!(phi > 0)) break;
        if (round > rounds && ncand >= (size_t)k) break;
        if (round > rounds + 20) break;
        /* sample each row independently with probability min(1, l d2 / phi) */
        memset(sel, 0, n);
        for (uint32_t b = R->b0; b < R->b1; b++)
            for (uint64_t i = R->boff[b - R->b0]; i < R->boff[b - R->b0 + 1]; i++) {
                double p = l * d2[i] / phi;
                if (p > 0 && hash01(row_hash(seed, (uint64_t)round, row_id(R, keys, b, i))) < p)
                    sel[i] = 1;
            }
        double *got = NULL;
        size_t ng = 0;
        st = gather_rows(comm, R, sel, &got, &ng);
        if (st) goto done;
        double *nc = realloc(cand, (ncand + ng) * d * sizeof(double) + 1);
        st = rtn_agree(comm, nc ? RTN_OK : rtn_fail(RTN_ERR_NOMEM, "k-means|| candidates"));
        if (st) {
            free(got);
            goto done;
        }
        cand = nc;
        memcpy(cand + ncand * d, got, ng * d * sizeof(double));
        free(got);
        ncand += ng;
    }
    if (ncand < (size_t)k) {
        st = rtn_agree(comm, rtn_fail(RTN_ERR_DATA,
                                      "k-means: fewer than k=%d distinct points (found %zu)", k,
                                      ncand));
        goto done;
    }

    /* weight of a candidate = number of rows closest to it (bucket-ordered counts) */
    wpart = rtn_calloc(nb * ncand + 1, sizeof(double), "k-means|| weights");
    w = rtn_calloc(ncand + 1, sizeof(double), "k-means|| weights");
    st = rtn_agree(comm, (wpart && w) ? RTN_OK : RTN_ERR_NOMEM);
    if (st) goto done;
    st = kpanel_init(&P, (int)ncand, d, RTN_KMEANS_KERNEL_FUSED);
    st = rtn_agree(comm, st);
    if (st) goto done;
    kpanel_set(&P, cand);
    for (uint32_t b = R->b0; b < R->b1; b++) {
        double *wp = wpart + (size_t)(b - R->b0) * ncand;
        uint64_t e = R->boff[b - R->b0 + 1];
        for (uint64_t i0 = R->boff[b - R->b0]; i0 < e; i0 += KBLOCK) {
            size_t mb = e - i0 < KBLOCK ? (size_t)(e - i0) : KBLOCK;
            nearest(&P, R->X + i0 * d, mb, lab, val);
            for (size_t t = 0; t < mb; t++) wp[lab[t]] += 1;
        }
    }
    kpanel_free(&P);
    st = rtn_bucket_sum(comm, R->nbuckets, R->b0, R->b1, ncand, wpart, w);
    if (st) goto done;
    st = local_kmeanspp(cand, w, ncand, d, k, opt->local_iter, seed, centroids);
    st = rtn_agree(comm, st);
    rtn_debug("k-means||: %zu candidates from %d rounds", ncand, rounds);
done:
    kpanel_free(&P);
    free(d2);
    free(xn);
    free(val);
    free(lab);
    free(sel);
    free(pb);
    free(cand);
    free(wpart);
    free(w);
    return st;
}

/* ------------------------------------------------------------------------------------ */
/* Lloyd                                                                                */

/* Moves the n_empty rows farthest from their assigned (old) centroid into the empty
 * clusters, as scikit-learn does; order: distance descending, then global (bucket, row)
 * position. sums holds k x d sums followed by k counts, already reduced (identical on
 * all ranks), and is updated in place. */
static rtn_status reseed_empty(MPI_Comm comm, const rtn_bucketed_rows *R, const double *C,
                               const int32_t *labels, int k, double *sums)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    size_t d = R->d;
    double *counts = sums + (size_t)k * d;
    int ne = 0;
    for (int c = 0; c < k; c++) ne += counts[c] == 0;
    /* local top-ne: (dist, rank, index); rank then index is the global row order */
    double *top = rtn_malloc(sizeof(double) * 3 * (size_t)ne, "k-means re-seed");
    double *all = rtn_malloc(sizeof(double) * 3 * (size_t)ne * (size_t)size, "k-means re-seed");
    double *x = rtn_malloc(sizeof(double) * (d + 1), "k-means re-seed");
    rtn_status st = rtn_agree(comm, (top && all && x) ? RTN_OK : RTN_ERR_NOMEM);
    if (st) goto done;
    for (int t = 0; t < ne; t++) {
        top[3 * t] = -1;
        top[3 * t + 1] = rank;
        top[3 * t + 2] = -1;
    }
    for (size_t i = 0; i < R->n; i++) {
        double v = sqdist(R->X + i * d, C + (size_t)labels[i] * d, d);
        if (!(v > top[3 * (ne - 1)])) continue; /* equal: the earlier row stays ahead */
        int p = ne - 1;
        while (p > 0 && v > top[3 * (p - 1)]) {
            top[3 * p] = top[3 * (p - 1)];
            top[3 * p + 2] = top[3 * (p - 1) + 2];
            p--;
        }
        top[3 * p] = v;
        top[3 * p + 2] = (double)i;
    }
    MPI_Allgather(top, 3 * ne, MPI_DOUBLE, all, 3 * ne, MPI_DOUBLE, comm);
    int t = 0;
    for (int c = 0; c < k; c++) {
        if (counts[c] != 0) continue;
        /* pick the best remaining entry */
        int bi = -1;
        for (int e = 0; e < ne * size; e++) {
            double *a = all + 3 * e;
            if (a[2] < 0) continue;
            if (bi < 0) {
                bi = e;
                continue;
            }
            double *b = all + 3 * bi;
            if (a[0] > b[0] || (a[0] == b[0] && (a[1] < b[1] || (a[1] == b[1] && a[2] < b[2]))))
                bi = e;
        }
        if (bi < 0) break; /* fewer rows than clusters: leave it empty */
        int owner = (int)all[3 * bi + 1];
        size_t idx = (size_t)all[3 * bi + 2];
        all[3 * bi + 2] = -1;
        int old = 0;
        if (rank == owner) {
            memcpy(x, R->X + idx * d, d * sizeof(double));
            x[d] = labels[idx];
        }
        MPI_Bcast(x, (int)d + 1, MPI_DOUBLE, owner, comm);
        old = (int)x[d];
        for (size_t j = 0; j < d; j++) {
            sums[(size_t)old * d + j] -= x[j];
            sums[(size_t)c * d + j] = x[j];
        }
        counts[old] -= 1;
        counts[c] = 1;
        t++;
    }
    rtn_debug("k-means: re-seeded %d empty cluster(s)", t);
done:
    free(top);
    free(all);
    free(x);
    return st;
}

typedef struct {
    double inertia;
    int n_iter, converged;
    double seconds;
} lloyd_result;

/* One pass: assign every row w.r.t. P's centroids; labels updated, per-bucket partials
 * [sums k*d | counts k] pushed when red != NULL; returns the number of changed labels. */
static rtn_status assign_pass(const rtn_bucketed_rows *R, kpanel *P, int32_t *labels,
                              rtn_breduce *red, double *part, int32_t *lab, double *val,
                              int64_t *changed)
{
    size_t d = R->d;
    int k = P->k;
    size_t m = (size_t)k * d + (size_t)k;
    int64_t ch = 0;
    detect_isa();
    int fused = isa_level == 2 && !P->blas && P->ng == 1;
    for (uint32_t b = R->b0; b < R->b1; b++) {
        uint64_t e = R->boff[b - R->b0 + 1];
        if (red) memset(part, 0, m * sizeof(double));
        double *cnt = part + (size_t)k * d;
        for (uint64_t i0 = R->boff[b - R->b0]; i0 < e; i0 += KBLOCK) {
            size_t mb = e - i0 < KBLOCK ? (size_t)(e - i0) : KBLOCK;
            const double *X = R->X + i0 * d;
            if (fused) {
                ch += assign_k8_avx512(P, X, mb, labels + i0, red ? part : NULL, red ? cnt : NULL);
                continue;
            }
            nearest(P, X, mb, lab, val);
            int32_t *L = labels + i0;
            for (size_t t = 0; t < mb; t++) {
                ch += L[t] != lab[t];
                L[t] = lab[t];
            }
            if (red) {
                accumulate(X, mb, d, lab, part);
                for (size_t t = 0; t < mb; t++) cnt[lab[t]] += 1;
            }
        }
        if (red) RTN_TRY(rtn_breduce_push(red, b, part));
    }
    *changed = ch;
    return RTN_OK;
}

/* Lloyd from centroids C. it0 > 0 resumes after it0 iterations: C holds the centroids
 * then and prevC0 those of the labels then. label_C receives the centroids the final labels
 * were assigned to. rs (optional) is kept current and told at every iteration boundary. */
static rtn_status lloyd(MPI_Comm comm, const rtn_bucketed_rows *R, const rtn_kmeans_options *o,
                        double tolv, double *C, int32_t *labels, double *sizes,
                        lloyd_result *res, int it0, const double *prevC0,
                        const rtn_kmeans_resume *rs, double *label_C)
{
    size_t d = R->d, nb = R->b1 - R->b0;
    int k = o->k;
    size_t m = (size_t)k * d + (size_t)k;
    kpanel P;
    rtn_breduce *red = NULL;
    double *part = calloc64(m + 1, "k-means partials");
    double *sums = rtn_calloc(m + 1, sizeof(double), "k-means sums");
    double *Cn = rtn_calloc((size_t)k * d + 1, sizeof(double), "k-means centroids");
    double *ip = rtn_calloc(nb * ((size_t)k + 1) + 1, sizeof(double), "k-means inertia");
    double *iv = rtn_calloc((size_t)k + 2, sizeof(double), "k-means inertia");
    int32_t *lab = rtn_malloc(KBLOCK * sizeof(int32_t), "k-means block");
    double *val = rtn_malloc(KBLOCK * sizeof(double), "k-means block");
    double *prevC = rtn_calloc((size_t)k * d + 1, sizeof(double), "k-means centroids");
    rtn_kmeans_state *S = rs ? rs->state : NULL;
    rtn_status st = kpanel_init(&P, k, d, o->kernel);
    if (st == RTN_OK) st = rtn_breduce_create(&red, comm, R->nbuckets, R->b0, R->b1, m);
    if (st == RTN_OK && !(part && sums && Cn && ip && iv && lab && val && prevC)) st = RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    if (st) goto done;
    for (size_t i = 0; i < R->n; i++) labels[i] = -1;
    if (it0 > 0) { /* the labels of the interrupted run: nearest to the centroids then */
        int64_t changed;
        memcpy(prevC, prevC0, (size_t)k * d * sizeof(double));
        kpanel_set(&P, prevC);
        st = rtn_agree(comm, assign_pass(R, &P, labels, NULL, part, lab, val, &changed));
        if (st) goto done;
    }
    double t0 = rtn_now();
    res->converged = 0;
    res->n_iter = it0;
    int strict = 0;
    for (int it = it0; it < o->max_iter; it++) {
        kpanel_set(&P, C);
        int64_t changed = 0;
        st = assign_pass(R, &P, labels, red, part, lab, val, &changed);
        st = rtn_agree(comm, st);
        if (st) goto done;
        st = rtn_breduce_finish(red, sums);
        if (st) goto done;
        int64_t gch = 0;
        MPI_Allreduce(&changed, &gch, 1, MPI_INT64_T, MPI_SUM, comm); /* integers: exact */
        double *cnt = sums + (size_t)k * d;
        int ne = 0;
        for (int c = 0; c < k; c++) ne += cnt[c] == 0;
        if (ne) {
            st = reseed_empty(comm, R, C, labels, k, sums);
            if (st) goto done;
        }
        double shift = 0;
        for (int c = 0; c < k; c++) {
            double *cc = Cn + (size_t)c * d;
            if (cnt[c] > 0) {
                double a = 1.0 / cnt[c];
                for (size_t j = 0; j < d; j++) cc[j] = sums[(size_t)c * d + j] * a;
            } else {
                memcpy(cc, C + (size_t)c * d, d * sizeof(double));
            }
            shift += sqdist(cc, C + (size_t)c * d, d);
        }
        memcpy(prevC, C, (size_t)k * d * sizeof(double));
        memcpy(C, Cn, (size_t)k * d * sizeof(double));
        res->n_iter = it + 1;
        if (S) S->total_iterations++;
        if (gch == 0) {
            strict = 1;
            res->converged = 1;
            break;
        }
        if (shift <= tolv) {
            res->converged = 2;
            break;
        }
        if (S) {
            S->iteration = it + 1;
            memcpy(S->centroids, C, (size_t)k * d * sizeof(double));
            memcpy(S->previous, prevC, (size_t)k * d * sizeof(double));
            if (rs->boundary) {
                st = rs->boundary(rs->ctx, S);
                if (st) goto done;
            }
        }
    }
    res->seconds = rtn_now() - t0; /* the iterations alone */
    /* when labels stopped changing, they are those of the previous centroids */
    memcpy(label_C, strict ? prevC : C, (size_t)k * d * sizeof(double));
    if (!strict) { /* labels must refer to the final centroids */
        kpanel_set(&P, C);
        int64_t changed;
        st = rtn_agree(comm, assign_pass(R, &P, labels, NULL, part, lab, val, &changed));
        if (st) goto done;
    }
    /* inertia with exact distances, and cluster sizes, by bucket */
    for (uint32_t b = R->b0; b < R->b1; b++) {
        double *p = ip + (size_t)(b - R->b0) * ((size_t)k + 1);
        uint64_t i = R->boff[b - R->b0], e = R->boff[b - R->b0 + 1];
        /* 8 rows at a time: independent addition chains, each row still summed in j order,
         * then added to the bucket total in row order (same bits as one row at a time) */
        for (; i + 8 <= e; i += 8) {
            double q[8];
            sqdist8(R->X + i * d, d, C, labels + i, q);
            for (int r = 0; r < 8; r++) {
                p[0] += q[r];
                p[1 + labels[i + r]] += 1;
            }
        }
        for (; i < e; i++) {
            p[0] += sqdist(R->X + i * d, C + (size_t)labels[i] * d, d);
            p[1 + labels[i]] += 1;
        }
    }
    st = rtn_bucket_sum(comm, R->nbuckets, R->b0, R->b1, (size_t)k + 1, ip, iv);
    if (st == RTN_OK) {
        res->inertia = iv[0];
        memcpy(sizes, iv + 1, (size_t)k * sizeof(double));
    }
done:
    kpanel_free(&P);
    rtn_breduce_free(red);
    free(part);
    free(sums);
    free(Cn);
    free(ip);
    free(iv);
    free(lab);
    free(val);
    free(prevC);
    return st;
}

void rtn_kmeans_state_free(rtn_kmeans_state *s)
{
    if (!s) return;
    free(s->centroids);
    free(s->previous);
    free(s->best_label_centroids);
    rtn_kmeans_model_free(&s->best);
    memset(s, 0, sizeof *s);
}

rtn_status rtn_kmeans_state_start(rtn_kmeans_state *s, int job, int k, size_t d)
{
    free(s->centroids);
    free(s->previous);
    free(s->best_label_centroids);
    rtn_kmeans_model_free(&s->best);
    memset(&s->best, 0, sizeof s->best);
    size_t kd = (size_t)k * d;
    s->centroids = rtn_calloc(kd + 1, sizeof(double), "k-means state");
    s->previous = rtn_calloc(kd + 1, sizeof(double), "k-means state");
    s->best_label_centroids = rtn_calloc(kd + 1, sizeof(double), "k-means state");
    s->valid = s->centroids && s->previous && s->best_label_centroids;
    s->job = job;
    s->k = k;
    s->d = d;
    s->restart = s->iteration = s->have_best = s->finished = 0;
    return s->valid ? RTN_OK : RTN_ERR_NOMEM;
}

/* Labels of every local row: nearest of C with the fit's kernel (same bits as the fit). */
static rtn_status relabel(const rtn_bucketed_rows *R, const rtn_kmeans_options *o, int k,
                          const double *C, int32_t *labels)
{
    kpanel P;
    int32_t *lab = rtn_malloc(KBLOCK * sizeof(int32_t), "k-means block");
    double *val = rtn_malloc(KBLOCK * sizeof(double), "k-means block");
    rtn_status st = kpanel_init(&P, k, R->d, o->kernel);
    if (st == RTN_OK && !(lab && val)) st = RTN_ERR_NOMEM;
    if (st == RTN_OK) {
        int64_t changed;
        kpanel_set(&P, C);
        st = assign_pass(R, &P, labels, NULL, NULL, lab, val, &changed);
    }
    kpanel_free(&P);
    free(lab);
    free(val);
    return st;
}

rtn_status rtn_kmeans_fit(MPI_Comm comm, const rtn_bucketed_rows *R, const uint64_t *keys,
                          const rtn_kmeans_options *opt, const double *init, rtn_kmeans_model *out,
                          int32_t *labels_out)
{
    return rtn_kmeans_fit_resumable(comm, R, keys, opt, init, NULL, out, labels_out);
}

rtn_status rtn_kmeans_fit_resumable(MPI_Comm comm, const rtn_bucketed_rows *R,
                                    const uint64_t *keys, const rtn_kmeans_options *opt,
                                    const double *init, const rtn_kmeans_resume *rs,
                                    rtn_kmeans_model *out, int32_t *labels_out)
{
    size_t d = R->d;
    int k = opt->k;
    memset(out, 0, sizeof *out);
    rtn_status st = RTN_OK;
    if (k < 1 || d < 1 || opt->max_iter < 1)
        st = rtn_fail(RTN_ERR_USAGE, "k-means: need k >= 1, d >= 1, max_iter >= 1 (k=%d d=%zu)",
                      k, d);
    st = rtn_agree(comm, st);
    if (st) return st;
    uint64_t nloc = R->n, ntot = 0;
    MPI_Allreduce(&nloc, &ntot, 1, MPI_UINT64_T, MPI_SUM, comm);
    if (ntot < (uint64_t)k)
        return rtn_agree(comm, rtn_fail(RTN_ERR_DATA, "k-means: %llu rows for k=%d",
                                        (unsigned long long)ntot, k));
    double tolv = -1;
    if (opt->tol >= 0) {
        double mv = 0;
        if (opt->tol > 0) RTN_TRY(mean_variance(comm, R, &mv));
        tolv = opt->tol * mv;
    }
    rtn_kmeans_state *S = rs ? rs->state : NULL;
    int resume = S && S->valid && S->job == rs->job;
    if (S && S->valid && S->job > rs->job)
        st = rtn_fail(RTN_ERR_INTERNAL, "k-means: fit %d is already complete in the state (at %d)",
                      rs->job, S->job);
    else if (resume && (S->k != k || S->d != d))
        st = rtn_fail(RTN_ERR_FORMAT, "k-means: the checkpointed fit has k=%d d=%zu, this one "
                      "k=%d d=%zu", S->k, S->d, k, d);
    else if (S && !resume)
        st = rtn_kmeans_state_start(S, rs->job, k, d);
    st = rtn_agree(comm, st);
    if (st) return st;
    rtn_kmeans_model cur;
    int32_t *labels = rtn_malloc(R->n * sizeof(int32_t) + 1, "k-means labels");
    double *label_C = rtn_malloc((size_t)k * d * sizeof(double) + 8, "k-means centroids");
    st = model_alloc(&cur, k, d);
    if (st == RTN_OK && !(labels && label_C)) st = RTN_ERR_NOMEM;
    int have = 0, best_from_state = 0, r0 = 0;
    if (st == RTN_OK && resume && S->have_best) {
        st = rtn_kmeans_model_copy(out, &S->best);
        have = best_from_state = st == RTN_OK;
    }
    if (resume) r0 = S->finished ? INT_MAX : S->restart;
    st = rtn_agree(comm, st);
    if (st) {
        free(labels);
        free(label_C);
        rtn_kmeans_model_free(&cur);
        rtn_kmeans_model_free(out);
        return st;
    }
    int n_init = init ? 1 : (opt->n_init > 0 ? opt->n_init : 1);
    for (int r = r0; r < n_init && st == RTN_OK; r++) {
        int it0 = 0;
        if (resume && r == r0 && S->iteration > 0) {
            it0 = S->iteration;
            memcpy(cur.centroids, S->centroids, (size_t)k * d * sizeof(double));
        } else if (init) memcpy(cur.centroids, init, (size_t)k * d * sizeof(double));
        else {
            uint64_t seed = rtn_mix64(opt->seed + 0x9e3779b97f4a7c15ULL * (uint64_t)r);
            st = rtn_kmeans_init_parallel(comm, R, keys, opt, seed, cur.centroids);
            if (st) break;
        }
        if (S) {
            S->restart = r;
            S->iteration = it0;
        }
        lloyd_result res = {0, 0, 0, 0};
        st = lloyd(comm, R, opt, tolv, cur.centroids, labels, cur.sizes, &res, it0,
                   it0 > 0 ? S->previous : NULL, rs, label_C);
        if (st) break;
        rtn_debug("k-means run %d: inertia %.10g after %d iterations", r, res.inertia,
                  res.n_iter);
        if (!have || res.inertia < out->inertia) { /* ties keep the earlier run */
            rtn_kmeans_model_free(out);
            cur.inertia = res.inertia;
            cur.n_iter = res.n_iter;
            cur.converged = res.converged;
            cur.best_init = r;
            cur.lloyd_seconds = res.seconds;
            st = rtn_agree(comm, rtn_kmeans_model_copy(out, &cur));
            have = 1;
            best_from_state = 0;
            if (labels_out && st == RTN_OK)
                memcpy(labels_out, labels, R->n * sizeof(int32_t));
            if (S && st == RTN_OK) {
                rtn_kmeans_model_free(&S->best);
                st = rtn_agree(comm, rtn_kmeans_model_copy(&S->best, &cur));
                memcpy(S->best_label_centroids, label_C, (size_t)k * d * sizeof(double));
                S->have_best = st == RTN_OK;
            }
        }
        if (S && st == RTN_OK) {
            S->restart = r + 1;
            S->iteration = 0;
            S->total_runs++;
            S->finished = r + 1 == n_init;
            if (rs->boundary) st = rs->boundary(rs->ctx, S);
        }
    }
    /* the kept run finished before a restart: its labels are recomputed */
    if (st == RTN_OK && best_from_state && labels_out)
        st = rtn_agree(comm, relabel(R, opt, k, S->best_label_centroids, labels_out));
    free(labels);
    free(label_C);
    rtn_kmeans_model_free(&cur);
    if (st) rtn_kmeans_model_free(out);
    return st;
}

rtn_status rtn_kmeans_assign(const rtn_kmeans_model *m, const double *X, size_t n,
                             int32_t *labels, double *dist2)
{
    kpanel P;
    RTN_TRY(kpanel_init(&P, m->k, m->d, RTN_KMEANS_KERNEL_FUSED));
    double val[KBLOCK];
    kpanel_set(&P, m->centroids);
    for (size_t i0 = 0; i0 < n; i0 += KBLOCK) {
        size_t mb = n - i0 < KBLOCK ? n - i0 : KBLOCK;
        nearest(&P, X + i0 * m->d, mb, labels + i0, val);
        if (dist2)
            for (size_t t = 0; t < mb; t++)
                dist2[i0 + t] =
                    sqdist(X + (i0 + t) * m->d, m->centroids + (size_t)labels[i0 + t] * m->d,
                           m->d);
    }
    kpanel_free(&P);
    return RTN_OK;
}

/* ------------------------------------------------------------------------------------ */
/* silhouette, ARI, k selection                                                          */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

rtn_status rtn_silhouette(const double *X, size_t n, size_t d, const int32_t *labels,
                          double *out)
{
    /* map labels to 0..L-1 by sorted value */
    int32_t *u = rtn_malloc(n * sizeof(int32_t) + 1, "silhouette labels");
    if (!u) return RTN_ERR_NOMEM;
    memcpy(u, labels, n * sizeof(int32_t));
    qsort(u, n, sizeof(int32_t), cmp_i32);
    size_t L = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || u[i] != u[i - 1]) u[L++] = u[i];
    if (L < 2 || L > n - 1) {
        free(u);
        return rtn_fail(RTN_ERR_DATA, "silhouette: needs 2..n-1 clusters (got %zu for n=%zu)", L,
                        n);
    }
    size_t *lid = rtn_malloc(n * sizeof(size_t) + 1, "silhouette ids");
    double *cnt = rtn_calloc(L, sizeof(double), "silhouette counts");
    double *acc = rtn_malloc(L * sizeof(double), "silhouette sums");
    if (!lid || !cnt || !acc) {
        free(u);
        free(lid);
        free(cnt);
        free(acc);
        return RTN_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t lo = 0, hi = L;
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (u[mid] <= labels[i]) lo = mid;
            else hi = mid;
        }
        lid[i] = lo;
        cnt[lo] += 1;
    }
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        memset(acc, 0, L * sizeof(double));
        for (size_t q = 0; q < n; q++)
            if (q != i) acc[lid[q]] += sqrt(sqdist(X + i * d, X + q * d, d));
        size_t c = lid[i];
        if (cnt[c] <= 1) continue; /* s = 0 */
        double a = acc[c] / (cnt[c] - 1), b = INFINITY;
        for (size_t l = 0; l < L; l++)
            if (l != c && acc[l] / cnt[l] < b) b = acc[l] / cnt[l];
        double mx = a > b ? a : b;
        if (mx > 0) total += (b - a) / mx;
    }
    *out = total / (double)n;
    free(u);
    free(lid);
    free(cnt);
    free(acc);
    return RTN_OK;
}

static int cmp_pair(const void *a, const void *b)
{
    const int32_t *x = a, *y = b;
    if (x[0] != y[0]) return (x[0] > y[0]) - (x[0] < y[0]);
    return (x[1] > y[1]) - (x[1] < y[1]);
}

rtn_status rtn_adjusted_rand_index(const int32_t *a, const int32_t *b, size_t n, double *out)
{
    int32_t *p = rtn_malloc(2 * n * sizeof(int32_t) + 1, "ARI pairs");
    int32_t *q = rtn_malloc(n * sizeof(int32_t) + 1, "ARI labels");
    if (!p || !q) {
        free(p);
        free(q);
        return RTN_ERR_NOMEM;
    }
    /* sum of squares of the contingency table and of both marginals, exactly */
    unsigned __int128 sij = 0, sa = 0, sb = 0;
    for (size_t i = 0; i < n; i++) {
        p[2 * i] = a[i];
        p[2 * i + 1] = b[i];
    }
    qsort(p, n, 2 * sizeof(int32_t), cmp_pair);
    for (size_t i = 0, run = 0; i < n; i++) {
        run++;
        if (i + 1 == n || cmp_pair(p + 2 * i, p + 2 * i + 2) != 0) {
            sij += (unsigned __int128)run * run;
            run = 0;
        }
    }
    for (int side = 0; side < 2; side++) {
        memcpy(q, side ? b : a, n * sizeof(int32_t));
        qsort(q, n, sizeof(int32_t), cmp_i32);
        unsigned __int128 s = 0;
        for (size_t i = 0, run = 0; i < n; i++) {
            run++;
            if (i + 1 == n || q[i] != q[i + 1]) {
                s += (unsigned __int128)run * run;
                run = 0;
            }
        }
        if (side) sb = s;
        else sa = s;
    }
    free(p);
    free(q);
    /* pair confusion matrix (each unordered pair counted twice, as scikit-learn) */
    __int128 N = (__int128)n;
    __int128 tp = (__int128)sij - N;
    __int128 fp = (__int128)sb - (__int128)sij; /* together in b, apart in a */
    __int128 fn = (__int128)sa - (__int128)sij;
    __int128 tn = N * N - fp - fn - (__int128)sij;
    if (fn == 0 && fp == 0) {
        *out = 1.0;
        return RTN_OK;
    }
    /* numerator and denominator can exceed 2^127 only for n > ~2^31 rows */
    long double num = 2.0L * ((long double)tp * (long double)tn - (long double)fn * (long double)fp);
    long double den = (long double)(tp + fn) * (long double)(fn + tn) +
                      (long double)(tp + fp) * (long double)(fp + tn);
    *out = (double)(num / den);
    return RTN_OK;
}

rtn_status rtn_kmeans_select_k(MPI_Comm comm, const rtn_bucketed_rows *R, const uint64_t *keys,
                               const rtn_kmeans_options *opt, int kmin, int kmax,
                               size_t sample_size, rtn_kmeans_k_score *scores, int *best_k)
{
    return rtn_kmeans_select_k_resumable(comm, R, keys, opt, kmin, kmax, sample_size, NULL,
                                         scores, best_k);
}

rtn_status rtn_kmeans_select_k_resumable(MPI_Comm comm, const rtn_bucketed_rows *R,
                                         const uint64_t *keys, const rtn_kmeans_options *opt,
                                         int kmin, int kmax, size_t sample_size,
                                         const rtn_kmeans_resume *rs,
                                         rtn_kmeans_k_score *scores, int *best_k)
{
    rtn_status st = RTN_OK;
    if (kmin < 2 || kmax < kmin)
        st = rtn_fail(RTN_ERR_USAGE, "k range %d:%d: need 2 <= kmin <= kmax", kmin, kmax);
    st = rtn_agree(comm, st);
    if (st) return st;
    if (sample_size == 0) sample_size = 2000;
    uint64_t nloc = R->n, ntot = 0;
    MPI_Allreduce(&nloc, &ntot, 1, MPI_UINT64_T, MPI_SUM, comm);
    double p = ntot ? (double)sample_size / (double)ntot : 1.0;
    uint8_t *sel = rtn_calloc(R->n + 1, 1, "silhouette sample");
    st = rtn_agree(comm, sel ? RTN_OK : RTN_ERR_NOMEM);
    if (st) return st;
    for (uint32_t b = R->b0; b < R->b1; b++)
        for (uint64_t i = R->boff[b - R->b0]; i < R->boff[b - R->b0 + 1]; i++)
            sel[i] = hash01(row_hash(opt->seed, 0x73696c686f756574ULL, row_id(R, keys, b, i))) < p;
    double *S = NULL;
    size_t ns = 0;
    st = gather_rows(comm, R, sel, &S, &ns);
    free(sel);
    if (st) return st;
    int32_t *sl = rtn_malloc(ns * sizeof(int32_t) + 1, "silhouette labels");
    st = rtn_agree(comm, sl ? RTN_OK : RTN_ERR_NOMEM);
    double best = -INFINITY;
    rtn_kmeans_state *state = rs ? rs->state : NULL;
    for (int k = kmin; k <= kmax && st == RTN_OK; k++) {
        rtn_kmeans_k_score *s = scores + (k - kmin);
        if (state && k - kmin < state->n_scores) { /* scored before the restart */
            *s = state->scores[k - kmin];
            if (s->silhouette > best) best = s->silhouette;
            continue;
        }
        rtn_kmeans_options o = *opt;
        o.k = k;
        rtn_kmeans_model m;
        rtn_kmeans_resume sub;
        if (rs) {
            sub = *rs;
            sub.job = rs->job + (k - kmin);
        }
        st = rtn_kmeans_fit_resumable(comm, R, keys, &o, NULL, rs ? &sub : NULL, &m, NULL);
        if (st) break;
        s->k = k;
        s->inertia = m.inertia;
        s->n_iter = m.n_iter;
        s->sample_rows = ns;
        s->silhouette = NAN;
        /* the sample rows get the same labels as in the fit (same kernel, same centroids) */
        rtn_status ls = rtn_kmeans_assign(&m, S, ns, sl, NULL);
        if (ls == RTN_OK) {
            ls = rtn_silhouette(S, ns, R->d, sl, &s->silhouette);
            if (ls == RTN_ERR_DATA) { /* degenerate sample: no score */
                rtn_clear_error();
                ls = RTN_OK;
                s->silhouette = NAN;
            }
        }
        rtn_kmeans_model_free(&m);
        st = rtn_agree(comm, ls);
        if (st == RTN_OK && s->silhouette > best) best = s->silhouette;
        rtn_info("k-means k=%d: inertia %.6g, silhouette %.4f (%zu sampled rows)", k, s->inertia,
                 s->silhouette, ns);
        if (st == RTN_OK && state && k - kmin < 64) {
            state->scores[k - kmin] = *s;
            state->n_scores = k - kmin + 1;
        }
    }
    if (st == RTN_OK) {
        *best_k = kmin;
        if (isfinite(best))
            for (int k = kmin; k <= kmax; k++)
                if (scores[k - kmin].silhouette >= best - RTN_KMEANS_SILHOUETTE_TIE) {
                    *best_k = k;
                    break;
                }
    }
    free(S);
    free(sl);
    return st;
}
