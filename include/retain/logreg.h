/* Churn model: distributed, deterministic logistic regression.
 *
 * Objective (docs/churn-model.md), over the training rows i with effective weights
 * s_i = sample_weight_i * class_weight(y_i) and W = sum_i s_i:
 *
 *   F(b0, beta) = (1/W) sum_i s_i [log(1 + exp(z_i)) - y_i z_i]
 *               + lambda * ((1 - l1_ratio)/2 * ||beta||_2^2 + l1_ratio * ||beta||_1),
 *   z_i = b0 + sum_j beta_j (x_ij - mean_j) / scale_j.
 *
 * The intercept b0 is never penalized. The loss is the weighted MEAN, so lambda does not
 * depend on the number of rows; scikit-learn's LogisticRegression(C) (which minimizes
 * C * sum_i s_i loss_i + ||beta||^2 / 2) is the same problem with lambda = 1 / (C * W).
 *
 * Solver: L-BFGS; with l1_ratio > 0 its orthant-wise variant OWL-QN (Andrew & Gao 2007).
 * Every sum over rows (objective, gradient, Hessian-vector product) is computed per bucket
 * and combined with rtn_breduce, so the coefficients are bitwise identical for any number
 * of ranks. All functions taking a communicator are collective. */
#ifndef RETAIN_LOGREG_H
#define RETAIN_LOGREG_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/rows.h"
#include "retain/status.h"

typedef struct {
    double lambda;             /* regularization strength on the mean loss, >= 0 */
    double l1_ratio;           /* elastic-net mixing in [0,1]; 0 = pure L2 (default) */
    int fit_intercept;         /* 1 (default): fit an unpenalized intercept */
    int class_weight_balanced; /* 1: class weights n / (2 * n_class) as scikit-learn */
    int standardize;           /* 1 (default): fit rtn_scaler on the training rows */
    double tol;                /* stop when max_j |projected gradient_j| <= tol */
    int max_iter;              /* iterations (each about one data pass) */
    int memory;                /* L-BFGS correction pairs (default 10) */
} rtn_logreg_options;

void rtn_logreg_defaults(rtn_logreg_options *o);
/* lambda equivalent to scikit-learn's C for total training weight W (see above). */
double rtn_logreg_lambda_from_C(double C, double weight_sum);

typedef struct {
    size_t d;                  /* number of features */
    rtn_scaler scaler;         /* standardization fitted on the training rows */
    double intercept_std;      /* coefficients in standardized units */
    double *coef_std;          /* d */
    double intercept;          /* coefficients in original units (same decision function) */
    double *coef;              /* d */
    double objective;          /* final F */
    double grad_norm;          /* final max |projected gradient| */
    int iterations;
    int evaluations;           /* objective+gradient data passes */
    int converged;             /* 1 when grad_norm <= tol */
    char stop_reason[96];
    double *history;           /* objective after each iteration, [0] = start; n_history */
    int n_history;
    uint64_t n_train;          /* training rows (global) */
    uint64_t n_pos;            /* positive training rows */
    double weight_sum;         /* W */
    double class_weight[2];    /* applied class weights (1,1 unless balanced) */
    rtn_logreg_options options;
} rtn_logreg_model;

/* Fits the model on the rows with train_mask[i] != 0 (train_mask NULL = all rows).
 * y: labels 0/1 (int8), w: optional non-negative sample weights (NULL = 1).
 * warm_start_orig: optional d+1 values [intercept, coef_1..coef_d] in ORIGINAL units (for
 * example a previous model's intercept and coef); they are converted to the new scaler,
 * so a model fitted last quarter is a valid start even though the scaler changed.
 * `out` is filled on every rank (identical contents); free it with rtn_logreg_model_free. */
rtn_status rtn_logreg_fit(MPI_Comm comm, const rtn_bucketed_rows *X, const int8_t *y,
                          const double *w, const uint8_t *train_mask,
                          const rtn_logreg_options *opt, const double *warm_start_orig,
                          rtn_logreg_model *out);
void rtn_logreg_model_free(rtn_logreg_model *m);

/* ---- Checkpoint/restart --------------------------------------------------------------
 * The solver's complete state at an iteration boundary: continuing from it gives the same
 * bits as never stopping. Arrays are malloc'ed by the solver (or by a checkpoint reader
 * with the sizes below); free with rtn_logreg_state_free. */
