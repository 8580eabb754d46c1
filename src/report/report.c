/* Report figures: the store pass (KPIs, cohorts, lifecycle, data quality) and the scored
 * customers' group statistics and ROC points (docs/report.md). */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/report.h"

const char *const rtn_lifecycle_names[RTN_LC_N + 1] = {"new", "repeat", "loyal", "at risk",
                                                       "lapsed", "not yet a customer"};

/* Civil month from days since the epoch (Howard Hinnant's days_from_civil inverse). */
int64_t rtn_report_month(int64_t t)
{
    int64_t z = (t >= 0 ? t / 86400 : (t - 86399) / 86400) + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) y++;
    return (y - 1970) * 12 + (m - 1);
}

void rtn_report_params_months(rtn_report_params *p, int64_t time_min)
{
    /* the month holding the cutoff is partial (or starts at it): cohorts end before it */
    int64_t last = rtn_report_month(p->cutoff) - 1;
    int64_t first = rtn_report_month(time_min);
    if (first < last - (RTN_REPORT_MAX_MONTHS - 1)) first = last - (RTN_REPORT_MAX_MONTHS - 1);
    p->month0 = first;
    p->n_months = last >= first ? (int)(last - first + 1) : 0;
}

rtn_status rtn_report_store_counts_init(rtn_report_store_counts *c, int n_months)
{
    memset(c, 0, sizeof *c);
    c->n_months = n_months;
    size_t cells = (size_t)n_months * (size_t)n_months;
    c->cohort = rtn_calloc(cells ? cells : 1, sizeof(int64_t), "cohort table");
    return c->cohort ? RTN_OK : RTN_ERR_NOMEM;
}

void rtn_report_store_counts_free(rtn_report_store_counts *c)
{
    free(c->cohort);
    c->cohort = NULL;
}

typedef struct {
    uint64_t basket;
    int64_t time, amount;
} basket_row;

static int cmp_basket_row(const void *a, const void *b)
{
    const basket_row *x = a, *y = b;
    if (x->basket != y->basket) return x->basket < y->basket ? -1 : 1;
    return (x->time > y->time) - (x->time < y->time);
}

/* Lifecycle state at the end of period p (PREV or LAST) of a customer whose first purchase
 * is `first` (INT64_MAX: none), from the activity of p and the period before it. */
static int lifecycle_state(const rtn_report_params *prm, int p, int64_t first, const int *active)
{
    int64_t P = prm->period_days * 86400;
    int64_t start = prm->cutoff - (int64_t)(RTN_RP_N - p) * P, end = start + P;
    if (first >= end) return RTN_LC_NONE;
    if (first >= start) return RTN_LC_NEW;
    if (active[p]) return active[p - 1] && first < start - P ? RTN_LC_LOYAL : RTN_LC_REPEAT;
    return active[p - 1] ? RTN_LC_AT_RISK : RTN_LC_LAPSED;
}

