/* Evaluation of a binary classifier's probabilities (docs/churn-model.md, "Metrics").
 *
 * Definitions follow scikit-learn where one exists: ROC AUC (exact, ties count one half),
 * PR AUC as average precision (sum over distinct thresholds of recall step x precision),
 * log-loss (probabilities clipped to [eps, 1-eps], eps = DBL_EPSILON as scikit-learn's
 * eps="auto"), Brier score; all weighted by optional sample weights.
 *
 * Deciles: rows sorted by probability, highest first, ties broken by row order; the row at
 * sorted position r (0-based) of n belongs to decile floor(10 r / n). Decile 0 holds the
 * highest-risk 10%. Calibration, lift and cumulative gains are reported per decile.
 *
 * Distributed use: rtn_metrics_gather collects the evaluated rows on rank 0 in rank order
 * (= global bucket order, the same for any rank count), computes there and broadcasts the
 * result, so every rank gets bitwise-identical metrics for any rank count. Memory on rank 0
 * is 17 bytes per evaluated row (a few million rows: tens of MB). */
#ifndef RETAIN_METRICS_H
#define RETAIN_METRICS_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/status.h"

#define RTN_METRICS_BINS 10

typedef struct {
    double threshold;  /* predict positive when probability >= threshold */
    double tp, fp, tn, fn; /* weighted counts */
    double precision, recall, f1, accuracy;
    uint64_t n_flagged; /* rows predicted positive */
    double flagged_fraction; /* n_flagged / n */
} rtn_confusion;

typedef struct {
    uint64_t n, n_pos;
    double weight, weight_pos; /* total and positive weight */
    double base_rate;          /* weight_pos / weight */
    double roc_auc, pr_auc, log_loss, brier;
    /* per decile, highest probabilities first */
    uint64_t bin_n[RTN_METRICS_BINS];
    double bin_weight[RTN_METRICS_BINS];
    double bin_pos[RTN_METRICS_BINS];       /* weighted positives */
    double bin_mean_pred[RTN_METRICS_BINS]; /* calibration: mean predicted probability */
    double bin_rate[RTN_METRICS_BINS];      /* calibration: observed positive rate */
    double bin_min_prob[RTN_METRICS_BINS], bin_max_prob[RTN_METRICS_BINS];
    double lift[RTN_METRICS_BINS];          /* bin_rate / base_rate */
    double cum_gain[RTN_METRICS_BINS];      /* share of all positives in deciles 0..b */
    double cum_lift[RTN_METRICS_BINS];      /* rate in deciles 0..b / base_rate */
    double calibration_error;               /* weighted mean |bin_mean_pred - bin_rate| */
    rtn_confusion at_max_f1;                /* threshold maximizing F1 */
    double budget;                          /* contact budget fraction (0 = none) */
    rtn_confusion at_budget;                /* top ceil(budget * n) rows (ties included) */
} rtn_metrics;

/* Serial computation on n rows in their (global) order. prob in [0,1], y 0/1, w optional
 * (NULL = 1). budget in [0,1]: 0 leaves at_budget zeroed. NaN marks undefined metrics (one
 * class absent, empty decile). */
rtn_status rtn_metrics_compute(size_t n, const double *prob, const int8_t *y, const double *w,
                               double budget, rtn_metrics *out);

/* Collective: evaluates the local rows with mask[i] != 0 (mask NULL = all) of every rank;
 * every rank receives the same result. */
rtn_status rtn_metrics_gather(MPI_Comm comm, size_t n_local, const double *prob,
                              const int8_t *y, const double *w, const uint8_t *mask,
                              double budget, rtn_metrics *out);

#endif
