/* Rendering of the retention report on one rank: the figures become one JSON document
 * first (where k-anonymity suppression is applied, once), and the CSV files, the gnuplot
 * charts and the HTML page are all drawn from that document, so the three outputs always
 * agree (docs/report.md). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "retain/atomic.h"
#include "retain/cli.h"
#include "retain/report.h"
#include "retain/version.h"

extern char **environ;

#define SUPPRESSED "suppressed"

/* ------------------------------------------------------------------ JSON with suppression */

static json_t *jcount(int64_t n, int k)
{
    return n >= k ? json_integer((json_int_t)n) : json_string(SUPPRESSED);
}

static json_t *jreal(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* A share num/den of a group of den customers: shown when the group holds at least k. */
static json_t *jrate(int64_t num, int64_t den, int k)
{
    if (den < k || den == 0) return json_string(SUPPRESSED);
    return json_real((double)num / (double)den);
}

static int is_suppressed(const json_t *v)
{
    return json_is_string(v) && strcmp(json_string_value(v), SUPPRESSED) == 0;
}

static double minor_to_major(int64_t v, int32_t e)
{
    return (double)v / pow(10.0, e);
}

static void period_iso(const rtn_report_params *p, int which, char *start, char *end)
{
    int64_t P = p->period_days * 86400;
    int64_t s = p->cutoff - (int64_t)(RTN_RP_N - which) * P;
    rtn_format_time(s, start, 32);
    rtn_format_time(s + P, end, 32);
}

static void month_name(int64_t month, char *buf, size_t n)
{
    int64_t y = 1970 + (month >= 0 ? month / 12 : -((-month + 11) / 12));
    int64_t mo = month - (y - 1970) * 12 + 1;
    snprintf(buf, n, "%04d-%02d", (int)(y % 100000), (int)(mo % 100));
}

static json_t *kpi_period(const rtn_report *r, int p)
{
    const rtn_report_store_counts *c = &r->store;
    int k = r->k_anon;
    int32_t e = r->currency_exponent;
    json_t *o = json_object();
    char s[32], t[32];
    period_iso(&r->params, p, s, t);
    json_object_set_new(o, "start", json_string(s));
    json_object_set_new(o, "end", json_string(t));
    json_object_set_new(o, "active_customers", jcount(c->active[p], k));
    json_object_set_new(o, "new_customers", jcount(c->new_customers[p], k));
    json_object_set_new(o, "repeat_customers", jcount(c->repeat_buyers[p], k));
    json_object_set_new(o, "retained_customers", jcount(c->retained[p], k));
    json_object_set_new(o, "retention_rate", jrate(c->retained[p], c->active[p - 1], k));
    json_object_set_new(o, "churn_rate", jrate(c->active[p - 1] - c->retained[p], c->active[p - 1], k));
    json_object_set_new(o, "repeat_purchase_rate", jrate(c->repeat_buyers[p], c->active[p], k));
    int ok = c->active[p] >= k;
    json_object_set_new(o, "purchases", ok ? json_integer(c->purchases[p]) : json_string(SUPPRESSED));
    json_object_set_new(o, "revenue", ok ? json_real(minor_to_major(c->revenue[p], e)) : json_string(SUPPRESSED));
    json_object_set_new(o, "average_basket",
                        ok && c->purchases[p] ? json_real(minor_to_major(c->revenue[p], e) / (double)c->purchases[p])
                                              : json_string(SUPPRESSED));
    json_object_set_new(o, "revenue_per_customer",
                        ok ? json_real(minor_to_major(c->revenue[p], e) / (double)c->active[p]) : json_string(SUPPRESSED));
    return o;
}

static const char *const kpi_keys[] = {"active_customers", "new_customers", "repeat_customers",
                                       "retained_customers", "retention_rate", "churn_rate",
                                       "repeat_purchase_rate", "purchases", "revenue",
                                       "average_basket", "revenue_per_customer", "mean_clv"};
static const char *const kpi_labels[] = {"Active customers", "New customers",
                                         "Repeat customers (2+ purchases)", "Retained customers",
                                         "Retention rate", "Churn rate", "Repeat-purchase rate",
                                         "Purchases", "Revenue", "Average basket",
                                         "Revenue per active customer", "Mean CLV"};
enum { N_KPIS = sizeof kpi_keys / sizeof kpi_keys[0] };

static json_t *build_kpis(const rtn_report *r)
{
    json_t *o = json_object();
    json_t *last = kpi_period(r, RTN_RP_LAST), *prev = kpi_period(r, RTN_RP_PREV);
    const double *tot = r->scores.total;
    int has_clv = r->model->has_clv && r->model->has_gg;
    json_object_set_new(last, "mean_clv",
                        !has_clv ? json_null()
                        : tot[RTN_GS_CUSTOMERS] >= r->k_anon ? json_real(tot[RTN_GS_CLV] / tot[RTN_GS_CUSTOMERS])
                                                             : json_string(SUPPRESSED));
    /* the bundle values customers at the cutoff only: there is no CLV of the previous period */
    json_object_set_new(prev, "mean_clv", json_null());
    json_t *chg = json_object();
    for (int i = 0; i < N_KPIS; i++) {
        json_t *a = json_object_get(last, kpi_keys[i]), *b = json_object_get(prev, kpi_keys[i]);
        if (json_is_number(a) && json_is_number(b) && json_number_value(b) != 0 &&
            !strstr(kpi_keys[i], "_rate"))
            json_object_set_new(chg, kpi_keys[i], json_real(json_number_value(a) / json_number_value(b) - 1));
        else if (json_is_number(a) && json_is_number(b) && strstr(kpi_keys[i], "_rate"))
            json_object_set_new(chg, kpi_keys[i], json_real(json_number_value(a) - json_number_value(b)));
        else
            json_object_set_new(chg, kpi_keys[i], json_null());
    }
    json_object_set_new(o, "last", last);
    json_object_set_new(o, "previous", prev);
    json_object_set_new(o, "change", chg);
    return o;
}

static json_t *build_cohorts(const rtn_report *r)
{
    const rtn_report_store_counts *c = &r->store;
    int nm = c->n_months, k = r->k_anon;
    json_t *rows = json_array();
    for (int i = 0; i < nm; i++) {
        json_t *o = json_object();
        char name[32];
        month_name(r->params.month0 + i, name, sizeof name);
        int64_t size = c->cohort[(size_t)i * nm];
        json_object_set_new(o, "cohort", json_string(name));
        json_object_set_new(o, "customers", jcount(size, k));
        json_t *cnt = json_array(), *ret = json_array();
        for (int m = 0; m < nm - i; m++) {
            int64_t v = c->cohort[(size_t)i * nm + m];
            json_array_append_new(cnt, jcount(v, k));
            json_array_append_new(ret, v >= k && size >= k ? json_real((double)v / (double)size)
                                                           : json_string(SUPPRESSED));
        }
        json_object_set_new(o, "active_customers", cnt);
        json_object_set_new(o, "retention", ret);
        json_array_append_new(rows, o);
    }
    json_t *o = json_object();
    json_object_set_new(o, "rows", rows);
    return o;
}

static json_t *build_lifecycle(const rtn_report *r)
{
    const rtn_report_store_counts *c = &r->store;
    int k = r->k_anon;
    json_t *o = json_object(), *states = json_array(), *flow = json_array();
    for (int s = 0; s < RTN_LC_N; s++) {
        json_t *e = json_object();
        json_object_set_new(e, "state", json_string(rtn_lifecycle_names[s]));
        json_object_set_new(e, "previous_customers", jcount(c->state_prev[s], k));
        json_object_set_new(e, "last_customers", jcount(c->state_last[s], k));
        json_array_append_new(states, e);
    }
    for (int a = 0; a <= RTN_LC_N; a++)
        for (int b = 0; b < RTN_LC_N; b++) {
            json_t *e = json_object();
            json_object_set_new(e, "from", json_string(rtn_lifecycle_names[a]));
            json_object_set_new(e, "to", json_string(rtn_lifecycle_names[b]));
            json_object_set_new(e, "customers", jcount(c->flow[a][b], k));
            json_array_append_new(flow, e);
        }
    json_object_set_new(o, "states", states);
    json_object_set_new(o, "flow", flow);
    return o;
}

/* One group's row: every figure needs the group to hold at least k customers. */
static json_t *group_row(const double *g, double total, int k, int has_clv)
{
    json_t *o = json_object();
    int64_t n = (int64_t)g[RTN_GS_CUSTOMERS];
    json_object_set_new(o, "customers", jcount(n, k));
    if (n < k) return o;
    json_object_set_new(o, "share", jreal(total > 0 ? (double)n / total : NAN));
    json_object_set_new(o, "mean_recency_days", jreal(g[RTN_GS_RECENCY] / (double)n));
    json_object_set_new(o, "mean_frequency", jreal(g[RTN_GS_FREQUENCY] / (double)n));
    json_object_set_new(o, "mean_monetary", jreal(g[RTN_GS_MONETARY] / (double)n));
    json_object_set_new(o, "churn_rate",
                        g[RTN_GS_LABELLED] > 0 ? jrate((int64_t)g[RTN_GS_CHURNED], (int64_t)g[RTN_GS_LABELLED], k)
                                               : json_null());
    json_object_set_new(o, "mean_churn_probability", jreal(g[RTN_GS_CHURN_PROB] / (double)n));
    json_object_set_new(o, "mean_clv", has_clv ? jreal(g[RTN_GS_CLV] / (double)n) : json_null());
    return o;
}

static json_t *build_rfm(const rtn_report *r, int has_clv)
{
    json_t *a = json_array();
    for (int s = 0; s < RTN_SEG_N; s++) {
        json_t *o = group_row(r->scores.rfm[s], r->scores.total[RTN_GS_CUSTOMERS], r->k_anon, has_clv);
        json_object_set_new(o, "segment", json_string(rtn_rfm_segment_names[s]));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *build_segments(const rtn_report *r, int has_clv)
{
    const rtn_model *m = r->model;
    json_t *a = json_array();
    for (int c = 0; c < r->scores.k; c++) {
        const double *g = r->scores.seg + (size_t)c * RTN_GS_N;
        json_t *o = group_row(g, r->scores.total[RTN_GS_CUSTOMERS], r->k_anon, has_clv);
        json_object_set_new(o, "segment_id", json_integer(m->segment_id[c]));
        json_object_set_new(o, "segment", json_string(m->segment_name[c]));
        if (g[RTN_GS_CUSTOMERS] >= r->k_anon) {
            json_t *prof = json_object();
            for (size_t j = 0; j < m->d; j++)
                json_object_set_new(prof, m->feature_names[j], jreal(m->seg_profile[(size_t)c * m->d + j]));
            json_object_set_new(o, "profile", prof);
        }
        json_array_append_new(a, o);
    }
    return a;
}

typedef struct {
    double v;
    size_t j;
} coef_rank;

static int cmp_coef(const void *a, const void *b)
{
    const coef_rank *x = a, *y = b;
    if (fabs(x->v) != fabs(y->v)) return fabs(x->v) > fabs(y->v) ? -1 : 1;
    return x->j < y->j ? -1 : x->j > y->j;
}

static json_t *build_model_quality(const rtn_report *r)
{
    const rtn_model *m = r->model;
    const rtn_report_scores *s = &r->scores;
    int k = r->k_anon;
    json_t *o = json_object();
    json_object_set_new(o, "test_customers", jcount((int64_t)s->test_n, k));
    json_object_set_new(o, "test_churned_customers", jcount((int64_t)s->test_pos, k));
    json_t *roc = json_array();
    if (s->test_n >= (uint64_t)k && s->test_pos >= (uint64_t)k && s->test_n - s->test_pos >= (uint64_t)k)
        for (int i = 0; i < s->n_roc; i++) {
            json_t *e = json_object();
            /* the origin flags nobody: no group to count */
            json_object_set_new(e, "flagged_customers", i ? json_integer(s->roc_flagged[i]) : json_null());
            json_object_set_new(e, "false_positive_rate", json_real(s->roc_fpr[i]));
            json_object_set_new(e, "true_positive_rate", json_real(s->roc_tpr[i]));
            json_array_append_new(roc, e);
        }
    json_object_set_new(o, "roc", roc);
    json_t *dec = json_array();
    const rtn_metrics *mt = m->test.present ? &m->test.m : NULL;
    if (mt) {
        json_object_set_new(o, "roc_auc", jreal(mt->roc_auc));
        json_object_set_new(o, "pr_auc", jreal(mt->pr_auc));
        json_object_set_new(o, "brier", jreal(mt->brier));
        json_object_set_new(o, "log_loss", jreal(mt->log_loss));
        json_object_set_new(o, "base_rate", jreal(mt->base_rate));
        json_object_set_new(o, "calibration_error", jreal(mt->calibration_error));
        for (int b = 0; b < RTN_METRICS_BINS; b++) {
            json_t *e = json_object();
            int ok = mt->bin_n[b] >= (uint64_t)k;
            json_object_set_new(e, "decile", json_integer(b + 1));
            json_object_set_new(e, "customers", jcount((int64_t)mt->bin_n[b], k));
            json_object_set_new(e, "mean_predicted", ok ? jreal(mt->bin_mean_pred[b]) : json_string(SUPPRESSED));
            json_object_set_new(e, "observed_rate", ok ? jreal(mt->bin_rate[b]) : json_string(SUPPRESSED));
            json_object_set_new(e, "lift", ok ? jreal(mt->lift[b]) : json_string(SUPPRESSED));
            json_object_set_new(e, "cumulative_gain", jreal(mt->cum_gain[b]));
            json_array_append_new(dec, e);
        }
    }
    json_object_set_new(o, "deciles", dec);
    json_t *co = json_array();
    if (m->has_churn) {
        coef_rank *cr = malloc(sizeof *cr * (m->d + 1));
        if (cr) {
            for (size_t j = 0; j < m->d; j++) cr[j] = (coef_rank){m->coef_std[j], j};
            qsort(cr, m->d, sizeof *cr, cmp_coef);
            for (size_t j = 0; j < m->d && j < 12; j++) {
                if (cr[j].v == 0) break;
                json_t *e = json_object();
                json_object_set_new(e, "feature", json_string(m->feature_names[cr[j].j]));
                json_object_set_new(e, "coefficient", json_real(cr[j].v));
                json_array_append_new(co, e);
            }
            free(cr);
        }
    }
    json_object_set_new(o, "coefficients", co);
    return o;
}

static json_t *build_clv(const rtn_report *r, json_t *segments)
{
    const rtn_model *m = r->model;
    json_t *o = json_object();
    if (!m->has_clv) return o;
    if (m->purchase_kind == RTN_PURCHASE_NBD)
        json_object_set_new(o, "nbd", json_pack("{s:f,s:f}", "r", m->nbd.r, "alpha", m->nbd.alpha));
    else
        json_object_set_new(o, "bgnbd", json_pack("{s:f,s:f,s:f,s:f}", "r", m->bgnbd.r, "alpha",
                                                  m->bgnbd.alpha, "a", m->bgnbd.a, "b", m->bgnbd.b));
    if (m->has_gg)
        json_object_set_new(o, "gamma_gamma", json_pack("{s:f,s:f,s:f}", "p", m->gg.p, "q", m->gg.q,
                                                        "gamma", m->gg.gamma));
    json_t *by = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(segments, i, e)
    {
        json_t *x = json_object();
        json_object_set(x, "segment", json_object_get(e, "segment"));
        json_object_set(x, "customers", json_object_get(e, "customers"));
        json_t *v = json_object_get(e, "mean_clv");
        json_object_set_new(x, "mean_clv", v ? json_incref(v) : json_string(SUPPRESSED));
        json_array_append_new(by, x);
    }
    json_object_set_new(o, "by_segment", by);
    return o;
}

static json_t *build_warnings(const rtn_report *r)
{
    const rtn_report_scores *s = &r->scores;
    int k = r->k_anon;
    json_t *o = json_object(), *rows = json_array(), *tiers = json_object();
    for (int c = 0; c <= s->k; c++) {
        int64_t tot = 0;
        for (int a = 0; a < RTN_N_ACTIONS; a++) tot += s->warn[(size_t)c * RTN_N_ACTIONS + (size_t)a];
        if (c == s->k && tot == 0) continue; /* every customer has a segment */
        json_t *e = json_object(), *by = json_object();
        json_object_set_new(e, "segment", json_string(c < s->k ? r->model->segment_name[c] : "(none)"));
        json_object_set_new(e, "customers", jcount(tot, k));
        for (int a = 0; a < RTN_N_ACTIONS; a++)
            json_object_set_new(by, rtn_action_names[a], jcount(s->warn[(size_t)c * RTN_N_ACTIONS + (size_t)a], k));
        json_object_set_new(e, "action_customers", by);
        json_array_append_new(rows, e);
    }
    for (int t = 0; t < RTN_RISK_TIERS; t++) json_object_set_new(tiers, rtn_risk_tier_names[t], jcount(s->tier[t], k));
    json_object_set_new(o, "by_segment", rows);
    json_object_set_new(o, "risk_tier_customers", tiers);
    return o;
}

static json_t *build_quality(const rtn_report *r)
{
    const rtn_report_store_counts *c = &r->store;
    int k = r->k_anon;
    json_t *o = json_object();
    json_object_set_new(o, "rows", json_integer(c->rows));
    json_object_set_new(o, "rows_before_cutoff", json_integer(c->rows_before_cutoff));
    json_object_set_new(o, "store_customers", jcount(c->customers, k));
    json_object_set_new(o, "purchasing_customers", jcount(c->customers_purchase, k));
    json_object_set_new(o, "baskets_before_cutoff", json_integer(c->baskets));
    json_object_set_new(o, "purchases_before_cutoff", json_integer(c->purchase_baskets));
    json_object_set_new(o, "non_purchase_baskets", json_integer(c->baskets - c->purchase_baskets));
    json_object_set_new(o, "return_rows", json_integer(c->return_rows));
    json_object_set_new(o, "zero_amount_rows", json_integer(c->zero_amount_rows));
    json_object_set_new(o, "unknown_category_rows", json_integer(c->unknown_category_rows));
    json_object_set_new(o, "unknown_store_rows", json_integer(c->unknown_store_rows));
    json_object_set_new(o, "scored_customers", jcount((int64_t)r->n_scored, k));
    json_object_set_new(o, "labelled_customers", jcount((int64_t)r->scores.total[RTN_GS_LABELLED], k));
    json_object_set_new(o, "single_purchase_customers", jcount(r->single_purchase_customers, k));
    json_object_set_new(o, "labels_known", json_boolean(r->labels_known));
    /* the features pass's own counts (files written before they were recorded have none);
     * customer counts obey k-anonymity like every other count */
    json_t *fq = r->features_quality_json ? json_loads(r->features_quality_json, 0, NULL) : NULL;
    const char *key;
    json_t *v;
    json_object_foreach(fq, key, v)
    {
        if (json_object_get(o, key)) continue;
        size_t l = strlen(key);
        if (l >= 9 && strcmp(key + l - 9, "customers") == 0 && json_is_integer(v))
            json_object_set_new(o, key, jcount((int64_t)json_integer_value(v), k));
        else
            json_object_set(o, key, v);
    }
    json_decref(fq);
    if (r->ingest_rows_read >= 0) {
        json_object_set_new(o, "ingest_rows_read", json_integer(r->ingest_rows_read));
        json_object_set_new(o, "ingest_rows_rejected", json_integer(r->ingest_rows_rejected));
        json_object_set_new(o, "ingest_duplicates_removed", json_integer(r->ingest_duplicates_removed));
    }
    return o;
}

static json_t *build_json(const rtn_report *r)
{
    int has_clv = r->model->has_clv && r->model->has_gg;
    json_t *j = json_object();
    json_object_set_new(j, "format", json_string(RTN_REPORT_FORMAT));
    json_object_set_new(j, "format_version", json_integer(RTN_REPORT_FORMAT_VERSION));
    json_object_set_new(j, "cutoff", json_string(r->cutoff_iso));
    json_object_set_new(j, "period_days", json_integer(r->params.period_days));
    json_object_set_new(j, "k_anon", json_integer(r->k_anon));
    json_object_set_new(j, "currency", json_string(r->currency));
    json_object_set_new(j, "store_digest", json_string(r->store_digest));
    json_object_set_new(j, "model_content_id", json_string(r->model_content_id));
    json_object_set_new(j, "creator_version", json_string(RTN_VERSION_STRING));
    json_object_set_new(j, "kpis", build_kpis(r));
    json_object_set_new(j, "cohorts", build_cohorts(r));
    json_object_set_new(j, "lifecycle", build_lifecycle(r));
    json_object_set_new(j, "rfm_segments", build_rfm(r, has_clv));
    json_t *seg = build_segments(r, has_clv);
    json_object_set_new(j, "segments", seg);
    json_object_set_new(j, "clv", build_clv(r, seg));
    json_object_set_new(j, "model_quality", build_model_quality(r));
    json_object_set_new(j, "warnings", build_warnings(r));
    json_object_set_new(j, "data_quality", build_quality(r));
    return j;
}

/* ------------------------------------------------------------------ text buffer */

typedef struct {
    char *s;
    size_t n, cap;
    int failed;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->failed) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = 2 * b->cap + n + 4096;
        char *g = realloc(b->s, cap);
        if (!g) {
            b->failed = 1;
            return;
        }
        b->s = g;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void sb_html(sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': sb_puts(b, "&amp;"); break;
        case '<': sb_puts(b, "&lt;"); break;
        case '>': sb_puts(b, "&gt;"); break;
        case '"': sb_puts(b, "&quot;"); break;
        case '\'': sb_puts(b, "&#39;"); break;
        default: sb_put(b, s, 1);
        }
    }
}

/* ------------------------------------------------------------------ value formatting */

typedef enum { FMT_INT, FMT_PCT, FMT_MONEY, FMT_REAL, FMT_TEXT } fmt_kind;

static void fmt_value(const json_t *v, fmt_kind f, char *buf, size_t n)
{
    if (!v || json_is_null(v)) snprintf(buf, n, "n/a");
    else if (json_is_string(v)) snprintf(buf, n, "%s", json_string_value(v));
    else if (json_is_boolean(v)) snprintf(buf, n, "%s", json_is_true(v) ? "yes" : "no");
    else if (f == FMT_PCT) snprintf(buf, n, "%.1f%%", 100 * json_number_value(v));
    else if (f == FMT_MONEY) snprintf(buf, n, "%.2f", json_number_value(v));
    else if (f == FMT_INT || json_is_integer(v)) snprintf(buf, n, "%" JSON_INTEGER_FORMAT, (json_int_t)json_number_value(v));
    else snprintf(buf, n, "%.4g", json_number_value(v));
}

/* Count cells carry class "n" (customers) so a reader (and the tests) can find them. */
static void td(sbuf *b, const json_t *v, fmt_kind f, int is_count)
{
    char t[128];
    fmt_value(v, f, t, sizeof t);
    sb_printf(b, "<td class=\"%s%s\">", is_count ? "n" : "v", is_suppressed(v) ? " sup" : "");
    sb_html(b, t);
    sb_puts(b, "</td>");
}

typedef struct {
    const char *key, *label;
    fmt_kind fmt;
} column;

static int col_is_count(const column *c)
{
    size_t l = strlen(c->key);
    return l >= 9 && strcmp(c->key + l - 9, "customers") == 0;
}

static void html_table(sbuf *b, const json_t *rows, const column *cols, size_t ncols)
{
    sb_puts(b, "<table><thead><tr>");
    for (size_t c = 0; c < ncols; c++) {
        sb_puts(b, "<th>");
        sb_html(b, cols[c].label);
        sb_puts(b, "</th>");
    }
    sb_puts(b, "</tr></thead><tbody>\n");
    size_t i;
    const json_t *e;
    json_array_foreach(rows, i, e)
    {
        sb_puts(b, "<tr>");
        for (size_t c = 0; c < ncols; c++) {
            const json_t *v = json_object_get(e, cols[c].key);
            /* a suppressed group shows suppressed in every column */
            if (!v && is_suppressed(json_object_get(e, "customers"))) v = json_object_get(e, "customers");
            td(b, v, cols[c].fmt, col_is_count(&cols[c]));
        }
        sb_puts(b, "</tr>\n");
    }
    sb_puts(b, "</tbody></table>\n");
}

/* ------------------------------------------------------------------ CSV */

static void csv_cell(FILE *fp, const json_t *v)
{
    if (!v || json_is_null(v)) return;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strpbrk(s, ",\"\n")) {
            fputs(s, fp);
            return;
        }
        fputc('"', fp);
        for (; *s; s++) {
            if (*s == '"') fputc('"', fp);
            fputc(*s, fp);
        }
        fputc('"', fp);
    } else if (json_is_integer(v)) {
        fprintf(fp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        fprintf(fp, "%.17g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        fputs(json_is_true(v) ? "true" : "false", fp);
    }
}

static rtn_status write_csv(const char *dir, const char *name, const json_t *rows, const column *cols,
                            size_t ncols)
{
    char path[RTN_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    rtn_atomic_file af;
    RTN_TRY(rtn_atomic_open(&af, path));
    for (size_t c = 0; c < ncols; c++) fprintf(af.fp, "%s%s", c ? "," : "", cols[c].key);
    fputc('\n', af.fp);
    size_t i;
    const json_t *e;
    json_array_foreach(rows, i, e)
    {
        for (size_t c = 0; c < ncols; c++) {
            if (c) fputc(',', af.fp);
            const json_t *v = json_object_get(e, cols[c].key);
            if (!v && is_suppressed(json_object_get(e, "customers"))) v = json_object_get(e, "customers");
            csv_cell(af.fp, v);
        }
        fputc('\n', af.fp);
    }
    return rtn_atomic_close(&af);
}

/* ------------------------------------------------------------------ gnuplot */

typedef struct {
    char dir[1024];
    sbuf script;
    int n;
} plotter;

static const char plot_preamble[] =
    "set terminal svg size %d,%d fixed noenhanced font 'sans,11' background '#ffffff'\n"
    "set output '%s/chart%d.svg'\n"
    "set border lw 1 lc rgb '#555555'\n"
    "set grid lc rgb '#dddddd'\n"
    "set key noautotitle\n";

/* Starts chart number p->n: returns its index. */
static int chart_begin(plotter *p, int w, int h)
{
    sb_puts(&p->script, "reset\n");
    sb_printf(&p->script, plot_preamble, w, h, p->dir, p->n);
    return p->n++;
}

static rtn_status data_file(plotter *p, const char *name, const char *text)
{
    char path[RTN_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", p->dir, name);
    FILE *fp = fopen(path, "w");
    if (!fp) return rtn_fail(RTN_ERR_IO, "cannot write '%s'", path);
    fputs(text, fp);
    if (fclose(fp) != 0) return rtn_fail(RTN_ERR_IO, "cannot write '%s'", path);
    return RTN_OK;
}

/* gnuplot strings in single quotes: a quote is doubled */
static void gp_str(sbuf *b, const char *s)
{
    sb_puts(b, "'");
    for (; *s; s++) {
        if (*s == '\'') sb_puts(b, "''");
        else sb_put(b, s, 1);
    }
    sb_puts(b, "'");
}

static rtn_status run_gnuplot(plotter *p)
{
    char path[RTN_PATH_MAX];
    snprintf(path, sizeof path, "%s/charts.gp", p->dir);
    RTN_TRY(data_file(p, "charts.gp", p->script.s ? p->script.s : ""));
    char logp[RTN_PATH_MAX];
    snprintf(logp, sizeof logp, "%s/gnuplot.log", p->dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char *argv[] = {"gnuplot", path, NULL};
    pid_t pid;
    int e = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e != 0)
        return rtn_fail(RTN_ERR_RUNTIME, "cannot start gnuplot (%s): install Debian's gnuplot-nox",
                        strerror(e));
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        char msg[512] = "";
        FILE *fp = fopen(logp, "r");
        if (fp) {
            /* the error comes last, after any warnings */
            if (fseek(fp, -(long)(sizeof msg - 1), SEEK_END) != 0) rewind(fp);
            size_t n = fread(msg, 1, sizeof msg - 1, fp);
            msg[n] = '\0';
            fclose(fp);
        }
        return rtn_fail(RTN_ERR_RUNTIME, "gnuplot failed drawing the report charts: %s", msg);
    }
    return RTN_OK;
}

/* Appends chart i's SVG (without its XML prologue) to the page. */
static rtn_status embed_svg(sbuf *b, const plotter *p, int i, const char *title)
{
    char path[RTN_PATH_MAX];
    snprintf(path, sizeof path, "%s/chart%d.svg", p->dir, i);
    FILE *fp = fopen(path, "rb");
    if (!fp) return rtn_fail(RTN_ERR_RUNTIME, "gnuplot wrote no chart '%s'", path);
    sbuf t = {0};
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0) sb_put(&t, buf, n);
    fclose(fp);
    if (t.failed || !t.s) {
        free(t.s);
        return rtn_fail(RTN_ERR_NOMEM, "chart '%s'", path);
    }
    const char *svg = strstr(t.s, "<svg");
    if (!svg) {
        free(t.s);
        return rtn_fail(RTN_ERR_RUNTIME, "'%s' is not SVG", path);
    }
    sb_puts(b, "<figure>");
    sb_puts(b, svg);
    sb_puts(b, "<figcaption>");
    sb_html(b, title);
    sb_puts(b, "</figcaption></figure>\n");
    free(t.s);
    return RTN_OK;
}

/* ------------------------------------------------------------------ the page */

static const char css[] =
    "body{font-family:sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222}"
    "h1{border-bottom:3px solid #2a6f97;padding-bottom:.3em}h2{color:#2a6f97;margin-top:2em}"
    "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}"
    "th{background:#eef3f7}td:first-child,th:first-child{text-align:left}"
    "td.sup{color:#999;font-style:italic}.up{color:#1a7f37}.down{color:#b42318}"
    "figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}"
    "figcaption{font-size:12px;color:#555;text-align:center}"
    ".meta{color:#555;font-size:13px}td.heat{text-align:center}";

typedef struct {
    const rtn_report *r;
    json_t *j;
    sbuf html;
    plotter plot;
    int chart_kpi, chart_cohort, chart_life, chart_roc, chart_cal, chart_gain, chart_coef,
        chart_clv;
    rtn_status st; /* first failure while drawing the page */
} page;

static void embed(page *pg, int chart, const char *title)
{
    rtn_status st = embed_svg(&pg->html, &pg->plot, chart, title);
    if (st && !pg->st) pg->st = st;
}

static const column rfm_cols[] = {
    {"segment", "RFM segment", FMT_TEXT},
    {"customers", "Customers", FMT_INT},
    {"share", "Share", FMT_PCT},
    {"mean_recency_days", "Recency (days)", FMT_REAL},
    {"mean_frequency", "Frequency (days)", FMT_REAL},
    {"mean_monetary", "Monetary", FMT_MONEY},
    {"churn_rate", "Churn rate (labels)", FMT_PCT},
    {"mean_churn_probability", "Mean churn probability", FMT_PCT},
    {"mean_clv", "Mean CLV", FMT_MONEY},
};
#define NCOLS(a) (sizeof(a) / sizeof((a)[0]))

static const column seg_cols[] = {
    {"segment_id", "Id", FMT_INT},
    {"segment", "Segment", FMT_TEXT},
    {"customers", "Customers", FMT_INT},
    {"share", "Share", FMT_PCT},
    {"mean_recency_days", "Recency (days)", FMT_REAL},
    {"mean_frequency", "Frequency (days)", FMT_REAL},
    {"mean_monetary", "Monetary", FMT_MONEY},
    {"churn_rate", "Churn rate (labels)", FMT_PCT},
    {"mean_churn_probability", "Mean churn probability", FMT_PCT},
    {"mean_clv", "Mean CLV", FMT_MONEY},
};

static const column life_cols[] = {
    {"state", "State", FMT_TEXT},
    {"previous_customers", "End of previous period", FMT_INT},
    {"last_customers", "End of last period", FMT_INT},
};

static const column flow_cols[] = {
    {"from", "From", FMT_TEXT},
    {"to", "To", FMT_TEXT},
    {"customers", "Customers", FMT_INT},
};

static const column dec_cols[] = {
    {"decile", "Decile (highest risk first)", FMT_INT},
    {"customers", "Customers", FMT_INT},
    {"mean_predicted", "Mean predicted", FMT_PCT},
    {"observed_rate", "Observed churn", FMT_PCT},
    {"lift", "Lift", FMT_REAL},
    {"cumulative_gain", "Cumulative gain", FMT_PCT},
};

static const column roc_cols[] = {
    {"flagged_customers", "Flagged customers", FMT_INT},
    {"false_positive_rate", "False positive rate", FMT_REAL},
    {"true_positive_rate", "True positive rate", FMT_REAL},
};

static const column coef_cols[] = {
    {"feature", "Feature", FMT_TEXT},
    {"coefficient", "Coefficient (standardized)", FMT_REAL},
};

static const column clv_cols[] = {
    {"segment", "Segment", FMT_TEXT},
    {"customers", "Customers", FMT_INT},
    {"mean_clv", "Mean CLV", FMT_MONEY},
};

static fmt_kind kpi_fmt(const char *key)
{
    if (strstr(key, "_rate")) return FMT_PCT;
    if (strstr(key, "customers") || strcmp(key, "purchases") == 0) return FMT_INT;
    return FMT_MONEY;
}

static rtn_status section_kpis(page *pg)
{
    sbuf *b = &pg->html;
    json_t *k = json_object_get(pg->j, "kpis");
    json_t *last = json_object_get(k, "last"), *prev = json_object_get(k, "previous"),
           *chg = json_object_get(k, "change");
    sb_puts(b, "<section id=\"kpis\"><h2>Key figures</h2>\n<p class=\"meta\">Last period ");
    sb_html(b, json_string_value(json_object_get(last, "start")));
    sb_puts(b, " to ");
    sb_html(b, json_string_value(json_object_get(last, "end")));
    sb_puts(b, " (exclusive) against the previous period of the same length. Money in ");
    sb_html(b, pg->r->currency);
    sb_puts(b, ".</p>\n<table><thead><tr><th>KPI</th><th>Last period</th><th>Previous period</th>"
               "<th>Change</th></tr></thead><tbody>\n");
    for (int i = 0; i < N_KPIS; i++) {
        fmt_kind f = kpi_fmt(kpi_keys[i]);
        sb_puts(b, "<tr><td>");
        sb_html(b, kpi_labels[i]);
        sb_puts(b, "</td>");
        td(b, json_object_get(last, kpi_keys[i]), f, f == FMT_INT && strcmp(kpi_keys[i], "purchases") != 0);
        td(b, json_object_get(prev, kpi_keys[i]), f, f == FMT_INT && strcmp(kpi_keys[i], "purchases") != 0);
        json_t *c = json_object_get(chg, kpi_keys[i]);
        if (json_is_number(c)) {
            double v = json_number_value(c);
            /* green is good news: more of everything but churn */
            int good = strcmp(kpi_keys[i], "churn_rate") == 0 ? v <= 0 : v >= 0;
            sb_printf(b, "<td class=\"%s\">%+.1f%s</td>", good ? "up" : "down", 100 * v,
                      f == FMT_PCT ? " pts" : "%");
        } else {
            sb_puts(b, "<td>n/a</td>");
        }
        sb_puts(b, "</tr>\n");
    }
    sb_puts(b, "</tbody></table>\n");
    return RTN_OK;
}

/* Writes the chart data files and the gnuplot script; d is scratch (freed by the caller). */
/* on failure hand the scratch buffer back so the caller frees it */
#define DATA_FILE(args)                                                                    \
    do {                                                                                   \
        rtn_status df_st_ = data_file args;                                                \
        if (df_st_) {                                                                      \
            *dp = d;                                                                       \
            return df_st_;                                                                 \
        }                                                                                  \
    } while (0)

static rtn_status charts_write(page *pg, sbuf *dp)
{
    plotter *p = &pg->plot;
    sbuf d = *dp;
    json_t *j = pg->j;
    /* cohort heatmap: one box per shown cell */
    json_t *rows = json_object_get(json_object_get(j, "cohorts"), "rows");
    size_t nrows = json_array_size(rows), i;
    json_t *e;
    json_array_foreach(rows, i, e)
    {
        json_t *ret = json_object_get(e, "retention");
        size_t m;
        json_t *v;
        json_array_foreach(ret, m, v) if (json_is_number(v))
            sb_printf(&d, "%zu %zu %.6f\n", m, nrows - 1 - i, 100 * json_number_value(v));
    }
    if (d.n == 0) sb_puts(&d, "0 0 NaN\n");
    DATA_FILE((p, "cohort.dat", d.s));
    pg->chart_cohort = chart_begin(p, 900, 80 + 22 * (int)(nrows > 4 ? nrows : 4));
    sbuf *s = &p->script;
    sb_puts(s, "set palette defined (0 '#f7fbff', 25 '#9ecae1', 50 '#4292c6', 100 '#08306b')\n"
               "set cbrange [0:100]\nset cblabel 'retained %'\nset xlabel 'months since first purchase'\n"
               "set grid noxtics noytics\n");
    /* a cutoff in the store's first month leaves no complete cohort month */
    if (nrows) sb_puts(s, "set ytics (");
    json_array_foreach(rows, i, e)
    {
        if (i) sb_puts(s, ", ");
        gp_str(s, json_string_value(json_object_get(e, "cohort")));
        sb_printf(s, " %zu", nrows - 1 - i);
    }
    double top = nrows ? (double)nrows - 0.5 : 0.5;
    sb_printf(s, "%s\nset xrange [-0.5:%g]\nset yrange [-0.5:%g]\n", nrows ? ")" : "", top, top);
    sb_printf(s, "plot '%s/cohort.dat' using 1:2:(0.5):(0.5):3 with boxxyerror fs solid 1.0 "
                 "noborder lc palette\n", p->dir);
    d.n = 0;

    /* lifecycle states, previous vs last (suppressed groups drawn as 0, marked in the table) */
    json_t *st = json_object_get(json_object_get(j, "lifecycle"), "states");
    json_array_foreach(st, i, e)
    {
        json_t *a = json_object_get(e, "previous_customers"), *b = json_object_get(e, "last_customers");
        sb_printf(&d, "\"%s\" %g %g\n", json_string_value(json_object_get(e, "state")),
                  json_is_number(a) ? json_number_value(a) : 0, json_is_number(b) ? json_number_value(b) : 0);
    }
    DATA_FILE((p, "life.dat", d.s));
    pg->chart_life = chart_begin(p, 560, 340);
    sb_printf(s, "set style data histogram\nset style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
                 "set key top left\nset ylabel 'customers'\nset yrange [0:*]\n"
                 "plot '%s/life.dat' using 2:xtic(1) title 'end of previous period' lc rgb '#9ecae1', "
                 "'' using 3 title 'end of last period' lc rgb '#2a6f97'\n", p->dir);
    d.n = 0;

    /* KPI retention/churn by period */
    json_t *k = json_object_get(j, "kpis");
    const char *pk[] = {"retention_rate", "repeat_purchase_rate", "churn_rate"};
    const char *pl[] = {"retention", "repeat purchase", "churn"};
    for (int q = 0; q < 3; q++) {
        json_t *a = json_object_get(json_object_get(k, "previous"), pk[q]);
        json_t *b = json_object_get(json_object_get(k, "last"), pk[q]);
        sb_printf(&d, "\"%s\" %g %g\n", pl[q], json_is_number(a) ? 100 * json_number_value(a) : 0,
                  json_is_number(b) ? 100 * json_number_value(b) : 0);
    }
    DATA_FILE((p, "kpi.dat", d.s));
    pg->chart_kpi = chart_begin(p, 460, 300);
    sb_printf(s, "set style data histogram\nset style histogram clustered gap 1\nset style fill solid 0.85 border -1\n"
                 "set key top right\nset ylabel '%%'\nset yrange [0:100]\n"
                 "plot '%s/kpi.dat' using 2:xtic(1) title 'previous period' lc rgb '#9ecae1', "
                 "'' using 3 title 'last period' lc rgb '#2a6f97'\n", p->dir);
    d.n = 0;

    /* ROC */
    json_t *mq = json_object_get(j, "model_quality");
    json_t *roc = json_object_get(mq, "roc");
    json_array_foreach(roc, i, e) sb_printf(&d, "%.6f %.6f\n", json_number_value(json_object_get(e, "false_positive_rate")),
                                            json_number_value(json_object_get(e, "true_positive_rate")));
    if (d.n == 0) sb_puts(&d, "0 0\n");
    DATA_FILE((p, "roc.dat", d.s));
    pg->chart_roc = chart_begin(p, 400, 380);
    sb_printf(s, "set size ratio 1\nset xrange [0:1]\nset yrange [0:1]\nset xlabel 'false positive rate'\n"
                 "set ylabel 'true positive rate'\nplot x lc rgb '#aaaaaa' dt 2, '%s/roc.dat' using 1:2 "
                 "with lines lw 2 lc rgb '#2a6f97'\n", p->dir);
    d.n = 0;

    /* calibration and gains from the bundle's test deciles */
    json_t *dec = json_object_get(mq, "deciles");
    json_array_foreach(dec, i, e)
    {
        json_t *a = json_object_get(e, "mean_predicted"), *b = json_object_get(e, "observed_rate");
        if (json_is_number(a) && json_is_number(b))
            sb_printf(&d, "%.6f %.6f\n", json_number_value(a), json_number_value(b));
    }
    if (d.n == 0) sb_puts(&d, "NaN NaN\n");
    DATA_FILE((p, "calib.dat", d.s));
    pg->chart_cal = chart_begin(p, 400, 380);
    sb_printf(s, "set size ratio 1\nset xrange [0:1]\nset yrange [0:1]\nset xlabel 'mean predicted probability'\n"
                 "set ylabel 'observed churn rate'\nplot x lc rgb '#aaaaaa' dt 2, '%s/calib.dat' using 1:2 "
                 "with linespoints pt 7 ps 0.8 lw 2 lc rgb '#2a6f97'\n", p->dir);
    d.n = 0;
    sb_puts(&d, "0 0 NaN\n");
    int any_lift = 0;
    json_array_foreach(dec, i, e)
    {
        json_t *g = json_object_get(e, "cumulative_gain"), *l = json_object_get(e, "lift");
        char lift[32] = "NaN";
        if (json_is_number(l)) {
            snprintf(lift, sizeof lift, "%.6f", json_number_value(l));
            any_lift = 1;
        }
        sb_printf(&d, "%zu %.6f %s\n", (i + 1) * 10, json_is_number(g) ? 100 * json_number_value(g) : NAN, lift);
    }
    DATA_FILE((p, "gain.dat", d.s));
    pg->chart_gain = chart_begin(p, 460, 380);
    sb_puts(s, "set xrange [0:100]\nset yrange [0:100]\nset xlabel 'customers contacted (%, highest risk first)'\n"
               "set ylabel 'churners reached (%)'\nset key bottom right\nset style fill solid 0.35 noborder\n");
    if (any_lift)
        sb_printf(s, "set y2label 'lift'\nset y2range [0:*]\nset y2tics\nset ytics nomirror\n"
                     "plot '%s/gain.dat' using ($1-5):3 axes x1y2 with boxes lc rgb '#9ecae1' title 'lift (per decile)', ",
                  p->dir);
    else
        sb_puts(s, "plot ");
    sb_printf(s, "x lc rgb '#aaaaaa' dt 2 title 'random', '%s/gain.dat' using 1:2 with linespoints pt 7 ps 0.7 "
                 "lw 2 lc rgb '#2a6f97' title 'cumulative gain'\n", p->dir);
    d.n = 0;

    /* top coefficients, largest at the top */
    json_t *co = json_object_get(mq, "coefficients");
    size_t nco = json_array_size(co);
    json_array_foreach(co, i, e) sb_printf(&d, "%.6f %zu \"%s\"\n", json_number_value(json_object_get(e, "coefficient")),
                                           nco - 1 - i, json_string_value(json_object_get(e, "feature")));
    if (d.n == 0) sb_puts(&d, "0 0 \"none\"\n");
    DATA_FILE((p, "coef.dat", d.s));
    pg->chart_coef = chart_begin(p, 560, 80 + 24 * (int)(nco > 3 ? nco : 3));
    sb_printf(s, "set xlabel 'standardized coefficient (log-odds of churn per std. dev.)'\nset grid noytics\n"
                 "set yrange [-0.7:%g]\nset style fill solid 0.85 noborder\nset xzeroaxis\n"
                 "plot '%s/coef.dat' using ($1/2):2:(abs($1)/2):(0.38):($1 > 0 ? 0xb42318 : 0x2a6f97):ytic(3) "
                 "with boxxyerror lc rgb variable\n", (double)(nco ? nco - 1 : 0) + 0.7, p->dir);
    d.n = 0;

    /* mean CLV by segment */
    json_t *clv = json_object_get(json_object_get(j, "clv"), "by_segment");
    json_array_foreach(clv, i, e)
    {
        json_t *v = json_object_get(e, "mean_clv");
        if (json_is_number(v))
            sb_printf(&d, "\"%s\" %.6f\n", json_string_value(json_object_get(e, "segment")), json_number_value(v));
    }
    pg->chart_clv = -1;
    if (d.n) {
        DATA_FILE((p, "clv.dat", d.s));
        pg->chart_clv = chart_begin(p, 560, 340);
        sb_printf(s, "set style fill solid 0.85 border -1\nset boxwidth 0.6\nset yrange [0:*]\n"
                     "set ylabel 'mean CLV (%s)'\nset xtics rotate by -20\n"
                     "plot '%s/clv.dat' using 0:2:xtic(1) with boxes lc rgb '#2a6f97'\n",
                  pg->r->currency, p->dir);
    }
    *dp = d;
    if (p->script.failed || d.failed) return rtn_fail(RTN_ERR_NOMEM, "chart script");
    return RTN_OK;
}

static rtn_status charts_prepare(page *pg)
{
    sbuf d = {0};
    rtn_status st = charts_write(pg, &d);
    free(d.s);
    return st ? st : run_gnuplot(&pg->plot);
}

static void section_cohorts(page *pg)
{
    sbuf *b = &pg->html;
    json_t *rows = json_object_get(json_object_get(pg->j, "cohorts"), "rows");
    sb_puts(b, "<section id=\"cohorts\"><h2>Acquisition cohorts</h2>\n<p class=\"meta\">Customers "
               "grouped by the month of their first purchase; each cell is the share of the cohort "
               "with a purchase in the given month after it (month 0 = the first month).</p>\n");
    embed(pg, pg->chart_cohort, "Monthly cohort retention (%)");
    size_t n = json_array_size(rows), i;
    json_t *e;
    sb_puts(b, "<table><thead><tr><th>Cohort</th><th>Customers</th>");
    for (size_t m = 0; m < n; m++) sb_printf(b, "<th>M%zu</th>", m);
    sb_puts(b, "</tr></thead><tbody>\n");
    json_array_foreach(rows, i, e)
    {
        sb_puts(b, "<tr><td>");
        sb_html(b, json_string_value(json_object_get(e, "cohort")));
        sb_puts(b, "</td>");
        td(b, json_object_get(e, "customers"), FMT_INT, 1);
        json_t *ret = json_object_get(e, "retention");
        for (size_t m = 0; m < n; m++) {
            json_t *v = json_array_get(ret, m);
            if (!v) sb_puts(b, "<td></td>");
            else td(b, v, FMT_PCT, 0);
        }
        sb_puts(b, "</tr>\n");
    }
    sb_puts(b, "</tbody></table></section>\n");
}

static void section_lifecycle(page *pg)
{
    sbuf *b = &pg->html;
    json_t *l = json_object_get(pg->j, "lifecycle");
    sb_puts(b, "<section id=\"lifecycle\"><h2>Lifecycle flow</h2>\n<p class=\"meta\">State of every "
               "customer at the end of the previous and of the last period (new, repeat, loyal, at "
               "risk, lapsed: docs/report.md), and where each group went: the rows into at risk and "
               "lapsed show where customers are lost.</p>\n");
    embed(pg, pg->chart_life, "Customers by lifecycle state");
    html_table(b, json_object_get(l, "states"), life_cols, NCOLS(life_cols));
    /* the flow as a matrix: from (rows) -> to (columns) */
    sb_puts(b, "<table id=\"flow\"><thead><tr><th>From \\ to</th>");
    for (int t = 0; t < RTN_LC_N; t++) {
        sb_puts(b, "<th>");
        sb_html(b, rtn_lifecycle_names[t]);
        sb_puts(b, "</th>");
    }
    sb_puts(b, "</tr></thead><tbody>\n");
    json_t *flow = json_object_get(l, "flow");
    for (int f = 0; f <= RTN_LC_N; f++) {
        sb_puts(b, "<tr><td>");
        sb_html(b, rtn_lifecycle_names[f]);
        sb_puts(b, "</td>");
        for (int t = 0; t < RTN_LC_N; t++)
            td(b, json_object_get(json_array_get(flow, (size_t)(f * RTN_LC_N + t)), "customers"), FMT_INT, 1);
        sb_puts(b, "</tr>\n");
    }
    sb_puts(b, "</tbody></table></section>\n");
}

static void section_model(page *pg)
{
    sbuf *b = &pg->html;
    json_t *mq = json_object_get(pg->j, "model_quality");
    char t[128];
    sb_puts(b, "<section id=\"model-quality\"><h2>Churn model quality</h2>\n<p class=\"meta\">On the "
               "held-out test split (customers the model never saw in training).");
    const char *keys[] = {"roc_auc", "pr_auc", "brier", "log_loss", "calibration_error"};
    const char *labels[] = {"ROC AUC", "PR AUC", "Brier score", "log-loss", "calibration error"};
    for (int i = 0; i < 5; i++) {
        json_t *v = json_object_get(mq, keys[i]);
        if (!v) continue;
        fmt_value(v, FMT_REAL, t, sizeof t);
        sb_printf(b, " %s: <b>%s</b>.", labels[i], t);
    }
    fmt_value(json_object_get(mq, "test_customers"), FMT_INT, t, sizeof t);
    sb_printf(b, " Test customers: %s.</p>\n", t);
    embed(pg, pg->chart_roc, "ROC curve (test split)");
    embed(pg, pg->chart_cal, "Calibration by decile");
    embed(pg, pg->chart_gain, "Cumulative gains and lift");
    embed(pg, pg->chart_coef, "Top coefficients (red raises churn risk)");
    html_table(b, json_object_get(mq, "deciles"), dec_cols, NCOLS(dec_cols));
    html_table(b, json_object_get(mq, "coefficients"), coef_cols, NCOLS(coef_cols));
    sb_puts(b, "</section>\n");
}

static void section_warnings(page *pg)
{
    sbuf *b = &pg->html;
    json_t *w = json_object_get(pg->j, "warnings");
    sb_puts(b, "<section id=\"warnings\"><h2>Churn warnings by segment and action</h2>\n<p class=\"meta\">"
               "Customers by k-means segment and recommended retention action (docs/scoring.md).</p>\n"
               "<table><thead><tr><th>Segment</th><th>Customers</th>");
    for (int a = 0; a < RTN_N_ACTIONS; a++) {
        sb_puts(b, "<th>");
        sb_html(b, rtn_action_names[a]);
        sb_puts(b, "</th>");
    }
    sb_puts(b, "</tr></thead><tbody>\n");
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(w, "by_segment"), i, e)
    {
        sb_puts(b, "<tr><td>");
        sb_html(b, json_string_value(json_object_get(e, "segment")));
        sb_puts(b, "</td>");
        td(b, json_object_get(e, "customers"), FMT_INT, 1);
        for (int a = 0; a < RTN_N_ACTIONS; a++)
            td(b, json_object_get(json_object_get(e, "action_customers"), rtn_action_names[a]), FMT_INT, 1);
        sb_puts(b, "</tr>\n");
    }
    sb_puts(b, "</tbody></table>\n<table><thead><tr><th>Risk tier</th><th>Customers</th></tr></thead><tbody>\n");
    for (int t = 0; t < RTN_RISK_TIERS; t++) {
        sb_puts(b, "<tr><td>");
        sb_html(b, rtn_risk_tier_names[t]);
        sb_puts(b, "</td>");
        td(b, json_object_get(json_object_get(w, "risk_tier_customers"), rtn_risk_tier_names[t]), FMT_INT, 1);
        sb_puts(b, "</tr>\n");
    }
    sb_puts(b, "</tbody></table></section>\n");
}

