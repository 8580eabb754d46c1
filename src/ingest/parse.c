/* `retain ingest`'s parsing (include/retain/ingest.h, docs/ingest.md): exact decimals,
 * dates and time zones, the conversion of one record to a row or a reject, string
 * interning, and the split of the input files into ranges that the ranks parse. The run
 * itself is in ingest.c. */
#include "retain/ingest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "retain/atomic.h"
#include "retain/buckets.h"
#include "retain/cli.h"
#include "retain/h5.h"
#include "retain/log.h"
#include "retain/pseudonym.h"
#include "retain/store.h"

#include "ingest_private.h"

const char *const rtn_reject_names[RTN_REJ_NREASONS] = {
    "none",        "unterminated_quote", "bad_quote",   "wrong_column_count", "bad_utf8",
    "missing_customer", "bad_customer",  "bad_date",    "bad_quantity",       "bad_price",
    "bad_amount",  "bad_channel",        "field_too_long", "duplicate"};

/* memcmp(a, b, n) == 0 for the short strings of the hot path, without a library call. */
static inline int eq_bytes(const char *a, const char *b, size_t n)
{
    uint64_t x, y;
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 < n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y) return 0;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        uint32_t u, v, w, z;
        memcpy(&u, a, 4);
        memcpy(&v, b, 4);
        memcpy(&w, a + n - 4, 4);
        memcpy(&z, b + n - 4, 4);
        return u == v && w == z;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

/* ================================================================== numbers */

/* isblank() of the "C" locale (the program never changes the locale), without the
 * library's table lookup call. */
#define IS_BLANK(ch) ((ch) == ' ' || (ch) == '\t')

int rtn_ingest_parse_decimal(const char *s, size_t n, int64_t *mant, int *scale)
{
    while (n && IS_BLANK(*s)) s++, n--;
    while (n && (IS_BLANK(s[n - 1]) || s[n - 1] == '\r')) n--;
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    uint64_t v = 0;
    int digits = 0, frac = 0, dot = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (v > (UINT64_C(1) << 62) / 10) return -2;
            v = v * 10 + (uint64_t)(c - '0');
            digits++;
            if (dot) frac++;
        } else if (c == '.' && !dot) {
            dot = 1;
        } else {
            return -1;
        }
    }
    if (!digits) return -1;
    *mant = neg ? -(int64_t)v : (int64_t)v;
    *scale = frac;
    return 0;
}

static const int64_t pow10_i64[19] = {1,
                                      10,
                                      100,
                                      1000,
                                      10000,
                                      100000,
                                      1000000,
                                      10000000,
                                      100000000,
                                      1000000000,
                                      10000000000,
                                      100000000000,
                                      1000000000000,
                                      10000000000000,
                                      100000000000000,
                                      1000000000000000,
                                      10000000000000000,
                                      100000000000000000,
                                      1000000000000000000};

int rtn_ingest_to_minor(__int128 v, int scale, int exponent, int round, int64_t *out)
{
    const __int128 lim = (__int128)INT64_MAX;
    if (exponent >= scale) {
        int d = exponent - scale;
        int64_t r;
        if (d > 18 || v > lim || v < -lim || __builtin_mul_overflow((int64_t)v, pow10_i64[d], &r))
            return -2;
        *out = r;
        return 0;
    }
    int d = scale - exponent;
    __int128 p = 1;
    for (int i = 0; i < d; i++) {
        p *= 10;
        if (p > ((__int128)1 << 100)) return -2;
    }
    __int128 q = v / p, r = v % p;
    int rounded = 0;
    if (r != 0) {
        if (!round) return -1;
        rounded = 1;
        __int128 ar = r < 0 ? -r : r;
        int away = 2 * ar > p || (2 * ar == p && (q & 1));
        if (away) q += v < 0 ? -1 : 1;
    }
    if (q > lim || q < -lim) return -2;
    *out = (int64_t)q;
    return rounded;
}

/* ================================================================== dates */

int64_t rtn_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

static int read_num(const char *s, size_t n, size_t *i, int minw, int maxw, int *out)
{
    int v = 0, w = 0;
    while (*i < n && w < maxw && s[*i] >= '0' && s[*i] <= '9') {
        v = v * 10 + (s[*i] - '0');
        (*i)++;
        w++;
    }
    if (w < minw) return 0;
    *out = v;
    return 1;
}

/* IANA zone conversion through the C library (TZ set for the process while ingesting),
 * cached per local hour: offsets only change on hour boundaries in practice. */
static char tz_current[64];
static char *tz_saved;
static int tz_saved_set;
static struct {
    int64_t hour;
    int64_t offset;
} tz_cache[4096];

static void tz_select(const char *name)
{
    if (strcmp(tz_current, name) == 0) return;
    if (!tz_saved_set) {
        const char *old = getenv("TZ");
        tz_saved = old ? strdup(old) : NULL;
        tz_saved_set = 1;
    }
    setenv("TZ", name, 1);
    tzset();
    snprintf(tz_current, sizeof tz_current, "%s", name);
    for (size_t i = 0; i < sizeof tz_cache / sizeof tz_cache[0]; i++) tz_cache[i].hour = INT64_MIN;
}

