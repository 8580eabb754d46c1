/* libFuzzer harness for the CSV record parser (src/ingest/csv.c): parses the input to the end
 * in three dialects and checks the parser's contract on every record: progress, bounds,
 * line counting, fields inside the buffer or the scratch copy, the same records as the
 * byte-loop parser without the vector fast path; also the UTF-8 validator
 * and the boundary search. Build: tests/fuzz/run_fuzz.sh or -DRETAIN_FUZZ=ON with clang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "retain/csv.h"

static void fail(void) { abort(); }

/* The vector fast path must agree with the byte loop on every record. */
static void same_as_scalar(const rtn_csv_dialect *d, const char *buf, size_t len, size_t pos,
                           rtn_csv_result r, const rtn_csv_record *rec, rtn_csv_record *ref)
{
    rtn_csv_result q = rtn_csv_next_scalar(d, buf, len, pos, ref);
    if (q != r) fail();
    if (r == RTN_CSV_EOF || r == RTN_CSV_ERR_NOMEM) return;
    if (ref->start != rec->start || ref->end != rec->end || ref->raw_len != rec->raw_len ||
        ref->newlines != rec->newlines)
        fail();
    if (r != RTN_CSV_RECORD) return;
    if (ref->nfields != rec->nfields || ref->blank != rec->blank) fail();
    for (size_t i = 0; i < rec->nfields; i++)
        if (ref->f[i].len != rec->f[i].len ||
            memcmp(ref->f[i].p, rec->f[i].p, rec->f[i].len) != 0)
            fail();
}

static void run(const rtn_csv_dialect *d, const char *buf, size_t len, rtn_csv_record *rec,
                rtn_csv_record *ref)
{
    size_t pos = rtn_csv_bom(buf, len), nrec = 0;
    for (;;) {
        rtn_csv_result r = rtn_csv_next(d, buf, len, pos, rec);
        same_as_scalar(d, buf, len, pos, r, rec, ref);
        if (r == RTN_CSV_EOF) {
            if (pos < len) fail();
            break;
        }
        if (r == RTN_CSV_ERR_NOMEM) break;
        if (rec->start != pos || rec->end <= rec->start || rec->end > len) fail();
        if (rec->raw_len > rec->end - rec->start) fail();
        if (rec->newlines != rtn_csv_count(buf + rec->start, rec->end - rec->start, '\n')) fail();
        if (r == RTN_CSV_RECORD) {
            if (rec->nfields > RTN_CSV_MAX_FIELDS) fail();
            for (size_t i = 0; i < rec->nfields; i++) {
                const char *p = rec->f[i].p;
                size_t n = rec->f[i].len;
                int in_buf = p >= buf + rec->start && p + n <= buf + rec->end;
                int in_scratch = rec->scratch && p >= rec->scratch &&
                                 p + n <= rec->scratch + rec->scratch_cap;
                if (!in_buf && !in_scratch) fail();
                if (n) (void)*(volatile const char *)(p + n - 1);
            }
            if (rec->blank && rec->nfields) fail();
        }
        (void)rtn_utf8_check(buf + rec->start, rec->raw_len);
        pos = rec->end;
        if (++nrec > len + 1) fail(); /* every record consumes at least one byte */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    static rtn_csv_record rec, ref;
    memset(&rec, 0, sizeof rec);
    memset(&ref, 0, sizeof ref);
    static const rtn_csv_dialect ds[3] = {{',', '"', 0}, {';', 0, 0}, {0, 0, 1}};
    for (int k = 0; k < 3; k++) run(&ds[k], buf, size, &rec, &ref);
    rtn_csv_record_free(&rec);
    rtn_csv_record_free(&ref);
    if (size) {
        size_t from = data[0] % size;
        size_t s = rtn_csv_first_start(buf, from, size, data[size - 1] & 1, '"');
        if (s != SIZE_MAX && (s <= from || s > size || buf[s - 1] != '\n')) fail();
    }
    return 0;
}
