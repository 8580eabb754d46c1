#include "retain/buckets.h"

#include <stdlib.h>
#include <string.h>

void rtn_partition_buckets(const uint64_t *offsets, uint32_t nbuckets, int nranks, int rank,
                           uint32_t *b0, uint32_t *b1)
{
    uint64_t n = offsets[nbuckets] - offsets[0];
    if (n == 0) {
        *b0 = (uint32_t)((uint64_t)nbuckets * (uint64_t)rank / (uint64_t)nranks);
        *b1 = (uint32_t)((uint64_t)nbuckets * (uint64_t)(rank + 1) / (uint64_t)nranks);
        return;
    }
    /* owner(b) = floor(P * (2*off[b] + rows(b)) / (2N)) is non-decreasing in b. */
    uint32_t lo = nbuckets, hi = nbuckets;
    for (uint32_t b = 0; b < nbuckets; b++) {
        unsigned __int128 mid2 = (unsigned __int128)(offsets[b] - offsets[0]) * 2 +
                                 (offsets[b + 1] - offsets[b]);
        uint64_t owner = (uint64_t)(mid2 * (unsigned)nranks / ((unsigned __int128)n * 2));
        if (owner >= (uint64_t)nranks) owner = (uint64_t)nranks - 1;
        if (owner == (uint64_t)rank && lo == nbuckets) lo = b;
        if (owner > (uint64_t)rank) {
            hi = b;
            break;
        }
    }
    if (lo == nbuckets) lo = hi; /* empty range: place it where it would start */
    *b0 = lo;
    *b1 = hi;
}

/* Tree node (level L, index j) covers buckets [j*2^L, (j+1)*2^L) intersected with [0,B). */
typedef struct {
    uint32_t level;
    uint32_t index;
} node_id;

struct rtn_breduce {
    MPI_Comm comm;
    uint32_t nbuckets, b0, b1, next;
    size_t m;
    uint32_t top;        /* levels: root is (top, 0) */
    /* pending nodes in order of creation, each with its vector */
    node_id *ids;
    double *vals;
    size_t n_nodes, cap_nodes;
};

static uint32_t tree_top(uint32_t nbuckets)
{
    uint32_t t = 0;
    while (((uint64_t)1 << t) < nbuckets) t++;
    return t;
}

rtn_status rtn_breduce_create(rtn_breduce **out, MPI_Comm comm, uint32_t nbuckets, uint32_t b0,
                              uint32_t b1, size_t m)
{
    *out = NULL;
    if (b0 > b1 || b1 > nbuckets || m == 0)
        return rtn_fail(RTN_ERR_INTERNAL, "bad bucket reduction range [%u,%u) of %u, m=%zu", b0,
                        b1, nbuckets, m);
    rtn_breduce *r = rtn_calloc(1, sizeof *r, "bucket reduction");
    if (!r) return RTN_ERR_NOMEM;
    r->comm = comm;
    r->nbuckets = nbuckets;
    r->b0 = b0;
    r->b1 = b1;
    r->next = b0;
    r->m = m;
    r->top = tree_top(nbuckets);
    r->cap_nodes = 2 * (size_t)(r->top + 2);
    r->ids = rtn_calloc(r->cap_nodes, sizeof *r->ids, "bucket reduction nodes");
    r->vals = rtn_calloc(r->cap_nodes * m, sizeof *r->vals, "bucket reduction values");
    if (!r->ids || !r->vals) {
        rtn_breduce_free(r);
        return RTN_ERR_NOMEM;
    }
    *out = r;
    return RTN_OK;
}

void rtn_breduce_free(rtn_breduce *r)
{
    if (!r) return;
    free(r->ids);
    free(r->vals);
    free(r);
}

rtn_status rtn_breduce_push(rtn_breduce *r, uint32_t b, const double *partial)
{
    if (b != r->next || b >= r->b1)
        return rtn_fail(RTN_ERR_INTERNAL, "bucket reduction: got bucket %u, expected %u", b,
                        r->next);
    r->next++;
    /* New leaf (0, b); then merge with the pending left sibling while one exists. */
    node_id id = {0, b};
    size_t slot = r->n_nodes++;
    r->ids[slot] = id;
    memcpy(r->vals + slot * r->m, partial, r->m * sizeof(double));
    while (r->n_nodes >= 2) {
        node_id right = r->ids[r->n_nodes - 1];
        node_id left = r->ids[r->n_nodes - 2];
        if (left.level != right.level || (right.index & 1u) == 0 || left.index + 1 != right.index)
            break;
        double *lv = r->vals + (r->n_nodes - 2) * r->m;
        const double *rv = r->vals + (r->n_nodes - 1) * r->m;
        for (size_t i = 0; i < r->m; i++) lv[i] = lv[i] + rv[i];
        r->ids[r->n_nodes - 2] = (node_id){left.level + 1, left.index >> 1};
        r->n_nodes--;
    }
    return RTN_OK;
}