static void section_clv(page *pg)
{
    sbuf *b = &pg->html;
    json_t *c = json_object_get(pg->j, "clv");
    sb_puts(b, "<section id=\"clv\"><h2>Customer lifetime value</h2>\n");
    json_t *bg = json_object_get(c, "bgnbd"), *nb = json_object_get(c, "nbd"),
           *gg = json_object_get(c, "gamma_gamma");
    if (!bg && !nb) {
        sb_puts(b, "<p>The model bundle has no lifetime-value model.</p></section>\n");
        return;
    }
    if (nb)
        sb_printf(b, "<p class=\"meta\">NBD purchase model (BG/NBD without dropout: the data showed no sign "
                     "of dropout, so BG/NBD's likelihood was highest on that boundary; docs/clv.md): "
                     "r = %.4g, &alpha; = %.4g (weeks); P(alive) = 1.",
                  json_number_value(json_object_get(nb, "r")), json_number_value(json_object_get(nb, "alpha")));
    else
        sb_printf(b, "<p class=\"meta\">BG/NBD purchase model: r = %.4g, &alpha; = %.4g, a = %.4g, b = %.4g "
                     "(weeks).", json_number_value(json_object_get(bg, "r")), json_number_value(json_object_get(bg, "alpha")),
                  json_number_value(json_object_get(bg, "a")), json_number_value(json_object_get(bg, "b")));
    if (gg)
        sb_printf(b, " Gamma-Gamma spend model: p = %.4g, q = %.4g, &gamma; = %.4g.",
                  json_number_value(json_object_get(gg, "p")), json_number_value(json_object_get(gg, "q")),
                  json_number_value(json_object_get(gg, "gamma")));
    sb_puts(b, "</p>\n");
    if (pg->chart_clv >= 0) embed(pg, pg->chart_clv, "Mean CLV by segment");
    html_table(b, json_object_get(c, "by_segment"), clv_cols, NCOLS(clv_cols));
    sb_puts(b, "</section>\n");
}