static void add_customer(const rtn_report_params *prm, basket_row *r, size_t n, uint8_t *months,
                         rtn_report_store_counts *acc)
{
    qsort(r, n, sizeof *r, cmp_basket_row);
    int64_t P = prm->period_days * 86400, C = prm->cutoff;
    int64_t first = INT64_MAX;
    int64_t npur[RTN_RP_N] = {0}, rev[RTN_RP_N] = {0};
    int nm = prm->n_months;
    memset(months, 0, (size_t)nm);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        int64_t net = 0, t = r[i].time; /* rows sorted by time within a basket: first = earliest */
        while (j < n && r[j].basket == r[i].basket) net += r[j++].amount;
        i = j;
        if (t >= C) continue;
        acc->baskets++;
        if (!(net > 0 || (prm->zero_value_purchases && net == 0))) continue;
        acc->purchase_baskets++;
        if (t < first) first = t;
        int64_t back = C - t; /* > 0 */
        int p = RTN_RP_N - 1 - (int)((back - 1) / P);
        if (p >= 0) {
            npur[p]++;
            rev[p] += net;
        }
        int64_t mo = rtn_report_month(t) - prm->month0;
        if (mo >= 0 && mo < nm) months[mo] = 1;
    }
    if (first == INT64_MAX) return;
    acc->customers_purchase++;
    int active[RTN_RP_N];
    for (int p = 0; p < RTN_RP_N; p++) {
        active[p] = npur[p] > 0;
        int64_t start = C - (int64_t)(RTN_RP_N - p) * P;
        acc->active[p] += active[p];
        acc->new_customers[p] += first >= start && first < start + P;
        acc->repeat_buyers[p] += npur[p] >= 2;
        acc->retained[p] += p > 0 && active[p] && active[p - 1];
        acc->purchases[p] += npur[p];
        acc->revenue[p] += rev[p];
    }
    int sp = lifecycle_state(prm, RTN_RP_PREV, first, active);
    int sl = lifecycle_state(prm, RTN_RP_LAST, first, active);
    if (sl != RTN_LC_NONE) {
        acc->flow[sp][sl]++;
        acc->state_last[sl]++;
    }
    if (sp != RTN_LC_NONE) acc->state_prev[sp]++;
    int64_t c = rtn_report_month(first) - prm->month0;
    if (c >= 0 && c < nm)
        for (int m = (int)c; m < nm; m++)
            if (months[m]) acc->cohort[c * nm + (m - c)]++;
}

rtn_status rtn_report_store_add(const rtn_report_params *p, const rtn_txn_block *blk,
                                size_t i0, size_t i1, rtn_report_store_counts *acc)
{
    if (p->period_days <= 0) return rtn_fail(RTN_ERR_USAGE, "report period must be positive");
    if (i1 <= i0) return RTN_OK;
    size_t nmax = 0;
    for (size_t i = i0; i < i1;) {
        size_t j = i;
        while (j < i1 && blk->customer[j] == blk->customer[i]) j++;
        if (j - i > nmax) nmax = j - i;
        i = j;
    }
    basket_row *r = rtn_malloc(nmax * sizeof *r, "report basket rows");
    uint8_t *months = rtn_malloc((size_t)p->n_months + 1, "report months");
    if (!r || !months) {
        free(r);
        free(months);
        return RTN_ERR_NOMEM;
    }
    for (size_t i = i0; i < i1;) {
        size_t j = i;
        while (j < i1 && blk->customer[j] == blk->customer[i]) j++;
        acc->customers++;
        for (size_t q = i; q < j; q++) {
            r[q - i] = (basket_row){blk->basket[q], blk->time[q], blk->amount[q]};
            acc->rows++;
            acc->rows_before_cutoff += blk->time[q] < p->cutoff;
            acc->return_rows += blk->amount[q] < 0;
            acc->zero_amount_rows += blk->amount[q] == 0;
            acc->unknown_category_rows += blk->category[q] < 0;
            acc->unknown_store_rows += blk->store[q] < 0;
        }
        add_customer(p, r, j - i, months, acc);
        i = j;
    }
    free(r);
    free(months);
    return RTN_OK;
}

rtn_status rtn_report_store_reduce(MPI_Comm comm, rtn_report_store_counts *c)
{
    /* the fixed part is a run of int64 fields before n_months */
    int nfixed = (int)(offsetof(rtn_report_store_counts, n_months) / sizeof(int64_t));
    MPI_Allreduce(MPI_IN_PLACE, c, nfixed, MPI_INT64_T, MPI_SUM, comm);
    int cells = c->n_months * c->n_months;
    if (cells) MPI_Allreduce(MPI_IN_PLACE, c->cohort, cells, MPI_INT64_T, MPI_SUM, comm);
    return RTN_OK;
}

