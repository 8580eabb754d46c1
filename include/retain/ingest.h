/* `retain ingest`: CSV exports -> transaction store (docs/ingest.md).
 *
 * Pipeline (all ranks): each input file is split into byte ranges aligned to record
 * boundaries; every rank parses its range, validates and converts rows (rejects go to
 * the rejects CSV with the original line number), pseudonymizes customer identifiers,
 * and collects dictionary strings. Dictionaries are merged into sorted global lists
 * (codes do not depend on the rank count), rows are shuffled to the rank owning their
 * bucket (MPI_Alltoallv), sorted by (bucket, customer, time, all other columns, file,
 * line), exact duplicates are removed, and the store is written collectively. */
#ifndef RETAIN_INGEST_H
#define RETAIN_INGEST_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/csv.h"
#include "retain/status.h"

/* Roles a mapping assigns to input columns. */
typedef enum {
    RTN_ING_CUSTOMER = 0,
    RTN_ING_TIME,
    RTN_ING_AMOUNT,
    RTN_ING_QUANTITY,
    RTN_ING_UNIT_PRICE,
    RTN_ING_ITEM,
    RTN_ING_CATEGORY,
    RTN_ING_STORE,
    RTN_ING_CHANNEL,
    RTN_ING_BASKET,
    RTN_ING_NROLES
} rtn_ingest_role;

extern const char *const rtn_ingest_role_names[RTN_ING_NROLES];

#define RTN_ING_NAME_MAX 128

typedef enum { RTN_TZ_UTC = 0, RTN_TZ_OFFSET, RTN_TZ_NAME } rtn_tz_kind;

typedef struct {
    char name[256];                                 /* preset name or mapping file path */
    rtn_csv_dialect dialect;
    int header;                                     /* first record names the columns */
    int ncolumns;                                   /* fields per record; 0 = from header */
    char column[RTN_ING_NROLES][RTN_ING_NAME_MAX];  /* "" = role not mapped */
    int col[RTN_ING_NROLES];                        /* resolved 0-based index, -1 = none */
    char time_format[64];                           /* strptime-like, docs/ingest.md */
    rtn_tz_kind tz_kind;
    int32_t tz_offset;                              /* seconds east of UTC (RTN_TZ_OFFSET) */
    char tz_name[64];                               /* IANA name (RTN_TZ_NAME) */
    char currency[16];
    int currency_exponent;                          /* minor units = 10^exponent per major */
    int round_half_even;                            /* 1: round amounts; 0: reject them */
    char return_prefix[16];                         /* basket prefix marking returns */
    int channel_const;                              /* when no channel column */
    char category_const[RTN_ING_NAME_MAX];          /* when no category column */
    char amount_const[32];                          /* decimal amount of every row when no
                                                       amount or unit_price column ("" = none) */
    int64_t amount_const_minor;                     /* amount_const in minor units (set by
                                                       rtn_ingest_mapping_resolve) */
    int category_item_prefix;                       /* >0: category from the item code */
    int keep_duplicates;
    double max_reject_rate;                         /* < 0: not set by the mapping */
} rtn_ingest_mapping;

/* Built-in layouts: "online-retail" (UCI Online Retail) and "cdnow" (CDNOW_master.txt). */
rtn_status rtn_ingest_mapping_preset(rtn_ingest_mapping *m, const char *name);
/* Reads an INI mapping file (libinih); unknown sections/keys are errors. */
rtn_status rtn_ingest_mapping_load(rtn_ingest_mapping *m, const char *path);
/* Resolves column names against a header record (or numbers when there is no header)
 * and sets m->ncolumns when it was 0. `where` names the file for messages. */
rtn_status rtn_ingest_mapping_resolve(rtn_ingest_mapping *m, const rtn_csv_record *header,
                                      const char *where);

/* Reasons a row is rejected (the codes written to the rejects CSV). */
typedef enum {
    RTN_REJ_NONE = 0,
    RTN_REJ_UNTERMINATED_QUOTE,
    RTN_REJ_BAD_QUOTE,
    RTN_REJ_WRONG_COLUMN_COUNT,
    RTN_REJ_BAD_UTF8,
    RTN_REJ_MISSING_CUSTOMER,
    RTN_REJ_BAD_CUSTOMER,
    RTN_REJ_BAD_DATE,
    RTN_REJ_BAD_QUANTITY,
    RTN_REJ_BAD_PRICE,
    RTN_REJ_BAD_AMOUNT,
    RTN_REJ_BAD_CHANNEL,
    RTN_REJ_FIELD_TOO_LONG, /* item/category/store/basket longer than RTN_ING_NAME_MAX-1 */
    RTN_REJ_DUPLICATE, /* removed exact duplicate (not counted as a reject) */
    RTN_REJ_NREASONS
} rtn_reject_reason;