static void section_quality(page *pg)
{
    sbuf *b = &pg->html;
    json_t *q = json_object_get(pg->j, "data_quality");
    sb_puts(b, "<section id=\"data-quality\"><h2>Data quality</h2>\n<table><thead><tr><th>Measure</th>"
               "<th>Value</th></tr></thead><tbody>\n");
    const char *key;
    json_t *v;
    json_object_foreach(q, key, v)
    {
        sb_puts(b, "<tr><td>");
        sb_html(b, key);
        sb_puts(b, "</td>");
        size_t l = strlen(key);
        td(b, v, FMT_INT, l >= 9 && strcmp(key + l - 9, "customers") == 0);
        sb_puts(b, "</tr>\n");
    }
    sb_puts(b, "</tbody></table></section>\n");
}

/* Segment profiles: feature means per segment (rows = features), from the bundle. */
static void section_profiles(page *pg, json_t *segs)
{
    sbuf *b = &pg->html;
    const rtn_model *m = pg->r->model;
    sb_puts(b, "<table id=\"profiles\"><thead><tr><th>Feature (segment mean)</th>");
    size_t i;
    json_t *e;
    json_array_foreach(segs, i, e)
    {
        sb_puts(b, "<th>");
        sb_html(b, json_string_value(json_object_get(e, "segment")));
        sb_puts(b, "</th>");
    }
    sb_puts(b, "</tr></thead><tbody>\n");
    for (size_t f = 0; f < m->d; f++) {
        sb_puts(b, "<tr><td>");
        sb_html(b, m->feature_names[f]);
        sb_puts(b, "</td>");
        json_array_foreach(segs, i, e)
        {
            json_t *prof = json_object_get(e, "profile");
            td(b, prof ? json_object_get(prof, m->feature_names[f]) : json_object_get(e, "customers"), FMT_REAL, 0);
        }
        sb_puts(b, "</tr>\n");
    }
    sb_puts(b, "</tbody></table>\n");
}