void ing_tz_restore(void)
{
    if (!tz_saved_set) return;
    if (tz_saved) setenv("TZ", tz_saved, 1);
    else unsetenv("TZ");
    tzset();
    free(tz_saved);
    tz_saved = NULL;
    tz_saved_set = 0;
    tz_current[0] = 0;
}

static int64_t tz_offset_of_local(int64_t local)
{
    int64_t hour = local >= 0 ? local / 3600 : -((-local + 3599) / 3600);
    size_t slot = (size_t)((uint64_t)hour % (sizeof tz_cache / sizeof tz_cache[0]));
    if (tz_cache[slot].hour == hour) return tz_cache[slot].offset;
    time_t h = (time_t)(hour * 3600);
    struct tm tm;
    gmtime_r(&h, &tm);
    tm.tm_isdst = -1;
    time_t u = mktime(&tm);
    int64_t off = (int64_t)h - (int64_t)u;
    tz_cache[slot].hour = hour;
    tz_cache[slot].offset = off;
    return off;
}

static int time_finish(const rtn_ingest_mapping *m, int Y, int mo, int d, int H, int M, int S,
                       int pm, int have_z, int64_t z, int64_t *t);

/* "YYYY-MM-DD HH:MM:SS" exactly (19 bytes, no blanks around) under the format
 * "%Y-%m-%d %H:%M:%S": the fields are read at fixed places, which is what the general
 * parser reads from such text. Returns -2 for any other text (the general parser then
 * decides). */
static int parse_time_iso(const rtn_ingest_mapping *m, const char *s, size_t n, int64_t *t)
{
    if (n != 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':')
        return -2;
    static const unsigned char at[14] = {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18};
    int v[14];
    for (int k = 0; k < 14; k++) {
        unsigned c = (unsigned char)s[at[k]] - '0';
        if (c > 9) return -2;
        v[k] = (int)c;
    }
    return time_finish(m, v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3], v[4] * 10 + v[5],
                       v[6] * 10 + v[7], v[8] * 10 + v[9], v[10] * 10 + v[11],
                       v[12] * 10 + v[13], -1, 0, 0, t);
}

int rtn_ingest_parse_time(const rtn_ingest_mapping *m, const char *s, size_t n, int64_t *t)
{
    while (n && isblank((unsigned char)*s)) s++, n--;
    while (n && (isblank((unsigned char)s[n - 1]) || s[n - 1] == '\r')) n--;
    int Y = 1970, mo = 1, d = 1, H = 0, M = 0, S = 0, pm = -1, have_z = 0, have_epoch = 0;
    int64_t z = 0, epoch = 0;
    size_t i = 0;
    static const char *const months[12] = {"january", "february", "march",     "april",
                                           "may",     "june",     "july",      "august",
                                           "september", "october", "november", "december"};
    for (const char *f = m->time_format; *f; f++) {
        if (*f == ' ') {
            while (i < n && isblank((unsigned char)s[i])) i++;
            continue;
        }
        if (*f != '%') {
            if (i >= n || s[i] != *f) return -1;
            i++;
            continue;
        }
        f++;
        switch (*f) {
        case 'Y':
            if (!read_num(s, n, &i, 4, 4, &Y)) return -1;
            break;
        case 'y': {
            int v;
            if (!read_num(s, n, &i, 2, 2, &v)) return -1;
            Y = v < 69 ? 2000 + v : 1900 + v;
            break;
        }
        case 'm':
            if (!read_num(s, n, &i, 1, 2, &mo)) return -1;
            break;
        case 'd':
            if (!read_num(s, n, &i, 1, 2, &d)) return -1;
            break;
        case 'H':
            if (!read_num(s, n, &i, 1, 2, &H)) return -1;
            break;
        case 'M':
            if (!read_num(s, n, &i, 1, 2, &M)) return -1;
            break;
        case 'S':
            if (!read_num(s, n, &i, 1, 2, &S)) return -1;
            break;
        case 'f': {
            int w = 0;
            while (i < n && w < 9 && s[i] >= '0' && s[i] <= '9') i++, w++;
            if (!w) return -1;
            break;
        }
        case 'b':
        case 'B':
        case 'h': {
            int found = -1;
            for (int k = 0; k < 12 && found < 0; k++) {
                size_t L = strlen(months[k]);
                if (n - i >= L && strncasecmp(s + i, months[k], L) == 0) found = k, i += L;
                else if (n - i >= 3 && strncasecmp(s + i, months[k], 3) == 0) found = k, i += 3;
            }
            if (found < 0) return -1;
            mo = found + 1;
            break;
        }
        case 'p':
            if (n - i >= 2 && strncasecmp(s + i, "AM", 2) == 0) pm = 0;
            else if (n - i >= 2 && strncasecmp(s + i, "PM", 2) == 0) pm = 1;
            else return -1;
            i += 2;
            break;
        case 'z':
            if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
                i++;
                z = 0;
            } else if (i < n && (s[i] == '+' || s[i] == '-')) {
                int sign = s[i++] == '-' ? -1 : 1, zh, zm;
                if (!read_num(s, n, &i, 2, 2, &zh)) return -1;
                if (i < n && s[i] == ':') i++;
                if (!read_num(s, n, &i, 2, 2, &zm)) return -1;
                if (zh > 18 || zm > 59) return -1;
                z = sign * (zh * 3600 + zm * 60);
            } else {
                return -1;
            }
            have_z = 1;
            break;
        case 's': {
            int neg = 0, w = 0;
            if (i < n && s[i] == '-') neg = 1, i++;
            uint64_t v = 0;
            while (i < n && s[i] >= '0' && s[i] <= '9' && w < 15) v = v * 10 + (uint64_t)(s[i++] - '0'), w++;
            if (!w) return -1;
            epoch = neg ? -(int64_t)v : (int64_t)v;
            have_epoch = 1;
            break;
        }
        case '%':
            if (i >= n || s[i] != '%') return -1;
            i++;
            break;
        default: return -1;
        }
    }
    if (i != n) return -1;
    if (have_epoch) {
        *t = epoch;
        return 0;
    }
    return time_finish(m, Y, mo, d, H, M, S, pm, have_z, z, t);
}

