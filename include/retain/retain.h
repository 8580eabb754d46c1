/* libretain: score customers with a retain model bundle from C or C++ (docs/embedding.md).
 *
 *   rtn_bundle *b = rtn_bundle_open("model.h5", err, sizeof err);
 *   double x[...];   // rtn_bundle_n_features(b) raw features, original units, bundle order
 *   rtn_customer_score s;
 *   if (rtn_bundle_score(b, x, NULL, &s, err, sizeof err) == 0)
 *       printf("%.6f %d %s\n", s.churn_probability, s.segment_id, s.segment_name);
 *   rtn_bundle_close(b);
 *
 * The results are the same bits `retain score` computes for the customer. This header is
 * the library's whole interface; it needs neither MPI nor HDF5 headers. Interface rules:
 * functions never print or exit; errors come back as a status (the numbers of retain's
 * exit codes: 3 i/o, 4 file format, 5 data, 7 memory) and a message in the caller's
 * buffer (err may be NULL). Opening a bundle is not thread-safe (HDF5); one open bundle is
 * read-only and may be scored from several threads at once, with or without clv (GSL's
 * process-wide error handler is off while a thread is in the CLV calls; docs/embedding.md). */
#ifndef RETAIN_RETAIN_H
#define RETAIN_RETAIN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RTN_API __attribute__((visibility("default")))
#else
#define RTN_API
#endif

/* Version of this interface: grows when functions are added; the shared library's
 * SONAME (libretain.so.1) changes only when the interface changes incompatibly. */
#define RTN_API_VERSION 1

#define RTN_N_REASONS 3

typedef struct rtn_bundle rtn_bundle;

typedef struct {
    double churn_probability;   /* in (0, 1); NaN when the bundle has no churn model */
    int risk_tier;              /* 0 low, 1 medium, 2 high, 3 critical; -1 without churn model */
    const char *risk_tier_name; /* "low" ... "critical"; "" without churn model */
    int segment_id;             /* stable segment id; -1 without segments */
    const char *segment_name;   /* the segment's name; "" without segments */
    double p_alive;             /* BG/NBD P(alive) (1 for the NBD model); NaN without a CLV
                                   model or clv input */
    double expected_purchases;  /* over the bundle's CLV horizon; NaN likewise */
    double clv;                 /* lifetime value; NaN likewise (or without Gamma-Gamma) */
    double value;               /* clv when available, else the monetary_total feature (0 when absent) */
    int reason[RTN_N_REASONS];  /* features raising the risk most (indices; -1 = none) */
    double reason_contribution[RTN_N_REASONS]; /* their log-odds contributions */
} rtn_customer_score;

/* The four CLV summary columns of a customer, as retain features writes them
 * (customers/clv_x, clv_t_x, clv_T, clv_mean_repeat_spend). */
enum { RTN_CLV_IN_X = 0, RTN_CLV_IN_T_X = 1, RTN_CLV_IN_T = 2, RTN_CLV_IN_MEAN_SPEND = 3, RTN_CLV_IN_N = 4 };

/* Opens a model bundle (the HDF5 file of retain train). NULL on failure, with the reason
 * in err. */
RTN_API rtn_bundle *rtn_bundle_open(const char *path, char *err, size_t errlen);
RTN_API void rtn_bundle_close(rtn_bundle *b);

/* The feature spec: how many raw features a customer has and their names, in the order
 * rtn_bundle_score expects them. feature_index: -1 for an unknown name. */
RTN_API size_t rtn_bundle_n_features(const rtn_bundle *b);
RTN_API const char *rtn_bundle_feature_name(const rtn_bundle *b, size_t j);
RTN_API int rtn_bundle_feature_index(const rtn_bundle *b, const char *name);

/* What the bundle holds. */
RTN_API int rtn_bundle_has_churn(const rtn_bundle *b);
RTN_API int rtn_bundle_has_segments(const rtn_bundle *b);
RTN_API int rtn_bundle_has_clv(const rtn_bundle *b);
RTN_API const char *rtn_bundle_content_id(const rtn_bundle *b); /* SHA-256, hex */
RTN_API const char *rtn_bundle_cutoff(const rtn_bundle *b);     /* training cutoff, ISO 8601 */

/* Scores one customer. x: rtn_bundle_n_features(b) values in original units; clv: the
 * RTN_CLV_IN_N summary values, or NULL to skip lifetime value. Returns 0, or 5 (data) when
 * a feature is not finite, with the message in err. */
RTN_API int rtn_bundle_score(const rtn_bundle *b, const double *x, const double *clv,
                             rtn_customer_score *out, char *err, size_t errlen);

/* The retain version the library was built from ("0.1.0"). */
RTN_API const char *rtn_library_version(void);

#ifdef __cplusplus
}
#endif

#endif