static rtn_status build_page(page *pg)
{
    sbuf *b = &pg->html;
    const rtn_report *r = pg->r;
    sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
               "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
               "style-src 'unsafe-inline'; img-src data:\">\n<title>Customer retention report</title>\n<style>");
    sb_puts(b, css);
    sb_puts(b, "</style></head><body>\n<h1>Customer retention report</h1>\n<p class=\"meta\">Cutoff ");
    sb_html(b, r->cutoff_iso);
    sb_printf(b, "; periods of %" PRId64 " days; groups of fewer than %d customers are suppressed. "
                 "Store ", r->params.period_days, r->k_anon);
    sb_html(b, r->store_digest);
    sb_puts(b, ", model ");
    sb_html(b, r->model_content_id);
    sb_puts(b, ", retain " RTN_VERSION_STRING ".</p>\n<nav><a href=\"#kpis\">Key figures</a> | "
               "<a href=\"#cohorts\">Cohorts</a> | <a href=\"#lifecycle\">Lifecycle</a> | "
               "<a href=\"#rfm-segments\">RFM segments</a> | <a href=\"#segments\">Segments</a> | "
               "<a href=\"#clv\">Lifetime value</a> | <a href=\"#model-quality\">Model quality</a> | "
               "<a href=\"#warnings\">Churn warnings</a> | <a href=\"#data-quality\">Data quality</a></nav>\n");
    section_kpis(pg);
    embed(pg, pg->chart_kpi, "Retention, repeat-purchase and churn rates");
    sb_puts(b, "</section>\n");
    section_cohorts(pg);
    section_lifecycle(pg);
    sb_puts(b, "<section id=\"rfm-segments\"><h2>RFM segments</h2>\n");
    html_table(b, json_object_get(pg->j, "rfm_segments"), rfm_cols, NCOLS(rfm_cols));
    sb_puts(b, "</section>\n<section id=\"segments\"><h2>Customer segments (k-means)</h2>\n");
    json_t *segs = json_object_get(pg->j, "segments");
    if (json_array_size(segs) == 0) sb_puts(b, "<p>The model bundle has no segmentation.</p>\n");
    else {
        html_table(b, segs, seg_cols, NCOLS(seg_cols));
        section_profiles(pg, segs);
    }
    sb_puts(b, "</section>\n");
    section_clv(pg);
    section_model(pg);
    section_warnings(pg);
    section_quality(pg);
    sb_puts(b, "</body></html>\n");
    if (pg->st) return pg->st;
    return b->failed ? rtn_fail(RTN_ERR_NOMEM, "report page") : RTN_OK;
}

