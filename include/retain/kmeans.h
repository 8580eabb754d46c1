/* Distributed k-means for customer segmentation (docs/segmentation.md).
 *
 * Input rows are a rank's per-customer rows grouped by bucket (rows.h), already
 * transformed (rtn_xform_apply) and standardized (rtn_scaler). Everything that depends
 * on more than one row is either a bucket-ordered reduction (rtn_breduce) or is computed
 * identically on every rank from gathered data, and every random choice is a hash of
 * (seed, round, row identity), so a fit gives bitwise-identical centroids, labels and
 * inertia for any rank count. */
#ifndef RETAIN_KMEANS_H
#define RETAIN_KMEANS_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/rows.h"
#include "retain/status.h"

/* ---- feature transforms applied before standardization ---------------------------- */
typedef enum {
    RTN_XFORM_IDENTITY = 0,
    RTN_XFORM_LOG1P = 1 /* sign(x) * log1p(|x|): log1p for x >= 0, odd extension below */
} rtn_xform;

/* "identity" | "log1p"; returns 0 on success, -1 for an unknown name. */
int rtn_xform_parse(const char *name, rtn_xform *out);
const char *rtn_xform_name(rtn_xform t);
double rtn_xform_value(rtn_xform t, double x);
double rtn_xform_inverse(rtn_xform t, double y);
/* In place: X[i*d+j] = xform[j](X[i*d+j]) for n rows of d columns. */
void rtn_xform_apply(const rtn_xform *xform, size_t d, double *X, size_t n);

/* ---- fitting ------------------------------------------------------------------------ */
typedef enum {
    RTN_KMEANS_KERNEL_AUTO = 0,  /* fused for k <= 64, BLAS above */
    RTN_KMEANS_KERNEL_FUSED = 1, /* SIMD fused distance + argmin (AVX-512 / AVX2 / scalar) */
    RTN_KMEANS_KERNEL_BLAS = 2   /* cblas_dgemm for X*C^T on row blocks + argmin loop */
} rtn_kmeans_kernel;

typedef struct {
    int k;
    int max_iter;        /* Lloyd iterations per run (default 300) */
    double tol;          /* stop when sum_c |c_new - c_old|^2 <= tol * mean column variance
                            (scikit-learn's rule; default 1e-4; 0 = only when unchanged) */
    int n_init;          /* k-means|| restarts, the lowest inertia is kept (default 3) */
    uint64_t seed;       /* default 42 */
    double oversampling; /* k-means|| factor l (expected candidates per round); <= 0: 2k */
    int init_rounds;     /* k-means|| rounds (default 5) */
    int local_iter;      /* weighted Lloyd iterations on the candidates (default 30) */
    rtn_kmeans_kernel kernel;
} rtn_kmeans_options;

void rtn_kmeans_options_default(rtn_kmeans_options *o, int k);

typedef struct {
    int k;
    size_t d;
    double *centroids;    /* k x d, row-major, in the space of the input rows */
    double *sizes;        /* k: rows per cluster in the final assignment */
    double inertia;       /* sum of squared distances to the assigned centroid */
    int n_iter;           /* Lloyd iterations of the kept run */
    int converged;        /* 1: labels unchanged, 2: shift <= tol, 0: stopped at max_iter */
    int best_init;        /* index of the kept restart */
    double lloyd_seconds; /* wall time of the kept run's Lloyd loop (this rank) */
} rtn_kmeans_model;

/* Collective. row_keys (n local, optional) are the rows' customer keys, used as the
 * global row identity for the hashes; without them the identity is (bucket, index in
 * bucket). init_centroids (k x d, same on every rank) replaces k-means|| and forces a
 * single run. labels (optional, n local) receives the final assignment. */
rtn_status rtn_kmeans_fit(MPI_Comm comm, const rtn_bucketed_rows *X, const uint64_t *row_keys,
                          const rtn_kmeans_options *opt, const double *init_centroids,
                          rtn_kmeans_model *out, int32_t *labels);

/* Collective: k-means|| initialization alone (k x d centroids, same on every rank). */
rtn_status rtn_kmeans_init_parallel(MPI_Comm comm, const rtn_bucketed_rows *X,
                                    const uint64_t *row_keys, const rtn_kmeans_options *opt,
                                    uint64_t seed, double *centroids);

/* Local: nearest centroid (lowest index on ties) and, when dist2 is non-NULL, the squared
 * distance to it. Uses the same kernel as the fit, so labels equal the fit's labels. */
rtn_status rtn_kmeans_assign(const rtn_kmeans_model *m, const double *X, size_t n,
                             int32_t *labels, double *dist2);

rtn_status rtn_kmeans_model_copy(rtn_kmeans_model *dst, const rtn_kmeans_model *src);
void rtn_kmeans_model_free(rtn_kmeans_model *m);

