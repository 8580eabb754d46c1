/* Test helpers for the k-means tests: spread a global row-major matrix over the ranks of
 * a communicator the way the store does (bucket by key hash, contiguous bucket ranges). */
#ifndef KMEANS_COMMON_H
#define KMEANS_COMMON_H

#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/rows.h"

typedef struct {
    rtn_bucketed_rows rows;
    double *X;       /* local rows */
    uint64_t *keys;  /* local keys */
    size_t *orig;    /* local row -> global row */
    uint64_t *boff;
} km_layout;

static inline void km_layout_free(km_layout *L)
{
    free(L->X);
    free(L->keys);
    free(L->orig);
    free(L->boff);
    memset(L, 0, sizeof *L);
}

/* keys[i] is row i's customer key; rows keep their global order inside a bucket. */
static inline void km_layout_make(MPI_Comm comm, const double *X, const uint64_t *keys, size_t n,
                           size_t d, uint32_t B, km_layout *L)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    uint64_t *off = calloc((size_t)B + 1, sizeof(uint64_t));
    size_t *order = malloc(sizeof(size_t) * (n + 1));
    uint32_t *bk = malloc(sizeof(uint32_t) * (n + 1));
    for (size_t i = 0; i < n; i++) {
        bk[i] = rtn_bucket_of(keys[i], B);
        off[bk[i] + 1]++;
    }
    for (uint32_t b = 0; b < B; b++) off[b + 1] += off[b];
    uint64_t *pos = malloc(sizeof(uint64_t) * ((size_t)B + 1));
    memcpy(pos, off, sizeof(uint64_t) * ((size_t)B + 1));
    for (size_t i = 0; i < n; i++) order[pos[bk[i]]++] = i;
    uint32_t b0, b1;
    rtn_partition_buckets(off, B, size, rank, &b0, &b1);
    size_t r0 = off[b0], nl = off[b1] - off[b0];
    memset(L, 0, sizeof *L);
    L->X = malloc(sizeof(double) * (nl * d + 1));
    L->keys = malloc(sizeof(uint64_t) * (nl + 1));
    L->orig = malloc(sizeof(size_t) * (nl + 1));
    L->boff = malloc(sizeof(uint64_t) * (b1 - b0 + 1));
    for (size_t t = 0; t < nl; t++) {
        size_t g = order[r0 + t];
        memcpy(L->X + t * d, X + g * d, d * sizeof(double));
        L->keys[t] = keys[g];
        L->orig[t] = g;
    }
    for (uint32_t b = b0; b <= b1; b++) L->boff[b - b0] = off[b] - r0;
    L->rows.n = nl;
    L->rows.d = d;
    L->rows.X = L->X;
    L->rows.nbuckets = B;
    L->rows.b0 = b0;
    L->rows.b1 = b1;
    L->rows.boff = L->boff;
    free(off);
    free(order);
    free(bk);
    free(pos);
}

/* Deterministic pseudo-random data: a standard normal from a hash (no RNG state). */
static inline double km_normal(uint64_t a, uint64_t b)
{
    uint64_t h1 = rtn_mix64(a * 0x9e3779b97f4a7c15ULL ^ rtn_mix64(b));
    uint64_t h2 = rtn_mix64(h1 ^ 0x5bd1e995ULL);
    double u1 = ((double)(h1 >> 11) + 0.5) * 0x1p-53, u2 = (double)(h2 >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* n rows of `ncent` Gaussian blobs (centres spread `sep` apart, unit spread); truth labels. */
static inline void km_blobs(size_t n, size_t d, int ncent, double sep, uint64_t seed, double *X,
                     int32_t *truth)
{
    for (size_t i = 0; i < n; i++) {
        int c = (int)(rtn_mix64(seed ^ (i * 7919 + 1)) % (uint64_t)ncent);
        if (truth) truth[i] = c;
        for (size_t j = 0; j < d; j++) {
            double centre = sep * km_normal(seed + 1000003 * (uint64_t)c, j);
            X[i * d + j] = centre + km_normal(seed ^ 0xabcdefULL, i * d + j);
        }
    }
}

#endif