/* ------------------------------------------------------------------ entry point */

static rtn_status mkdir_p(const char *path)
{
    char buf[RTN_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return rtn_fail(RTN_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return rtn_fail(RTN_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
    return RTN_OK;
}

static void remove_tree(const char dir[1024], int nfiles)
{
    static const char *const data[] = {"cohort.dat", "life.dat", "kpi.dat", "roc.dat", "calib.dat",
                                       "gain.dat", "coef.dat", "clv.dat", "charts.gp", "gnuplot.log"};
    char path[RTN_PATH_MAX];
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, data[i]);
        unlink(path);
    }
    for (int i = 0; i < nfiles; i++) {
        snprintf(path, sizeof path, "%s/chart%d.svg", dir, i);
        unlink(path);
    }
    rmdir(dir);
}

/* The KPI table as rows for the CSV. */
static json_t *kpi_rows(json_t *k)
{
    json_t *a = json_array();
    for (int i = 0; i < N_KPIS; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "kpi", json_string(kpi_keys[i]));
        json_object_set(o, "last", json_object_get(json_object_get(k, "last"), kpi_keys[i]));
        json_object_set(o, "previous", json_object_get(json_object_get(k, "previous"), kpi_keys[i]));
        json_object_set(o, "change", json_object_get(json_object_get(k, "change"), kpi_keys[i]));
        json_array_append_new(a, o);
    }
    return a;
}

