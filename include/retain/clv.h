/* Customer lifetime value: the BG/NBD purchase model (Fader, Hardie & Lee 2005) and the
 * Gamma-Gamma spend model (Fader, Hardie & Lee 2005b; Fader & Hardie 2013), fitted by
 * maximum likelihood on a rank's per-customer rows grouped by bucket.
 *
 * Every likelihood and gradient is a sum over customers computed per bucket and combined
 * with the deterministic bucket reduction (buckets.h), and every rank runs the same
 * optimizer on the same reduced values, so fitted parameters are bitwise identical for
 * any rank count. Equations, optimizer and the CDNOW reproduction: docs/clv.md. */
#ifndef RETAIN_CLV_H
#define RETAIN_CLV_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/status.h"

/* Per-customer calibration summary of this rank's buckets [b0, b1). Rows of bucket b are
 * [boff[b-b0], boff[b-b0+1]). Time unit is free (weeks in the CDNOW reproduction) but t_x,
 * T and every prediction horizon must use the same one.
 *   x   number of repeat purchases (whole number >= 0; the first purchase is not counted)
 *   t_x time from the first to the last purchase (0 when x == 0), 0 <= t_x <= T
 *   T   time from the first purchase to the end of calibration, T >= 0
 *   mx  mean value of the repeat purchases (only read by the Gamma-Gamma model; may be NULL
 *       for BG/NBD; rows with x == 0 are ignored by Gamma-Gamma) */
typedef struct {
    size_t n;
    const double *x, *t_x, *T, *mx;
    uint32_t nbuckets, b0, b1;
    const uint64_t *boff; /* b1-b0+1 entries, boff[0] == 0, boff[b1-b0] == n */
} rtn_clv_data;

typedef struct {
    double r, alpha, a, b;
} rtn_bgnbd_params;

typedef struct {
    double p, q, gamma;
} rtn_gg_params;

/* The NBD purchase model: BG/NBD without dropout (its limit a/(a+b) -> 0). Poisson
 * purchases with a Gamma(r, alpha) distributed rate. */
typedef struct {
    double r, alpha;
} rtn_nbd_params;

/* Optimizer settings; zero fields take the defaults in brackets. */
typedef struct {
    int max_iter;                 /* [1000] BFGS iterations */
    double gtol;                  /* [1e-9] |gradient| of the mean negative log-likelihood
                                     with respect to the log-parameters */
    double hess_step;             /* [1e-4] central-difference step in log-parameters */
    const rtn_bgnbd_params *init; /* [NULL = automatic] starting point */
} rtn_bgnbd_options;

typedef struct {
    int max_iter;
    double gtol;
    double hess_step;
    const rtn_gg_params *init;
} rtn_gg_options;

typedef struct {
    int max_iter;
    double gtol;
    double hess_step;
    const rtn_nbd_params *init;
} rtn_nbd_options;

typedef struct {
    rtn_bgnbd_params params;
    rtn_bgnbd_params se;   /* standard errors (NaN when the Hessian is not positive definite) */
    double cov[4][4];      /* covariance of (r, alpha, a, b) */
    double loglik;         /* log-likelihood at params */
    double grad_norm;      /* final |gradient| (mean NLL, log-parameters) */
    uint64_t n_customers;
    uint64_t n_repeaters;  /* customers with x > 0 */
    int iterations;
    int converged;
    int hessian_ok;
    int at_boundary;       /* not converged with a/(a+b) heading to 0: the likelihood rises
                              towards the NBD model without dropout */
} rtn_bgnbd_fit_result;

typedef struct {
    rtn_gg_params params;
    rtn_gg_params se;
    double cov[3][3];      /* covariance of (p, q, gamma) */
    double loglik;         /* log density of the mean spends, x*log(x) Jacobian included */
    double grad_norm;
    uint64_t n_used;       /* customers with x > 0 and mx > 0 */
    uint64_t n_excluded;   /* customers with x > 0 but mx <= 0 (net returns): not fitted */
    int iterations;
    int converged;
    int hessian_ok;
} rtn_gg_fit_result;

typedef struct {
    rtn_nbd_params params;
    rtn_nbd_params se;
    double cov[2][2];      /* covariance of (r, alpha) */
    double loglik;
    double grad_norm;
    uint64_t n_customers;
    uint64_t n_repeaters;
    int iterations;
    int converged;
    int hessian_ok;
} rtn_nbd_fit_result;

/* Which purchase model a lifetime-value model uses. */
typedef enum { RTN_PURCHASE_BGNBD = 0, RTN_PURCHASE_NBD = 1 } rtn_purchase_kind;

typedef struct {
    rtn_purchase_kind kind;
    rtn_bgnbd_params bgnbd; /* kind == RTN_PURCHASE_BGNBD */
    rtn_nbd_params nbd;     /* kind == RTN_PURCHASE_NBD */
} rtn_purchase_model;

/* Collective over comm. opt may be NULL. Fails with RTN_ERR_DATA on invalid rows (the
 * message names rank and local row) or when no customer repeats, RTN_ERR_NUMERIC when the
 * optimizer fails or does not converge within max_iter. */
rtn_status rtn_bgnbd_fit(MPI_Comm comm, const rtn_clv_data *d, const rtn_bgnbd_options *opt,
                         rtn_bgnbd_fit_result *out);
rtn_status rtn_gg_fit(MPI_Comm comm, const rtn_clv_data *d, const rtn_gg_options *opt,
                      rtn_gg_fit_result *out);
