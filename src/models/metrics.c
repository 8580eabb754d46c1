/* Binary classification metrics (include/retain/metrics.h). */
#include "retain/metrics.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double p, w;
    uint64_t idx;
    int8_t y;
} scored;

/* Probability descending, then original order: a total order, so the result of qsort
 * (which is not stable) is fully determined. */
static int cmp_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->p > y->p) return -1;
    if (x->p < y->p) return 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static void confusion_fill(rtn_confusion *c, double thr, double tp, double fp, double P,
                           double N, uint64_t flagged, uint64_t n)
{
    c->threshold = thr;
    c->tp = tp;
    c->fp = fp;
    c->fn = P - tp;
    c->tn = N - fp;
    c->precision = tp + fp > 0 ? tp / (tp + fp) : NAN;
    c->recall = P > 0 ? tp / P : NAN;
    c->f1 = (2 * tp + fp + (P - tp)) > 0 ? 2 * tp / (2 * tp + fp + (P - tp)) : NAN;
    c->accuracy = (P + N) > 0 ? (tp + (N - fp)) / (P + N) : NAN;
    c->n_flagged = flagged;
    c->flagged_fraction = n ? (double)flagged / (double)n : NAN;
}

rtn_status rtn_metrics_compute(size_t n, const double *prob, const int8_t *y, const double *w,
                               double budget, rtn_metrics *out)
{
    memset(out, 0, sizeof *out);
    out->budget = budget;
    if (!(budget >= 0 && budget <= 1))
        return rtn_fail(RTN_ERR_USAGE, "metrics: contact budget %g is not in [0,1]", budget);
    scored *a = rtn_malloc(n * sizeof *a + 1, "metrics sort buffer");
    if (!a) return RTN_ERR_NOMEM;
    double P = 0, N = 0, ll = 0, br = 0;
    const double eps = DBL_EPSILON;
    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0, pi = prob[i];
        if (!(pi >= 0 && pi <= 1) || (y[i] != 0 && y[i] != 1) || !(wi >= 0 && isfinite(wi))) {
            free(a);
            return rtn_fail(RTN_ERR_DATA,
                            "metrics: row %zu has probability %g, label %d, weight %g (need "
                            "[0,1], 0/1, >= 0)",
                            i, pi, (int)y[i], wi);
        }
        a[i] = (scored){pi, wi, i, y[i]};
        double pc = pi < eps ? eps : (pi > 1 - eps ? 1 - eps : pi);
        if (y[i]) {
            P += wi;
            out->n_pos++;
            ll -= wi * log(pc);
        } else {
            N += wi;
            ll -= wi * log(1 - pc);
        }
        br += wi * (pi - y[i]) * (pi - y[i]);
    }
    out->n = n;
    out->weight = P + N;
    out->weight_pos = P;
    out->base_rate = P + N > 0 ? P / (P + N) : NAN;
    out->log_loss = P + N > 0 ? ll / (P + N) : NAN;
    out->brier = P + N > 0 ? br / (P + N) : NAN;
    qsort(a, n, sizeof *a, cmp_scored);

    /* One sweep over groups of equal probability. */
    double auc = 0, ap = 0, tp = 0, fp = 0, best_f1 = -1;
    uint64_t seen = 0;
    uint64_t m_budget = 0;
    if (budget > 0) {
        double mb = ceil(budget * (double)n - 1e-9);
        m_budget = mb < 1 ? 1 : (uint64_t)mb;
        if (m_budget > n) m_budget = n;
    }
    double thr_budget = m_budget ? a[m_budget - 1].p : 0;
    int budget_done = m_budget == 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double gp = 0, gn = 0;
        while (j < n && a[j].p == a[i].p) {
            if (a[j].y) gp += a[j].w;
            else gn += a[j].w;
            j++;
        }
        auc += gn * (tp + 0.5 * gp);
        tp += gp;
        fp += gn;
        seen += j - i;
        if (gp > 0 && tp + fp > 0) ap += gp * (tp / (tp + fp));
        double f1 = (2 * tp + fp + (P - tp)) > 0 ? 2 * tp / (2 * tp + fp + (P - tp)) : 0;
        if (f1 > best_f1) {
            best_f1 = f1;
            confusion_fill(&out->at_max_f1, a[i].p, tp, fp, P, N, seen, n);
        }
        if (!budget_done && a[i].p == thr_budget) {
            confusion_fill(&out->at_budget, a[i].p, tp, fp, P, N, seen, n);
            budget_done = 1;
        }
        i = j;
    }
    out->roc_auc = P > 0 && N > 0 ? auc / (P * N) : NAN;
    out->pr_auc = P > 0 ? ap / P : NAN;

    /* Deciles by position. */
    double bsum_p[RTN_METRICS_BINS] = {0};
    for (int b = 0; b < RTN_METRICS_BINS; b++) {
        out->bin_min_prob[b] = INFINITY;
        out->bin_max_prob[b] = -INFINITY;
    }
    for (size_t r = 0; r < n; r++) {
        int b = (int)(((unsigned __int128)r * RTN_METRICS_BINS) / n);
        out->bin_n[b]++;
        out->bin_weight[b] += a[r].w;
        if (a[r].y) out->bin_pos[b] += a[r].w;
        bsum_p[b] += a[r].w * a[r].p;
        if (a[r].p < out->bin_min_prob[b]) out->bin_min_prob[b] = a[r].p;
        if (a[r].p > out->bin_max_prob[b]) out->bin_max_prob[b] = a[r].p;
    }
    double cpos = 0, cw = 0, cal = 0;
    for (int b = 0; b < RTN_METRICS_BINS; b++) {
        double bw = out->bin_weight[b];
        out->bin_mean_pred[b] = bw > 0 ? bsum_p[b] / bw : NAN;
        out->bin_rate[b] = bw > 0 ? out->bin_pos[b] / bw : NAN;
        out->lift[b] = out->bin_rate[b] / out->base_rate;
        cpos += out->bin_pos[b];
        cw += bw;
        out->cum_gain[b] = P > 0 ? cpos / P : NAN;
        out->cum_lift[b] = cw > 0 ? (cpos / cw) / out->base_rate : NAN;
        if (bw > 0) cal += bw * fabs(out->bin_mean_pred[b] - out->bin_rate[b]);
        if (!out->bin_n[b]) out->bin_min_prob[b] = out->bin_max_prob[b] = NAN;
    }
    out->calibration_error = P + N > 0 ? cal / (P + N) : NAN;
    free(a);
    return RTN_OK;
}