extern const char *const rtn_reject_names[RTN_REJ_NREASONS];

/* Decimal text -> integer mantissa and number of fraction digits ("-12.50" -> -1250, 2).
 * Accepts an optional sign, digits, an optional '.' and fraction digits, surrounding
 * blanks. Returns 0 on success, -1 on syntax error, -2 on overflow. */
int rtn_ingest_parse_decimal(const char *s, size_t n, int64_t *mant, int *scale);

/* Scales mantissa*10^-scale to 10^-exponent units, exactly; when digits would be lost
 * rounds half to even (round=1) or fails (round=0). Returns 0, 1 (rounded), -1 (not
 * representable without rounding), -2 (overflow). */
int rtn_ingest_to_minor(__int128 mant, int scale, int exponent, int round, int64_t *out);

/* Parses a time with a strptime-like format (%Y %m %d %H %M %S %y %b %p %f %z %s %%,
 * a blank matches a run of blanks). Wall-clock fields are converted from the
 * mapping's zone (UTC, fixed offset or IANA name; a %z in the text wins). Returns 0 or
 * -1 on a malformed or impossible date. */
int rtn_ingest_parse_time(const rtn_ingest_mapping *m, const char *s, size_t n, int64_t *t);

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t rtn_days_from_civil(int64_t y, unsigned m, unsigned d);

/* A row after conversion, before dictionaries and pseudonyms. */
typedef struct {
    const char *customer;
    size_t customer_len; /* normalized raw identifier (never stored) */
    int64_t time, amount;
    int32_t quantity;
    int8_t channel;
    int is_return, rounded;
    const char *item, *category, *store, *basket;
    size_t item_len, category_len, store_len, basket_len;
    char category_buf[RTN_ING_NAME_MAX];
} rtn_ingest_row;

/* Converts one parsed record. Returns RTN_REJ_NONE or the reason, with a short
 * human-readable detail ("Quantity 'abc' is not a whole number"). */
rtn_reject_reason rtn_ingest_convert(const rtn_ingest_mapping *m, const rtn_csv_record *rec,
                                     rtn_ingest_row *row, char *detail, size_t detail_size);

/* Basket key of a basket string: splitmix64(FNV-1a-64(bytes)). */
uint64_t rtn_ingest_basket_key(const char *s, size_t n);

typedef struct {
    const char *const *inputs;
    int n_inputs;
    const char *out;            /* store path */
    const char *rejects;        /* rejects CSV path */
    const char *key_path;
    const char *append_to;      /* existing store to merge with, or NULL */
    uint32_t nbuckets;          /* 0: default (or the appended store's) */
    double max_reject_rate;     /* < 0: mapping's or the default 0.05 */
    int keep_duplicates;        /* -1: mapping's choice */
    rtn_ingest_mapping mapping;
} rtn_ingest_options;

/* Collective. */
rtn_status rtn_ingest_run(MPI_Comm comm, const rtn_ingest_options *opt);

/* `retain ingest --add KIND` (docs/ingest.md "Sources"): a members, events or feedback
 * export added to a copy of an existing store, keyed by the same pseudonym key and
 * bucketed like its transactions; the base store is never modified. */
typedef struct {
    const char *kind;           /* members, events, feedback */
    const char *const *inputs;
    int n_inputs;
    const char *mapping_path;   /* INI mapping of the kind's columns */
    const char *base;           /* the store to add to (read only) */
    const char *out;            /* the new store */
    const char *rejects;        /* NULL: OUT.KIND.rejects.csv */
    const char *key_path;
    double max_reject_rate;     /* < 0: mapping's or 0.05 */
    int keep_duplicates;        /* -1: mapping's choice */
} rtn_source_ingest_options;

/* The kinds --add accepts, for messages ("members, events, feedback"). */
const char *rtn_ingest_source_kinds(void);
int rtn_ingest_source_kind_known(const char *name);
/* Collective. */
rtn_status rtn_ingest_source_run(MPI_Comm comm, const rtn_source_ingest_options *opt);

#endif