/* ---- choosing k --------------------------------------------------------------------- */
typedef struct {
    int k;
    double inertia;
    double silhouette; /* mean silhouette on the deterministic sample */
    int n_iter;
    size_t sample_rows;
} rtn_kmeans_k_score;

/* Silhouettes within this margin of the best count as ties; the smallest such k wins. */
#define RTN_KMEANS_SILHOUETTE_TIE 0.01

/* Collective. Fits k = kmin..kmax with opt (opt->k ignored) and scores each; the sample
 * for the silhouette is every row whose hash(seed, row identity) falls below
 * sample_size / N (default 2000 when sample_size == 0). scores has kmax-kmin+1 entries;
 * *best_k follows the rule: the largest mean silhouette, where any k within
 * RTN_KMEANS_SILHOUETTE_TIE of it counts as a tie and ties go to the smaller k. */
rtn_status rtn_kmeans_select_k(MPI_Comm comm, const rtn_bucketed_rows *X,
                               const uint64_t *row_keys, const rtn_kmeans_options *opt, int kmin,
                               int kmax, size_t sample_size, rtn_kmeans_k_score *scores,
                               int *best_k);

/* ---- Checkpoint/restart --------------------------------------------------------------
 * Progress of a sequence of fits (the k scan's fits, then the final fit), numbered by
 * `job`. Boundaries are the end of every Lloyd iteration and of every restart; resuming
 * from one gives the same bits as never stopping. The labels are not stored: they are
 * the assignment to `previous` (or, for the kept run, to best_label_centroids), which
 * the resumed fit recomputes. Arrays are k x d; free with rtn_kmeans_state_free. */
typedef struct {
    int valid;               /* 1: the fields hold a state */
    int job;                 /* the fit in progress */
    int k;                   /* its k */
    size_t d;
    int restart;             /* restart in progress (its k-means|| start is redone when
                                iteration == 0) */
    int iteration;           /* Lloyd iterations done in this restart */
    long total_iterations;   /* Lloyd iterations of the whole sequence */
    long total_runs;         /* restarts finished in the whole sequence */
    double *centroids;       /* current centroids */
    double *previous;        /* centroids of the current labels */
    int have_best;           /* a restart of this fit has finished */
    int finished;            /* the fit `job` is complete: best is its result */
    rtn_kmeans_model best;   /* best finished restart (lowest inertia, earlier on ties) */
    double *best_label_centroids; /* centroids the best run's labels were assigned to */
    int n_scores;            /* finished fits of the k scan (jobs 0..n_scores-1) */
    rtn_kmeans_k_score scores[64];
} rtn_kmeans_state;

void rtn_kmeans_state_free(rtn_kmeans_state *s);
/* Allocates the k x d arrays for fit `job` (resets restart/iteration/best). */
rtn_status rtn_kmeans_state_start(rtn_kmeans_state *s, int job, int k, size_t d);

/* Called on every rank at each boundary; a non-OK return ends the fit with it. */
typedef rtn_status (*rtn_kmeans_boundary)(void *ctx, const rtn_kmeans_state *s);

typedef struct {
    rtn_kmeans_state *state;  /* where to resume (valid) and kept current */
    int job;                  /* number of this fit in the sequence */
    rtn_kmeans_boundary boundary; /* may be NULL */
    void *ctx;
} rtn_kmeans_resume;

/* rtn_kmeans_fit / rtn_kmeans_select_k with checkpoint state (rs may be NULL). A fit whose
 * job is below state->job is complete (select_k takes its score from the state); equal:
 * resumed at state->restart/iteration (or only rebuilt when finished); above: started.
 * select_k's fits are jobs rs->job + (k - kmin). */
rtn_status rtn_kmeans_fit_resumable(MPI_Comm comm, const rtn_bucketed_rows *X,
                                    const uint64_t *row_keys, const rtn_kmeans_options *opt,
                                    const double *init_centroids, const rtn_kmeans_resume *rs,
                                    rtn_kmeans_model *out, int32_t *labels);
rtn_status rtn_kmeans_select_k_resumable(MPI_Comm comm, const rtn_bucketed_rows *X,
                                         const uint64_t *row_keys, const rtn_kmeans_options *opt,
                                         int kmin, int kmax, size_t sample_size,
                                         const rtn_kmeans_resume *rs,
                                         rtn_kmeans_k_score *scores, int *best_k);

/* Mean silhouette coefficient (Euclidean, scikit-learn's definition: a point alone in its
 * cluster scores 0). Needs 2 <= number of distinct labels <= n-1. Local. */
rtn_status rtn_silhouette(const double *X, size_t n, size_t d, const int32_t *labels,
                          double *out);

/* Adjusted Rand index of two labelings (any int32 values), as
 * sklearn.metrics.adjusted_rand_score. Local. */
rtn_status rtn_adjusted_rand_index(const int32_t *a, const int32_t *b, size_t n, double *out);

#endif