/* Same errors as rtn_bgnbd_fit. */
rtn_status rtn_nbd_fit(MPI_Comm comm, const rtn_clv_data *d, const rtn_nbd_options *opt,
                       rtn_nbd_fit_result *out);

/* Collective: the purchase model of a lifetime-value model. Fits BG/NBD (opt may be NULL;
 * its settings apply to both fits, init to BG/NBD only); when its
 * likelihood rises towards the no-dropout boundary (bgnbd.at_boundary) fits the NBD model,
 * the BG/NBD limit there, and returns it (kind = RTN_PURCHASE_NBD) provided it converges
 * and its log-likelihood is not below the best BG/NBD point reached. Any other BG/NBD
 * failure is returned as is. bgnbd is filled either way; nbd only for the fallback. */
typedef struct {
    rtn_purchase_kind kind;
    rtn_bgnbd_fit_result bgnbd;
    rtn_nbd_fit_result nbd;
    char bgnbd_message[512]; /* for the fallback: why BG/NBD was not used */
} rtn_purchase_fit_result;

rtn_status rtn_purchase_fit(MPI_Comm comm, const rtn_clv_data *d, const rtn_bgnbd_options *opt,
                            rtn_purchase_fit_result *out);

/* Collective: the total log-likelihood at given parameters (deterministic reduction). */
rtn_status rtn_bgnbd_loglik(MPI_Comm comm, const rtn_clv_data *d, const rtn_bgnbd_params *p,
                            double *ll);
rtn_status rtn_gg_loglik(MPI_Comm comm, const rtn_clv_data *d, const rtn_gg_params *p,
                         double *ll);
rtn_status rtn_nbd_loglik(MPI_Comm comm, const rtn_clv_data *d, const rtn_nbd_params *p,
                          double *ll);

/* One customer's log-likelihood terms (NaN on invalid input). */
double rtn_bgnbd_loglik_one(const rtn_bgnbd_params *p, double x, double t_x, double T);
double rtn_gg_loglik_one(const rtn_gg_params *p, double x, double mx);
/* lnGamma(r+x) - lnGamma(r) + r log(alpha) - (r+x) log(alpha+T); t_x does not enter. */
double rtn_nbd_loglik_one(const rtn_nbd_params *p, double x, double T);

/* P(alive | x, t_x, T). */
double rtn_bgnbd_p_alive(const rtn_bgnbd_params *p, double x, double t_x, double T);
/* E[Y(t) | x, t_x, T]: expected purchases in the next t time units. NaN on failure. */
double rtn_bgnbd_expected_purchases(const rtn_bgnbd_params *p, double t, double x, double t_x,
                                    double T);
/* E[X(t)]: expected purchases in (0, t] of a customer who has just made a first purchase. */
double rtn_bgnbd_expected_purchases_uncond(const rtn_bgnbd_params *p, double t);
/* NBD: E[Y(t) | x, T] = (r+x)/(alpha+T) * t (P(alive) is 1). */
double rtn_nbd_expected_purchases(const rtn_nbd_params *p, double t, double x, double T);
/* Either purchase model: P(alive) (1 for NBD) and E[Y(t) | x, t_x, T]. */
double rtn_purchase_p_alive(const rtn_purchase_model *pm, double x, double t_x, double T);
double rtn_purchase_expected_purchases(const rtn_purchase_model *pm, double t, double x,
                                       double t_x, double T);
/* E[M | x, mx] = (gamma + x*mx) * p / (p*x + q - 1); for x == 0 (or mx <= 0) the population
 * mean p*gamma/(q-1). NaN when q <= 1. */
double rtn_gg_expected_spend(const rtn_gg_params *p, double x, double mx);

/* CLV = margin * E[M] * sum_{m=1..horizon_months} (E[Y(m*k)] - E[Y((m-1)*k)]) / (1+d)^m
 * with k = periods_per_month (time units per month, e.g. 365.25/12/7 for weeks) and d the
 * monthly discount rate. Fields are used as given; rtn_clv_options_default() gives the
 * defaults in brackets, and a NULL options pointer means the defaults. */
typedef struct {
    int horizon_months;       /* [12] >= 0 */
    double periods_per_month; /* [365.25/12/7 = 4.348: weeks] > 0 */
    double monthly_discount;  /* [0.01] > -1 */
    double margin;            /* [1.0] fraction of spend that is profit */
} rtn_clv_options;

rtn_clv_options rtn_clv_options_default(void);

double rtn_clv_value(const rtn_bgnbd_params *bg, const rtn_gg_params *gg,
                     const rtn_clv_options *opt, double x, double t_x, double T, double mx);
/* The same sum with either purchase model's E[Y(t)]. */
double rtn_purchase_clv_value(const rtn_purchase_model *pm, const rtn_gg_params *gg,
                              const rtn_clv_options *opt, double x, double t_x, double T,
                              double mx);

/* Batch scoring of n customers; any output array may be NULL. t is the horizon of
 * expected_purchases. Fails (RTN_ERR_NUMERIC, naming the row) when a value is not finite. */
rtn_status rtn_clv_predict(const rtn_bgnbd_params *bg, const rtn_gg_params *gg,
                           const rtn_clv_options *opt, double t, size_t n, const double *x,
                           const double *t_x, const double *T, const double *mx,
                           double *p_alive, double *expected_purchases,
                           double *expected_spend, double *clv);

#endif
