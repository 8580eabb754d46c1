/* The mapped store scan keeps this process's resident share of the mapping bounded by the
 * current block: rtn_store_scan_view releases the previous block's pages, so scanning a
 * store block by block must not make every page ever read resident.
 *
 * Measured as the Rss of the store's mapping in /proc/self/smaps (the pages mapped into
 * this process). mincore(2) cannot tell: on a file mapping it reports the page cache, which
 * keeps the pages whether or not the process still maps them.
 *
 * Bound checked after each block, once every page of the block has been read:
 *     Rss <= bytes of the block's mapped columns + per column 2 * (2 MiB + 64 KiB)
 * because a fault may map the whole naturally aligned folio holding the page (large page
 * cache folios go up to 2 MiB on x86-64) plus the fault-around window (64 KiB by default),
 * at each end of the block. The scanned columns are several times that bound in total, so
 * a scan that kept the pages it read would exceed it well before the end.
 *
 * usage: store_map_release SCRATCH.h5 (written, then removed) */
#define _GNU_SOURCE
#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "retain/buckets.h"
#include "retain/log.h"
#include "retain/store.h"
#include "rtn_test.h"

#define BUCKETS 4096u
#define CUSTOMERS 250000u
#define ROWS_PER_CUSTOMER 8u
#define BLOCK_ROWS 32768u
#define SLACK_PER_COLUMN (2u * ((2u << 20) + (64u << 10)))
/* the scanned columns: two 8-byte ones, as the features scan reads (all mapped) */
#define SCAN_COLS (RTN_COL(RTN_COL_CUSTOMER) | RTN_COL(RTN_COL_TIME))

typedef struct {
    uint32_t bucket;
    uint64_t key;
} cust;

