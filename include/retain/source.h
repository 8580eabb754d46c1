/* The store's customer-360 sources besides transactions (members, events, feedback and
 * what is derived from them), each described once in rtn_sources[]: its HDF5 group, its
 * columns (type, how ingest fills them, documentation) and its key. The writer, the
 * reader, `retain ingest --add`, `retain inspect` and the docs check loop over the table,
 * so a new source is one table entry (src/store/sources.c).
 *
 * Layout of a source NAME in a store of format version 3 (docs/formats.md):
 *   /NAME/COLUMN              one row per record, ordered (bucket, key, time, other columns)
 *   /NAME/index/bucket_offsets  buckets+1 row offsets (the store's bucket function and count)
 *   /NAME/index/bucket_digest   buckets x 16 bytes, XXH3-128 of each bucket's rows
 *   /NAME/dict/COLUMN         sorted string dictionary of a dictionary column (code = index)
 * with group attributes format, source_version, n_rows, n_keys, time_min, time_max,
 * columns, content_digest and provenance. */
#ifndef RETAIN_SOURCE_H
#define RETAIN_SOURCE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/status.h"
#include "retain/store.h"

#define RTN_SOURCE_FORMAT "retain-source"
#define RTN_SOURCE_VERSION 1
#define RTN_SOURCE_MAX_COLS 16
/* Stored value of an empty optional field (dictionary columns, numbers, flags). */
#define RTN_SOURCE_MISSING (-1)

typedef enum { RTN_SRC_U64 = 0, RTN_SRC_I64, RTN_SRC_I32, RTN_SRC_I16, RTN_SRC_I8 } rtn_src_type;

/* How ingest fills a column from its CSV field (src/ingest/ingest_source.c). */
typedef enum {
    RTN_FILL_KEY = 0,  /* keyed pseudonym of the identifier (customer or visitor id) */
    RTN_FILL_TIME,     /* a time in the mapping's time_format and timezone */
    RTN_FILL_DICT,     /* text -> code of the sorted dictionary /NAME/dict/COLUMN */
    RTN_FILL_INT,      /* whole number in [lo, hi] */
    RTN_FILL_FLAG,     /* 1/0, yes/no, true/false, y/n */
    RTN_FILL_HASH,     /* opaque identifier -> 63-bit keyed hash (session ids) */
    RTN_FILL_BIRTH,    /* birth date (or year) -> birth year, or the first year of its band */
    RTN_FILL_POSTCODE, /* postcode -> its first N characters (the mapping's prefix), a code */
    RTN_FILL_SCORE,    /* feedback score, range checked against the row's kind */
    RTN_FILL_DERIVED   /* set by ingest, not read from the CSV (sessions cut by a gap) */
} rtn_src_fill;

typedef struct {
    const char *name;     /* dataset under /NAME/ and the role name in the mapping */
    rtn_src_type type;
    rtn_src_fill fill;
    int required;         /* the mapping must map it */
    int sensitive;        /* stored only when the mapping's [privacy] keep names it */
    int64_t lo, hi;       /* RTN_FILL_INT: accepted range */
    const char *doc;      /* meaning and unit (docs/formats.md shows the same words) */
} rtn_src_column;

typedef struct {
    const char *name;     /* HDF5 group */
    const char *input;    /* the `retain ingest --add` kind whose rows fill it */
    const char *key_kind; /* "customer" or "visitor": what column 0 (the bucket key) holds */
    const char *doc;
    int ncols;            /* column 0 is the key (u64), column 1 the time (i64) */
    rtn_src_column cols[RTN_SOURCE_MAX_COLS];
} rtn_source_desc;

extern const rtn_source_desc rtn_sources[];
extern const int rtn_nsources;

/* The table entry of a stored source, NULL when there is none. */
const rtn_source_desc *rtn_source_find(const char *name);
/* Column index of a column name in d, -1 when absent. */
int rtn_source_column(const rtn_source_desc *d, const char *name);
/* Bytes per value of a stored type. */
size_t rtn_src_type_size(rtn_src_type t);

/* Rows of one source held column by column, every value widened to 64 bits (u64 keys
 * bit-cast). Columns the store does not hold read as RTN_SOURCE_MISSING. */
typedef struct {
    size_t n, cap;
    int64_t *v[RTN_SOURCE_MAX_COLS];
} rtn_src_block;

