/* Point-in-time customer features, churn labels, RFM scores and the CLV summary
 * (`retain features`), the features file writer and its loader.
 *
 * The per-customer aggregation (rtn_features_compute) works on an in-memory block of
 * whole customers and knows nothing about files or MPI; the global steps (RFM quantiles,
 * data-quality percentiles) and the file I/O are separate. Every definition (units, edge
 * cases, the RFM rules) is in docs/features.md; the file layout in docs/formats.md. */
#ifndef RETAIN_FEATURES_H
#define RETAIN_FEATURES_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/rows.h"
#include "retain/status.h"
#include "retain/store.h"

#define RTN_FEATURES_FORMAT "retain-features"
#define RTN_FEATURES_FORMAT_VERSION 1
#define RTN_SECONDS_PER_DAY 86400

/* Columns of /customers/X, in order. */
enum {
    RTN_F_RECENCY_DAYS = 0,
    RTN_F_FREQUENCY,
    RTN_F_N_BASKETS,
    RTN_F_MONETARY_TOTAL,
    RTN_F_MONETARY_MEAN,
    RTN_F_TENURE_DAYS,
    RTN_F_IPI_MEAN,
    RTN_F_IPI_STD,
    RTN_F_SPEND_30D,
    RTN_F_SPEND_90D,
    RTN_F_SPEND_PREV_90D,
    RTN_F_SPEND_TREND,
    RTN_F_RETURN_RATE,
    RTN_F_CATEGORY_ENTROPY,
    RTN_F_N_CATEGORIES,
    RTN_F_TOP_CATEGORY_SHARE,
    RTN_F_ONLINE_SHARE,
    RTN_F_APP_SHARE,
    RTN_F_WEEKEND_SHARE,
    RTN_F_N_STORES,
    RTN_F_MEAN_BASKET_QUANTITY,
    RTN_FEATURES_D
};
extern const char *const rtn_feature_names[RTN_FEATURES_D];

/* The CLV summary columns (BG/NBD / Gamma-Gamma conventions). */
enum {
    RTN_CLV_X = 0,               /* repeat purchase days before the cutoff */
    RTN_CLV_T_X,                 /* weeks from first to last purchase day */
    RTN_CLV_T,                   /* weeks from first purchase day to the last day before the cutoff */
    RTN_CLV_MEAN_REPEAT_SPEND,   /* mean value of the repeat purchase days, major units */
    RTN_CLV_FREQUENCY_HOLDOUT,   /* purchase days in [cutoff, cutoff + horizon) */
    RTN_CLV_N
};
extern const char *const rtn_clv_names[RTN_CLV_N];

/* RFM keys: integers whose order gives the RFM scores (higher key = better score). */
enum { RTN_RFM_R = 0, RTN_RFM_F, RTN_RFM_M, RTN_RFM_N };

/* Named RFM segments (codes 0..10 in this order). */
enum {
    RTN_SEG_CHAMPIONS = 0,
    RTN_SEG_LOYAL,
    RTN_SEG_POTENTIAL_LOYALIST,
    RTN_SEG_NEW,
    RTN_SEG_PROMISING,
    RTN_SEG_NEED_ATTENTION,
    RTN_SEG_ABOUT_TO_SLEEP,
    RTN_SEG_AT_RISK,
    RTN_SEG_CANT_LOSE,
    RTN_SEG_HIBERNATING,
    RTN_SEG_LOST,
    RTN_SEG_N
};
extern const char *const rtn_rfm_segment_names[RTN_SEG_N];

/* Segment of RFM scores r, f, m (each 1..5): the rule table on (R, FM) with
 * FM = floor((f + m + 1) / 2), docs/features.md. */
int rtn_rfm_segment(int r, int f, int m);

/* RFM score from a key and the four global thresholds q[0..3]:
 * 1 + #{k : key > q[k]} (docs/features.md: the quintile rule). */
static inline int rtn_rfm_score(int64_t key, const int64_t q[4])
{
    return 1 + (key > q[0]) + (key > q[1]) + (key > q[2]) + (key > q[3]);
}