static void add_group(double *g, const rtn_report_customer *r)
{
    g[RTN_GS_CUSTOMERS] += 1;
    g[RTN_GS_RECENCY] += r->recency;
    g[RTN_GS_FREQUENCY] += r->frequency;
    g[RTN_GS_MONETARY] += r->monetary;
    g[RTN_GS_LABELLED] += r->label >= 0;
    g[RTN_GS_CHURNED] += r->label == 1;
    g[RTN_GS_CHURN_PROB] += r->churn_probability;
    if (isfinite(r->clv)) g[RTN_GS_CLV] += r->clv;
}

typedef struct {
    double p;
    int8_t y;
} roc_row;

static int cmp_roc(const void *a, const void *b)
{
    const roc_row *x = a, *y = b;
    return (x->p < y->p) - (x->p > y->p);
}

/* ROC points on rank 0 from rows gathered in bucket order; a point is taken after every
 * `step` customers (and only where the probability changes, so tied customers are never
 * split), which keeps at least `step` customers behind each point. */
static void roc_points(roc_row *r, size_t n, size_t step, rtn_report_scores *out)
{
    /* qsort is not stable, but no point falls inside a run of ties, so the counts at every
     * point do not depend on how tied rows are ordered */
    qsort(r, n, sizeof *r, cmp_roc);
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) pos += r[i].y == 1;
    uint64_t neg = n - pos;
    out->test_n = n;
    out->test_pos = pos;
    out->n_roc = 0;
    out->roc_fpr[0] = out->roc_tpr[0] = 0;
    out->roc_flagged[0] = 0;
    out->n_roc = 1;
    if (n == 0 || pos == 0 || neg == 0) return;
    uint64_t tp = 0, fp = 0;
    size_t last = 0;
    for (size_t i = 0; i < n; i++) {
        tp += r[i].y == 1;
        fp += r[i].y != 1;
        int boundary = i + 1 == n || r[i + 1].p != r[i].p;
        if (!boundary) continue;
        if (i + 1 - last < step && i + 1 != n) continue;
        if (i + 1 == n && i + 1 - last < step && out->n_roc > 1) out->n_roc--; /* merge the tail */
        if (out->n_roc >= RTN_REPORT_ROC_POINTS + 1) out->n_roc = RTN_REPORT_ROC_POINTS;
        out->roc_fpr[out->n_roc] = (double)fp / (double)neg;
        out->roc_tpr[out->n_roc] = (double)tp / (double)pos;
        out->roc_flagged[out->n_roc] = (int64_t)(i + 1);
        out->n_roc++;
        last = i + 1;
    }
}

