#include "retain/rows.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"

/* One pass: per bucket, partial = [sum w, sum w*x_j] (pass 1) or [sum w*(x_j-mean_j)^2]. */
static rtn_status bucket_pass(MPI_Comm comm, const rtn_bucketed_rows *r, const uint8_t *use,
                              const double *weight, const double *mean, double *out)
{
    size_t d = r->d, m = mean ? d : d + 1;
    rtn_breduce *red;
    rtn_status st = rtn_breduce_create(&red, comm, r->nbuckets, r->b0, r->b1, m);
    double *part = rtn_malloc(m * sizeof(double), "scaler partial");
    if (!part) st = RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    if (st) {
        rtn_breduce_free(red);
        free(part);
        return st;
    }
    for (uint32_t b = r->b0; b < r->b1 && st == RTN_OK; b++) {
        memset(part, 0, m * sizeof(double));
        for (uint64_t i = r->boff[b - r->b0]; i < r->boff[b - r->b0 + 1]; i++) {
            if (use && !use[i]) continue;
            double w = weight ? weight[i] : 1.0;
            const double *x = r->X + i * d;
            if (!mean) {
                part[0] += w;
                for (size_t j = 0; j < d; j++) part[1 + j] += w * x[j];
            } else {
                for (size_t j = 0; j < d; j++) {
                    double dx = x[j] - mean[j];
                    part[j] += w * dx * dx;
                }
            }
        }
        st = rtn_breduce_push(red, b, part);
    }
    st = rtn_agree(comm, st);
    if (st == RTN_OK) st = rtn_breduce_finish(red, out);
    rtn_breduce_free(red);
    free(part);
    return st;
}

rtn_status rtn_scaler_fit(rtn_scaler *s, MPI_Comm comm, const rtn_bucketed_rows *rows,
                          const uint8_t *use, const double *weight)
{
    size_t d = rows->d;
    memset(s, 0, sizeof *s);
    s->d = d;
    s->mean = rtn_calloc(d ? d : 1, sizeof(double), "scaler mean");
    s->scale = rtn_calloc(d ? d : 1, sizeof(double), "scaler scale");
    double *tmp = rtn_calloc(d + 1, sizeof(double), "scaler sums");
    rtn_status st = (s->mean && s->scale && tmp) ? RTN_OK : RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    if (st == RTN_OK) st = bucket_pass(comm, rows, use, weight, NULL, tmp);
    double wsum = tmp ? tmp[0] : 0;
    if (st == RTN_OK && !(wsum > 0))
        st = rtn_fail(RTN_ERR_DATA, "standardization: no rows (total weight %g)", wsum);
    st = rtn_agree(comm, st);
    if (st == RTN_OK) {
        for (size_t j = 0; j < d; j++) s->mean[j] = tmp[1 + j] / wsum;
        st = bucket_pass(comm, rows, use, weight, s->mean, tmp);
    }
    if (st == RTN_OK)
        for (size_t j = 0; j < d; j++) {
            double sd = sqrt(tmp[j] / wsum);
            s->scale[j] = (sd > 0 && isfinite(sd)) ? sd : 1.0;
        }
    free(tmp);
    if (st) rtn_scaler_free(s);
    return st;
}

void rtn_scaler_apply(const rtn_scaler *s, const double *in, double *out, size_t n)
{
    size_t d = s->d;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) out[i * d + j] = (in[i * d + j] - s->mean[j]) / s->scale[j];
}

rtn_status rtn_scaler_copy(rtn_scaler *dst, const rtn_scaler *src)
{
    dst->d = src->d;
    dst->mean = rtn_malloc((src->d ? src->d : 1) * sizeof(double), "scaler mean");
    dst->scale = rtn_malloc((src->d ? src->d : 1) * sizeof(double), "scaler scale");
    if (!dst->mean || !dst->scale) {
        rtn_scaler_free(dst);
        return RTN_ERR_NOMEM;
    }
    memcpy(dst->mean, src->mean, src->d * sizeof(double));
    memcpy(dst->scale, src->scale, src->d * sizeof(double));
    return RTN_OK;
}

void rtn_scaler_free(rtn_scaler *s)
{
    free(s->mean);
    free(s->scale);
    s->mean = s->scale = NULL;
    s->d = 0;
}
