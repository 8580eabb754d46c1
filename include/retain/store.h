/* The transaction store: one HDF5 file, columns under /transactions ordered by
 * (bucket, customer, time), /index/bucket_offsets and string dictionaries under /dict.
 * Format specification: docs/formats.md. */
#ifndef RETAIN_STORE_H
#define RETAIN_STORE_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/status.h"

#define RTN_STORE_FORMAT "retain-transaction-store"
/* 3: the store may hold customer-360 sources besides /transactions (retain/source.h) and
 * carries the root attributes `sources` and `store_digest`; /transactions is as in 2.
 * 2: per-bucket digests XXH3-128 (16 bytes); 1: SHA-256 (32 bytes). All are readable. */
#define RTN_STORE_FORMAT_VERSION 3
#define RTN_STORE_DEFAULT_BUCKETS 1024
#define RTN_STORE_MAX_BUCKETS (1u << 20)

typedef enum {
    RTN_COL_CUSTOMER = 0,
    RTN_COL_TIME,
    RTN_COL_AMOUNT,
    RTN_COL_QUANTITY,
    RTN_COL_ITEM,
    RTN_COL_CATEGORY,
    RTN_COL_STORE,
    RTN_COL_CHANNEL,
    RTN_COL_BASKET,
    RTN_NCOLS
} rtn_column;

#define RTN_COL(c) (1u << (c))
#define RTN_COLS_ALL ((1u << RTN_NCOLS) - 1u)

/* Channel codes. */
enum { RTN_CHANNEL_STORE = 0, RTN_CHANNEL_ONLINE = 1, RTN_CHANNEL_APP = 2 };

/* Column names as stored under /transactions. */
extern const char *const rtn_column_names[RTN_NCOLS];
/* Bytes per row of each column. */
extern const size_t rtn_column_sizes[RTN_NCOLS];

/* A block of rows held column by column (only the columns asked for are allocated). */
typedef struct {
    size_t n, cap;
    unsigned cols;
    uint64_t *customer;
    int64_t *time;
    int64_t *amount;
    int32_t *quantity;
    int32_t *item;
    int32_t *category;
    int32_t *store;
    int8_t *channel;
    uint64_t *basket;
} rtn_txn_block;

rtn_status rtn_txn_block_reserve(rtn_txn_block *b, size_t cap, unsigned cols);
void rtn_txn_block_free(rtn_txn_block *b);
/* Pointer to column c's array (NULL when not held). */
void *rtn_txn_block_column(rtn_txn_block *b, rtn_column c);
/* Appends row i of src (all held columns of dst must be held in src). */
rtn_status rtn_txn_block_append(rtn_txn_block *dst, const rtn_txn_block *src, size_t i);

/* String dictionary (code = index). */
typedef struct {
    size_t n;
    char **s;
} rtn_strdict;

/* What a writer needs to know before the first row. All ranks pass identical values. */
typedef struct {
    uint32_t nbuckets;
    const uint64_t *bucket_offsets;   /* nbuckets+1 global row offsets */
    uint64_t n_customers;
    int64_t time_min, time_max;       /* seconds since the epoch, UTC */
    const char *currency;             /* ISO 4217, e.g. "GBP" */
    int32_t currency_exponent;        /* minor units per major = 10^exponent */
    const char *created_by;           /* command line */
    const char *provenance;           /* JSON text describing the inputs */
    const rtn_strdict *dict_item, *dict_category, *dict_store;
} rtn_store_meta;

typedef struct rtn_store_writer rtn_store_writer;

/* Collective: creates a temporary file and all datasets sized from meta. */
rtn_status rtn_store_create(rtn_store_writer **w, MPI_Comm comm, const char *path,
                            const rtn_store_meta *meta);
/* Collective: every rank calls the same number of times (blk->n may be 0). Rows of a
 * rank must arrive in increasing row order so bucket digests can be computed on the fly. */
rtn_status rtn_store_write(rtn_store_writer *w, uint64_t row0, const rtn_txn_block *blk);
/* Collective: on st == RTN_OK writes the index, digests and attributes and renames the
 * file to its final name; otherwise discards it. Frees w. Returns the agreed status. */
rtn_status rtn_store_finish(rtn_store_writer *w, rtn_status st);

/* Reader. */
typedef struct {
    char path[4096];
    uint32_t nbuckets;
    uint64_t n_rows, n_customers;
    int64_t time_min, time_max;
    int format_version;
    char currency[16];
    int32_t currency_exponent;
    char digest[65];                  /* hex SHA-256 of the content (docs/formats.md) */
    char created_at[32];
    uint64_t *bucket_offsets;         /* nbuckets+1 */
    rtn_strdict dict_item, dict_category, dict_store;
} rtn_store_info;

