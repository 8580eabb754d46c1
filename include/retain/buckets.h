/* Buckets: the fixed unit of partitioning and of deterministic reduction.
 *
 * A customer key k (uint64 pseudonym) lives in bucket rtn_bucket_of(k, B). A run with P
 * ranks gives each rank a contiguous bucket range balanced by row count. Every sum that
 * feeds a model is computed per bucket and combined over a fixed binary tree on bucket
 * indices, so the result does not depend on P (docs/architecture.md). */
#ifndef RETAIN_BUCKETS_H
#define RETAIN_BUCKETS_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/status.h"

/* SplitMix64 finalizer: a bijective 64-bit mix. */
static inline uint64_t rtn_mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* bucket(k) = floor(mix64(k) * B / 2^64): uniform for any B, documented in docs/formats.md. */
static inline uint32_t rtn_bucket_of(uint64_t key, uint32_t nbuckets)
{
    return (uint32_t)(((unsigned __int128)rtn_mix64(key) * nbuckets) >> 64);
}

/* Contiguous bucket range [*b0, *b1) of `rank` among `nranks`, balanced by row count:
 * bucket b goes to the rank r with r = floor(P * mid(b) / N), mid(b) = offsets[b] +
 * rows(b)/2, which is monotone in b, so ranges are contiguous. With N == 0 buckets are
 * split evenly by count. offsets has nbuckets+1 entries. */
void rtn_partition_buckets(const uint64_t *offsets, uint32_t nbuckets, int nranks, int rank,
                           uint32_t *b0, uint32_t *b1);

/* Deterministic bucket-ordered reduction of vectors of length m.
 * Each rank pushes one partial vector per bucket of its range, in bucket order
 * (every bucket of [b0,b1) exactly once); finish() returns on every rank the sum
 * over all B buckets, added along a fixed binary tree over bucket indices, so the
 * bits do not depend on how buckets are spread over ranks. Communication is
 * O(P * log2(B) * m) doubles (an allgather of each rank's tree-boundary nodes). */
typedef struct rtn_breduce rtn_breduce;

rtn_status rtn_breduce_create(rtn_breduce **out, MPI_Comm comm, uint32_t nbuckets, uint32_t b0,
                              uint32_t b1, size_t m);
/* Adds the partial of bucket `b` (must be the next bucket of the range). */
rtn_status rtn_breduce_push(rtn_breduce *r, uint32_t b, const double *partial);
/* Collective; `out` receives m values on every rank. Resets r for another round. */
rtn_status rtn_breduce_finish(rtn_breduce *r, double *out);
void rtn_breduce_free(rtn_breduce *r);

/* Convenience for the common case of a partial matrix held in memory:
 * partials is (b1-b0) x m, row-major. Collective. */
rtn_status rtn_bucket_sum(MPI_Comm comm, uint32_t nbuckets, uint32_t b0, uint32_t b1, size_t m,
                          const double *partials, double *out);

#endif