/* Checks the fields of a parsed date and time and converts them to UTC seconds. */
static int time_finish(const rtn_ingest_mapping *m, int Y, int mo, int d, int H, int M, int S,
                       int pm, int have_z, int64_t z, int64_t *t)
{
    if (pm >= 0) {
        if (H < 1 || H > 12) return -1;
        H = H % 12 + (pm ? 12 : 0);
    }
    if (Y < 1 || mo < 1 || mo > 12 || d < 1 || (unsigned)d > days_in_month(Y, (unsigned)mo) ||
        H > 23 || M > 59 || S > 59)
        return -1;
    int64_t local = rtn_days_from_civil(Y, (unsigned)mo, (unsigned)d) * 86400 + H * 3600 +
                    M * 60 + S;
    if (have_z) *t = local - z;
    else if (m->tz_kind == RTN_TZ_OFFSET) *t = local - m->tz_offset;
    else if (m->tz_kind == RTN_TZ_NAME) {
        tz_select(m->tz_name);
        *t = local - tz_offset_of_local(local);
    } else *t = local;
    return 0;
}

/* ================================================================== conversion */

int rtn_ingest_channel_code(const char *s, size_t n)
{
    static const struct {
        const char *name;
        int code;
    } names[] = {{"0", 0},      {"store", 0},      {"in-store", 0}, {"instore", 0},
                 {"pos", 0},    {"offline", 0},    {"1", 1},        {"online", 1},
                 {"web", 1},    {"e-commerce", 1}, {"ecommerce", 1}, {"2", 2},
                 {"app", 2},    {"mobile", 2}};
    while (n && isblank((unsigned char)*s)) s++, n--;
    while (n && isblank((unsigned char)s[n - 1])) n--;
    /* the spellings of the generated exports first */
    if (n == 8 && memcmp(s, "in-store", 8) == 0) return 0;
    if (n == 6 && memcmp(s, "online", 6) == 0) return 1;
    if (n == 3 && memcmp(s, "app", 3) == 0) return 2;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == n && strncasecmp(names[i].name, s, n) == 0)
            return names[i].code;
    return -1;
}

uint64_t rtn_ingest_basket_key(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return rtn_mix64(h);
}

static void trim(const char **p, size_t *n)
{
    const char *s = *p;
    size_t k = *n;
    while (k && (*s == ' ' || *s == '\t')) s++, k--;
    while (k && (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '\r')) k--;
    *p = s;
    *n = k;
}

/* Printable excerpt of a field for reject details. */
static void excerpt(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c >= 32 && c != 127) ? (char)c : '?';
    }
    if (n && o + 4 >= cap) out[o++] = '.', out[o++] = '.';
    out[o] = 0;
}

#define FIELD(r) \
    (m->col[r] >= 0 ? rec->f[m->col[r]] : (rtn_csv_field){"", 0})

/* What consecutive rows often share (the rows of one basket): the time text and its
 * value. */
typedef struct {
    int iso;        /* the mapping's time format is "%Y-%m-%d %H:%M:%S" */
    int have_time;
    size_t time_len;
    char time_text[40];
    int64_t time;
} conv_cache;

static rtn_reject_reason convert(const rtn_ingest_mapping *m, const rtn_csv_record *rec,
                                 rtn_ingest_row *row, char *detail, size_t dn, conv_cache *cc);

rtn_reject_reason rtn_ingest_convert(const rtn_ingest_mapping *m, const rtn_csv_record *rec,
                                     rtn_ingest_row *row, char *detail, size_t dn)
{
    return convert(m, rec, row, detail, dn, NULL);
}

