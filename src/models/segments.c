/* Segment profiles, names and stable ids (docs/segmentation.md). */
#include "retain/segments.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"

void rtn_segment_profiles_free(rtn_segment_profiles *p)
{
    if (!p) return;
    free(p->id);
    free(p->size);
    free(p->revenue_share);
    free(p->churn_rate);
    free(p->mean);
    free(p->name);
    memset(p, 0, sizeof *p);
}

rtn_status rtn_segment_profile(MPI_Comm comm, const rtn_bucketed_rows *R, const int32_t *labels,
                               int k, const double *revenue, const int8_t *churned,
                               rtn_segment_profiles *out)
{
    size_t d = R->d, K = (size_t)k;
    memset(out, 0, sizeof *out);
    /* per-bucket partial: count k | revenue k | churned k | labelled k | sums k*d | total revenue */
    size_t m = 4 * K + K * d + 1;
    rtn_status st = RTN_OK;
    if (k < 1) st = rtn_fail(RTN_ERR_USAGE, "segment profile: k=%d", k);
    for (size_t i = 0; i < R->n && st == RTN_OK; i++)
        if (labels[i] < 0 || labels[i] >= k)
            st = rtn_fail(RTN_ERR_INTERNAL, "segment profile: row %zu has label %d of k=%d", i,
                          labels[i], k);
    st = rtn_agree(comm, st);
    if (st) return st;
    double *part = rtn_calloc(m, sizeof(double), "segment partials");
    double *tot = rtn_calloc(m, sizeof(double), "segment totals");
    out->k = k;
    out->d = d;
    out->id = rtn_calloc(K, sizeof(int32_t), "segment ids");
    out->size = rtn_calloc(K, sizeof(double), "segment sizes");
    out->revenue_share = rtn_calloc(K, sizeof(double), "segment revenue");
    out->churn_rate = rtn_calloc(K, sizeof(double), "segment churn");
    out->mean = rtn_calloc(K * d + 1, sizeof(double), "segment means");
    out->name = rtn_calloc(K, RTN_SEGMENT_NAME_MAX, "segment names");
    rtn_breduce *red = NULL;
    if (part && tot && out->id && out->size && out->revenue_share && out->churn_rate &&
        out->mean && out->name)
        st = rtn_breduce_create(&red, comm, R->nbuckets, R->b0, R->b1, m);
    else st = RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    for (uint32_t b = R->b0; b < R->b1 && st == RTN_OK; b++) {
        memset(part, 0, m * sizeof(double));
        for (uint64_t i = R->boff[b - R->b0]; i < R->boff[b - R->b0 + 1]; i++) {
            size_t c = (size_t)labels[i];
            part[c] += 1;
            if (revenue) {
                part[K + c] += revenue[i];
                part[m - 1] += revenue[i];
            }
            if (churned && churned[i] >= 0) {
                part[2 * K + c] += churned[i] ? 1 : 0;
                part[3 * K + c] += 1;
            }
            double *s = part + 4 * K + c * d;
            for (size_t j = 0; j < d; j++) s[j] += R->X[i * d + j];
        }
        st = rtn_breduce_push(red, b, part);
    }
    st = rtn_agree(comm, st);
    if (st == RTN_OK) st = rtn_breduce_finish(red, tot);
    if (st == RTN_OK)
        for (size_t c = 0; c < K; c++) {
            out->id[c] = (int32_t)c + 1;
            out->size[c] = tot[c];
            out->revenue_share[c] = revenue && tot[m - 1] != 0 ? tot[K + c] / tot[m - 1] : NAN;
            out->churn_rate[c] = churned && tot[3 * K + c] > 0 ? tot[2 * K + c] / tot[3 * K + c]
                                                                : NAN;
            for (size_t j = 0; j < d; j++)
                out->mean[c * d + j] = tot[c] > 0 ? tot[4 * K + c * d + j] / tot[c] : NAN;
        }
    rtn_breduce_free(red);
    free(part);
    free(tot);
    if (st) rtn_segment_profiles_free(out);
    return st;
}

