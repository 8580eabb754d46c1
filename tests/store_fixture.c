/* Writes a small random but fully valid transaction store with the store writer, at any
 * rank count (each rank writes its own bucket range). Used by the core tests.
 * usage: store_fixture OUT.h5 CUSTOMERS SEED BUCKETS [ROWS_PER_WRITE] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/log.h"
#include "retain/store.h"

static uint64_t cust_key(uint64_t seed, uint64_t i) { return rtn_mix64(seed * 0x100000001b3ULL + i) | 1; }
static uint32_t cust_rows(uint64_t key) { return 1 + (uint32_t)(rtn_mix64(key ^ 0xabcdef) % 20); }

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    if (argc < 5) {
        fprintf(stderr, "usage: store_fixture OUT CUSTOMERS SEED BUCKETS [ROWS_PER_WRITE]\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    MPI_Comm comm = MPI_COMM_WORLD;
    rtn_log_init(comm, RTN_LOG_WARN);
    const char *out = argv[1];
    uint64_t n = strtoull(argv[2], NULL, 10), seed = strtoull(argv[3], NULL, 10);
    uint32_t B = (uint32_t)strtoul(argv[4], NULL, 10);
    size_t per_write = argc > 5 ? strtoull(argv[5], NULL, 10) : 1000;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);

    uint64_t *counts = calloc(B, sizeof *counts);
    uint64_t *off = calloc(B + 1, sizeof *off);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = cust_key(seed, i);
        counts[rtn_bucket_of(k, B)] += cust_rows(k);
    }
    for (uint32_t b = 0; b < B; b++) off[b + 1] = off[b] + counts[b];
    uint32_t b0, b1;
    rtn_partition_buckets(off, B, size, rank, &b0, &b1);

    /* keys of my buckets, sorted by (bucket, key) */
    uint64_t *mine = malloc(sizeof *mine * (n ? n : 1));
    size_t nm = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t k = cust_key(seed, i);
        uint32_t b = rtn_bucket_of(k, B);
        if (b >= b0 && b < b1) mine[nm++] = k;
    }
    qsort(mine, nm, sizeof *mine, cmp_u64);
    /* stable order by bucket (keys sorted within bucket) */
    uint64_t *sorted = malloc(sizeof *sorted * (nm ? nm : 1));
    size_t ns = 0;
    for (uint32_t b = b0; b < b1; b++)
        for (size_t i = 0; i < nm; i++)
            if (rtn_bucket_of(mine[i], B) == b) sorted[ns++] = mine[i];

    char *items[] = {"apple", "bread", "cheese"}, *cats[] = {"food", "home"}, *stores[] = {"north", "south"};
    rtn_strdict di = {3, items}, dc = {2, cats}, ds = {2, stores};
    rtn_store_meta meta = {.nbuckets = B, .bucket_offsets = off, .n_customers = n,
                           .time_min = 1600000000, .time_max = 1600000000 + 20 * 86400 * 30,
                           .currency = "EUR", .currency_exponent = 2, .created_by = "store_fixture",
                           .provenance = "{\"fixture\":true}", .dict_item = &di,
                           .dict_category = &dc, .dict_store = &ds};
    rtn_store_writer *w;
    rtn_status st = rtn_store_create(&w, comm, out, &meta);
    if (st) {
        if (rank == 0) fprintf(stderr, "create: %s\n", rtn_errmsg());
        MPI_Finalize();
        return st;
    }
    rtn_txn_block blk = {0};
    rtn_txn_block_reserve(&blk, per_write + 32, RTN_COLS_ALL);
    uint64_t row = off[b0], row0 = row;
    int64_t my_rounds = 0;
    /* Generate rows customer by customer, flushing whole customers at a time. */
    size_t ci = 0;
    int64_t rounds_total;
    /* count rounds first so every rank calls write the same number of times */
    {
        size_t acc = 0;
        for (size_t i = 0; i < ns; i++) {
            acc += cust_rows(sorted[i]);
            if (acc >= per_write) {
                my_rounds++;
                acc = 0;
            }
        }
        if (acc) my_rounds++;
    }
    MPI_Allreduce(&my_rounds, &rounds_total, 1, MPI_INT64_T, MPI_MAX, comm);
    for (int64_t r = 0; r < rounds_total && st == RTN_OK; r++) {
        blk.n = 0;
        row0 = row;
        while (ci < ns && blk.n < per_write) {
            uint64_t k = sorted[ci++];
            uint32_t nr = cust_rows(k);
            for (uint32_t j = 0; j < nr; j++) {
                uint64_t h = rtn_mix64(k + j);
                size_t t = blk.n++;
                blk.customer[t] = k;
                blk.time[t] = 1600000000 + (int64_t)j * 86400 * 30 + (int64_t)(h % 86400);
                blk.amount[t] = (int64_t)(h % 10000) - ((h >> 20) % 10 == 0 ? 12000 : 0);
                blk.quantity[t] = 1 + (int32_t)(h % 5);
                blk.item[t] = (int32_t)(h % 4) - 1;
                blk.category[t] = (int32_t)((h >> 8) % 2);
                blk.store[t] = (int32_t)((h >> 16) % 2);
                blk.channel[t] = (int8_t)((h >> 24) % 3);
                blk.basket[t] = rtn_mix64(k ^ j);
            }
        }
        row += blk.n;
        st = rtn_store_write(w, row0, &blk);
    }
    st = rtn_store_finish(w, st);
    if (st && rank == 0) fprintf(stderr, "store_fixture: %s\n", rtn_errmsg());
    rtn_txn_block_free(&blk);
    free(counts);
    free(off);
    free(mine);
    free(sorted);
    MPI_Finalize();
    return st;
}