/* Parameters of a features run. */
typedef struct {
    int64_t cutoff;            /* seconds since the epoch, UTC */
    int64_t horizon_days;      /* label window [cutoff, cutoff + horizon_days) */
    int64_t lookback_days;     /* population: >= 1 purchase in [cutoff - lookback, cutoff) */
    int population_all;        /* 1: every customer with a purchase before the cutoff */
    int zero_value_purchases;  /* 1: baskets with net amount 0 are purchases too */
    int labels_known;          /* 0: labels are -1 (the store ends before the horizon) */
    int32_t currency_exponent; /* amounts are minor units: major = amount / 10^exponent */
    int32_t n_categories;      /* category codes must lie in [-1, n_categories) */
    int32_t n_stores;          /* store codes must lie in [-1, n_stores) */
} rtn_features_params;

/* Per-customer output rows held by a rank (appended in input order). */
typedef struct {
    size_t n, cap;
    uint64_t *customer;
    double *X;          /* n x RTN_FEATURES_D */
    int8_t *label;      /* 1 churned, 0 retained, -1 unknown */
    double *clv;        /* n x RTN_CLV_N */
    int64_t *rfm_key;   /* n x RTN_RFM_N: last purchase time, frequency, monetary (minor) */
    int32_t *preferred_category; /* n: category code with the most spend in the lookback
                                    window (docs/features.md), -1 = none */
} rtn_features_rows;

void rtn_features_rows_free(rtn_features_rows *r);

/* Data-quality counts accumulated over the rows a context sees (all integers, so sums
 * over ranks are exact). */
typedef struct {
    uint64_t rows;                  /* rows scanned */
    uint64_t customers;             /* distinct customers scanned */
    uint64_t customers_history;     /* customers with a basket before the cutoff */
    uint64_t customers_purchase;    /* customers with a purchase before the cutoff */
    uint64_t population;            /* output rows */
    uint64_t single_purchase;       /* population customers with one purchase day */
    uint64_t negative_net;          /* customers with a basket before the cutoff and net < 0 */
    uint64_t churned, retained;     /* labels (when known) */
    uint64_t duplicate_basket_runs; /* baskets whose rows were not contiguous */
} rtn_features_counts;

/* Scratch state of the aggregation: one per rank, reused across blocks. */
typedef struct rtn_features_ctx rtn_features_ctx;

rtn_status rtn_features_ctx_new(rtn_features_ctx **ctx, const rtn_features_params *p);
void rtn_features_ctx_free(rtn_features_ctx *ctx);
const rtn_features_counts *rtn_features_ctx_counts(const rtn_features_ctx *ctx);

/* Store-wide data-quality scans fused into the aggregation pass (optional):
 * a day-coverage map over [day(time_min), day(time_max)] and the largest |amount| values
 * (a bounded min-heap of heap_k values, enough for a global upper percentile). */
rtn_status rtn_features_ctx_dq(rtn_features_ctx *ctx, int64_t time_min, int64_t time_max,
                               size_t heap_k);
/* The day map (1 = at least one row that UTC day) and its length; NULL when not set. */
const uint8_t *rtn_features_ctx_days(const rtn_features_ctx *ctx, size_t *ndays);
/* The heap of largest |amount| values (unordered) and rows outside [time_min, time_max]. */
const uint64_t *rtn_features_ctx_heap(const rtn_features_ctx *ctx, size_t *n);
uint64_t rtn_features_ctx_rows_outside(const rtn_features_ctx *ctx);

/* Columns the aggregation reads. */
#define RTN_FEATURES_COLS                                                                   \
    (RTN_COL(RTN_COL_CUSTOMER) | RTN_COL(RTN_COL_TIME) | RTN_COL(RTN_COL_AMOUNT) |          \
     RTN_COL(RTN_COL_QUANTITY) | RTN_COL(RTN_COL_CATEGORY) | RTN_COL(RTN_COL_STORE) |       \
     RTN_COL(RTN_COL_CHANNEL) | RTN_COL(RTN_COL_BASKET))

/* Aggregates rows [i0, i1) of blk, which must hold whole customers, each customer's rows
 * contiguous and in time order (the store order). Appends one row to out per population
 * customer, in input order. The RFM scores are not computed here (they need global
 * quantiles, rtn_features_rfm_thresholds). Fails with RTN_ERR_FORMAT on a category or
 * store code outside the dictionaries or time going backwards within a customer. */
rtn_status rtn_features_compute(rtn_features_ctx *ctx, const rtn_txn_block *blk, size_t i0,
                                size_t i1, rtn_features_rows *out);