static int convert_time(const rtn_ingest_mapping *m, const char *s, size_t n, int64_t *t,
                        conv_cache *cc)
{
    if (!cc) return rtn_ingest_parse_time(m, s, n, t);
    if (cc->have_time && n == cc->time_len && eq_bytes(s, cc->time_text, n)) {
        *t = cc->time;
        return 0;
    }
    int r = cc->iso ? parse_time_iso(m, s, n, t) : -2;
    if (r == -2) r = rtn_ingest_parse_time(m, s, n, t);
    if (r == 0 && n <= sizeof cc->time_text) {
        memcpy(cc->time_text, s, n);
        cc->time_len = n;
        cc->time = *t;
        cc->have_time = 1;
    }
    return r;
}

static rtn_reject_reason convert(const rtn_ingest_mapping *m, const rtn_csv_record *rec,
                                 rtn_ingest_row *row, char *detail, size_t dn, conv_cache *cc)
{
    char ex[48];
    detail[0] = 0;
    row->rounded = 0;
    row->is_return = 0;
    if ((int)rec->nfields != m->ncolumns) {
        snprintf(detail, dn, "%zu fields, expected %d", rec->nfields, m->ncolumns);
        return RTN_REJ_WRONG_COLUMN_COUNT;
    }
    rtn_csv_field f = FIELD(RTN_ING_CUSTOMER);
    row->customer = rtn_customer_id_normalize(f.p, f.len, &row->customer_len);
    if (row->customer_len == 0) {
        snprintf(detail, dn, "%s is empty", m->column[RTN_ING_CUSTOMER]);
        return RTN_REJ_MISSING_CUSTOMER;
    }
    if (row->customer_len > 256) {
        snprintf(detail, dn, "%s is %zu bytes long (at most 256)", m->column[RTN_ING_CUSTOMER],
                 row->customer_len);
        return RTN_REJ_BAD_CUSTOMER;
    }
    f = FIELD(RTN_ING_TIME);
    if (convert_time(m, f.p, f.len, &row->time, cc) != 0) {
        excerpt(ex, sizeof ex, f.p, f.len);
        snprintf(detail, dn, "%s '%s' does not match '%s' or is not a valid date",
                 m->column[RTN_ING_TIME], ex, m->time_format);
        return RTN_REJ_BAD_DATE;
    }
    int64_t q = 1;
    if (m->col[RTN_ING_QUANTITY] >= 0) {
        f = FIELD(RTN_ING_QUANTITY);
        int64_t mant;
        int sc;
        int r = rtn_ingest_parse_decimal(f.p, f.len, &mant, &sc);
        int ok = r == 0;
        if (ok && sc > 0) { /* "6.0" is whole, "6.5" is not */
            if (sc > 18 || mant % pow10_i64[sc] != 0) ok = 0;
            else mant /= pow10_i64[sc];
        }
        if (!ok || mant < INT32_MIN || mant > INT32_MAX) {
            excerpt(ex, sizeof ex, f.p, f.len);
            snprintf(detail, dn, "%s '%s' is not a whole number in the 32-bit range",
                     m->column[RTN_ING_QUANTITY], ex);
            return RTN_REJ_BAD_QUANTITY;
        }
        q = mant;
    }
    int64_t amount;
    if (m->col[RTN_ING_AMOUNT] >= 0) {
        f = FIELD(RTN_ING_AMOUNT);
        int64_t mant;
        int sc, r = rtn_ingest_parse_decimal(f.p, f.len, &mant, &sc);
        if (r == 0) r = rtn_ingest_to_minor(mant, sc, m->currency_exponent, m->round_half_even,
                                            &amount);
        if (r < 0) {
            excerpt(ex, sizeof ex, f.p, f.len);
            snprintf(detail, dn, "%s '%s' is %s", m->column[RTN_ING_AMOUNT], ex,
                     r == -1 ? "not a decimal number, or not a whole number of minor units"
                             : "out of range");
            return RTN_REJ_BAD_AMOUNT;
        }
        row->rounded = r == 1;
    } else if (m->amount_const[0]) {
        amount = m->amount_const_minor; /* an event log without spend maps 0 here */
        row->rounded = 0;
    } else {
        f = FIELD(RTN_ING_UNIT_PRICE);
        int64_t mant;
        int sc, r = rtn_ingest_parse_decimal(f.p, f.len, &mant, &sc);
        if (r != 0) {
            excerpt(ex, sizeof ex, f.p, f.len);
            snprintf(detail, dn, "%s '%s' is not a decimal number", m->column[RTN_ING_UNIT_PRICE],
                     ex);
            return RTN_REJ_BAD_PRICE;
        }
        r = rtn_ingest_to_minor((__int128)mant * q, sc, m->currency_exponent, m->round_half_even,
                                &amount);
        if (r < 0) {
            snprintf(detail, dn, "quantity x unit price %s", r == -1
                     ? "is not a whole number of minor units (amount_rounding = reject)"
                     : "is out of range");
            return RTN_REJ_BAD_AMOUNT;
        }
        row->rounded = r == 1;
    }
    row->quantity = (int32_t)q;
    row->amount = amount;

    f = FIELD(RTN_ING_BASKET);
    trim(&f.p, &f.len);
    row->basket = f.p;
    row->basket_len = f.len;
    size_t rp = strlen(m->return_prefix);
    if (rp && f.len >= rp && memcmp(f.p, m->return_prefix, rp) == 0) {
        row->is_return = 1;
        if (row->quantity > 0) row->quantity = -row->quantity;
        if (row->amount > 0) row->amount = -row->amount;
    }
    f = FIELD(RTN_ING_ITEM);
    trim(&f.p, &f.len);
    row->item = f.p;
    row->item_len = f.len;
    f = FIELD(RTN_ING_STORE);
    trim(&f.p, &f.len);
    row->store = f.p;
    row->store_len = f.len;
    if (m->col[RTN_ING_CATEGORY] >= 0) {
        f = FIELD(RTN_ING_CATEGORY);
        trim(&f.p, &f.len);
        row->category = f.p;
        row->category_len = f.len;
    } else if (m->category_item_prefix > 0) {
        size_t k = 0;
        if (row->item_len && row->item[0] >= '0' && row->item[0] <= '9') {
            k = row->item_len < (size_t)m->category_item_prefix ? row->item_len
                                                                 : (size_t)m->category_item_prefix;
            memcpy(row->category_buf, row->item, k);
        } else if (row->item_len) {
            k = strlen("non-product");
            memcpy(row->category_buf, "non-product", k);
        }
        row->category_buf[k] = 0;
        row->category = row->category_buf;
        row->category_len = k;
    } else {
        row->category = m->category_const;
        row->category_len = strlen(m->category_const);
    }
    if (row->item_len >= RTN_ING_NAME_MAX || row->store_len >= RTN_ING_NAME_MAX ||
        row->category_len >= RTN_ING_NAME_MAX || row->basket_len >= RTN_ING_NAME_MAX) {
        snprintf(detail, dn, "item, category, store or basket longer than %d bytes",
                 RTN_ING_NAME_MAX - 1);
        return RTN_REJ_FIELD_TOO_LONG;
    }
    if (m->col[RTN_ING_CHANNEL] >= 0) {
        f = FIELD(RTN_ING_CHANNEL);
        int ch = rtn_ingest_channel_code(f.p, f.len);
        if (ch < 0) {
            excerpt(ex, sizeof ex, f.p, f.len);
            snprintf(detail, dn, "%s '%s' is not in-store, online or app (or 0, 1, 2)",
                     m->column[RTN_ING_CHANNEL], ex);
            return RTN_REJ_BAD_CHANNEL;
        }
        row->channel = (int8_t)ch;
    } else {
        row->channel = (int8_t)m->channel_const;
    }
    return RTN_REJ_NONE;
}
#undef FIELD