/* ---- naming --------------------------------------------------------------------------- */

#define HI 0.5 /* half a population standard deviation */

static double zof(const double *c, int col)
{
    return col >= 0 ? c[col] : 0.0;
}

const char *rtn_segment_base_name(const double *c, const rtn_segment_roles *r)
{
    double M = zof(c, r->monetary), F = zof(c, r->frequency), R = zof(c, r->recency);
    double T = zof(c, r->tenure), O = zof(c, r->online_share);
    /* first matching row of the table in docs/segmentation.md */
    if (R >= HI && M >= HI) return "At-risk big spenders";
    if (R >= HI && F >= HI) return "At-risk regulars";
    if (R >= HI) return "Lapsing occasional";
    if (T <= -HI && F < HI) return "New customers";
    if (M >= HI && F >= HI) return "High-value loyal";
    if (O >= HI && F >= 0) return "Online-first regulars";
    if (M >= HI) return "Big-ticket occasional";
    if (F >= HI) return "Frequent small-basket";
    if (M <= -HI && F <= -HI) return "Bargain occasional";
    if (O >= HI) return "Online browsers";
    if (O <= -HI) return "In-store regulars";
    return "Steady mid-value";
}

void rtn_segment_name(const double *C, int k, size_t d, const rtn_segment_roles *roles,
                      char (*names)[RTN_SEGMENT_NAME_MAX])
{
    const char **base = malloc(sizeof(char *) * (size_t)(k > 0 ? k : 1));
    int *done = calloc((size_t)(k > 0 ? k : 1), sizeof(int));
    if (!base || !done) { /* cannot disambiguate without memory: number everything */
        for (int c = 0; c < k; c++) snprintf(names[c], RTN_SEGMENT_NAME_MAX, "Segment %d", c + 1);
        free(base);
        free(done);
        return;
    }
    for (int c = 0; c < k; c++) base[c] = rtn_segment_base_name(C + (size_t)c * d, roles);
    for (int c = 0; c < k; c++) {
        if (done[c]) continue;
        /* all clusters sharing this name, ranked by monetary z descending, index ascending */
        int rank = 0;
        for (;;) {
            int best = -1;
            for (int e = c; e < k; e++) {
                if (done[e] || strcmp(base[e], base[c]) != 0) continue;
                if (best < 0 ||
                    zof(C + (size_t)e * d, roles->monetary) >
                        zof(C + (size_t)best * d, roles->monetary))
                    best = e;
            }
            if (best < 0) break;
            done[best] = 1;
            rank++;
            if (rank == 1) snprintf(names[best], RTN_SEGMENT_NAME_MAX, "%s", base[best]);
            else snprintf(names[best], RTN_SEGMENT_NAME_MAX, "%s %d", base[best], rank);
        }
    }
    free(base);
    free(done);
}

/* ---- stable ids --------------------------------------------------------------------- */