/* Cohorts in long form: one row per (cohort, month) cell. */
static json_t *cohort_rows(json_t *c)
{
    json_t *a = json_array();
    size_t i, m;
    json_t *e, *v;
    json_array_foreach(json_object_get(c, "rows"), i, e)
    {
        json_array_foreach(json_object_get(e, "active_customers"), m, v)
        {
            json_t *o = json_object();
            json_object_set(o, "cohort", json_object_get(e, "cohort"));
            json_object_set(o, "cohort_customers", json_object_get(e, "customers"));
            json_object_set_new(o, "month", json_integer((json_int_t)m));
            json_object_set(o, "active_customers", v);
            json_object_set(o, "retention", json_array_get(json_object_get(e, "retention"), m));
            json_array_append_new(a, o);
        }
    }
    return a;
}

static json_t *warning_rows(json_t *w)
{
    json_t *a = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(w, "by_segment"), i, e)
    {
        for (int k = 0; k < RTN_N_ACTIONS; k++) {
            json_t *o = json_object();
            json_object_set(o, "segment", json_object_get(e, "segment"));
            json_object_set_new(o, "action", json_string(rtn_action_names[k]));
            json_object_set(o, "customers", json_object_get(json_object_get(e, "action_customers"), rtn_action_names[k]));
            json_array_append_new(a, o);
        }
    }
    return a;
}

