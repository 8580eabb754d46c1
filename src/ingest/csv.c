/* RFC 4180 record parser (include/retain/csv.h). Hot path of `retain ingest`: plain records
 * are split 16 bytes at a time (SSE2), everything else by a byte loop; fields point into the
 * caller's buffer and nothing is allocated per field. */
#include "retain/csv.h"

#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

size_t rtn_csv_bom(const char *buf, size_t len)
{
    if (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB &&
        (unsigned char)buf[2] == 0xBF)
        return 3;
    return 0;
}

uint64_t rtn_csv_count(const char *p, size_t n, char c)
{
    uint64_t k = 0;
    const char *end = p + n;
    while (p < end) {
        const char *q = memchr(p, c, (size_t)(end - p));
        if (!q) break;
        k++;
        p = q + 1;
    }
    return k;
}

size_t rtn_csv_first_start(const char *buf, size_t from, size_t to, int parity, char quote)
{
    if (!quote) {
        const char *q = from < to ? memchr(buf + from, '\n', to - from) : NULL;
        return q ? (size_t)(q - buf) + 1 : SIZE_MAX;
    }
    for (size_t x = from; x < to; x++) {
        char c = buf[x];
        if (c == quote) parity ^= 1;
        else if (c == '\n' && !parity) return x + 1;
    }
    return SIZE_MAX;
}

/* Ensures room for `extra` more scratch bytes after `used`. */
static int scratch_reserve(rtn_csv_record *rec, size_t used, size_t extra)
{
    if (used + extra <= rec->scratch_cap) return 1;
    size_t cap = rec->scratch_cap ? rec->scratch_cap : 256;
    while (cap < used + extra) cap *= 2;
    char *p = realloc(rec->scratch, cap);
    if (!p) return 0;
    rec->scratch = p;
    rec->scratch_cap = cap;
    return 1;
}


/* Position of the first delimiter, '\n' or '\r' at or after pos (len when none). Eight
 * bytes at a time: a byte equal to c makes (w ^ c*0x01..) have a zero byte, found with
 * the usual (x - 0x01..) & ~x & 0x80.. test, exact for the lowest match. */
static inline uint64_t zero_bytes(uint64_t x)
{
    return (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL;
}

static inline size_t scan_special(const char *buf, size_t pos, size_t len, char delim)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t D = 0x0101010101010101ULL * (unsigned char)delim;
    const uint64_t N = 0x0101010101010101ULL * (unsigned char)'\n';
    const uint64_t R = 0x0101010101010101ULL * (unsigned char)'\r';
    while (pos + 8 <= len) {
        uint64_t w;
        memcpy(&w, buf + pos, 8);
        uint64_t m = zero_bytes(w ^ D) | zero_bytes(w ^ N) | zero_bytes(w ^ R);
        if (m) return pos + ((size_t)__builtin_ctzll(m) >> 3);
        pos += 8;
    }
#endif
    while (pos < len && buf[pos] != delim && buf[pos] != '\n' && buf[pos] != '\r') pos++;
    return pos;
}

static rtn_csv_result parse_whitespace(const char *buf, size_t len, size_t pos,
                                       rtn_csv_record *rec)
{
    size_t nf = 0;
    rtn_csv_result res = RTN_CSV_RECORD;
    for (;;) {
        while (pos < len && (buf[pos] == ' ' || buf[pos] == '\t' || buf[pos] == '\r')) pos++;
        if (pos >= len || buf[pos] == '\n') break;
        size_t f0 = pos;
        while (pos < len && buf[pos] != ' ' && buf[pos] != '\t' && buf[pos] != '\r' &&
               buf[pos] != '\n')
            pos++;
        if (nf < RTN_CSV_MAX_FIELDS) {
            rec->f[nf].p = buf + f0;
            rec->f[nf].len = pos - f0;
            nf++;
        } else {
            res = RTN_CSV_ERR_TOO_MANY_FIELDS;
        }
    }
    /* pos is at '\n' or at the end; the raw text excludes a "\r\n" or "\n" terminator */
    size_t raw_end = pos;
    if (pos < len) {
        if (raw_end > rec->start && buf[raw_end - 1] == '\r') raw_end--;
        pos++;
        rec->newlines = 1;
    } else {
        rec->newlines = 0;
    }
    rec->end = pos;
    rec->raw_len = raw_end - rec->start;
    rec->nfields = nf;
    rec->blank = nf == 0;
    return res;
}

