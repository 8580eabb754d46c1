/* The model bundle: one HDF5 file holding everything a serving system needs to score a
 * customer (feature spec and transforms, standardization, churn coefficients and
 * thresholds, k-means centroids and segment names, lifetime-value parameters), the
 * evaluation metrics and full provenance. Layout: docs/serving.md. */
#ifndef RETAIN_MODEL_H
#define RETAIN_MODEL_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/clv.h"
#include "retain/metrics.h"
#include "retain/status.h"

#define RTN_MODEL_FORMAT "retain-model"
#define RTN_MODEL_FORMAT_VERSION 1
#define RTN_RISK_TIERS 4 /* low, medium, high, critical */
#define RTN_MODEL_KINDS_MAX 16 /* entries of the model-kind table (retain/model_kind.h) */

typedef struct {
    int present;
    rtn_metrics m;
    double oracle_roc_auc; /* NAN when no ground truth was given */
} rtn_model_eval;

typedef struct {
    /* provenance */
    char created_by[4096];
    char creator_version[32];
    char created_at[32];
    char content_id[65];
    char features_path[4096];
    char features_digest[65];
    char store_digest[65];
    char cutoff_iso[32];
    char currency[16];
    int64_t cutoff, horizon_days, lookback_days;
    uint64_t n_customers;        /* rows of the features file */
    char *options_json;          /* training options, JSON */
    char *job_json;              /* resolved job configuration when trained by `retain run` */

    /* feature spec */
    size_t d;
    char **feature_names;        /* d */

    /* churn model (logistic regression on transformed, standardized features) */
    int has_churn;
    int8_t *churn_transform;     /* d: rtn_xform codes */
    double *scaler_mean, *scaler_scale; /* d: of the transformed features */
    double intercept, *coef;     /* decision function on transformed (unscaled) features */
    double intercept_std, *coef_std; /* same on standardized features */
    double lambda, l1_ratio, C;
    int class_weight_balanced;
    int iterations, converged;
    double objective;
    double *history;
    int n_history;
    uint64_t n_train, n_pos;
    double threshold;            /* classification threshold (max F1 on validation) */
    double risk_cut[RTN_RISK_TIERS - 1]; /* probability cut points: low|medium|high|critical */
    double budget;               /* contact budget used for the budget confusion matrix */
    rtn_model_eval valid, test;

    /* segmentation (k-means on transformed, standardized segment features) */
    int has_segments;
    int k;
    size_t ds;
    int32_t *seg_feature;        /* ds: column in the feature spec */
    int8_t *seg_transform;       /* ds: rtn_xform codes */
    double *seg_mean, *seg_scale;/* ds */
    double *centroids;           /* k x ds, standardized space */
    int32_t *segment_id;         /* k: stable ids */
    char **segment_name;         /* k */
    double *seg_size, *seg_revenue_share, *seg_churn_rate; /* k */
    double *seg_profile;         /* k x d: feature means in original units */
    double inertia;
    int seg_iterations, seg_converged;
    char k_rule[128];
    int n_kscan;
    int32_t *kscan_k;
    double *kscan_inertia, *kscan_silhouette;
    double ari_truth;            /* NAN without ground truth */

    /* lifetime value (time unit: weeks) */
    int has_clv;
    rtn_purchase_kind purchase_kind; /* /clv@purchase_model; absent in a bundle = BG/NBD */
    rtn_bgnbd_params bgnbd, bgnbd_se; /* BG/NBD only */
    double bgnbd_loglik;         /* NBD: the best BG/NBD log-likelihood reached */
    int bgnbd_converged;
    uint64_t bgnbd_n;            /* customers in the purchase-model fit */
    rtn_nbd_params nbd, nbd_se;  /* NBD only */
    double nbd_loglik;
    int nbd_converged;
    int has_gg;
    rtn_gg_params gg, gg_se;
    double gg_loglik;
    int gg_converged;
    uint64_t gg_n;
    rtn_clv_options clv_opt;

    /* kinds that keep their state outside the fields above, by table position
     * (rtn_model_kind_data); NULL when the bundle does not hold that kind */
    void *kind_data[RTN_MODEL_KINDS_MAX];
} rtn_model;

/* The content id of m, as rtn_model_save records it: SHA-256 over every model dataset
 * and model attribute (not the provenance). rtn_model_load recomputes it and refuses a
 * bundle whose content no longer matches (exit 4, "damaged bundle"). */
rtn_status rtn_model_content_id(const rtn_model *m, char id[65]);

/* Collective: rank 0 writes the bundle (its contents are identical on every rank) under a
 * temporary name and renames it; computes content_id from the model content. */
rtn_status rtn_model_save(MPI_Comm comm, const char *path, rtn_model *m);
/* Local: reads a bundle (any rank, any process). */
rtn_status rtn_model_load(const char *path, rtn_model *m);
/* rtn_model_load without the content-id check, for tools that inspect or re-stamp a bundle
 * edited on purpose (tests/bundle_restamp.c). Scoring and serving never use it. */
rtn_status rtn_model_load_unverified(const char *path, rtn_model *m);
void rtn_model_free(rtn_model *m);

/* Risk tier 0..3 of a churn probability. */
int rtn_model_risk_tier(const rtn_model *m, double p);
extern const char *const rtn_risk_tier_names[RTN_RISK_TIERS];

#endif