typedef struct {
    int valid;              /* 1: the fields hold a state */
    size_t n;               /* d + 1 */
    int memory;             /* L-BFGS pairs (slots in S, Y, rho) */
    int iteration;          /* iterations done */
    int evaluations;        /* data passes so far */
    int npairs, newest;     /* stored pairs and the slot of the newest */
    int have_L0;            /* 1: L0 holds the Cholesky factor of the initial matrix */
    double objective;       /* F at x */
    double *x, *g;          /* n: point (standardized units) and smooth gradient there */
    double *S, *Y;          /* memory x n: correction pairs */
    double *rho;            /* memory */
    double *L0;             /* n x n */
    double *history;        /* objective after each iteration, [0] = start */
    int n_history;          /* iteration + 1 */
    int history_cap;        /* allocated entries of history (max_iter + 1) */
    int finished;           /* 1: the solve ended (converged or not); the state is final */
    int converged;
    char stop_reason[96];
} rtn_logreg_state;

void rtn_logreg_state_free(rtn_logreg_state *s);

/* Called on every rank at every iteration boundary with the current state, and once more
 * with finished = 1 when the solve ends. A non-OK return ends the fit with that status
 * (RTN_INTERRUPTED for a stop at a checkpoint). */
typedef rtn_status (*rtn_logreg_boundary)(void *ctx, const rtn_logreg_state *s);

/* rtn_logreg_fit that keeps `state` current at iteration boundaries. When state->valid
 * on entry, the solve continues from it (warm_start_orig is then ignored); a finished
 * state only rebuilds the model from it. The scaler is refitted from the rows, which
 * gives the same values as in the interrupted run. boundary may be NULL. */
rtn_status rtn_logreg_fit_resumable(MPI_Comm comm, const rtn_bucketed_rows *X, const int8_t *y,
                                    const double *w, const uint8_t *train_mask,
                                    const rtn_logreg_options *opt, const double *warm_start_orig,
                                    rtn_logreg_state *state, rtn_logreg_boundary boundary,
                                    void *ctx, rtn_logreg_model *out);

/* Probabilities P(y=1|x) for n rows of X (n x d, row-major, original units). Local, no
 * communication; per-row results do not depend on the rank count. */
void rtn_logreg_predict(const rtn_logreg_model *m, const double *X, size_t n, double *prob);
/* Decision function z (log-odds) for n rows. */
void rtn_logreg_decision(const rtn_logreg_model *m, const double *X, size_t n, double *z);

/* ---- The problem as used by the solver (exposed for tests and benchmarks) ----------------
 * create copies the training rows, standardized with `scaler` (NULL = as is), into a
 * blocked column-major layout, padded per bucket; eval and hv are data passes. */
typedef struct rtn_logreg_problem rtn_logreg_problem;

rtn_status rtn_logreg_problem_create(rtn_logreg_problem **out, MPI_Comm comm,
                                     const rtn_bucketed_rows *X, const int8_t *y,
                                     const double *w, const uint8_t *train_mask,
                                     const rtn_scaler *scaler, const rtn_logreg_options *opt);
void rtn_logreg_problem_free(rtn_logreg_problem *p);
/* Global training rows, positives, total effective weight W. */
void rtn_logreg_problem_info(const rtn_logreg_problem *p, uint64_t *n, uint64_t *npos,
                             double *wsum, double class_weight[2]);
/* The problem's copy of the rows (standardized, blocked, padded): nvals doubles. For
 * benchmarks (a plain read pass over the same memory). */
void rtn_logreg_problem_data(const rtn_logreg_problem *p, const double **xp, size_t *nvals);
/* Smooth part: loss mean + lambda (1-l1_ratio)/2 ||beta||^2 at x = [b0, beta] (d+1) and its
 * gradient g (d+1; g[0] = 0 when fit_intercept is off). Also records x as the point at
 * which rtn_logreg_problem_hv takes the Hessian. Collective. */
rtn_status rtn_logreg_problem_eval(rtn_logreg_problem *p, const double *x, double *f,
                                   double *g);
/* Hessian of the smooth part at the point of the last eval, times v (d+1). Collective. */
rtn_status rtn_logreg_problem_hv(rtn_logreg_problem *p, const double *v, double *hv);
/* Minimizes F from x (d+1, standardized units, updated in place). Collective. */
rtn_status rtn_logreg_problem_solve(rtn_logreg_problem *p, double *x, rtn_logreg_model *info);

/* The exp and log1p kernels used by the loss (exposed for accuracy tests):
 * rtn_logreg_expm(a) = exp(-a) for a >= 0 (0 < result <= 1; a is clamped at 708),
 * rtn_logreg_log1p01(e) = log(1 + e) for 0 <= e <= 1. */
double rtn_logreg_expm(double a);
double rtn_logreg_log1p01(double e);

#endif