rtn_status rtn_report_scores_compute(MPI_Comm comm, int k, uint32_t nbuckets, uint32_t b0,
                                     uint32_t b1, const uint64_t *boff,
                                     const rtn_report_customer *rows, const uint8_t *test_mask,
                                     int k_anon, rtn_report_scores *out)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    memset(out, 0, sizeof *out);
    out->k = k;
    size_t m = (size_t)(RTN_SEG_N + k + 1) * RTN_GS_N;
    size_t nb = b1 - b0;
    double *part = rtn_calloc(nb ? nb * m : 1, sizeof(double), "report group partials");
    double *sum = rtn_calloc(m, sizeof(double), "report group sums");
    out->seg = rtn_calloc((size_t)k + 1, RTN_GS_N * sizeof(double), "report segments");
    out->warn = rtn_calloc((size_t)(k + 1) * RTN_N_ACTIONS, sizeof(int64_t), "report warnings");
    size_t nloc = nb ? boff[nb] : 0, ntest = 0;
    for (size_t i = 0; i < nloc; i++) ntest += test_mask[i] && rows[i].label >= 0;
    roc_row *mine = rtn_malloc((ntest + 1) * sizeof *mine, "report ROC rows");
    rtn_status st = part && sum && out->seg && out->warn && mine ? RTN_OK : RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    if (st) goto done;
    size_t t = 0;
    for (size_t b = 0; b < nb; b++) {
        double *pb = part + b * m;
        for (uint64_t i = boff[b]; i < boff[b + 1]; i++) {
            const rtn_report_customer *r = &rows[i];
            if (r->rfm_segment < 0 || r->rfm_segment >= RTN_SEG_N || r->segment >= k ||
                r->action < 0 || r->action >= RTN_N_ACTIONS || r->risk_tier < 0 ||
                r->risk_tier >= RTN_RISK_TIERS) {
                st = rtn_fail(RTN_ERR_FORMAT, "scored customer %" PRIu64 ": code out of range "
                              "(RFM segment %d, segment %d, action %d, risk tier %d)", i,
                              r->rfm_segment, r->segment, r->action, r->risk_tier);
                break;
            }
            add_group(pb + (size_t)r->rfm_segment * RTN_GS_N, r);
            int s = r->segment >= 0 ? r->segment : k;
            add_group(pb + (size_t)(RTN_SEG_N + s) * RTN_GS_N, r);
            out->warn[(size_t)s * RTN_N_ACTIONS + (size_t)r->action]++;
            out->tier[r->risk_tier]++;
            if (test_mask[i] && r->label >= 0) mine[t++] = (roc_row){r->churn_probability, (int8_t)r->label};
        }
    }
    st = rtn_agree(comm, st);
    if (st == RTN_OK) st = rtn_bucket_sum(comm, nbuckets, b0, b1, m, part, sum);
    st = rtn_agree(comm, st);
    if (st) goto done;
    memcpy(out->rfm, sum, sizeof out->rfm);
    memcpy(out->seg, sum + (size_t)RTN_SEG_N * RTN_GS_N, (size_t)(k + 1) * RTN_GS_N * sizeof(double));
    for (size_t g = 0; g < (size_t)(RTN_SEG_N); g++)
        for (int j = 0; j < RTN_GS_N; j++) out->total[j] += sum[g * RTN_GS_N + (size_t)j];
    MPI_Allreduce(MPI_IN_PLACE, out->warn, (k + 1) * RTN_N_ACTIONS, MPI_INT64_T, MPI_SUM, comm);
    MPI_Allreduce(MPI_IN_PLACE, out->tier, RTN_RISK_TIERS, MPI_INT64_T, MPI_SUM, comm);

    /* ROC rows on rank 0 in rank order (= bucket order, the same for any rank count) */
    int cnt = (int)(t * sizeof(roc_row));
    int *cnts = rank == 0 ? rtn_malloc(sizeof(int) * (size_t)size, "ROC counts") : NULL;
    int *displs = rank == 0 ? rtn_malloc(sizeof(int) * (size_t)size, "ROC offsets") : NULL;
    MPI_Gather(&cnt, 1, MPI_INT, cnts, 1, MPI_INT, 0, comm);
    roc_row *all = NULL;
    size_t nall = 0;
    if (rank == 0) {
        size_t tot = 0;
        for (int r = 0; r < size; r++) {
            displs[r] = (int)tot;
            tot += (size_t)cnts[r];
        }
        nall = tot / sizeof(roc_row);
        all = rtn_malloc(tot + sizeof(roc_row), "ROC rows");
    }
    MPI_Gatherv(mine, cnt, MPI_BYTE, all, cnts, displs, MPI_BYTE, 0, comm);
    if (rank == 0 && all) {
        size_t step = nall / RTN_REPORT_ROC_POINTS + 1;
        if (step < (size_t)k_anon) step = (size_t)k_anon;
        roc_points(all, nall, step, out);
    }
    free(all);
    free(cnts);
    free(displs);
done:
    free(part);
    free(sum);
    free(mine);
    return st;
}

void rtn_report_scores_free(rtn_report_scores *s)
{
    free(s->seg);
    free(s->warn);
    s->seg = NULL;
    s->warn = NULL;
}
