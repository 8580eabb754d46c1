/* The retention report (`retain report`): store-level retention figures (KPIs of the last
 * two periods, monthly acquisition cohorts, lifecycle flow), segment tables, model quality
 * and the churn warning summary, rendered as one self-contained HTML file plus the same
 * figures as JSON and CSV. Every definition is in docs/report.md.
 *
 * Computation is separate from files: rtn_report_store_add works on an in-memory block of
 * whole customers; the collective steps combine integer counts (exact, so identical for any
 * rank count) and per-bucket partial sums (rtn_bucket_sum). Rendering (report_html.c) works
 * on the finished rtn_report on one rank. */
#ifndef RETAIN_REPORT_H
#define RETAIN_REPORT_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/features.h"
#include "retain/metrics.h"
#include "retain/model.h"
#include "retain/score.h"
#include "retain/status.h"
#include "retain/store.h"

#define RTN_REPORT_FORMAT "retain-report"
#define RTN_REPORT_FORMAT_VERSION 1
#define RTN_REPORT_DEFAULT_K 10
#define RTN_REPORT_DEFAULT_PERIOD_DAYS 90
#define RTN_REPORT_MAX_MONTHS 36 /* most recent acquisition cohorts shown */

/* Periods ending at the cutoff C, each period_days long: BEFORE = [C-3P, C-2P),
 * PREV = [C-2P, C-P), LAST = [C-P, C). */
enum { RTN_RP_BEFORE = 0, RTN_RP_PREV, RTN_RP_LAST, RTN_RP_N };

/* Lifecycle states at the end of a period (docs/report.md); RTN_LC_NONE is "not yet a
 * customer" (first purchase later), used only as the origin of the flow. */
enum { RTN_LC_NEW = 0, RTN_LC_REPEAT, RTN_LC_LOYAL, RTN_LC_AT_RISK, RTN_LC_LAPSED, RTN_LC_N };
#define RTN_LC_NONE RTN_LC_N
extern const char *const rtn_lifecycle_names[RTN_LC_N + 1];

typedef struct {
    int64_t cutoff;          /* seconds since the epoch */
    int64_t period_days;
    int zero_value_purchases; /* as the features file: net 0 baskets are purchases too */
    int64_t month0;          /* first cohort month (months since 1970-01) */
    int n_months;            /* cohort months month0 .. month0 + n_months - 1 */
} rtn_report_params;

/* Months since 1970-01 of a time (UTC). */
int64_t rtn_report_month(int64_t t);
/* Fills month0/n_months: the complete months before the cutoff, from the store's first
 * month, at most RTN_REPORT_MAX_MONTHS. */
void rtn_report_params_months(rtn_report_params *p, int64_t time_min);

/* Integer counts of the store pass (all exact; summed over ranks). */
typedef struct {
    int64_t active[RTN_RP_N];        /* customers with >= 1 purchase in the period */
    int64_t new_customers[RTN_RP_N]; /* first purchase in the period */
    int64_t repeat_buyers[RTN_RP_N]; /* >= 2 purchases in the period */
    int64_t retained[RTN_RP_N];      /* active in the period and in the one before */
    int64_t purchases[RTN_RP_N];
    int64_t revenue[RTN_RP_N];       /* net amount of the purchases, minor units */
    int64_t flow[RTN_LC_N + 1][RTN_LC_N]; /* state at the end of PREV -> end of LAST */
    int64_t state_prev[RTN_LC_N], state_last[RTN_LC_N];
    /* data quality over the whole store */
    int64_t rows, rows_before_cutoff, customers, customers_purchase, baskets, purchase_baskets,
        return_rows, zero_amount_rows, unknown_category_rows, unknown_store_rows;
    /* cohorts: cohort[c * n_months + m] = customers acquired in month month0 + c with a
     * purchase in month month0 + c + m (m = 0 is the cohort size) */
    int n_months;
    int64_t *cohort;
} rtn_report_store_counts;

rtn_status rtn_report_store_counts_init(rtn_report_store_counts *c, int n_months);
void rtn_report_store_counts_free(rtn_report_store_counts *c);

/* Adds rows [i0, i1) of blk (whole customers, each customer's rows contiguous, the store
 * order). Needs the customer, time, amount, category, store and basket columns. Local. */