/* Exact global order statistics of uint64 keys spread over the ranks of comm: out[j] is
 * the element at 0-based position pos[j] of all keys sorted ascending (every pos[j] must
 * be < the global count). keys[i*stride] for i < n. Collective; integer histograms only,
 * so the result is identical for any rank count. */
rtn_status rtn_global_select_u64(MPI_Comm comm, const uint64_t *keys, size_t n, size_t stride,
                                 const uint64_t *pos, int npos, uint64_t *out);

/* Global RFM thresholds q[key][0..3] over the rows of every rank: q[key][k-1] is the
 * element at position ceil(k N / 5) - 1 (k = 1..4) of the sorted keys, so that
 * score = 1 + floor(5 * #{keys < key} / N). Collective. With N == 0 all thresholds are 0. */
rtn_status rtn_features_rfm_thresholds(MPI_Comm comm, const rtn_features_rows *rows,
                                       int64_t q[RTN_RFM_N][4]);

/* ------------------------------------------------------------------ writer */

/* What the writer needs besides the rows. All ranks pass identical values except
 * bucket_rows (this rank's output rows per bucket of [b0, b1)). */
typedef struct {
    const rtn_features_params *params;
    uint32_t nbuckets, b0, b1;
    const uint64_t *bucket_rows;      /* b1-b0 entries, summing to rows->n */
    int64_t rfm_q[RTN_RFM_N][4];      /* from rtn_features_rfm_thresholds */
    const char *store_path, *store_digest, *currency, *created_by;
    const char *const *category_names; /* the store's category dictionary (code = index) */
    size_t n_category_names;
    const char *data_quality_json;     /* the data-quality counts as a JSON object (or NULL) */
} rtn_features_file_meta;

/* Collective: writes the features file (docs/formats.md, "Features file") under a
 * temporary name and renames it when complete. RFM scores and segments are computed here
 * from the keys and thresholds. */
rtn_status rtn_features_write(MPI_Comm comm, const char *path, const rtn_features_rows *rows,
                              const rtn_features_file_meta *meta);

/* ------------------------------------------------------------------ loader */

/* A rank's share of a features file: the rows of buckets [b0, b1), balanced by rows
 * (rtn_partition_buckets over /customers/bucket_offsets), in file order. */
typedef struct {
    size_t n, d;                  /* local rows, feature count */
    uint64_t n_total;             /* rows in the file */
    uint64_t row0;                /* file row of local row 0 */
    uint32_t nbuckets, b0, b1;
    uint64_t *boff;               /* b1-b0+1 local row offsets (boff[0] == 0) */
    uint64_t *customer;           /* n */
    double *X;                    /* n x d, row-major */
    int8_t *label;                /* n: 1 churned, 0 retained, -1 unknown */
    int8_t *rfm_r, *rfm_f, *rfm_m, *rfm_segment;   /* n each */
    double *clv[RTN_CLV_N];       /* n each, indexed by RTN_CLV_* */
    int32_t *preferred_category;  /* n: code into category_names, -1 = none (all -1 in
                                     files written before the dataset existed) */
    char **category_names;        /* n_category_names (0 in such older files) */
    size_t n_category_names;
    char **feature_names;         /* d */
    char **segment_names;         /* n_segments */
    size_t n_segments;
    /* root attributes */
    int64_t cutoff, horizon_days, lookback_days;
    int labels_known;
    int32_t currency_exponent;
    char cutoff_iso[32];
    char population[16];          /* "lookback" or "all" */
    char currency[16];
    char store_digest[65];
    char *store_path;
    char *data_quality_json;      /* JSON object of data-quality counts; NULL in older files */
    rtn_bucketed_rows rows;       /* view over X with this rank's bucket offsets */
} rtn_features_data;

/* Collective: opens the features file, validates the format and loads this rank's
 * bucket range. On failure *out is left empty (safe to free). */
rtn_status rtn_features_load(MPI_Comm comm, const char *path, rtn_features_data *out);
void rtn_features_data_free(rtn_features_data *d);

/* Collective: digest of the loaded content (XXH3-128 per bucket over customer, X row and
 * label, then SHA-256 over the feature names and the bucket digests in bucket order):
 * the same for any rank count. The writer records it as the root attribute
 * content_digest and rtn_features_load refuses a file whose content no longer matches
 * (exit 4); a model bundle records it as features_digest. */
rtn_status rtn_features_content_digest(MPI_Comm comm, const rtn_features_data *fd, char hex[65]);

#endif