#if defined(__SSE2__)
/* Fast path for a record of unquoted fields ending in "\n" or "\r\n": 16 bytes at a time,
 * a bit mask of the delimiter, quote, '\n' and '\r' bytes gives the field ends directly.
 * Anything else (a quote anywhere, a lone '\r', too many fields, fewer than 16 bytes left
 * in the buffer) returns 0 and the byte-loop parser handles the record from its start, so
 * the result is always the one of the byte loop. */
static int next_plain_sse2(const rtn_csv_dialect *d, const char *buf, size_t len, size_t pos,
                           rtn_csv_record *rec)
{
    const __m128i D = _mm_set1_epi8(d->delim), N = _mm_set1_epi8('\n'),
                  R = _mm_set1_epi8('\r'), Q = _mm_set1_epi8(d->quote ? d->quote : d->delim);
    const size_t start = pos;
    size_t nf = 0, f0 = pos, blk = pos;
    unsigned hi = 0; /* bytes >= 0x80 or NUL seen in the record's earlier blocks */
    while (blk + 16 <= len) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(buf + blk));
        unsigned h = (unsigned)_mm_movemask_epi8(v) |
                     (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128()));
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, D), _mm_cmpeq_epi8(v, N)),
                         _mm_or_si128(_mm_cmpeq_epi8(v, R), _mm_cmpeq_epi8(v, Q))));
        while (m) {
            size_t x = blk + (size_t)__builtin_ctz(m);
            m &= m - 1;
            char ch = buf[x];
            if (nf == RTN_CSV_MAX_FIELDS) return 0;
            if (ch == d->delim) {
                rec->f[nf].p = buf + f0;
                rec->f[nf].len = x - f0;
                rec->escaped[nf] = 0;
                nf++;
                f0 = x + 1;
                continue;
            }
            size_t e;
            if (ch == '\n') e = x + 1;
            else if (ch == '\r' && x + 1 < len && buf[x + 1] == '\n') e = x + 2;
            else return 0; /* a quote or a lone '\r' */
            rec->f[nf].p = buf + f0;
            rec->f[nf].len = x - f0;
            rec->escaped[nf] = 0;
            rec->nfields = nf + 1;
            rec->raw_len = x - start;
            rec->end = e;
            rec->newlines = 1;
            /* only the bytes before the line end count */
            rec->ascii = !(hi | (h & ((1u << (x - blk)) - 1)));
            return 1;
        }
        hi |= h;
        blk += 16;
    }
    return 0;
}
#endif

rtn_csv_result rtn_csv_next(const rtn_csv_dialect *d, const char *buf, size_t len, size_t pos,
                            rtn_csv_record *rec)
{
#if defined(__SSE2__)
    /* a quote opening the first field, or an empty line, go to the byte loop at once */
    if (!d->whitespace && pos < len && buf[pos] != d->quote && buf[pos] != '\n' &&
        buf[pos] != '\r' && next_plain_sse2(d, buf, len, pos, rec)) {
        rec->start = pos;
        rec->blank = 0;
        return RTN_CSV_RECORD;
    }
#endif
    return rtn_csv_next_scalar(d, buf, len, pos, rec);
}

