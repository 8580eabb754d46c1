/* A rank's rows of a per-customer table (features), grouped by bucket, and the
 * standardization shared by the models. Rows of bucket b (b0 <= b < b1) are
 * [boff[b-b0], boff[b-b0+1]) of X; rows inside a bucket are in stored order, so every
 * per-bucket partial sum is independent of the rank count. */
#ifndef RETAIN_ROWS_H
#define RETAIN_ROWS_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/status.h"

typedef struct {
    size_t n, d;           /* local rows, columns */
    const double *X;       /* n x d, row-major */
    uint32_t nbuckets;     /* global B */
    uint32_t b0, b1;       /* this rank's bucket range */
    const uint64_t *boff;  /* b1-b0+1 local row offsets, boff[0] == 0, boff[b1-b0] == n */
} rtn_bucketed_rows;

/* Per-column mean and standard deviation (population, ddof = 0, as scikit-learn's
 * StandardScaler); a constant column gets scale 1 so it maps to 0. Deterministic for any
 * rank count (two passes of bucket-ordered reductions). */
typedef struct {
    size_t d;
    double *mean;
    double *scale;
} rtn_scaler;

/* use: optional row filter (non-zero = use row); weight: optional row weights. */
rtn_status rtn_scaler_fit(rtn_scaler *s, MPI_Comm comm, const rtn_bucketed_rows *rows,
                          const uint8_t *use, const double *weight);
/* out[i*d+j] = (in[i*d+j] - mean[j]) / scale[j]; in and out may alias. */
void rtn_scaler_apply(const rtn_scaler *s, const double *in, double *out, size_t n);
rtn_status rtn_scaler_copy(rtn_scaler *dst, const rtn_scaler *src);
void rtn_scaler_free(rtn_scaler *s);

#endif