/* ================================================================== pipeline */







uint64_t ing_str_hash(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return rtn_mix64(h);
}

void ing_st_free(strtab *t)
{
    free(t->slots);
    free(t->e);
    free(t->arena);
    memset(t, 0, sizeof *t);
}

static int st_grow_slots(strtab *t)
{
    size_t ns = t->mask ? (t->mask + 1) * 2 : 1024;
    uint32_t *s = calloc(ns, sizeof *s);
    if (!s) return 0;
    for (size_t i = 0; i < t->n; i++) {
        size_t j = t->e[i].h & (ns - 1);
        while (s[j]) j = (j + 1) & (ns - 1);
        s[j] = (uint32_t)(i + 1);
    }
    free(t->slots);
    t->slots = s;
    t->mask = ns - 1;
    return 1;
}

int ing_st_find_add(strtab *t, const char *s, size_t n, uint64_t h, size_t *idx)
{
    if (!t->slots || (t->n + 1) * 2 > t->mask + 1) {
        if (t->n >= UINT32_MAX - 1 || !st_grow_slots(t)) return -1;
    }
    size_t j = h & t->mask;
    while (t->slots[j]) {
        st_entry *e = &t->e[t->slots[j] - 1];
        if (e->h == h && e->len == n && eq_bytes(t->arena + e->off, s, n)) {
            *idx = t->slots[j] - 1;
            return 0;
        }
        j = (j + 1) & t->mask;
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 1024;
        st_entry *ne = realloc(t->e, nc * sizeof *ne);
        if (!ne) return -1;
        t->e = ne;
        t->cap = nc;
    }
    if (t->alen + n + 1 > t->acap) {
        size_t na = t->acap ? t->acap : 16384;
        while (na < t->alen + n + 1) na *= 2;
        char *a = realloc(t->arena, na);
        if (!a) return -1;
        t->arena = a;
        t->acap = na;
    }
    memcpy(t->arena + t->alen, s, n);
    t->arena[t->alen + n] = 0;
    t->e[t->n] = (st_entry){h, 0, t->alen, (uint32_t)n};
    t->alen += n + 1;
    t->slots[j] = (uint32_t)(t->n + 1);
    *idx = t->n++;
    return 1;
}



/* The words of a string of 1..24 bytes (exact: with n they determine the bytes). */
static inline int short_key(const char *s, size_t n, uint64_t w[3])
{
    w[0] = w[1] = w[2] = 0;
    if (n <= 3) {
        w[0] = (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[n >> 1] << 8 |
               (uint64_t)(unsigned char)s[n - 1] << 16;
    } else if (n <= 8) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        w[0] = a | (uint64_t)b << 32;
    } else if (n <= 16) {
        memcpy(&w[0], s, 8);
        memcpy(&w[1], s + n - 8, 8);
    } else if (n <= 24) {
        memcpy(&w[0], s, 8);
        memcpy(&w[1], s + 8, 8);
        memcpy(&w[2], s + n - 8, 8);
    } else {
        return 0;
    }
    return 1;
}