rtn_status rtn_hungarian(const double *cost, int n, int m, int *assign, double *total)
{
    if (n < 0 || m < n)
        return rtn_fail(RTN_ERR_INTERNAL, "assignment: %d rows, %d columns (need rows <= columns)",
                        n, m);
    /* shortest augmenting paths with potentials; 1-based, p[j] = row matched to column j */
    size_t N = (size_t)n + 1, M = (size_t)m + 1;
    double *u = calloc(N, sizeof(double)), *v = calloc(M, sizeof(double));
    double *minv = calloc(M, sizeof(double));
    int *p = calloc(M, sizeof(int)), *way = calloc(M, sizeof(int));
    char *used = calloc(M, 1);
    rtn_status st = RTN_OK;
    if (!u || !v || !minv || !p || !way || !used) {
        st = rtn_fail(RTN_ERR_NOMEM, "assignment: out of memory");
        goto done;
    }
    for (int i = 1; i <= n; i++) {
        p[0] = i;
        int j0 = 0;
        for (int j = 0; j <= m; j++) {
            minv[j] = INFINITY;
            used[j] = 0;
        }
        do {
            used[j0] = 1;
            int i0 = p[j0], j1 = -1;
            double delta = INFINITY;
            for (int j = 1; j <= m; j++) {
                if (used[j]) continue;
                double cur = cost[(size_t)(i0 - 1) * (size_t)m + (size_t)(j - 1)] - u[i0] - v[j];
                if (cur < minv[j]) {
                    minv[j] = cur;
                    way[j] = j0;
                }
                if (minv[j] < delta) {
                    delta = minv[j];
                    j1 = j;
                }
            }
            if (j1 < 0) {
                st = rtn_fail(RTN_ERR_NUMERIC, "assignment: non-finite cost");
                goto done;
            }
            for (int j = 0; j <= m; j++) {
                if (used[j]) {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
        } while (p[j0] != 0);
        do {
            int j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    double t = 0;
    for (int j = 1; j <= m; j++)
        if (p[j] > 0) {
            assign[p[j] - 1] = j - 1;
            t += cost[(size_t)(p[j] - 1) * (size_t)m + (size_t)(j - 1)];
        }
    if (total) *total = t;
done:
    free(u);
    free(v);
    free(minv);
    free(p);
    free(way);
    free(used);
    return st;
}

static double eucl(const double *a, const double *b, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++) s += (a[j] - b[j]) * (a[j] - b[j]);
    return sqrt(s);
}

rtn_status rtn_segment_match_ids(const double *old_c, const int32_t *old_ids, int k_old,
                                 const double *new_c, int k_new, size_t d, int32_t *new_ids)
{
    int32_t next = 0;
    for (int c = 0; c < k_old; c++)
        if (old_ids[c] > next) next = old_ids[c];
    next++;
    for (int c = 0; c < k_new; c++) new_ids[c] = -1;
    if (k_old > 0 && k_new > 0) {
        int rows = k_new <= k_old ? k_new : k_old, cols = k_new <= k_old ? k_old : k_new;
        double *cost = malloc(sizeof(double) * (size_t)rows * (size_t)cols);
        int *as = malloc(sizeof(int) * (size_t)rows);
        if (!cost || !as) {
            free(cost);
            free(as);
            return rtn_fail(RTN_ERR_NOMEM, "segment id matching: out of memory");
        }
        /* rows are the smaller side so that every cluster of it is matched */
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                const double *a = k_new <= k_old ? new_c + (size_t)r * d : new_c + (size_t)c * d;
                const double *b = k_new <= k_old ? old_c + (size_t)c * d : old_c + (size_t)r * d;
                cost[(size_t)r * (size_t)cols + (size_t)c] = eucl(a, b, d);
            }
        rtn_status st = rtn_hungarian(cost, rows, cols, as, NULL);
        if (st == RTN_OK)
            for (int r = 0; r < rows; r++) {
                if (k_new <= k_old) new_ids[r] = old_ids[as[r]];
                else new_ids[as[r]] = old_ids[r];
            }
        free(cost);
        free(as);
        if (st) return st;
    }
    for (int c = 0; c < k_new; c++)
        if (new_ids[c] < 0) new_ids[c] = next++;
    return RTN_OK;
}

void rtn_segment_rescale_centroids(const double *c, int k, const rtn_scaler *from,
                                   const rtn_scaler *to, double *out)
{
    size_t d = from->d;
    for (int i = 0; i < k; i++)
        for (size_t j = 0; j < d; j++) {
            double x = c[(size_t)i * d + j] * from->scale[j] + from->mean[j];
            out[(size_t)i * d + j] = (x - to->mean[j]) / to->scale[j];
        }
}
