/* RFC 4180 record parser over an in-memory buffer (a mapped file or a fuzzer input).
 *
 * One call parses one record starting at a byte position: quoted fields, doubled quotes,
 * delimiters and line breaks inside quotes, LF or CRLF line ends, a last record without a
 * line end. Fields point into the buffer; only fields with doubled quotes are copied (into
 * a per-record scratch buffer that is reused, so parsing does not allocate per field).
 * A "whitespace" dialect (fields separated by runs of blanks, no quoting) reads files such
 * as CDNOW_master.txt.
 *
 * The helpers at the end split a file into byte ranges aligned to record boundaries for
 * parallel parsing (docs/ingest.md, "Parallel parsing"). */
#ifndef RETAIN_CSV_H
#define RETAIN_CSV_H

#include <stddef.h>
#include <stdint.h>

#define RTN_CSV_MAX_FIELDS 256

typedef struct {
    char delim;     /* ',' ';' '\t' '|' ...; unused in whitespace mode */
    char quote;     /* '"', or 0 for no quoting */
    int whitespace; /* fields separated by runs of spaces/tabs; leading blanks skipped */
} rtn_csv_dialect;

typedef struct {
    const char *p;
    size_t len;
} rtn_csv_field;

typedef enum {
    RTN_CSV_RECORD = 0,             /* a well-formed record (possibly blank) */
    RTN_CSV_EOF,                    /* pos is at the end of the buffer */
    RTN_CSV_ERR_UNTERMINATED_QUOTE, /* a quoted field runs to the end of the buffer */
    RTN_CSV_ERR_BAD_QUOTE,          /* characters between a closing quote and a delimiter */
    RTN_CSV_ERR_TOO_MANY_FIELDS,    /* more than RTN_CSV_MAX_FIELDS fields */
    RTN_CSV_ERR_NOMEM               /* the scratch buffer could not grow */
} rtn_csv_result;

typedef struct {
    size_t nfields;
    rtn_csv_field f[RTN_CSV_MAX_FIELDS];
    size_t start, end; /* the record's bytes [start, end), line terminator included */
    size_t raw_len;    /* bytes of the record without its line terminator */
    size_t newlines;   /* '\n' bytes in [start, end): physical lines the record spans */
    int blank;         /* an empty line (no fields) */
    int ascii;         /* 1: the raw text is known to be ASCII without NUL bytes (so valid
                          UTF-8); 0: not checked */
    /* private: unescape buffer for fields with doubled quotes */
    char *scratch;
    size_t scratch_cap;
    size_t soff[RTN_CSV_MAX_FIELDS];
    unsigned char escaped[RTN_CSV_MAX_FIELDS];
} rtn_csv_record;

/* Parses the record starting at buf[pos]. On every result except RTN_CSV_EOF, rec->start,
 * rec->end (> start), rec->raw_len and rec->newlines describe the bytes consumed, so the
 * caller continues at rec->end; on the error results the fields are not meaningful.
 * Never reads outside [buf, buf+len). rec must start zeroed ({0}); it keeps its scratch
 * buffer between calls (free with rtn_csv_record_free). */
rtn_csv_result rtn_csv_next(const rtn_csv_dialect *d, const char *buf, size_t len, size_t pos,
                            rtn_csv_record *rec);
/* The same parser without the 16-byte fast path for plain records (same results; the
 * tests and the fuzzer compare the two). */
rtn_csv_result rtn_csv_next_scalar(const rtn_csv_dialect *d, const char *buf, size_t len,
                                   size_t pos, rtn_csv_record *rec);
void rtn_csv_record_free(rtn_csv_record *rec);

/* Length of a UTF-8 byte order mark at the start of buf (0 or 3). */
size_t rtn_csv_bom(const char *buf, size_t len);

/* Number of bytes equal to c in p[0, n). */
uint64_t rtn_csv_count(const char *p, size_t n, char c);

/* Start of the first record whose preceding '\n' lies in [from, to) and outside quotes,
 * given the parity of quote characters in the data before `from` (0 or 1). Quote parity
 * is exact for RFC 4180 text (a doubled quote toggles twice); a stray quote inside an
 * unquoted field makes the guess wrong, which the caller detects and repairs (the
 * boundaries are verified against the records actually parsed). Returns SIZE_MAX when
 * there is none. */
size_t rtn_csv_first_start(const char *buf, size_t from, size_t to, int parity, char quote);

/* Validates UTF-8 (no overlongs, no surrogates, <= U+10FFFF) and the absence of NUL bytes.
 * Returns 0 when valid, otherwise 1 + the offset of the first bad byte. */
size_t rtn_utf8_check(const char *p, size_t n);

#endif