typedef struct rtn_store rtn_store;

/* Collective open + structural validation (format, version, offsets, column lengths). */
rtn_status rtn_store_open(rtn_store **s, MPI_Comm comm, const char *path);
const rtn_store_info *rtn_store_get_info(const rtn_store *s);
/* Independent read of rows [row0, row0+n) into blk (reserved as needed). */
rtn_status rtn_store_read(rtn_store *s, uint64_t row0, size_t n, unsigned cols,
                          rtn_txn_block *blk);
/* Collective close. */
void rtn_store_close(rtn_store *s);

/* This rank's bucket range (balanced by rows). */
void rtn_store_my_buckets(const rtn_store *s, MPI_Comm comm, uint32_t *b0, uint32_t *b1);

/* Streams a bucket range in blocks of whole buckets holding at most max_rows rows
 * (a single bigger bucket comes alone). */
typedef struct {
    rtn_store *store;
    uint32_t next, end;
    size_t max_rows;
    unsigned cols;
    uint64_t view_row0; /* rows of the last rtn_store_scan_view block, released at the next */
    size_t view_n;
} rtn_store_scan;

void rtn_store_scan_begin(rtn_store_scan *it, rtn_store *s, uint32_t b0, uint32_t b1,
                          size_t max_rows, unsigned cols);
/* Fills blk with the rows of buckets [*bb0, *bb1); returns RTN_OK with *bb0 == *bb1 at the end. */
rtn_status rtn_store_scan_next(rtn_store_scan *it, rtn_txn_block *blk, uint32_t *bb0,
                               uint32_t *bb1);

/* Collective (the same HDF5 metadata calls on every rank): maps the file read-only and
 * returns the columns of cols whose rows lie in it as one native array (no filters, file
 * type = memory type, contiguous or chunks back to back in row order, aligned). Those
 * columns are then read without a copy by rtn_store_scan_view; the others (and any
 * column when mapping fails) are read through HDF5 as before. */
unsigned rtn_store_map(rtn_store *s, unsigned cols);
/* rtn_store_scan_next without the copy of mapped columns: *view holds the rows of buckets
 * [*bb0, *bb1), its mapped columns pointing into the mapping (read-only) and the others
 * into blk. view owns nothing (never free it) and is valid until the next call or until
 * the store or blk is freed. */
rtn_status rtn_store_scan_view(rtn_store_scan *it, rtn_txn_block *blk, rtn_txn_block *view,
                               uint32_t *bb0, uint32_t *bb1);

/* Per-bucket content digest helper (used by the writer and by `inspect`): a hash of the
 * bucket's rows serialized little-endian, row by row, in column order. Format version 2
 * (written now): XXH3-128, the 16 bytes in canonical (big-endian) form; version 1: SHA-256,
 * 32 bytes. */
#define RTN_BUCKET_DIGEST_BYTES 16
#define RTN_BUCKET_DIGEST_BYTES_MAX 32
/* Bytes of one bucket digest in a store of this format version (0: unknown version). */
size_t rtn_store_bucket_digest_bytes(int format_version);
typedef struct rtn_bucket_hasher rtn_bucket_hasher;
/* The hasher of the current format version. */
rtn_status rtn_bucket_hasher_new(rtn_bucket_hasher **h);
/* The hasher of a given store format version (1 or 2), to verify older stores. */
rtn_status rtn_bucket_hasher_new_for(rtn_bucket_hasher **h, int format_version);
void rtn_bucket_hasher_reset(rtn_bucket_hasher *h);
void rtn_bucket_hasher_rows(rtn_bucket_hasher *h, const rtn_txn_block *blk, size_t i0, size_t i1);
/* Writes the hasher's digest size (rtn_store_bucket_digest_bytes) bytes to out. */
void rtn_bucket_hasher_final(rtn_bucket_hasher *h, unsigned char *out);
void rtn_bucket_hasher_free(rtn_bucket_hasher *h);
/* Content digest from all bucket digests (digest_bytes each) and the dictionaries (hex, 64
 * chars + NUL). */
void rtn_store_content_digest(uint32_t nbuckets, const unsigned char *bucket_digests,
                              size_t digest_bytes, const rtn_strdict *item,
                              const rtn_strdict *category, const rtn_strdict *store,
                              char hex[65]);

void rtn_strdict_free(rtn_strdict *d);

#endif
