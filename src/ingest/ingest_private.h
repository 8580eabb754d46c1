/* Shared by the files of src/ingest/ only; not part of the public API. */
#ifndef RETAIN_INGEST_PRIVATE_H
#define RETAIN_INGEST_PRIVATE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/csv.h"
#include "retain/ingest.h"
#include "retain/log.h"
#include "retain/pseudonym.h"
#include "retain/store.h"

/* The channel code (0 in-store, 1 online, 2 app) of a channel name or number, -1 when the
 * spelling is unknown. Leading and trailing blanks are ignored. */
int rtn_ingest_channel_code(const char *s, size_t n);

/* A mapping's defaults (comma-separated, quoted, header, time %Y-%m-%d %H:%M:%S UTC). */
void ing_mapping_defaults(rtn_ingest_mapping *m);
/* The keys every mapping kind shares: all of [input], and time_format, timezone,
 * duplicates and max_reject_rate of [values]. Returns 1 when applied, 0 on a bad value (err says why), -1 when the key is
 * not one of them. */
int ing_mapping_common_key(rtn_ingest_mapping *m, const char *section, const char *name,
                           const char *value, char *err, size_t errn);

/* --- the ingest run's state, shared by its steps ------------------------------------- */

#define RAW_MAX 4096u /* bytes of raw text kept per reject */

/* One row in flight: the stored columns plus where it came from (file, line, byte
 * offset) for the deterministic tiebreak and for listing removed duplicates. Shipped
 * between ranks as raw bytes (all ranks run the same binary on the same architecture). */
typedef struct {
    uint64_t customer;
    int64_t time, amount;
    uint64_t basket, line, off;
    int32_t quantity, item, category, store;
    uint32_t bucket, rawlen;
    uint16_t file; /* 0 = the store appended to, 1.. = input files */
    int8_t channel;
    uint8_t pad[5];
} ing_row;

typedef struct {
    uint64_t line, off;
    uint32_t rawlen;
    uint16_t file;
    uint8_t reason, pad;
    char detail[112];
} ing_reject;

typedef struct {
    uint64_t rows_read, blank, accepted, returns, rounded, newlines;
    uint64_t by_reason[RTN_REJ_NREASONS];
} counters;
#define NCOUNTERS (6 + RTN_REJ_NREASONS)

/* Open-addressing string table: strings live in one arena, ids are insertion order. */
typedef struct {
    uint64_t h, val;
    size_t off;
    uint32_t len;
} st_entry;

typedef struct {
    uint32_t *slots; /* entry index + 1; 0 = empty */
    size_t mask;
    st_entry *e;
    size_t n, cap;
    char *arena;
    size_t alen, acap;
} strtab;

typedef struct {
    const char *path;
    const char *map;
    size_t len;
    uint64_t rows_read, rejected;
} in_file;

/* Short dictionary strings (up to 24 bytes: most item codes, categories and stores) are
 * first looked up in a direct-mapped cache keyed by the bytes themselves, held in three
 * words: a few loads and compares instead of hashing and probing the table. */
#define DC_SLOTS 1024
typedef struct {
    uint64_t w[3];
    uint32_t n; /* 0 = empty */
    int32_t id;
} dc_entry;

typedef struct {
    MPI_Comm comm;
    int rank, size;
    const rtn_ingest_options *opt;
    uint32_t B;
    rtn_pseudonymizer *pz;
    strtab cust, dict[3];
    size_t dict_last[3];
    dc_entry dcache[3][DC_SLOTS];
    uint64_t *bucket_cnt; /* rows parsed per bucket (exact unless `discarded`) */
    ing_row *rows;
    size_t nrows, caprows;
    ing_row *spare; /* the second row array (shuffle send buffer, sort scatter target) */
    size_t capspare;
    int discarded;  /* rows of a re-parsed range were dropped: some interned strings may
                       belong to no row */
    ing_reject *rej;
    size_t nrej, caprej;
    counters tot;
    rtn_csv_record rec;
    char last_id[260];
    size_t last_len;
    uint64_t last_pseudo;
    int have_last;
    int nfiles;
    in_file *files; /* [0] = the appended store (no map) */
    rtn_progress prog;
    double bytes_done;
    const char *const *reason_names; /* names of ing_reject.reason (NULL: rtn_reject_names) */
} ictx;