/* Row arrays are large (hundreds of MB) and first touches of fresh pages are expensive
 * (about 0.5 s per GB on the benchmark VM), so a run uses two row arrays and reuses them
 * across phases instead of allocating per phase. (Transparent huge pages were tried: on
 * the VM, fresh 2 MiB pages cost more to clear than the 4 KiB faults they save.) */
static ing_row *rows_alloc(size_t n)
{
    return malloc((n ? n : 1) * sizeof(ing_row));
}

/* Ensures *cap >= need; the first `keep` rows are preserved. */
int ing_rows_reserve(ing_row **p, size_t *cap, size_t need, size_t keep)
{
    if (need <= *cap && *p) return 1;
    size_t nc = *cap ? *cap : 65536;
    while (nc < need) nc *= 2;
    ing_row *q = rows_alloc(nc);
    if (!q) return 0;
    if (keep) memcpy(q, *p, keep * sizeof *q);
    free(*p);
    *p = q;
    *cap = nc;
    return 1;
}

static int push_row(ictx *c, const ing_row *r)
{
    if (c->nrows == c->caprows && !ing_rows_reserve(&c->rows, &c->caprows, c->nrows + 1, c->nrows))
        return 0;
    c->rows[c->nrows++] = *r;
    return 1;
}

int ing_push_reject(ictx *c, uint16_t file, uint64_t line, uint64_t off, size_t rawlen,
                    rtn_reject_reason reason, const char *detail)
{
    if (c->nrej == c->caprej) {
        size_t nc = c->caprej ? c->caprej * 2 : 1024;
        ing_reject *p = realloc(c->rej, nc * sizeof *p);
        if (!p) return 0;
        c->rej = p;
        c->caprej = nc;
    }
    ing_reject *j = &c->rej[c->nrej++];
    memset(j, 0, sizeof *j);
    j->line = line;
    j->off = off;
    j->rawlen = (uint32_t)(rawlen < RAW_MAX ? rawlen : RAW_MAX);
    j->file = file;
    j->reason = (uint8_t)reason;
    snprintf(j->detail, sizeof j->detail, "%s", detail);
    return 1;
}

static rtn_status intern_dict(ictx *c, int k, const char *s, size_t n, int32_t *id)
{
    if (n == 0) {
        *id = -1;
        return RTN_OK;
    }
    uint64_t w[3];
    dc_entry *ce = NULL;
    if (short_key(s, n, w)) {
        uint64_t h = (w[0] * 0x9E3779B97F4A7C15ULL) ^ (w[1] * 0xC2B2AE3D27D4EB4FULL) ^
                     (w[2] * 0x165667B19E3779F9ULL) ^ n;
        ce = &c->dcache[k][(h ^ (h >> 29)) * 0xBF58476D1CE4E5B9ULL >> 54]; /* 10 bits */
        if (ce->n == n && ce->w[0] == w[0] && ce->w[1] == w[1] && ce->w[2] == w[2]) {
            *id = ce->id;
            return RTN_OK;
        }
    }
    strtab *t = &c->dict[k];
    size_t last = c->dict_last[k];
    size_t idx;
    if (last < t->n && t->e[last].len == n && eq_bytes(t->arena + t->e[last].off, s, n)) {
        idx = last;
    } else {
        if (ing_st_find_add(t, s, n, ing_str_hash(s, n), &idx) < 0)
            return rtn_fail(RTN_ERR_NOMEM, "out of memory in the dictionaries");
        if (idx > INT32_MAX)
            return rtn_fail(RTN_ERR_DATA, "more than 2^31 distinct dictionary values");
        c->dict_last[k] = idx;
    }
    if (ce) *ce = (dc_entry){{w[0], w[1], w[2]}, (uint32_t)n, (int32_t)idx};
    *id = (int32_t)idx;
    return RTN_OK;
}

static rtn_status pseudonym(ictx *c, const char *s, size_t n, uint64_t *out)
{
    if (c->have_last && c->last_len == n && eq_bytes(c->last_id, s, n)) {
        *out = c->last_pseudo;
        return RTN_OK;
    }
    size_t idx;
    int r = ing_st_find_add(&c->cust, s, n, ing_str_hash(s, n), &idx);
    if (r < 0) return rtn_fail(RTN_ERR_NOMEM, "out of memory in the pseudonym cache");
    if (r == 1) c->cust.e[idx].val = rtn_pseudo_of(c->pz, s, n);
    *out = c->cust.e[idx].val;
    memcpy(c->last_id, s, n);
    c->last_len = n;
    c->last_pseudo = *out;
    c->have_last = 1;
    return RTN_OK;
}