/* Evaluates node (L, j) from the gathered set; returns 0 when the node lies past B. */
static int eval_node(uint32_t level, uint32_t index, uint32_t nbuckets, const node_id *ids,
                     const double *vals, size_t n, size_t m, double *out, double *scratch)
{
    if (((uint64_t)index << level) >= nbuckets) return 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i].level == level && ids[i].index == index) {
            memcpy(out, vals + i * m, m * sizeof(double));
            return 1;
        }
    if (level == 0) return -1; /* a bucket nobody pushed: caller reports */
    int hl = eval_node(level - 1, 2 * index, nbuckets, ids, vals, n, m, out, scratch + m);
    if (hl < 0) return -1;
    int hr = eval_node(level - 1, 2 * index + 1, nbuckets, ids, vals, n, m, scratch, scratch + m);
    if (hr < 0) return -1;
    if (hl && hr)
        for (size_t i = 0; i < m; i++) out[i] = out[i] + scratch[i];
    else if (!hl && hr)
        memcpy(out, scratch, m * sizeof(double));
    return hl || hr;
}

rtn_status rtn_breduce_finish(rtn_breduce *r, double *out)
{
    int size;
    MPI_Comm_size(r->comm, &size);
    rtn_status st = RTN_OK;
    if (r->next != r->b1)
        st = rtn_fail(RTN_ERR_INTERNAL, "bucket reduction: buckets [%u,%u) not all pushed",
                      r->next, r->b1);
    st = rtn_agree(r->comm, st);
    if (st) return st;

    int mine = (int)r->n_nodes;
    int *counts = rtn_malloc(sizeof(int) * (size_t)size, "reduction counts");
    int *displs = rtn_malloc(sizeof(int) * (size_t)size, "reduction displs");
    if (!counts || !displs) {
        free(counts);
        free(displs);
        return rtn_agree(r->comm, RTN_ERR_NOMEM);
    }
    MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, r->comm);
    size_t total = 0;
    for (int i = 0; i < size; i++) {
        displs[i] = (int)total;
        total += (size_t)counts[i];
    }
    node_id *all_ids = rtn_malloc(total * sizeof *all_ids + 1, "reduction nodes");
    double *all_vals = rtn_malloc(total * r->m * sizeof(double) + 1, "reduction values");
    double *scratch = rtn_malloc((size_t)(r->top + 2) * r->m * sizeof(double), "reduction scratch");
    int *vcounts = rtn_malloc(sizeof(int) * (size_t)size, "reduction counts");
    int *vdispls = rtn_malloc(sizeof(int) * (size_t)size, "reduction displs");
    st = (all_ids && all_vals && scratch && vcounts && vdispls) ? RTN_OK : RTN_ERR_NOMEM;
    st = rtn_agree(r->comm, st);
    if (st == RTN_OK) {
        for (int i = 0; i < size; i++) {
            vcounts[i] = counts[i] * 2;
            vdispls[i] = displs[i] * 2;
        }
        MPI_Allgatherv(r->ids, mine * 2, MPI_UINT32_T, all_ids, vcounts, vdispls, MPI_UINT32_T,
                       r->comm);
        for (int i = 0; i < size; i++) {
            vcounts[i] = counts[i] * (int)r->m;
            vdispls[i] = displs[i] * (int)r->m;
        }
        MPI_Allgatherv(r->vals, mine * (int)r->m, MPI_DOUBLE, all_vals, vcounts, vdispls,
                       MPI_DOUBLE, r->comm);
        int h = eval_node(r->top, 0, r->nbuckets, all_ids, all_vals, total, r->m, out, scratch);
        if (h < 0)
            st = rtn_fail(RTN_ERR_INTERNAL, "bucket reduction: ranks do not cover all buckets");
        else if (h == 0)
            memset(out, 0, r->m * sizeof(double));
    }
    free(counts);
    free(displs);
    free(all_ids);
    free(all_vals);
    free(scratch);
    free(vcounts);
    free(vdispls);
    r->n_nodes = 0;
    r->next = r->b0;
    return rtn_agree(r->comm, st);
}

rtn_status rtn_bucket_sum(MPI_Comm comm, uint32_t nbuckets, uint32_t b0, uint32_t b1, size_t m,
                          const double *partials, double *out)
{
    rtn_breduce *r;
    rtn_status st = rtn_breduce_create(&r, comm, nbuckets, b0, b1, m);
    st = rtn_agree(comm, st);
    if (st) return st;
    for (uint32_t b = b0; b < b1 && st == RTN_OK; b++)
        st = rtn_breduce_push(r, b, partials + (size_t)(b - b0) * m);
    st = rtn_agree(comm, st);
    if (st == RTN_OK) st = rtn_breduce_finish(r, out);
    rtn_breduce_free(r);
    return st;
}