static json_t *quality_rows(json_t *q)
{
    json_t *a = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(q, key, v)
    {
        json_t *o = json_object();
        json_object_set_new(o, "measure", json_string(key));
        json_object_set(o, "value", v);
        json_array_append_new(a, o);
    }
    return a;
}

static rtn_status write_csvs(const char *dir, json_t *j)
{
    static const column kpi_c[] = {{"kpi", "", 0}, {"last", "", 0}, {"previous", "", 0}, {"change", "", 0}};
    static const column coh_c[] = {{"cohort", "", 0}, {"cohort_customers", "", 0}, {"month", "", 0},
                                   {"active_customers", "", 0}, {"retention", "", 0}};
    static const column warn_c[] = {{"segment", "", 0}, {"action", "", 0}, {"customers", "", 0}};
    static const column dq_c[] = {{"measure", "", 0}, {"value", "", 0}};
    json_t *mq = json_object_get(j, "model_quality");
    json_t *t[4] = {kpi_rows(json_object_get(j, "kpis")), cohort_rows(json_object_get(j, "cohorts")),
                    warning_rows(json_object_get(j, "warnings")), quality_rows(json_object_get(j, "data_quality"))};
    rtn_status st = write_csv(dir, "kpis.csv", t[0], kpi_c, NCOLS(kpi_c));
    if (st == RTN_OK) st = write_csv(dir, "cohorts.csv", t[1], coh_c, NCOLS(coh_c));
    if (st == RTN_OK)
        st = write_csv(dir, "lifecycle_states.csv", json_object_get(json_object_get(j, "lifecycle"), "states"),
                       life_cols, NCOLS(life_cols));
    if (st == RTN_OK)
        st = write_csv(dir, "lifecycle_flow.csv", json_object_get(json_object_get(j, "lifecycle"), "flow"),
                       flow_cols, NCOLS(flow_cols));
    if (st == RTN_OK) st = write_csv(dir, "rfm_segments.csv", json_object_get(j, "rfm_segments"), rfm_cols, NCOLS(rfm_cols));
    if (st == RTN_OK) st = write_csv(dir, "segments.csv", json_object_get(j, "segments"), seg_cols, NCOLS(seg_cols));
    if (st == RTN_OK)
        st = write_csv(dir, "clv_by_segment.csv", json_object_get(json_object_get(j, "clv"), "by_segment"),
                       clv_cols, NCOLS(clv_cols));
    if (st == RTN_OK) st = write_csv(dir, "roc.csv", json_object_get(mq, "roc"), roc_cols, NCOLS(roc_cols));
    if (st == RTN_OK) st = write_csv(dir, "deciles.csv", json_object_get(mq, "deciles"), dec_cols, NCOLS(dec_cols));
    if (st == RTN_OK) st = write_csv(dir, "coefficients.csv", json_object_get(mq, "coefficients"), coef_cols, NCOLS(coef_cols));
    if (st == RTN_OK) st = write_csv(dir, "warnings.csv", t[2], warn_c, NCOLS(warn_c));
    if (st == RTN_OK) st = write_csv(dir, "data_quality.csv", t[3], dq_c, NCOLS(dq_c));
    for (int i = 0; i < 4; i++) json_decref(t[i]);
    return st;
}