/* Parses the records of one rank's share: those starting at p .. e (inclusive). */
static rtn_status parse_range(ictx *c, uint16_t fi, const rtn_ingest_mapping *m, const char *buf,
                              size_t len, size_t p, size_t e, counters *k, size_t *endpos)
{
    rtn_csv_record *rec = &c->rec;
    rtn_ingest_row row;
    char detail[112];
    conv_cache cc;
    memset(&cc, 0, sizeof cc);
    cc.iso = strcmp(m->time_format, "%Y-%m-%d %H:%M:%S") == 0;
    /* the basket key of the previous row, reused by the other rows of its basket */
    char last_basket[RTN_ING_NAME_MAX];
    size_t last_basket_len = SIZE_MAX;
    uint64_t last_basket_key = 0;
    size_t pos = p;
    size_t next_progress = pos + (64u << 20);
    while (pos < len && pos <= e) {
        rtn_csv_result res = rtn_csv_next(&m->dialect, buf, len, pos, rec);
        if (res == RTN_CSV_ERR_NOMEM) return rtn_fail(RTN_ERR_NOMEM, "out of memory parsing CSV");
        uint64_t line = k->newlines;
        k->newlines += rec->newlines;
        pos = rec->end;
        if (res == RTN_CSV_RECORD && rec->blank) {
            k->blank++;
            continue;
        }
        k->rows_read++;
        rtn_reject_reason why = RTN_REJ_NONE;
        detail[0] = 0;
        if (res == RTN_CSV_ERR_UNTERMINATED_QUOTE) {
            why = RTN_REJ_UNTERMINATED_QUOTE;
            snprintf(detail, sizeof detail, "a quoted field is not closed before the end of the file");
        } else if (res == RTN_CSV_ERR_BAD_QUOTE) {
            why = RTN_REJ_BAD_QUOTE;
            snprintf(detail, sizeof detail, "text between a closing quote and the next delimiter");
        } else if (res == RTN_CSV_ERR_TOO_MANY_FIELDS) {
            why = RTN_REJ_WRONG_COLUMN_COUNT;
            snprintf(detail, sizeof detail, "more than %d fields, expected %d", RTN_CSV_MAX_FIELDS,
                     m->ncolumns);
        } else {
            size_t bad = rec->ascii ? 0 : rtn_utf8_check(buf + rec->start, rec->raw_len);
            if (bad) {
                why = RTN_REJ_BAD_UTF8;
                snprintf(detail, sizeof detail, "%s at byte %zu of the record",
                         buf[rec->start + bad - 1] ? "invalid UTF-8" : "NUL byte", bad);
            } else {
                why = convert(m, rec, &row, detail, sizeof detail, &cc);
            }
        }
        if (why != RTN_REJ_NONE) {
            k->by_reason[why]++;
            if (!ing_push_reject(c, fi, line, rec->start, rec->raw_len, why, detail))
                return rtn_fail(RTN_ERR_NOMEM, "out of memory recording rejects");
            continue;
        }
        ing_row r;
        memset(&r, 0, sizeof r);
        RTN_TRY(pseudonym(c, row.customer, row.customer_len, &r.customer));
        RTN_TRY(intern_dict(c, 0, row.item, row.item_len, &r.item));
        RTN_TRY(intern_dict(c, 1, row.category, row.category_len, &r.category));
        RTN_TRY(intern_dict(c, 2, row.store, row.store_len, &r.store));
        r.time = row.time;
        r.amount = row.amount;
        r.quantity = row.quantity;
        r.channel = row.channel;
        if (!row.basket_len) {
            r.basket = rtn_mix64(r.customer ^ rtn_mix64((uint64_t)r.time));
        } else if (row.basket_len == last_basket_len &&
                   eq_bytes(row.basket, last_basket, row.basket_len)) {
            r.basket = last_basket_key;
        } else {
            r.basket = rtn_ingest_basket_key(row.basket, row.basket_len);
            memcpy(last_basket, row.basket, row.basket_len); /* < RTN_ING_NAME_MAX (convert) */
            last_basket_len = row.basket_len;
            last_basket_key = r.basket;
        }
        r.line = line;
        r.off = rec->start;
        r.rawlen = (uint32_t)(rec->raw_len < RAW_MAX ? rec->raw_len : RAW_MAX);
        r.file = fi;
        r.bucket = rtn_bucket_of(r.customer, c->B);
        if (!push_row(c, &r)) return rtn_fail(RTN_ERR_NOMEM, "out of memory holding rows");
        c->bucket_cnt[r.bucket]++;
        k->accepted++;
        k->returns += row.is_return;
        k->rounded += row.rounded;
        if (pos >= next_progress) {
            rtn_progress_update(&c->prog, c->bytes_done + (double)(pos - p));
            next_progress = pos + (64u << 20);
        }
    }
    *endpos = pos;
    return RTN_OK;
}

static void counters_add(counters *a, const counters *b)
{
    uint64_t *x = (uint64_t *)a;
    const uint64_t *y = (const uint64_t *)b;
    for (int i = 0; i < NCOUNTERS; i++) x[i] += y[i];
}