rtn_status rtn_metrics_gather(MPI_Comm comm, size_t n_local, const double *prob,
                              const int8_t *y, const double *w, const uint8_t *mask,
                              double budget, rtn_metrics *out)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    size_t m = 0;
    for (size_t i = 0; i < n_local; i++) m += !mask || mask[i];
    rtn_status st = RTN_OK;
    if (m > (size_t)INT_MAX)
        st = rtn_fail(RTN_ERR_DATA, "metrics: %zu rows on one rank exceed the gather limit", m);
    double *lp = rtn_malloc(m * sizeof(double) + 1, "metrics rows");
    double *lw = rtn_malloc(m * sizeof(double) + 1, "metrics rows");
    int8_t *ly = rtn_malloc(m + 1, "metrics rows");
    int *counts = rtn_calloc((size_t)size, sizeof(int), "metrics counts");
    int *displs = rtn_calloc((size_t)size, sizeof(int), "metrics displs");
    if (!lp || !lw || !ly || !counts || !displs) st = RTN_ERR_NOMEM;
    if (st == RTN_OK) {
        size_t k = 0;
        for (size_t i = 0; i < n_local; i++)
            if (!mask || mask[i]) {
                lp[k] = prob[i];
                lw[k] = w ? w[i] : 1.0;
                ly[k] = y[i];
                k++;
            }
    }
    st = rtn_agree(comm, st);
    double *gp = NULL, *gw = NULL;
    int8_t *gy = NULL;
    size_t total = 0;
    if (st == RTN_OK) {
        int mi = (int)m;
        MPI_Gather(&mi, 1, MPI_INT, counts, 1, MPI_INT, 0, comm);
        if (rank == 0) {
            for (int r = 0; r < size; r++) {
                if (total > (size_t)INT_MAX - (size_t)counts[r])
                    st = rtn_fail(RTN_ERR_DATA, "metrics: more than %d rows to evaluate", INT_MAX);
                displs[r] = (int)total;
                total += (size_t)counts[r];
            }
            gp = rtn_malloc(total * sizeof(double) + 1, "metrics gathered rows");
            gw = rtn_malloc(total * sizeof(double) + 1, "metrics gathered rows");
            gy = rtn_malloc(total + 1, "metrics gathered rows");
            if (st == RTN_OK && (!gp || !gw || !gy)) st = RTN_ERR_NOMEM;
        }
        st = rtn_agree(comm, st);
    }
    if (st == RTN_OK) {
        MPI_Gatherv(lp, (int)m, MPI_DOUBLE, gp, counts, displs, MPI_DOUBLE, 0, comm);
        MPI_Gatherv(lw, (int)m, MPI_DOUBLE, gw, counts, displs, MPI_DOUBLE, 0, comm);
        MPI_Gatherv(ly, (int)m, MPI_INT8_T, gy, counts, displs, MPI_INT8_T, 0, comm);
        if (rank == 0) st = rtn_metrics_compute(total, gp, gy, gw, budget, out);
        st = rtn_agree(comm, st);
        if (st == RTN_OK) MPI_Bcast(out, (int)sizeof *out, MPI_BYTE, 0, comm);
    }
    free(lp);
    free(lw);
    free(ly);
    free(counts);
    free(displs);
    free(gp);
    free(gw);
    free(gy);
    return st;
}