typedef struct {
    char *buf;         /* every rank's strings, NUL-separated */
    char **s;          /* sorted distinct strings (into buf or the old store's dictionary) */
    size_t n;
    int32_t *local_map; /* local id -> code */
    int32_t *old_map;   /* appended store's code -> code */
} gdict;

/* What is kept of the appended store once its collective handle is closed. */
typedef struct {
    const char *path;
    uint32_t nbuckets;
    uint64_t *off; /* nbuckets+1 */
    uint64_t n_rows;
    rtn_strdict dict[3];
    char digest[80];
} old_store;

/* Removes rows whose stored columns equal the previous row's (the first occurrence in
 * (file, line) order is kept) and lists them with reason "duplicate". */
/* What the store's metadata needs from the final rows: rows per bucket, customers, time
 * range (computed by the de-duplication pass, or by row_stats when duplicates are kept). */
typedef struct {
    uint64_t *off; /* B+1; off[b+1] = rows of bucket b on this rank */
    uint64_t customers;
    int64_t tmin, tmax;
} row_stats_t;

typedef struct {
    char fingerprint[32];
    char currency[16];
    int64_t exponent;
    char digest[80];
    uint64_t rows;
    int ok;
} old_info;

/* --- parallel parsing of one file (ranges.c) ----------------------------------------- */

/* What ing_parse_ranges calls on each rank: parse the records starting at byte p .. e
 * (inclusive) and report where the last one ended; discard forgets what parse produced,
 * before a re-parse from a corrected boundary. */
typedef struct {
    rtn_status (*parse)(void *ctx, size_t p, size_t e, size_t *endpos);
    void (*discard)(void *ctx);
    void *ctx;
} ing_range_parser;

/* Collective: splits buf[data_start, len) into one byte range per rank aligned to record
 * boundaries and runs rp on this rank's records; on return every rank has parsed exactly
 * the records a sequential parse gives it. [*range_s, *range_e) is the rank's byte range
 * (for progress). */
rtn_status ing_parse_ranges(MPI_Comm comm, const char *buf, size_t len, size_t data_start,
                            char quote, const ing_range_parser *rp, const char *path,
                            size_t *range_s, size_t *range_e);

/* --- the steps (parse.c, order.c, output.c) ------------------------------------------ */

rtn_status ing_process_file(ictx *c, uint16_t fi);
rtn_status ing_map_file(in_file *f);
void ing_tz_restore(void);
int ing_rows_reserve(ing_row **p, size_t *cap, size_t need, size_t keep);
int ing_push_reject(ictx *c, uint16_t file, uint64_t line, uint64_t off, size_t rawlen,
                    rtn_reject_reason reason, const char *detail);
void ing_st_free(strtab *t);
uint64_t ing_str_hash(const char *s, size_t n);
/* Finds or inserts s; *idx = entry index. Returns 1 inserted, 0 found, -1 out of memory. */
int ing_st_find_add(strtab *t, const char *s, size_t n, uint64_t h, size_t *idx);
/* Collective: the global dictionary of the strings of t marked used on any rank, plus
 * old's (bytewise sorted, distinct), with the maps of t's ids and old's codes to it. */
rtn_status ing_build_dict(MPI_Comm comm, const strtab *t, const rtn_strdict *old, gdict *g,
                          const unsigned char *used);
rtn_status ing_shuffle(ictx *c, const uint64_t *old_off, const gdict g[3], uint32_t *b0,
                       uint32_t *b1, uint64_t **recv_cnt);
rtn_status ing_load_old_rows(ictx *c, const old_store *o, uint32_t b0, uint32_t b1,
                             const gdict g[3]);
rtn_status ing_copy_strdict(rtn_strdict *dst, const rtn_strdict *src);
rtn_status ing_sort_rows(ictx *c, uint32_t b0, uint32_t b1, const uint64_t *cnt);
rtn_status ing_dedup(ictx *c, uint64_t *dup_new, uint64_t *dup_old, row_stats_t *stats);
void ing_row_stats(const ictx *c, row_stats_t *s);
void ing_old_store_free(old_store *o);
void ing_gdict_free(gdict *g);
rtn_status ing_read_old_provenance(ictx *c, const char *path, old_info *oi, json_t **prov);
rtn_status ing_write_rejects(ictx *c, const char *path);
rtn_status ing_write_store(ictx *c, uint32_t b0, uint32_t b1, const gdict g[3],
                           const char *provenance, row_stats_t *stats, uint64_t *n_rows,
                           uint64_t *n_cust);

#endif