rtn_status rtn_src_block_reserve(rtn_src_block *b, const rtn_source_desc *d, size_t cap);
void rtn_src_block_free(rtn_src_block *b);

/* --- writer ------------------------------------------------------------------------- */

/* What a source writer needs; identical on all ranks except rows/row0. */
typedef struct {
    const rtn_source_desc *desc;
    unsigned present;              /* bit c: column c is stored */
    uint32_t nbuckets;
    const uint64_t *offsets;       /* nbuckets+1 global row offsets */
    uint64_t n_keys;               /* distinct keys */
    int64_t time_min, time_max;
    const rtn_strdict *dicts;      /* per column (n == 0 for non-dictionary columns) */
    const char *provenance;        /* JSON */
    uint32_t b0, b1;               /* this rank's bucket range */
    const rtn_src_block *rows;     /* this rank's rows: exactly those of buckets [b0, b1) */
} rtn_source_data;

/* Collective over comm: writes the group of data->desc into the open parallel file `file`
 * (created under a temporary name by the caller) and returns its content digest (hex). */
rtn_status rtn_source_write(MPI_Comm comm, hid_t file, const rtn_source_data *data,
                            char digest_hex[65]);

/* Collective: marks `file` as a format-version-3 store: root attributes format_version,
 * sources (every group of the table present, transactions first) and store_digest (SHA-256
 * over the sources' content digests in that order). */
rtn_status rtn_store_mark_sources(MPI_Comm comm, hid_t file);

/* --- reader ------------------------------------------------------------------------- */

typedef struct {
    const rtn_source_desc *desc;
    unsigned present;
    uint32_t nbuckets;
    uint64_t *offsets;             /* nbuckets+1 */
    uint64_t n_rows, n_keys;
    int64_t time_min, time_max;
    char digest[65];
    rtn_strdict dicts[RTN_SOURCE_MAX_COLS];
    char *provenance;
} rtn_source_info;

typedef struct rtn_source rtn_source;

/* 1 when the store file holds the group `name` (local check, any rank). */
int rtn_store_has_source(hid_t file, const char *name);
/* Collective open of source `name` of the store at path, with structural validation
 * (offsets, column types and lengths, dictionaries). */
rtn_status rtn_source_open(rtn_source **s, MPI_Comm comm, const char *path, const char *name);
const rtn_source_info *rtn_source_get_info(const rtn_source *s);
/* Independent read of rows [row0, row0+n) into blk. */
rtn_status rtn_source_read(rtn_source *s, uint64_t row0, size_t n, rtn_src_block *blk);
void rtn_source_close(rtn_source *s);

/* What rtn_source_verify found in one rank's bucket range. */
typedef struct {
    uint64_t rows, keys, problems;
    uint64_t orphan_rows, orphan_keys; /* keys not in `known` (when known is given) */
    char what[300];                    /* the first problem */
} rtn_source_check;

/* Independent: checks the rows of buckets [b0, b1): each key in the bucket it hashes to,
 * rows ordered by (key, time) within a bucket, dictionary codes in range, flags and numbers
 * in their ranges; writes those buckets' digests into dig (nbuckets x 16 bytes) and, when
 * known (sorted keys) is given, counts rows and keys missing from it. */
rtn_status rtn_source_verify(rtn_source *s, uint32_t b0, uint32_t b1, const uint64_t *known,
                             size_t nknown, unsigned char *dig, rtn_source_check *chk);
/* The store digest (hex SHA-256) over the content digests of the named sources, in order
 * ("transactions" first), as rtn_store_mark_sources writes it. */
void rtn_store_digest_of(const char *const *names, const char *const *digests, size_t n,
                         char hex[65]);

/* Per-bucket digest of rows [i0, i1) of blk: the present columns' values little-endian in
 * their stored width, row by row, column by column, XXH3-128 in canonical form. */
void rtn_source_bucket_digest(const rtn_source_desc *d, unsigned present,
                              const rtn_src_block *blk, size_t i0, size_t i1,
                              unsigned char out[RTN_BUCKET_DIGEST_BYTES]);
/* Content digest of a source: SHA-256 over its name, its present columns, all bucket
 * digests and its dictionaries (hex). */
void rtn_source_content_digest(const rtn_source_desc *d, unsigned present, uint32_t nbuckets,
                               const unsigned char *bucket_digests, const rtn_strdict *dicts,
                               char hex[65]);

#endif