#define RTN_REPORT_STORE_COLS                                                                \
    (RTN_COL(RTN_COL_CUSTOMER) | RTN_COL(RTN_COL_TIME) | RTN_COL(RTN_COL_AMOUNT) |           \
     RTN_COL(RTN_COL_CATEGORY) | RTN_COL(RTN_COL_STORE) | RTN_COL(RTN_COL_BASKET))
rtn_status rtn_report_store_add(const rtn_report_params *p, const rtn_txn_block *blk,
                                size_t i0, size_t i1, rtn_report_store_counts *acc);

/* Collective: sums the counts of every rank (in place; every rank gets the total). */
rtn_status rtn_report_store_reduce(MPI_Comm comm, rtn_report_store_counts *c);

/* Per-group statistics over the scored customers (RFM segments, k-means segments). */
enum {
    RTN_GS_CUSTOMERS = 0,
    RTN_GS_RECENCY,     /* sums */
    RTN_GS_FREQUENCY,
    RTN_GS_MONETARY,
    RTN_GS_LABELLED,
    RTN_GS_CHURNED,
    RTN_GS_CHURN_PROB,
    RTN_GS_CLV,
    RTN_GS_N
};

/* One customer's scored row, as the report reads it. */
typedef struct {
    uint64_t customer;
    int rfm_segment;      /* 0..RTN_SEG_N-1 */
    double recency, frequency, monetary; /* features, major units */
    int label;            /* 1, 0, -1 unknown */
    double churn_probability, clv; /* clv NaN without a CLV model */
    int risk_tier, segment, action; /* segment -1 without segments */
} rtn_report_customer;

#define RTN_REPORT_ROC_POINTS 200

typedef struct {
    int k;                                 /* k-means clusters (0 without) */
    double rfm[RTN_SEG_N][RTN_GS_N];
    double *seg;                           /* k x RTN_GS_N */
    double total[RTN_GS_N];
    int64_t *warn;                         /* (k + 1) x RTN_N_ACTIONS; row k = no segment */
    int64_t tier[RTN_RISK_TIERS];
    /* ROC curve of the held-out test split (rank 0 only): points at every k_anon-th
     * flagged customer, so each point aggregates at least k customers */
    int n_roc;
    double roc_fpr[RTN_REPORT_ROC_POINTS + 2], roc_tpr[RTN_REPORT_ROC_POINTS + 2];
    int64_t roc_flagged[RTN_REPORT_ROC_POINTS + 2];
    uint64_t test_n, test_pos;
} rtn_report_scores;

/* Collective: the group statistics of the local customers (buckets [b0, b1) with row
 * offsets boff, the features loader's layout) combined in bucket order, and the ROC
 * points from the customers of the test split (test_mask[i] != 0) with known labels. */
rtn_status rtn_report_scores_compute(MPI_Comm comm, int k, uint32_t nbuckets, uint32_t b0,
                                     uint32_t b1, const uint64_t *boff,
                                     const rtn_report_customer *rows, const uint8_t *test_mask,
                                     int k_anon, rtn_report_scores *out);
void rtn_report_scores_free(rtn_report_scores *s);

/* Everything the renderer needs. */
typedef struct {
    rtn_report_params params;
    int k_anon;
    rtn_report_store_counts store;
    rtn_report_scores scores;
    const rtn_model *model;
    const char *currency;
    int32_t currency_exponent;
    const char *cutoff_iso;
    const char *store_digest, *model_content_id;
    uint64_t n_scored;
    int labels_known;
    int64_t horizon_days;
    int64_t single_purchase_customers;   /* scored customers with one purchase day */
    /* from an ingested store's provenance; -1 when the store was not ingested */
    int64_t ingest_rows_read, ingest_rows_rejected, ingest_duplicates_removed;
    const char *features_quality_json; /* the features file's data-quality counts, or NULL */
} rtn_report;

/* Rank 0: writes report.json, one CSV per figure into fig_dir (created) and the HTML file
 * with the charts drawn by gnuplot (SVG, inlined). All files atomically. */
rtn_status rtn_report_render(const rtn_report *r, const char *html_path, const char *fig_dir);

#endif