/* Maps a file read-only (NULL map for an empty file). */
rtn_status ing_map_file(in_file *f)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rtn_fail(RTN_ERR_IO, "cannot open input '%s': %s", f->path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return rtn_fail(RTN_ERR_IO, "input '%s' is not a regular file", f->path);
    }
    f->len = (size_t)sb.st_size;
    f->map = NULL;
    if (f->len) {
        void *p = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return rtn_fail(RTN_ERR_IO, "cannot map input '%s': %s", f->path, strerror(e));
        }
        f->map = p;
    }
    close(fd);
    return RTN_OK;
}

/* One rank's share of a transaction file, for ing_parse_ranges. */
typedef struct {
    ictx *c;
    uint16_t fi;
    const rtn_ingest_mapping *m;
    const in_file *f;
    counters *k;
    size_t mark_rows, mark_rej;
} txn_range;

static rtn_status txn_parse(void *ctx, size_t p, size_t e, size_t *endpos)
{
    txn_range *t = ctx;
    return parse_range(t->c, t->fi, t->m, t->f->map, t->f->len, p, e, t->k, endpos);
}

static void txn_discard(void *ctx)
{
    txn_range *t = ctx;
    t->c->discarded = 1;
    t->c->nrows = t->mark_rows;
    t->c->nrej = t->mark_rej;
    memset(t->k, 0, sizeof *t->k);
}

rtn_status ing_process_file(ictx *c, uint16_t fi)
{
    in_file *f = &c->files[fi];
    rtn_ingest_mapping m = c->opt->mapping;
    rtn_status st = ing_map_file(f);
    if (st == RTN_OK && f->len == 0)
        st = rtn_fail(RTN_ERR_DATA, "input '%s' is empty (0 bytes)", f->path);
    size_t data_start = 0;
    uint64_t hdr_nl = 0;
    if (st == RTN_OK) {
        size_t bom = rtn_csv_bom(f->map, f->len);
        rtn_csv_result res = rtn_csv_next(&m.dialect, f->map, f->len, bom, &c->rec);
        if (m.header) {
            if (res == RTN_CSV_EOF || c->rec.blank)
                st = rtn_fail(RTN_ERR_DATA, "input '%s': no header line", f->path);
            else if (res != RTN_CSV_RECORD)
                st = rtn_fail(RTN_ERR_FORMAT, "input '%s': the header line is not valid CSV (%s)",
                              f->path, res == RTN_CSV_ERR_UNTERMINATED_QUOTE
                                           ? "unterminated quote" : "malformed quoting or too "
                                           "many fields");
            if (st == RTN_OK) {
                size_t bad = rtn_utf8_check(f->map + c->rec.start, c->rec.raw_len);
                if (bad)
                    st = rtn_fail(RTN_ERR_FORMAT, "input '%s': the header line is not UTF-8 text "
                                  "(byte %zu); is this a CSV file?", f->path, bad);
            }
            if (st == RTN_OK) {
                char where[RTN_PATH_MAX + 16];
                snprintf(where, sizeof where, "input '%s'", f->path);
                st = rtn_ingest_mapping_resolve(&m, &c->rec, where);
                data_start = c->rec.end;
                hdr_nl = c->rec.newlines;
            }
        } else {
            char where[RTN_PATH_MAX + 16];
            snprintf(where, sizeof where, "input '%s'", f->path);
            st = rtn_ingest_mapping_resolve(&m, res == RTN_CSV_RECORD ? &c->rec : NULL, where);
            data_start = bom;
        }
    }
    st = rtn_agree(c->comm, st);
    if (st) return st;

    /* room for the rows of this range at once (rows are rarely shorter than 48 bytes) */
    const size_t mark_rows = c->nrows, mark_rej = c->nrej;
    const size_t share = (f->len - data_start) / (size_t)c->size + 1;
    if (!ing_rows_reserve(&c->rows, &c->caprows, c->nrows + share / 48 + 1024, c->nrows))
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory holding rows");
    st = rtn_agree(c->comm, st);
    if (st) return st;
    counters k;
    memset(&k, 0, sizeof k);
    txn_range tr = {c, fi, &m, f, &k, mark_rows, mark_rej};
    const ing_range_parser rp = {txn_parse, txn_discard, &tr};
    size_t s = 0, e = 0;
    const char quote = m.dialect.whitespace ? 0 : m.dialect.quote;
    st = ing_parse_ranges(c->comm, f->map, f->len, data_start, quote, &rp, f->path, &s, &e);
    if (st) return st;

    /* Original line numbers: 1 + newlines before the record. */
    uint64_t nl_before = 0;
    MPI_Exscan(&k.newlines, &nl_before, 1, MPI_UINT64_T, MPI_SUM, c->comm);
    if (c->rank == 0) nl_before = 0;
    const uint64_t base = 1 + hdr_nl + nl_before;
    for (size_t i = mark_rows; i < c->nrows; i++) c->rows[i].line += base;
    for (size_t i = mark_rej; i < c->nrej; i++) c->rej[i].line += base;
    f->rows_read = k.rows_read;
    f->rejected = k.rows_read - k.accepted;
    counters_add(&c->tot, &k);
    c->bytes_done += (double)(e - s);
    return RTN_OK;
}