static int cmp_cust(const void *a, const void *b)
{
    const cust *x = a, *y = b;
    if (x->bucket != y->bucket) return x->bucket < y->bucket ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* A valid store of CUSTOMERS customers with ROWS_PER_CUSTOMER rows each, written by this
 * process alone. */
static rtn_status write_store(const char *path)
{
    cust *cs = malloc(sizeof *cs * CUSTOMERS);
    uint64_t *off = calloc(BUCKETS + 1, sizeof *off);
    REQUIRE(cs && off);
    for (uint32_t i = 0; i < CUSTOMERS; i++) {
        cs[i].key = rtn_mix64(0x5eed0000u + i) | 1;
        cs[i].bucket = rtn_bucket_of(cs[i].key, BUCKETS);
        off[cs[i].bucket + 1] += ROWS_PER_CUSTOMER;
    }
    qsort(cs, CUSTOMERS, sizeof *cs, cmp_cust);
    for (uint32_t b = 0; b < BUCKETS; b++) off[b + 1] += off[b];

    char *items[] = {"apple"}, *cats[] = {"food"}, *stores[] = {"north"};
    rtn_strdict di = {1, items}, dc = {1, cats}, ds = {1, stores};
    const int64_t t0 = 1600000000;
    rtn_store_meta meta = {.nbuckets = BUCKETS, .bucket_offsets = off, .n_customers = CUSTOMERS,
                           .time_min = t0, .time_max = t0 + ROWS_PER_CUSTOMER * 86400,
                           .currency = "EUR", .currency_exponent = 2,
                           .created_by = "store_map_release", .provenance = "{}",
                           .dict_item = &di, .dict_category = &dc, .dict_store = &ds};
    rtn_store_writer *w;
    rtn_status st = rtn_store_create(&w, MPI_COMM_SELF, path, &meta);
    if (st) {
        free(cs);
        free(off);
        return st;
    }
    rtn_txn_block blk = {0};
    st = rtn_txn_block_reserve(&blk, 65536, RTN_COLS_ALL);
    uint64_t row = 0;
    for (uint32_t i = 0; i < CUSTOMERS && st == RTN_OK;) {
        blk.n = 0;
        for (; i < CUSTOMERS && blk.n + ROWS_PER_CUSTOMER <= 65536; i++) {
            for (uint32_t j = 0; j < ROWS_PER_CUSTOMER; j++) {
                uint64_t h = rtn_mix64(cs[i].key + j);
                size_t t = blk.n++;
                blk.customer[t] = cs[i].key;
                blk.time[t] = t0 + (int64_t)j * 86400 + (int64_t)(h % 86400);
                blk.amount[t] = (int64_t)(h % 10000);
                blk.quantity[t] = 1;
                blk.item[t] = 0;
                blk.category[t] = 0;
                blk.store[t] = 0;
                blk.channel[t] = 0;
                blk.basket[t] = h;
            }
        }
        st = rtn_store_write(w, row, &blk);
        row += blk.n;
    }
    st = rtn_store_finish(w, st);
    rtn_txn_block_free(&blk);
    free(cs);
    free(off);
    return st;
}

/* Sum of Rss (bytes) over the mappings of the file mapped at addr (same device and inode
 * as the mapping holding addr), from /proc/self/smaps; -1 when addr is in no file mapping. */
static long long mapping_rss(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[4096];
    unsigned dev_major = 0, dev_minor = 0;
    unsigned long long ino = 0;
    int found = 0;
    /* pass 1: the device and inode of the mapping holding addr */
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long long lo, hi, offset, in;
        unsigned ma, mi;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &lo, &hi, perms, &offset, &ma, &mi,
                   &in) == 7 &&
            (uintptr_t)addr >= lo && (uintptr_t)addr < hi && in != 0) {
            dev_major = ma;
            dev_minor = mi;
            ino = in;
            found = 1;
        }
    }
    if (!found) {
        fclose(f);
        return -1;
    }
    rewind(f);
    long long rss = 0;
    int in_file = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long lo, hi, offset, in;
        unsigned ma, mi;
        char perms[8];
        long long kb;
        if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &lo, &hi, perms, &offset, &ma, &mi,
                   &in) == 7)
            in_file = ma == dev_major && mi == dev_minor && in == ino;
        else if (in_file && sscanf(line, "Rss: %lld kB", &kb) == 1)
            rss += kb * 1024;
    }
    fclose(f);
    return rss;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    REQUIRE(argc == 2);
    const char *path = argv[1];
    MPI_Comm comm = MPI_COMM_WORLD;
    int rank;
    MPI_Comm_rank(comm, &rank);
    rtn_log_init(comm, RTN_LOG_WARN);
    rtn_status st = RTN_OK;
    if (rank == 0) st = write_store(path);
    MPI_Bcast(&st, 1, MPI_INT, 0, comm);
    if (st) fprintf(stderr, "writing the store: %s\n", rtn_errmsg());
    REQUIRE(st == RTN_OK);

    rtn_store *s;
    REQUIRE(rtn_store_open(&s, comm, path) == RTN_OK);
    unsigned mapped = rtn_store_map(s, SCAN_COLS);
    CHECK_EQ_INT(mapped & SCAN_COLS, SCAN_COLS);
    REQUIRE((mapped & SCAN_COLS) == SCAN_COLS);
    const long pg = sysconf(_SC_PAGESIZE);
    int ncols = 0;
    for (int c = 0; c < RTN_NCOLS; c++) ncols += !!(SCAN_COLS & RTN_COL(c));

    uint32_t b0, b1;
    rtn_store_my_buckets(s, comm, &b0, &b1);
    rtn_store_scan it;
    rtn_store_scan_begin(&it, s, b0, b1, BLOCK_ROWS, SCAN_COLS);
    rtn_txn_block blk = {0}, view;
    uint64_t rows = 0, scanned_bytes = 0;
    volatile uint64_t sink = 0;
    long long max_rss = 0, max_bound = 0;
    int blocks = 0, over = 0;
    for (;;) {
        uint32_t c0, c1;
        st = rtn_store_scan_view(&it, &blk, &view, &c0, &c1);
        REQUIRE(st == RTN_OK);
        if (c0 == c1) break;
        if (view.n == 0) continue;
        /* read every row of the block's columns, as a scan does */
        uint64_t sum = 0;
        for (size_t i = 0; i < view.n; i++) sum += view.customer[i] ^ (uint64_t)view.time[i];
        sink = sum;
        size_t block_bytes = view.n * (rtn_column_sizes[RTN_COL_CUSTOMER] +
                                       rtn_column_sizes[RTN_COL_TIME]);
        long long rss = mapping_rss(view.customer);
        /* the columns are read in place, from one mapping of the store */
        REQUIRE(rss >= 0);
        CHECK_EQ_INT(mapping_rss(view.time) == rss, 1);
        /* what was just read is resident (the measurement sees the mapping) */
        CHECK(rss + (long long)ncols * pg >= (long long)block_bytes);
        long long bound = (long long)block_bytes + (long long)ncols * SLACK_PER_COLUMN;
        if (rss > bound) {
            if (over++ < 5)
                fprintf(stderr, "block %d (rows %" PRIu64 "..): mapping Rss %lld bytes > bound "
                        "%lld\n", blocks, rows, rss, bound);
        }
        if (rss > max_rss) max_rss = rss;
        if (bound > max_bound) max_bound = bound;
        rows += view.n;
        scanned_bytes += block_bytes;
        blocks++;
    }
    CHECK_EQ_INT(over, 0);
    const rtn_store_info *in = rtn_store_get_info(s);
    CHECK_EQ_INT(rows, in->bucket_offsets[b1] - in->bucket_offsets[b0]);
    /* the test is only meaningful when keeping every page read would exceed the bound */
    CHECK(blocks >= 16);
    CHECK(scanned_bytes >= 3 * (uint64_t)max_bound);
    printf("rank %d: %d blocks, %" PRIu64 " rows, %.1f MiB scanned; mapping Rss at most %.1f "
           "MiB (bound %.1f MiB)\n", rank, blocks, rows, scanned_bytes / 1048576.0,
           max_rss / 1048576.0, max_bound / 1048576.0);
    (void)sink;
    rtn_txn_block_free(&blk);
    rtn_store_close(s);
    MPI_Barrier(comm);
    if (rank == 0) unlink(path);
    int failures = 0;
    MPI_Allreduce(&rtn_test_failures, &failures, 1, MPI_INT, MPI_SUM, comm);
    int rc = rtn_test_finish("store_map_release");
    MPI_Finalize();
    return rc ? rc : failures != 0;
}