rtn_status rtn_report_render(const rtn_report *r, const char *html_path, const char *fig_dir)
{
    RTN_TRY(mkdir_p(fig_dir));
    json_t *j = build_json(r);
    if (!j) return rtn_fail(RTN_ERR_NOMEM, "report JSON");
    char *txt = json_dumps(j, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    char path[RTN_PATH_MAX];
    snprintf(path, sizeof path, "%s/report.json", fig_dir);
    rtn_status st = txt ? rtn_atomic_write_file(path, txt, strlen(txt)) : rtn_fail(RTN_ERR_NOMEM, "report JSON");
    free(txt);
    if (st == RTN_OK) st = write_csvs(fig_dir, j);
    page pg;
    memset(&pg, 0, sizeof pg);
    pg.r = r;
    pg.j = j;
    const char *tmpbase = getenv("TMPDIR");
    snprintf(pg.plot.dir, sizeof pg.plot.dir, "%s/retain-report-XXXXXX", tmpbase && *tmpbase ? tmpbase : "/tmp");
    int have_dir = 0;
    if (st == RTN_OK) {
        if (!mkdtemp(pg.plot.dir))
            st = rtn_fail(RTN_ERR_IO, "cannot create a temporary directory '%s': %s", pg.plot.dir, strerror(errno));
        else
            have_dir = 1;
    }
    if (st == RTN_OK) st = charts_prepare(&pg);
    if (st == RTN_OK) st = build_page(&pg);
    if (st == RTN_OK) st = rtn_atomic_write_file(html_path, pg.html.s, pg.html.n);
    if (have_dir) remove_tree(pg.plot.dir, pg.plot.n);
    free(pg.html.s);
    free(pg.plot.script.s);
    json_decref(j);
    return st;
}