rtn_csv_result rtn_csv_next_scalar(const rtn_csv_dialect *d, const char *buf, size_t len,
                                   size_t pos, rtn_csv_record *rec)
{
    rec->nfields = 0;
    rec->blank = 0;
    rec->newlines = 0;
    rec->ascii = 0;
    if (pos >= len) {
        rec->start = rec->end = len;
        rec->raw_len = 0;
        return RTN_CSV_EOF;
    }
    rec->start = pos;
    if (d->whitespace) return parse_whitespace(buf, len, pos, rec);

    const char delim = d->delim, quote = d->quote;
    size_t nf = 0, used = 0, nl = 0;
    int any_escaped = 0;
    rtn_csv_result res = RTN_CSV_RECORD;

    /* An empty line is a blank record, not a record with one empty field. */
    if (buf[pos] == '\n' || (buf[pos] == '\r' && (pos + 1 == len || buf[pos + 1] == '\n'))) {
        size_t e = buf[pos] == '\n' ? pos + 1 : (pos + 1 == len ? len : pos + 2);
        rec->end = e;
        rec->raw_len = 0;
        rec->newlines = buf[e - 1] == '\n';
        rec->blank = 1;
        return RTN_CSV_RECORD;
    }

    for (;;) {
        size_t f0, flen;
        int esc = 0;
        if (quote && pos < len && buf[pos] == quote) {
            size_t s = ++pos;
            size_t close;
            for (;;) {
                const char *qp = memchr(buf + pos, quote, len - pos);
                size_t x = qp ? (size_t)(qp - buf) : len;
                nl += (size_t)rtn_csv_count(buf + pos, x - pos, '\n');
                if (x >= len) {
                    /* runs to the end of the buffer */
                    rec->end = len;
                    rec->raw_len = len - rec->start;
                    rec->newlines = nl;
                    rec->nfields = 0;
                    return RTN_CSV_ERR_UNTERMINATED_QUOTE;
                }
                if (x + 1 < len && buf[x + 1] == quote) {
                    esc = 1;
                    pos = x + 2;
                    continue;
                }
                close = x;
                pos = x + 1;
                break;
            }
            f0 = s;
            flen = close - s;
            /* After the closing quote: delimiter, line end or end of buffer. */
            if (pos < len && buf[pos] != delim && buf[pos] != '\n' &&
                !(buf[pos] == '\r' && (pos + 1 == len || buf[pos + 1] == '\n'))) {
                res = RTN_CSV_ERR_BAD_QUOTE;
                /* Resynchronize: the rest up to a delimiter or line end belongs to the field. */
                while (pos < len && buf[pos] != delim && buf[pos] != '\n') pos++;
                if (pos < len && buf[pos] == '\n' && pos > 0 && buf[pos - 1] == '\r') pos--;
            }
        } else {
            f0 = pos;
            for (;;) {
                pos = scan_special(buf, pos, len, delim);
                if (pos >= len || buf[pos] != '\r') break;
                if (pos + 1 == len || buf[pos + 1] == '\n') break; /* CRLF or a final CR */
                pos++;                                             /* a lone CR is data */
            }
            flen = pos - f0;
        }
        if (nf < RTN_CSV_MAX_FIELDS) {
            if (esc) {
                /* collapse doubled quotes into the scratch buffer */
                if (!scratch_reserve(rec, used, flen)) return RTN_CSV_ERR_NOMEM;
                size_t o = used;
                for (size_t i = 0; i < flen; i++) {
                    char c = buf[f0 + i];
                    rec->scratch[used++] = c;
                    if (c == quote) i++; /* skip the second quote of the pair */
                }
                rec->soff[nf] = o;
                rec->f[nf].p = NULL;
                rec->f[nf].len = used - o;
                rec->escaped[nf] = 1;
                any_escaped = 1;
            } else {
                rec->f[nf].p = buf + f0;
                rec->f[nf].len = flen;
                rec->escaped[nf] = 0;
            }
            nf++;
        } else {
            res = RTN_CSV_ERR_TOO_MANY_FIELDS;
        }
        if (pos >= len) {
            rec->end = len;
            rec->raw_len = len - rec->start;
            break;
        }
        if (buf[pos] == delim) {
            pos++;
            continue;
        }
        /* line end: "\n", "\r\n" or a final "\r" */
        rec->raw_len = pos - rec->start;
        if (buf[pos] == '\r') pos++;
        if (pos < len && buf[pos] == '\n') {
            pos++;
            nl++;
        }
        rec->end = pos;
        break;
    }
    if (any_escaped)
        for (size_t i = 0; i < nf; i++)
            if (rec->escaped[i]) rec->f[i].p = rec->scratch + rec->soff[i];
    rec->nfields = nf;
    rec->newlines = nl;
    return res;
}

void rtn_csv_record_free(rtn_csv_record *rec)
{
    free(rec->scratch);
    rec->scratch = NULL;
    rec->scratch_cap = 0;
}

size_t rtn_utf8_check(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        /* ASCII fast path, 8 bytes at a time: no high bit and no zero byte */
        while (i + 8 <= n) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            if ((v & 0x8080808080808080ULL) ||
                ((v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL))
                break;
            i += 8;
        }
        if (i >= n) break;
        unsigned c = s[i];
        if (c == 0) return i + 1;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) k = 1;
        else if (c == 0xE0) k = 2, lo = 0xA0;
        else if (c >= 0xE1 && c <= 0xEC) k = 2;
        else if (c == 0xED) k = 2, hi = 0x9F; /* no UTF-16 surrogates */
        else if (c >= 0xEE && c <= 0xEF) k = 2;
        else if (c == 0xF0) k = 3, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) k = 3;
        else if (c == 0xF4) k = 3, hi = 0x8F;
        else return i + 1;
        if (i + k >= n) return i + 1; /* truncated sequence */
        if (s[i + 1] < lo || s[i + 1] > hi) return i + 1;
        for (size_t j = 2; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80) return i + 1;
        i += k + 1;
    }
    return 0;
}
