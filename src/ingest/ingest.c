/* `retain ingest` (include/retain/ingest.h, docs/ingest.md): mappings, exact decimal and
 * date parsing, row conversion, and the parallel pipeline (split, parse, dictionaries,
 * shuffle, sort, de-duplicate, write). */
#include "retain/ingest.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
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

const char *const rtn_ingest_role_names[RTN_ING_NROLES] = {
    "customer", "time", "amount", "quantity", "unit_price",
    "item", "category", "store", "channel", "basket"};

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

/* ================================================================== mappings */

static void mapping_defaults(rtn_ingest_mapping *m)
{
    memset(m, 0, sizeof *m);
    m->dialect.delim = ',';
    m->dialect.quote = '"';
    m->header = 1;
    for (int r = 0; r < RTN_ING_NROLES; r++) m->col[r] = -1;
    snprintf(m->time_format, sizeof m->time_format, "%%Y-%%m-%%d %%H:%%M:%%S");
    snprintf(m->currency, sizeof m->currency, "XXX");
    m->currency_exponent = 2;
    m->round_half_even = 1;
    m->channel_const = RTN_CHANNEL_STORE;
    m->max_reject_rate = -1;
}

static void set_col(rtn_ingest_mapping *m, rtn_ingest_role r, const char *name)
{
    snprintf(m->column[r], sizeof m->column[r], "%s", name);
}

rtn_status rtn_ingest_mapping_preset(rtn_ingest_mapping *m, const char *name)
{
    mapping_defaults(m);
    snprintf(m->name, sizeof m->name, "preset:%s", name);
    if (strcmp(name, "online-retail") == 0) {
        set_col(m, RTN_ING_CUSTOMER, "CustomerID");
        set_col(m, RTN_ING_TIME, "InvoiceDate");
        set_col(m, RTN_ING_QUANTITY, "Quantity");
        set_col(m, RTN_ING_UNIT_PRICE, "UnitPrice");
        set_col(m, RTN_ING_ITEM, "StockCode");
        set_col(m, RTN_ING_STORE, "Country");
        set_col(m, RTN_ING_BASKET, "InvoiceNo");
        snprintf(m->currency, sizeof m->currency, "GBP");
        snprintf(m->return_prefix, sizeof m->return_prefix, "C");
        m->channel_const = RTN_CHANNEL_ONLINE;
        m->category_item_prefix = 2;
        /* 135,080 of the 541,909 rows (24.9%) have no CustomerID. */
        m->max_reject_rate = 0.30;
        return RTN_OK;
    }
    if (strcmp(name, "cdnow") == 0) {
        m->dialect.whitespace = 1;
        m->dialect.quote = 0;
        set_col(m, RTN_ING_CUSTOMER, "customer_id");
        set_col(m, RTN_ING_TIME, "date");
        set_col(m, RTN_ING_QUANTITY, "number_of_cds");
        set_col(m, RTN_ING_AMOUNT, "dollar_value");
        snprintf(m->time_format, sizeof m->time_format, "%%Y%%m%%d");
        snprintf(m->currency, sizeof m->currency, "USD");
        m->channel_const = RTN_CHANNEL_ONLINE;
        /* No invoice column: identical rows are separate purchases on the same day. */
        m->keep_duplicates = 1;
        return RTN_OK;
    }
    return rtn_fail(RTN_ERR_USAGE, "unknown --format '%s' (known: online-retail, cdnow)", name);
}

static int time_format_ok(const char *f, char *bad)
{
    for (; *f; f++) {
        if (*f != '%') continue;
        f++;
        if (!*f || !strchr("YmdHMSybBhpfzs%", *f)) {
            *bad = *f ? *f : '?';
            return 0;
        }
    }
    return 1;
}

static int parse_channel_name(const char *s, size_t n)
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

static int parse_tz(rtn_ingest_mapping *m, const char *v)
{
    if (strcasecmp(v, "UTC") == 0 || strcasecmp(v, "Z") == 0 || strcmp(v, "+00:00") == 0) {
        m->tz_kind = RTN_TZ_UTC;
        return 1;
    }
    if (v[0] == '+' || v[0] == '-') {
        int h, mi;
        char extra;
        if ((sscanf(v + 1, "%2d:%2d%c", &h, &mi, &extra) == 2 ||
             sscanf(v + 1, "%2d%2d%c", &h, &mi, &extra) == 2) &&
            h <= 18 && mi < 60) {
            m->tz_kind = RTN_TZ_OFFSET;
            m->tz_offset = (v[0] == '-' ? -1 : 1) * (h * 3600 + mi * 60);
            return 1;
        }
        return 0;
    }
    /* IANA name: must exist in the zone database, glibc falls back to UTC silently */
    if (strstr(v, "..") || strlen(v) >= sizeof m->tz_name) return 0;
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", v);
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return 0;
    m->tz_kind = RTN_TZ_NAME;
    snprintf(m->tz_name, sizeof m->tz_name, "%s", v);
    return 1;
}

typedef struct {
    rtn_ingest_mapping *m;
    char err[512];
} ini_ctx;

static int parse_bool(const char *v, int *out)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1") || !strcasecmp(v, "on"))
        *out = 1;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0") ||
             !strcasecmp(v, "off"))
        *out = 0;
    else
        return 0;
    return 1;
}

static int mapping_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx *c = user;
    rtn_ingest_mapping *m = c->m;
#define BAD(...)                                                                           \
    do {                                                                                   \
        snprintf(c->err, sizeof c->err, __VA_ARGS__);                                      \
        return 0;                                                                          \
    } while (0)
    if (strcasecmp(section, "columns") == 0) {
        for (int r = 0; r < RTN_ING_NROLES; r++)
            if (strcasecmp(name, rtn_ingest_role_names[r]) == 0) {
                if (strlen(value) >= RTN_ING_NAME_MAX) BAD("[columns] %s: name too long", name);
                set_col(m, (rtn_ingest_role)r, value);
                return 1;
            }
        BAD("[columns] unknown role '%s' (known: customer, time, amount, quantity, unit_price, "
            "item, category, store, channel, basket)", name);
    }
    if (strcasecmp(section, "input") == 0) {
        if (!strcasecmp(name, "delimiter")) {
            m->dialect.whitespace = 0;
            if (!strcasecmp(value, "comma") || !strcmp(value, ",")) m->dialect.delim = ',';
            else if (!strcasecmp(value, "semicolon") || !strcmp(value, ";")) m->dialect.delim = ';';
            else if (!strcasecmp(value, "tab") || !strcmp(value, "\\t")) m->dialect.delim = '\t';
            else if (!strcasecmp(value, "pipe") || !strcmp(value, "|")) m->dialect.delim = '|';
            else if (!strcasecmp(value, "whitespace")) {
                m->dialect.whitespace = 1;
                m->dialect.quote = 0;
            } else
                BAD("[input] delimiter '%s' is not one of comma, semicolon, tab, pipe, "
                    "whitespace", value);
            return 1;
        }
        if (!strcasecmp(name, "quote")) {
            if (!strcasecmp(value, "none")) m->dialect.quote = 0;
            else if (!strcmp(value, "\"") || !strcasecmp(value, "double")) m->dialect.quote = '"';
            else if (!strcmp(value, "'") || !strcasecmp(value, "single")) m->dialect.quote = '\'';
            else BAD("[input] quote '%s' is not one of \", ', none", value);
            return 1;
        }
        if (!strcasecmp(name, "header")) {
            if (!parse_bool(value, &m->header)) BAD("[input] header '%s' is not true/false", value);
            return 1;
        }
        if (!strcasecmp(name, "columns")) {
            char *e;
            long v = strtol(value, &e, 10);
            if (*e || v < 1 || v > RTN_CSV_MAX_FIELDS)
                BAD("[input] columns '%s' is not a number in [1, %d]", value, RTN_CSV_MAX_FIELDS);
            m->ncolumns = (int)v;
            return 1;
        }
        BAD("[input] unknown key '%s' (known: delimiter, quote, header, columns)", name);
    }
    if (strcasecmp(section, "values") == 0) {
        if (!strcasecmp(name, "time_format")) {
            char bad;
            if (strlen(value) >= sizeof m->time_format || !*value)
                BAD("[values] time_format is empty or too long");
            if (!time_format_ok(value, &bad))
                BAD("[values] time_format '%s': unsupported directive %%%c (supported: %%Y %%m "
                    "%%d %%H %%M %%S %%y %%b %%p %%f %%z %%s %%%%)", value, bad);
            snprintf(m->time_format, sizeof m->time_format, "%s", value);
            return 1;
        }
        if (!strcasecmp(name, "timezone")) {
            if (!parse_tz(m, value))
                BAD("[values] timezone '%s' is not UTC, an offset like +01:00, or a zone name "
                    "found in the time zone database", value);
            return 1;
        }
        if (!strcasecmp(name, "currency")) {
            if (strlen(value) != 3) BAD("[values] currency '%s' is not an ISO 4217 code", value);
            snprintf(m->currency, sizeof m->currency, "%s", value);
            return 1;
        }
        if (!strcasecmp(name, "currency_exponent")) {
            char *e;
            long v = strtol(value, &e, 10);
            if (*e || v < 0 || v > 6) BAD("[values] currency_exponent '%s' is not in [0, 6]", value);
            m->currency_exponent = (int)v;
            return 1;
        }
        if (!strcasecmp(name, "amount_rounding")) {
            if (!strcasecmp(value, "half-even")) m->round_half_even = 1;
            else if (!strcasecmp(value, "reject")) m->round_half_even = 0;
            else BAD("[values] amount_rounding '%s' is not half-even or reject", value);
            return 1;
        }
        if (!strcasecmp(name, "return_prefix")) {
            if (strlen(value) >= sizeof m->return_prefix) BAD("[values] return_prefix too long");
            snprintf(m->return_prefix, sizeof m->return_prefix, "%s", value);
            return 1;
        }
        if (!strcasecmp(name, "channel")) {
            int ch = parse_channel_name(value, strlen(value));
            if (ch < 0) BAD("[values] channel '%s' is not in-store, online or app", value);
            m->channel_const = ch;
            return 1;
        }
        if (!strcasecmp(name, "category")) {
            if (strlen(value) >= RTN_ING_NAME_MAX) BAD("[values] category too long");
            snprintf(m->category_const, sizeof m->category_const, "%s", value);
            return 1;
        }
        if (!strcasecmp(name, "amount")) {
            int64_t mant;
            int sc;
            if (strlen(value) >= sizeof m->amount_const ||
                rtn_ingest_parse_decimal(value, strlen(value), &mant, &sc) != 0)
                BAD("[values] amount '%s' is not a decimal number", value);
            snprintf(m->amount_const, sizeof m->amount_const, "%s", value);
            return 1;
        }
        if (!strcasecmp(name, "category_from_item_prefix")) {
            char *e;
            long v = strtol(value, &e, 10);
            if (*e || v < 0 || v >= RTN_ING_NAME_MAX)
                BAD("[values] category_from_item_prefix '%s' is not a small number", value);
            m->category_item_prefix = (int)v;
            return 1;
        }
        if (!strcasecmp(name, "duplicates")) {
            if (!strcasecmp(value, "remove")) m->keep_duplicates = 0;
            else if (!strcasecmp(value, "keep")) m->keep_duplicates = 1;
            else BAD("[values] duplicates '%s' is not remove or keep", value);
            return 1;
        }
        if (!strcasecmp(name, "max_reject_rate")) {
            char *e;
            double v = strtod(value, &e);
            if (*e || !(v >= 0 && v <= 1)) BAD("[values] max_reject_rate '%s' is not in [0, 1]", value);
            m->max_reject_rate = v;
            return 1;
        }
        BAD("[values] unknown key '%s'", name);
    }
    BAD("unknown section [%s] (known: input, columns, values)", section);
#undef BAD
}

static rtn_status mapping_check(const rtn_ingest_mapping *m, const char *where)
{
    if (!m->column[RTN_ING_CUSTOMER][0])
        return rtn_fail(RTN_ERR_CONFIG, "%s: no customer column mapped", where);
    if (!m->column[RTN_ING_TIME][0])
        return rtn_fail(RTN_ERR_CONFIG, "%s: no time column mapped", where);
    int has_amount = m->column[RTN_ING_AMOUNT][0] != 0;
    int has_price = m->column[RTN_ING_UNIT_PRICE][0] != 0;
    int has_const = m->amount_const[0] != 0;
    if (has_amount + has_price + has_const > 1)
        return rtn_fail(RTN_ERR_CONFIG, "%s: give one of an amount column, a unit_price column "
                        "(amount = quantity x unit_price) or a constant [values] amount", where);
    if (!has_amount && !has_price && !has_const)
        return rtn_fail(RTN_ERR_CONFIG, "%s: map an amount column, or quantity and unit_price, "
                        "or set a constant [values] amount (e.g. 0 for a log without spend)",
                        where);
    if (has_const) {
        int64_t mant, minor;
        int sc;
        /* the currency exponent may come after the amount in the file, so it is checked here */
        if (rtn_ingest_parse_decimal(m->amount_const, strlen(m->amount_const), &mant, &sc) != 0 ||
            rtn_ingest_to_minor(mant, sc, m->currency_exponent, 0, &minor) != 0)
            return rtn_fail(RTN_ERR_CONFIG, "%s: [values] amount '%s' is not a whole number of "
                            "minor units (currency_exponent %d)", where, m->amount_const,
                            m->currency_exponent);
    }
    if (has_price && !m->column[RTN_ING_QUANTITY][0])
        return rtn_fail(RTN_ERR_CONFIG, "%s: unit_price needs a quantity column", where);
    if (m->column[RTN_ING_CATEGORY][0] && m->category_item_prefix)
        return rtn_fail(RTN_ERR_CONFIG, "%s: a category column and category_from_item_prefix "
                        "exclude each other", where);
    if (m->category_item_prefix && !m->column[RTN_ING_ITEM][0])
        return rtn_fail(RTN_ERR_CONFIG, "%s: category_from_item_prefix needs an item column",
                        where);
    return RTN_OK;
}

rtn_status rtn_ingest_mapping_load(rtn_ingest_mapping *m, const char *path)
{
    mapping_defaults(m);
    snprintf(m->name, sizeof m->name, "%s", path);
    ini_ctx c = {m, ""};
    int r = ini_parse(path, mapping_ini_handler, &c);
    if (r == -1)
        return rtn_fail(RTN_ERR_IO, "cannot open mapping file '%s': %s", path, strerror(errno));
    if (r == -2) return rtn_fail(RTN_ERR_NOMEM, "out of memory reading mapping '%s'", path);
    if (r > 0)
        return rtn_fail(RTN_ERR_CONFIG, "mapping file '%s', line %d: %s", path, r,
                        c.err[0] ? c.err : "syntax error");
    char where[300];
    snprintf(where, sizeof where, "mapping file '%s'", path);
    return mapping_check(m, where);
}

static int trimmed_eq(const char *a, size_t n, const char *b)
{
    while (n && isblank((unsigned char)*a)) a++, n--;
    while (n && isblank((unsigned char)a[n - 1])) n--;
    return strlen(b) == n && strncasecmp(a, b, n) == 0;
}

rtn_status rtn_ingest_mapping_resolve(rtn_ingest_mapping *m, const rtn_csv_record *hdr,
                                      const char *where)
{
    RTN_TRY(mapping_check(m, m->name));
    if (m->amount_const[0]) { /* exact: mapping_check has converted it once already */
        int64_t mant;
        int sc;
        rtn_ingest_parse_decimal(m->amount_const, strlen(m->amount_const), &mant, &sc);
        rtn_ingest_to_minor(mant, sc, m->currency_exponent, 0, &m->amount_const_minor);
    }
    if (m->header) {
        if (!hdr || hdr->nfields == 0)
            return rtn_fail(RTN_ERR_DATA, "%s: the header line is missing or empty", where);
        if (m->ncolumns && (size_t)m->ncolumns != hdr->nfields)
            return rtn_fail(RTN_ERR_CONFIG, "%s: the header has %zu columns, the mapping says %d",
                            where, hdr->nfields, m->ncolumns);
        m->ncolumns = (int)hdr->nfields;
    } else if (!m->ncolumns) {
        if (!hdr || hdr->nfields == 0) return RTN_OK; /* no data at all */
        m->ncolumns = (int)hdr->nfields;              /* from the first record */
    }
    for (int r = 0; r < RTN_ING_NROLES; r++) {
        m->col[r] = -1;
        const char *name = m->column[r];
        if (!name[0]) continue;
        if (m->header) {
            for (size_t i = 0; i < hdr->nfields; i++)
                if (trimmed_eq(hdr->f[i].p, hdr->f[i].len, name)) {
                    m->col[r] = (int)i;
                    break;
                }
            if (m->col[r] < 0) {
                char have[400] = "";
                size_t o = 0;
                for (size_t i = 0; i < hdr->nfields && o + 4 < sizeof have; i++) {
                    o += (size_t)snprintf(have + o, sizeof have - o, "%s'", i ? ", " : "");
                    for (size_t k = 0; k < hdr->f[i].len && o + 4 < sizeof have; k++) {
                        unsigned char ch = (unsigned char)hdr->f[i].p[k];
                        have[o++] = (ch >= 32 && ch < 127) ? (char)ch : '?';
                    }
                    if (o + 2 < sizeof have) have[o++] = '\'';
                    have[o] = 0;
                }
                return rtn_fail(RTN_ERR_CONFIG, "%s: the mapping's %s column '%s' is not in the "
                                "header (columns: %s)", where, rtn_ingest_role_names[r], name,
                                have);
            }
        } else {
            char *e;
            long v = strtol(name, &e, 10);
            if (*e || v < 1)
                return rtn_fail(RTN_ERR_CONFIG, "%s: without a header line columns are given by "
                                "number (1 = first); %s = '%s'", where,
                                rtn_ingest_role_names[r], name);
            if (v > m->ncolumns)
                return rtn_fail(RTN_ERR_CONFIG, "%s: the %s column %ld is beyond the %d columns of "
                                "the data", where, rtn_ingest_role_names[r], v, m->ncolumns);
            m->col[r] = (int)v - 1;
        }
    }
    return RTN_OK;
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

static void tz_restore(void)
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
        int ch = parse_channel_name(f.p, f.len);
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

static uint64_t str_hash(const char *s, size_t n)
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

static void st_free(strtab *t)
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

/* Finds or inserts; *idx = entry index. Returns 1 inserted, 0 found, -1 out of memory. */
static int st_find_add(strtab *t, const char *s, size_t n, uint64_t h, size_t *idx)
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
} ictx;

/* Row arrays are large (hundreds of MB) and first touches of fresh pages are expensive
 * (about 0.5 s per GB on the benchmark VM), so a run uses two row arrays and reuses them
 * across phases instead of allocating per phase. (Transparent huge pages were tried: on
 * the VM, fresh 2 MiB pages cost more to clear than the 4 KiB faults they save.) */
static ing_row *rows_alloc(size_t n)
{
    return malloc((n ? n : 1) * sizeof(ing_row));
}

/* Ensures *cap >= need; the first `keep` rows are preserved. */
static int rows_reserve(ing_row **p, size_t *cap, size_t need, size_t keep)
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
    if (c->nrows == c->caprows && !rows_reserve(&c->rows, &c->caprows, c->nrows + 1, c->nrows))
        return 0;
    c->rows[c->nrows++] = *r;
    return 1;
}

static int push_reject(ictx *c, uint16_t file, uint64_t line, uint64_t off, size_t rawlen,
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
        if (st_find_add(t, s, n, str_hash(s, n), &idx) < 0)
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
    int r = st_find_add(&c->cust, s, n, str_hash(s, n), &idx);
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
            if (!push_reject(c, fi, line, rec->start, rec->raw_len, why, detail))
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
static rtn_status map_file(in_file *f)
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

static rtn_status process_file(ictx *c, uint16_t fi)
{
    in_file *f = &c->files[fi];
    rtn_ingest_mapping m = c->opt->mapping;
    rtn_status st = map_file(f);
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

    /* Byte ranges and the quote parity at each range start. */
    const size_t D = f->len - data_start;
    const int P = c->size, r = c->rank;
#define RANGE_S(q) (data_start + (size_t)((unsigned __int128)D * (unsigned)(q) / (unsigned)P))
    const size_t s = RANGE_S(r), e = RANGE_S(r + 1);
    const char quote = m.dialect.whitespace ? 0 : m.dialect.quote;
    uint64_t nq = quote ? rtn_csv_count(f->map + s, e - s, quote) : 0, qbefore = 0;
    MPI_Exscan(&nq, &qbefore, 1, MPI_UINT64_T, MPI_SUM, c->comm);
    if (r == 0) qbefore = 0;
    const size_t NONE = SIZE_MAX;
    size_t p = r == 0 ? data_start : rtn_csv_first_start(f->map, s, e, (int)(qbefore & 1), quote);
    if (p != NONE && p >= f->len) p = NONE;

    const size_t mark_rows = c->nrows, mark_rej = c->nrej;
    /* room for the rows of this range at once (rows are rarely shorter than 48 bytes) */
    if (!rows_reserve(&c->rows, &c->caprows, c->nrows + (e - s) / 48 + 1024, c->nrows))
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory holding rows");
    st = rtn_agree(c->comm, st);
    if (st) return st;
    counters k;
    memset(&k, 0, sizeof k);
    size_t E = NONE;
    if (p != NONE) st = parse_range(c, fi, &m, f->map, f->len, p, e, &k, &E);
    st = rtn_agree(c->comm, st);
    if (st) return st;

    /* Verify the guessed boundaries against the records actually parsed: rank r must
     * start where rank r-1 stopped. A wrong guess (stray quotes) is re-parsed from the
     * true boundary, so the result always equals a sequential parse. */
    uint64_t *all = rtn_malloc(sizeof(uint64_t) * 2 * (size_t)P, "boundaries");
    if (!all) st = RTN_ERR_NOMEM;
    st = rtn_agree(c->comm, st);
    if (st) {
        free(all);
        return st;
    }
    int reparses = 0;
    for (;;) {
        uint64_t mine[2] = {p, E};
        MPI_Allgather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, c->comm);
        size_t expect = all[0] == NONE ? f->len : all[1];
        int bad = -1;
        size_t want = NONE;
        for (int q = 1; q < P; q++) {
            size_t eq = RANGE_S(q + 1);
            want = (expect < f->len && expect <= eq) ? expect : NONE;
            if (all[2 * q] != want) {
                bad = q;
                break;
            }
            if (want != NONE) expect = all[2 * q + 1];
        }
        if (bad < 0) break;
        reparses++;
        if (r == bad) {
            c->discarded = 1;
            c->nrows = mark_rows;
            c->nrej = mark_rej;
            memset(&k, 0, sizeof k);
            p = want;
            E = NONE;
            if (p != NONE) st = parse_range(c, fi, &m, f->map, f->len, p, e, &k, &E);
        }
        st = rtn_agree(c->comm, st);
        if (st) {
            free(all);
            return st;
        }
    }
#undef RANGE_S
    free(all);
    if (reparses)
        rtn_debug("input '%s': %d range boundaries re-parsed (stray quotes)", f->path, reparses);

    /* Original line numbers: 1 + newlines before the record. */
    uint64_t nl_before = 0;
    MPI_Exscan(&k.newlines, &nl_before, 1, MPI_UINT64_T, MPI_SUM, c->comm);
    if (r == 0) nl_before = 0;
    const uint64_t base = 1 + hdr_nl + nl_before;
    for (size_t i = mark_rows; i < c->nrows; i++) c->rows[i].line += base;
    for (size_t i = mark_rej; i < c->nrej; i++) c->rej[i].line += base;
    f->rows_read = k.rows_read;
    f->rejected = k.rows_read - k.accepted;
    counters_add(&c->tot, &k);
    c->bytes_done += (double)(e - s);
    return RTN_OK;
}

/* ------------------------------------------------------------ dictionaries */

typedef struct {
    char *buf;         /* every rank's strings, NUL-separated */
    char **s;          /* sorted distinct strings (into buf or the old store's dictionary) */
    size_t n;
    int32_t *local_map; /* local id -> code */
    int32_t *old_map;   /* appended store's code -> code */
} gdict;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int32_t *row_code(ing_row *r, int k)
{
    return k == 0 ? &r->item : k == 1 ? &r->category : &r->store;
}

static int32_t code_of(const gdict *g, const char *s)
{
    char *key = (char *)s;
    char **hit = bsearch(&key, g->s, g->n, sizeof *g->s, cmp_str);
    return hit ? (int32_t)(hit - g->s) : -1;
}

/* Global dictionary k: the bytewise-sorted distinct strings used by any accepted row
 * (plus the appended store's), so codes do not depend on how rows were spread. */
static rtn_status build_dict(ictx *c, int k, const rtn_strdict *old, gdict *g,
                             const unsigned char *used)
{
    strtab *t = &c->dict[k];
    rtn_status st = RTN_OK;
    char *mine = NULL;
    int *counts = NULL, *displs = NULL;
    size_t bytes = 0;
    if (st == RTN_OK) {
        for (size_t i = 0; i < t->n; i++)
            if (used[i]) bytes += t->e[i].len + 1;
        mine = malloc(bytes ? bytes : 1);
        counts = malloc(sizeof(int) * (size_t)c->size);
        displs = malloc(sizeof(int) * (size_t)c->size);
        if (!mine || !counts || !displs) st = rtn_fail(RTN_ERR_NOMEM, "out of memory (dictionary)");
        else if (bytes > INT_MAX) st = rtn_fail(RTN_ERR_DATA, "dictionary too large (%zu bytes)", bytes);
    }
    if (st == RTN_OK) {
        size_t o = 0;
        for (size_t i = 0; i < t->n; i++)
            if (used[i]) {
                memcpy(mine + o, t->arena + t->e[i].off, t->e[i].len + 1);
                o += t->e[i].len + 1;
            }
    }
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    int ib = (int)bytes;
    MPI_Allgather(&ib, 1, MPI_INT, counts, 1, MPI_INT, c->comm);
    size_t total = 0;
    for (int q = 0; q < c->size; q++) {
        if (total > INT_MAX) break;
        displs[q] = (int)total;
        total += (size_t)counts[q];
    }
    if (total > INT_MAX) st = rtn_fail(RTN_ERR_DATA, "dictionary too large (%zu bytes)", total);
    if (st == RTN_OK && !(g->buf = malloc(total ? total : 1)))
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory (dictionary)");
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    MPI_Allgatherv(mine, ib, MPI_CHAR, g->buf, counts, displs, MPI_CHAR, c->comm);
    size_t nstr = old ? old->n : 0;
    for (size_t i = 0; i < total; i++) nstr += g->buf[i] == 0;
    g->s = malloc(sizeof(char *) * (nstr ? nstr : 1));
    g->local_map = malloc(sizeof(int32_t) * (t->n ? t->n : 1));
    g->old_map = malloc(sizeof(int32_t) * (old && old->n ? old->n : 1));
    if (!g->s || !g->local_map || !g->old_map) {
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory (dictionary)");
    } else {
        size_t n = 0;
        for (size_t i = 0; i < total; i += strlen(g->buf + i) + 1) g->s[n++] = g->buf + i;
        for (size_t i = 0; old && i < old->n; i++) g->s[n++] = old->s[i];
        qsort(g->s, n, sizeof *g->s, cmp_str);
        size_t u = 0;
        for (size_t i = 0; i < n; i++)
            if (u == 0 || strcmp(g->s[u - 1], g->s[i]) != 0) g->s[u++] = g->s[i];
        g->n = u;
        if (u > INT32_MAX) st = rtn_fail(RTN_ERR_DATA, "more than 2^31 dictionary values");
        for (size_t i = 0; st == RTN_OK && i < t->n; i++)
            g->local_map[i] = used[i] ? code_of(g, t->arena + t->e[i].off) : -1;
        for (size_t i = 0; st == RTN_OK && old && i < old->n; i++)
            g->old_map[i] = code_of(g, old->s[i]);
    }
    st = rtn_agree(c->comm, st);
done:
    free(mine);
    free(counts);
    free(displs);
    return st;
}

static void gdict_free(gdict *g)
{
    free(g->buf);
    free(g->s);
    free(g->local_map);
    free(g->old_map);
    memset(g, 0, sizeof *g);
}

/* ------------------------------------------------------------ shuffle, sort */

static int row_cmp(const void *a, const void *b)
{
    const ing_row *x = a, *y = b;
#define CMP(f)                                                                             \
    if (x->f != y->f) return x->f < y->f ? -1 : 1
    CMP(bucket);
    CMP(customer);
    CMP(time);
    CMP(amount);
    CMP(quantity);
    CMP(item);
    CMP(category);
    CMP(store);
    CMP(channel);
    CMP(basket);
    CMP(file);
    CMP(line);
#undef CMP
    return 0;
}

static int same_stored(const ing_row *x, const ing_row *y)
{
    return x->customer == y->customer && x->time == y->time && x->amount == y->amount &&
           x->quantity == y->quantity && x->item == y->item && x->category == y->category &&
           x->store == y->store && x->channel == y->channel && x->basket == y->basket;
}

/* Sends every row to the rank owning its bucket, replacing the local dictionary codes
 * by the global ones on the way. Bucket ranges are chosen from the global per-bucket row
 * counts (plus the appended store's) with rtn_partition_buckets. On return c->rows holds
 * this rank's rows with room for the appended store's rows of its buckets, and
 * *recv_cnt[b - b0] the number of rows of bucket b it will hold (both sources). */
static rtn_status shuffle(ictx *c, const uint64_t *old_off, const gdict g[3], uint32_t *b0,
                          uint32_t *b1, uint64_t **recv_cnt)
{
    const uint32_t B = c->B;
    const int P = c->size;
    rtn_status st = RTN_OK;
    uint64_t *cnt = calloc((size_t)B + 1, sizeof *cnt);
    uint64_t *mine = calloc((size_t)B + 1, sizeof *mine);
    int *owner = malloc(sizeof(int) * B);
    size_t *sc = calloc((size_t)P, sizeof *sc), *pos = calloc((size_t)P, sizeof *pos);
    int *isc = malloc(sizeof(int) * (size_t)P * 4);
    ing_row *sendbuf = NULL, *recvbuf = NULL;
    if (!cnt || !mine || !owner || !sc || !pos || !isc)
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory (shuffle)");
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    if (c->discarded) { /* the parse's counts include dropped rows */
        for (size_t i = 0; i < c->nrows; i++) mine[c->rows[i].bucket]++;
    } else {
        memcpy(mine, c->bucket_cnt, sizeof *mine * B);
    }
    MPI_Allreduce(mine, cnt, (int)B, MPI_UINT64_T, MPI_SUM, c->comm);
    {
        uint64_t acc = 0;
        for (uint32_t b = 0; b < B; b++) {
            uint64_t n = cnt[b] + (old_off ? old_off[b + 1] - old_off[b] : 0);
            cnt[b] = acc;
            acc += n;
        }
        cnt[B] = acc;
    }
    for (int q = 0; q < P; q++) {
        uint32_t x0, x1;
        rtn_partition_buckets(cnt, B, P, q, &x0, &x1);
        for (uint32_t b = x0; b < x1; b++) owner[b] = q, sc[q] += mine[b];
        if (q == c->rank) *b0 = x0, *b1 = x1;
    }
    /* cnt holds prefix sums (with the appended store's rows): what each bucket holds */
    if (!(*recv_cnt = malloc(sizeof(uint64_t) * ((size_t)(*b1 - *b0) + 1))))
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory (shuffle)");
    for (uint32_t b = *b0; *recv_cnt && b < *b1; b++) (*recv_cnt)[b - *b0] = cnt[b + 1] - cnt[b];
    if (c->nrows > INT_MAX)
        st = rtn_fail(RTN_ERR_DATA, "more than 2^31 rows parsed on one rank; use more ranks");
    if (st == RTN_OK && !rows_reserve(&c->spare, &c->capspare, c->nrows, 0))
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory (shuffle send buffer, %zu rows)", c->nrows);
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    sendbuf = c->spare;
    {
        size_t a = 0;
        for (int q = 0; q < P; q++) pos[q] = a, a += sc[q];
        const int32_t *m0 = g[0].local_map, *m1 = g[1].local_map, *m2 = g[2].local_map;
        for (size_t i = 0; i < c->nrows; i++) {
            ing_row *d = &sendbuf[pos[owner[c->rows[i].bucket]]++];
            *d = c->rows[i];
            if (d->item >= 0) d->item = m0[d->item];
            if (d->category >= 0) d->category = m1[d->category];
            if (d->store >= 0) d->store = m2[d->store];
        }
    }
    c->nrows = 0;
    int *isd = isc + P, *irc = isc + 2 * P, *ird = isc + 3 * P;
    for (int q = 0; q < P; q++) isc[q] = (int)sc[q];
    MPI_Alltoall(isc, 1, MPI_INT, irc, 1, MPI_INT, c->comm);
    size_t nrecv = 0, a = 0;
    for (int q = 0; q < P; q++) {
        isd[q] = (int)a;
        a += sc[q];
        if (nrecv > INT_MAX) break;
        ird[q] = (int)nrecv;
        nrecv += (size_t)irc[q];
    }
    size_t extra = old_off ? (size_t)(old_off[*b1] - old_off[*b0]) : 0;
    if (nrecv > INT_MAX)
        st = rtn_fail(RTN_ERR_DATA, "more than 2^31 rows on one rank; use more ranks");
    /* received into the parse array (its rows are in the send buffer now) */
    if (st == RTN_OK && !rows_reserve(&c->rows, &c->caprows, nrecv + extra + 1, 0))
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory (shuffle receive buffer, %zu rows)",
                      nrecv + extra);
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    recvbuf = c->rows;
    MPI_Datatype rt;
    MPI_Type_contiguous((int)sizeof(ing_row), MPI_BYTE, &rt);
    MPI_Type_commit(&rt);
    MPI_Alltoallv(sendbuf, isc, isd, rt, recvbuf, irc, ird, rt, c->comm);
    MPI_Type_free(&rt);
    c->nrows = nrecv;
done:
    free(cnt);
    free(mine);
    free(owner);
    free(sc);
    free(pos);
    free(isc);
    return st;
}

/* What is kept of the appended store once its collective handle is closed. */
typedef struct {
    const char *path;
    uint32_t nbuckets;
    uint64_t *off; /* nbuckets+1 */
    uint64_t n_rows;
    rtn_strdict dict[3];
    char digest[80];
} old_store;

static void old_store_free(old_store *o)
{
    free(o->off);
    for (int k = 0; k < 3; k++) rtn_strdict_free(&o->dict[k]);
    memset(o, 0, sizeof *o);
}

static rtn_status copy_strdict(rtn_strdict *dst, const rtn_strdict *src)
{
    dst->n = 0;
    dst->s = calloc(src->n ? src->n : 1, sizeof *dst->s);
    if (!dst->s) return rtn_fail(RTN_ERR_NOMEM, "out of memory (dictionary)");
    for (size_t i = 0; i < src->n; i++) {
        if (!(dst->s[i] = strdup(src->s[i]))) return rtn_fail(RTN_ERR_NOMEM, "out of memory");
        dst->n = i + 1;
    }
    return RTN_OK;
}

/* Appends the appended store's rows of buckets [b0, b1) (codes remapped). Each rank reads
 * its own row range through a serial HDF5 handle: the ranges differ in size, and the
 * parallel handle makes metadata reads collective. */
static rtn_status load_old_rows(ictx *c, const old_store *o, uint32_t b0, uint32_t b1,
                                const gdict g[3])
{
    uint64_t r0 = o->off[b0], r1 = o->off[b1];
    if (r0 == r1) return RTN_OK;
    hid_t f;
    RTN_TRY(rtn_h5_open_read_local(o->path, &f));
    hid_t types[RTN_NCOLS] = {H5T_NATIVE_UINT64, H5T_NATIVE_INT64, H5T_NATIVE_INT64,
                              H5T_NATIVE_INT32,  H5T_NATIVE_INT32, H5T_NATIVE_INT32,
                              H5T_NATIVE_INT32,  H5T_NATIVE_INT8,  H5T_NATIVE_UINT64};
    hid_t d[RTN_NCOLS];
    rtn_status st = RTN_OK;
    for (int k = 0; k < RTN_NCOLS; k++) {
        char name[64];
        snprintf(name, sizeof name, "/transactions/%s", rtn_column_names[k]);
        d[k] = H5Dopen2(f, name, H5P_DEFAULT);
        if (d[k] < 0 && st == RTN_OK)
            st = rtn_fail(RTN_ERR_FORMAT, "store '%s': cannot open %s", o->path, name);
    }
    rtn_txn_block blk = {0};
    for (uint64_t r = r0; r < r1 && st == RTN_OK;) {
        size_t n = (size_t)(r1 - r < (1u << 20) ? r1 - r : (1u << 20));
        st = rtn_txn_block_reserve(&blk, n, RTN_COLS_ALL);
        for (int k = 0; k < RTN_NCOLS && st == RTN_OK; k++)
            st = rtn_h5_read_rows(d[k], types[k], r, n, rtn_txn_block_column(&blk, (rtn_column)k));
        for (size_t i = 0; st == RTN_OK && i < n; i++) {
            ing_row x;
            memset(&x, 0, sizeof x);
            x.customer = blk.customer[i];
            x.time = blk.time[i];
            x.amount = blk.amount[i];
            x.quantity = blk.quantity[i];
            int32_t codes[3] = {blk.item[i], blk.category[i], blk.store[i]};
            for (int k = 0; k < 3; k++) {
                if (codes[k] >= (int32_t)o->dict[k].n || codes[k] < -1) {
                    st = rtn_fail(RTN_ERR_FORMAT, "store '%s', row %" PRIu64 ": dictionary code "
                                  "%d out of range", o->path, r + i, codes[k]);
                    break;
                }
                *row_code(&x, k) = codes[k] >= 0 ? g[k].old_map[codes[k]] : -1;
            }
            x.channel = blk.channel[i];
            x.basket = blk.basket[i];
            x.file = 0;
            x.line = r + i + 1;
            x.bucket = rtn_bucket_of(x.customer, c->B);
            if (x.bucket < b0 || x.bucket >= b1)
                st = rtn_fail(RTN_ERR_FORMAT, "store '%s', row %" PRIu64 ": customer in the wrong "
                              "bucket (damaged store?)", o->path, r + i);
            c->rows[c->nrows++] = x;
        }
        r += n;
    }
    rtn_txn_block_free(&blk);
    for (int k = 0; k < RTN_NCOLS; k++)
        if (d[k] >= 0) H5Dclose(d[k]);
    H5Fclose(f);
    return st;
}

/* Sort key of a row inside its bucket: (customer, time), then the row's index. */
typedef struct {
    uint64_t cust;
    int64_t time;
    size_t idx;
} skey;

static inline int skey_lt(const skey *a, const skey *b)
{
    return a->cust < b->cust || (a->cust == b->cust && a->time < b->time);
}

/* Stable bottom-up merge sort (insertion-sorted runs of 16); result in a. */
static void skey_sort(skey *a, skey *tmp, size_t n)
{
    for (size_t lo = 0; lo < n; lo += 16) {
        size_t hi = lo + 16 < n ? lo + 16 : n;
        for (size_t i = lo + 1; i < hi; i++) {
            skey x = a[i];
            size_t j = i;
            while (j > lo && skey_lt(&x, &a[j - 1])) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
    }
    skey *src = a, *dst = tmp;
    for (size_t w = 16; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) dst[o++] = skey_lt(&src[j], &src[i]) ? src[j++] : src[i++];
            while (i < mid) dst[o++] = src[i++];
            while (j < hi) dst[o++] = src[j++];
        }
        skey *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

/* Groups rows by bucket (counting sort), then orders each bucket by (customer, time)
 * with compact keys and breaks the remaining ties with the full key (row_cmp), which
 * gives the same total order as sorting by row_cmp alone. */
static rtn_status sort_rows(ictx *c, uint32_t b0, uint32_t b1, const uint64_t *cnt)
{
    size_t nb = (size_t)(b1 - b0);
    size_t *start = calloc(nb + 1, sizeof *start);
    /* the scatter goes into the spare array (the shuffle's send buffer, pages touched) */
    if (!start || !rows_reserve(&c->spare, &c->capspare, c->nrows, 0)) {
        free(start);
        return rtn_fail(RTN_ERR_NOMEM, "out of memory sorting %zu rows", c->nrows);
    }
    ing_row *tmp = c->spare;
    /* bucket sizes from the shuffle's counts; checked against the rows as they are placed */
    size_t maxb = 0;
    for (size_t b = 0; b < nb; b++) {
        if (cnt[b] > maxb) maxb = (size_t)cnt[b];
        start[b + 1] = start[b] + (size_t)cnt[b];
    }
    size_t *lim = malloc((nb + 1) * sizeof *lim); /* where each bucket ends */
    if (!lim) {
        free(start);
        return rtn_fail(RTN_ERR_NOMEM, "out of memory sorting %zu rows", c->nrows);
    }
    memcpy(lim, start + 1, nb * sizeof *lim);
    int bad = start[nb] != c->nrows;
    for (size_t i = 0; i < c->nrows && !bad; i++) {
        uint32_t b = c->rows[i].bucket;
        if (b < b0 || b >= b1 || start[b - b0] >= lim[b - b0]) {
            bad = 1;
            break;
        }
        tmp[start[b - b0]++] = c->rows[i];
    }
    free(lim);
    if (bad) {
        free(start);
        return rtn_fail(RTN_ERR_INTERNAL, "rows on the rank owning buckets [%u, %u) do not match "
                        "the bucket counts", b0, b1);
    }
    /* start[b] now ends bucket b; each bucket is gathered back into c->rows in order */
    skey *k = malloc((maxb ? maxb : 1) * sizeof *k), *kt = malloc((maxb ? maxb : 1) * sizeof *kt);
    if (!k || !kt) {
        free(start);
        free(k);
        free(kt);
        return rtn_fail(RTN_ERR_NOMEM, "out of memory sorting a bucket of %zu rows", maxb);
    }
    size_t s0 = 0;
    for (size_t b = 0; b < nb; b++) {
        size_t n = start[b] - s0;
        const ing_row *in = tmp + s0;
        ing_row *r = c->rows + s0;
        for (size_t i = 0; i < n; i++) k[i] = (skey){in[i].customer, in[i].time, i};
        skey_sort(k, kt, n);
        for (size_t i = 0; i < n; i++) r[i] = in[k[i].idx];
        /* rows with the same (customer, time), typically one basket: full order (row_cmp
         * is a total order, so any sorting method gives the same result) */
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && r[j].customer == r[i].customer && r[j].time == r[i].time) j++;
            if (j - i > 32) {
                qsort(r + i, j - i, sizeof *r, row_cmp);
            } else {
                for (size_t x = i + 1; x < j; x++) {
                    ing_row v = r[x];
                    size_t y = x;
                    while (y > i && row_cmp(&v, &r[y - 1]) < 0) {
                        r[y] = r[y - 1];
                        y--;
                    }
                    r[y] = v;
                }
            }
            i = j;
        }
        s0 = start[b];
    }
    free(start);
    free(k);
    free(kt);
    return RTN_OK;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Removes rows whose stored columns equal the previous row's (the first occurrence in
 * (file, line) order is kept) and lists them with reason "duplicate". */
/* What the store's metadata needs from the final rows: rows per bucket, customers, time
 * range (computed by the de-duplication pass, or by row_stats when duplicates are kept). */
typedef struct {
    uint64_t *off; /* B+1; off[b+1] = rows of bucket b on this rank */
    uint64_t customers;
    int64_t tmin, tmax;
} row_stats_t;

static inline void stats_add(row_stats_t *s, const ing_row *prev, const ing_row *r)
{
    s->off[r->bucket + 1]++;
    if (!prev || prev->customer != r->customer) s->customers++;
    if (r->time < s->tmin) s->tmin = r->time;
    if (r->time > s->tmax) s->tmax = r->time;
}

static void row_stats(const ictx *c, row_stats_t *s)
{
    for (size_t i = 0; i < c->nrows; i++) stats_add(s, i ? &c->rows[i - 1] : NULL, &c->rows[i]);
}

static rtn_status dedup(ictx *c, uint64_t *dup_new, uint64_t *dup_old, row_stats_t *stats)
{
    size_t w = 0;
    char detail[112];
    for (size_t i = 0; i < c->nrows; i++) {
        if (w > 0 && same_stored(&c->rows[w - 1], &c->rows[i])) {
            const ing_row *keep = &c->rows[w - 1], *d = &c->rows[i];
            snprintf(detail, sizeof detail, "same stored values as %s %" PRIu64 " of %s",
                     keep->file ? "line" : "row", keep->line,
                     base_name(c->files[keep->file].path));
            if (!push_reject(c, d->file, d->line, d->off, d->rawlen, RTN_REJ_DUPLICATE, detail))
                return rtn_fail(RTN_ERR_NOMEM, "out of memory listing duplicates");
            if (d->file) (*dup_new)++;
            else (*dup_old)++;
            continue;
        }
        if (w != i) c->rows[w] = c->rows[i];
        stats_add(stats, w ? &c->rows[w - 1] : NULL, &c->rows[w]);
        w++;
    }
    c->nrows = w;
    return RTN_OK;
}

/* ------------------------------------------------------------ rejects file */

static int rej_cmp(const void *a, const void *b)
{
    const ing_reject *x = a, *y = b;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    if (x->line != y->line) return x->line < y->line ? -1 : 1;
    return (int)x->reason - (int)y->reason;
}

static void csv_quoted(FILE *fp, const char *s, size_t n, int sanitize)
{
    fputc('"', fp);
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (sanitize && ((unsigned char)ch >= 0x80 || ch == 0)) ch = '?';
        if (ch == '"') fputc('"', fp);
        fputc(ch, fp);
    }
    fputc('"', fp);
}

/* Gathers every rank's rejects on rank 0, orders them by (file, line) and writes the
 * rejects CSV atomically. Collective. */
static rtn_status write_rejects(ictx *c, const char *path)
{
    rtn_status st = RTN_OK;
    size_t bytes = c->nrej * sizeof(ing_reject);
    if (bytes > INT_MAX) st = rtn_fail(RTN_ERR_DATA, "too many rejects on one rank (%zu)", c->nrej);
    st = rtn_agree(c->comm, st);
    if (st) return st;
    int mine = (int)bytes;
    int *counts = NULL, *displs = NULL;
    ing_reject *all = NULL;
    size_t total = 0;
    if (c->rank == 0) {
        counts = malloc(sizeof(int) * (size_t)c->size);
        displs = malloc(sizeof(int) * (size_t)c->size);
        if (!counts || !displs) st = rtn_fail(RTN_ERR_NOMEM, "out of memory (rejects)");
    }
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, 0, c->comm);
    if (c->rank == 0) {
        for (int q = 0; q < c->size; q++) {
            if (total > INT_MAX) break;
            displs[q] = (int)total;
            total += (size_t)counts[q];
        }
        if (total > INT_MAX) st = rtn_fail(RTN_ERR_DATA, "too many rejects to gather (%zu bytes)", total);
        else if (!(all = malloc(total ? total : 1))) st = rtn_fail(RTN_ERR_NOMEM, "out of memory (rejects)");
    }
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    MPI_Gatherv(c->rej, mine, MPI_BYTE, all, counts, displs, MPI_BYTE, 0, c->comm);
    if (c->rank == 0) {
        size_t n = total / sizeof(ing_reject);
        qsort(all, n, sizeof *all, rej_cmp);
        rtn_atomic_file af;
        st = rtn_atomic_open(&af, path);
        if (st == RTN_OK) {
            fputs("file,line,reason,detail,raw\n", af.fp);
            for (size_t i = 0; i < n; i++) {
                const ing_reject *j = &all[i];
                const in_file *f = &c->files[j->file];
                csv_quoted(af.fp, f->path, strlen(f->path), 0);
                fprintf(af.fp, ",%" PRIu64 ",%s,", j->line, rtn_reject_names[j->reason]);
                csv_quoted(af.fp, j->detail, strnlen(j->detail, sizeof j->detail), 1);
                fputc(',', af.fp);
                const char *raw = f->map && j->off < f->len ? f->map + j->off : "";
                size_t rl = f->map && j->off < f->len ? j->rawlen : 0;
                if (rl > f->len - j->off) rl = f->len - j->off;
                csv_quoted(af.fp, raw, rl, rtn_utf8_check(raw, rl) != 0);
                fputc('\n', af.fp);
            }
            st = rtn_atomic_close(&af);
        }
    }
    st = rtn_agree(c->comm, st);
done:
    free(counts);
    free(displs);
    free(all);
    return st;
}

/* ------------------------------------------------------------ store output */

static rtn_status write_store(ictx *c, uint32_t b0, uint32_t b1, const gdict g[3],
                              const char *provenance, row_stats_t *stats, uint64_t *n_rows,
                              uint64_t *n_cust)
{
    const uint32_t B = c->B;
    rtn_status st = RTN_OK;
    uint64_t *off = stats->off;
    rtn_txn_block blk = {0};
    const size_t chunk = RTN_H5_CHUNK_ROWS;
    st = rtn_txn_block_reserve(&blk, chunk, RTN_COLS_ALL);
    st = rtn_agree(c->comm, st);
    if (st) goto done;
    /* offsets[b+1] - offsets[b] = rows of bucket b, known only to its owner */
    MPI_Allreduce(MPI_IN_PLACE, off + 1, (int)B, MPI_UINT64_T, MPI_SUM, c->comm);
    for (uint32_t b = 0; b < B; b++) off[b + 1] += off[b];
    uint64_t loc[1] = {stats->customers};
    int64_t tmin = stats->tmin, tmax = stats->tmax;
    MPI_Allreduce(MPI_IN_PLACE, loc, 1, MPI_UINT64_T, MPI_SUM, c->comm);
    MPI_Allreduce(MPI_IN_PLACE, &tmin, 1, MPI_INT64_T, MPI_MIN, c->comm);
    MPI_Allreduce(MPI_IN_PLACE, &tmax, 1, MPI_INT64_T, MPI_MAX, c->comm);
    *n_rows = off[B];
    *n_cust = loc[0];
    rtn_strdict d[3];
    for (int k = 0; k < 3; k++) d[k] = (rtn_strdict){g[k].n, g[k].s};
    rtn_store_meta meta = {.nbuckets = B,
                           .bucket_offsets = off,
                           .n_customers = loc[0],
                           .time_min = tmin,
                           .time_max = tmax,
                           .currency = c->opt->mapping.currency,
                           .currency_exponent = c->opt->mapping.currency_exponent,
                           .created_by = rtn_command_line(),
                           .provenance = provenance,
                           .dict_item = &d[0],
                           .dict_category = &d[1],
                           .dict_store = &d[2]};
    rtn_store_writer *w;
    st = rtn_store_create(&w, c->comm, c->opt->out, &meta);
    if (st) goto done;
    uint64_t nblk = (c->nrows + chunk - 1) / chunk;
    MPI_Allreduce(MPI_IN_PLACE, &nblk, 1, MPI_UINT64_T, MPI_MAX, c->comm);
    const uint64_t row0 = off[b0];
    (void)b1;
    for (uint64_t k = 0; k < nblk && st == RTN_OK; k++) {
        size_t i0 = (size_t)(k * chunk) < c->nrows ? (size_t)(k * chunk) : c->nrows;
        size_t i1 = i0 + chunk < c->nrows ? i0 + chunk : c->nrows;
        blk.n = i1 - i0;
        for (size_t i = i0; i < i1; i++) {
            const ing_row *r = &c->rows[i];
            size_t j = i - i0;
            blk.customer[j] = r->customer;
            blk.time[j] = r->time;
            blk.amount[j] = r->amount;
            blk.quantity[j] = r->quantity;
            blk.item[j] = r->item;
            blk.category[j] = r->category;
            blk.store[j] = r->store;
            blk.channel[j] = r->channel;
            blk.basket[j] = r->basket;
        }
        st = rtn_store_write(w, row0 + i0, &blk);
    }
    st = rtn_store_finish(w, st);
done:
    rtn_txn_block_free(&blk);
    return st;
}

/* ------------------------------------------------------------ appended store */

typedef struct {
    char fingerprint[32];
    char currency[16];
    int64_t exponent;
    char digest[80];
    uint64_t rows;
    int ok;
} old_info;

/* Rank 0 reads the appended store's provenance (key fingerprint) before the collective
 * open; the text is broadcast so every rank writes the same provenance attribute. */
static rtn_status read_old_provenance(ictx *c, const char *path, old_info *oi, json_t **prov)
{
    rtn_status st = RTN_OK;
    memset(oi, 0, sizeof *oi);
    *prov = NULL;
    char *txt = NULL;
    if (c->rank == 0) {
        hid_t f;
        st = rtn_h5_open_read_local(path, &f);
        if (st == RTN_OK) {
            if (rtn_h5_read_attr_str_alloc(f, "provenance", &txt) != RTN_OK) txt = NULL;
            rtn_clear_error();
            H5Fclose(f);
        }
    }
    st = rtn_agree(c->comm, st);
    if (st) {
        free(txt);
        return rtn_fail_context(st, "--append-to");
    }
    uint64_t n = txt ? strlen(txt) + 1 : 0;
    MPI_Bcast(&n, 1, MPI_UINT64_T, 0, c->comm);
    if (n > INT_MAX) n = 0;
    if (n && c->rank != 0) txt = malloc(n);
    st = (n && !txt) ? rtn_fail(RTN_ERR_NOMEM, "out of memory") : RTN_OK;
    st = rtn_agree(c->comm, st);
    if (st) {
        free(txt);
        return st;
    }
    if (n) MPI_Bcast(txt, (int)n, MPI_CHAR, 0, c->comm);
    if (n) {
        json_t *j = json_loads(txt, 0, NULL);
        const char *fp = j ? json_string_value(json_object_get(j, "key_fingerprint")) : NULL;
        if (fp) snprintf(oi->fingerprint, sizeof oi->fingerprint, "%s", fp);
        *prov = j;
    }
    free(txt);
    return RTN_OK;
}

/* ------------------------------------------------------------ run */

static json_t *reasons_json(const uint64_t *by)
{
    json_t *o = json_object();
    for (int i = 1; i < RTN_REJ_NREASONS; i++)
        if (i != RTN_REJ_DUPLICATE) json_object_set_new(o, rtn_reject_names[i], json_integer((json_int_t)by[i]));
    return o;
}

rtn_status rtn_ingest_run(MPI_Comm comm, const rtn_ingest_options *opt)
{
    ictx c;
    memset(&c, 0, sizeof c);
    c.comm = comm;
    c.opt = opt;
    MPI_Comm_rank(comm, &c.rank);
    MPI_Comm_size(comm, &c.size);
    c.B = opt->nbuckets ? opt->nbuckets : RTN_STORE_DEFAULT_BUCKETS;
    rtn_status st = RTN_OK;
    rtn_store *oldh = NULL;
    old_store os_, *old = NULL;
    memset(&os_, 0, sizeof os_);
    json_t *old_prov = NULL;
    gdict g[3];
    memset(g, 0, sizeof g);
    row_stats_t stats = {0};
    uint64_t *recv_cnt = NULL; /* rows of each of this rank's buckets after the shuffle */
    char fp[17] = "";
    const char *rejects = opt->rejects;
    char rejects_buf[RTN_PATH_MAX];
    if (!rejects) {
        snprintf(rejects_buf, sizeof rejects_buf, "%s.rejects.csv", opt->out);
        rejects = rejects_buf;
    }
    int keep_dups = opt->keep_duplicates >= 0 ? opt->keep_duplicates : opt->mapping.keep_duplicates;
    double max_rate = opt->max_reject_rate >= 0 ? opt->max_reject_rate
                      : opt->mapping.max_reject_rate >= 0 ? opt->mapping.max_reject_rate : 0.05;

    /* key */
    {
        unsigned char *key = NULL;
        size_t klen = 0;
        st = rtn_key_load(opt->key_path, &key, &klen);
        if (st == RTN_OK) st = rtn_pseudo_new(&c.pz, key, klen);
        rtn_key_free(key, klen);
        if (st == RTN_OK) rtn_pseudo_fingerprint(c.pz, fp);
    }
    st = rtn_agree(comm, st);
    if (st) goto out;

    c.nfiles = opt->n_inputs;
    c.files = calloc((size_t)opt->n_inputs + 1, sizeof *c.files);
    if (!c.files || opt->n_inputs > 65534) st = rtn_fail(RTN_ERR_USAGE, "too many input files");
    st = rtn_agree(comm, st);
    if (st) goto out;
    c.files[0].path = opt->append_to ? opt->append_to : "";
    for (int i = 0; i < opt->n_inputs; i++) c.files[i + 1].path = opt->inputs[i];

    /* appended store: same key, currency and bucket count */
    if (opt->append_to) {
        old_info oi;
        rtn_phase_begin("open-append");
        st = read_old_provenance(&c, opt->append_to, &oi, &old_prov);
        if (st == RTN_OK) st = rtn_store_open(&oldh, comm, opt->append_to);
        rtn_phase_end("open-append");
        if (st) goto out;
        const rtn_store_info *in = rtn_store_get_info(oldh);
        if (!oi.fingerprint[0])
            st = rtn_fail(RTN_ERR_DATA, "--append-to '%s': the store records no key fingerprint "
                          "(it was not made by retain ingest), so its customers cannot be "
                          "matched with new pseudonyms", opt->append_to);
        else if (strcmp(oi.fingerprint, fp) != 0)
            st = rtn_fail(RTN_ERR_DATA, "--append-to '%s' was pseudonymized with a different key "
                          "(fingerprint %s, this key %s); customers would not line up",
                          opt->append_to, oi.fingerprint, fp);
        else if (strcmp(in->currency, opt->mapping.currency) != 0 ||
                 in->currency_exponent != opt->mapping.currency_exponent)
            st = rtn_fail(RTN_ERR_DATA, "--append-to '%s' holds %s amounts in 10^-%d units, the "
                          "mapping gives %s in 10^-%d units", opt->append_to, in->currency,
                          in->currency_exponent, opt->mapping.currency,
                          opt->mapping.currency_exponent);
        else if (opt->nbuckets && opt->nbuckets != in->nbuckets)
            st = rtn_fail(RTN_ERR_USAGE, "--buckets %u differs from the %u buckets of --append-to "
                          "'%s'", opt->nbuckets, in->nbuckets, opt->append_to);
        c.B = in->nbuckets;
        /* keep what is needed and close the parallel handle at once (rows are read later
         * through serial handles, see load_old_rows) */
        old = &os_;
        old->path = opt->append_to;
        old->nbuckets = in->nbuckets;
        old->n_rows = in->n_rows;
        snprintf(old->digest, sizeof old->digest, "%s", in->digest);
        old->off = malloc(sizeof(uint64_t) * ((size_t)in->nbuckets + 1));
        if (!old->off && st == RTN_OK) st = rtn_fail(RTN_ERR_NOMEM, "out of memory");
        if (st == RTN_OK) memcpy(old->off, in->bucket_offsets, sizeof(uint64_t) * ((size_t)in->nbuckets + 1));
        if (st == RTN_OK) st = copy_strdict(&old->dict[0], &in->dict_item);
        if (st == RTN_OK) st = copy_strdict(&old->dict[1], &in->dict_category);
        if (st == RTN_OK) st = copy_strdict(&old->dict[2], &in->dict_store);
        st = rtn_agree(comm, st);
        rtn_store_close(oldh);
        oldh = NULL;
        if (st) goto out;
    }

    /* parse */
    c.bucket_cnt = calloc(c.B ? c.B : 1, sizeof *c.bucket_cnt);
    st = rtn_agree(comm, c.bucket_cnt ? RTN_OK : rtn_fail(RTN_ERR_NOMEM, "out of memory"));
    if (st) goto out;
    rtn_phase_begin("parse");
    {
        double total = 0;
        for (int i = 1; i <= c.nfiles; i++) {
            struct stat sb;
            if (stat(c.files[i].path, &sb) == 0) total += (double)sb.st_size;
        }
        rtn_progress_begin(&c.prog, "ingest: parsing", "bytes", total / c.size);
    }
    for (int i = 1; i <= c.nfiles && st == RTN_OK; i++) st = process_file(&c, (uint16_t)i);
    rtn_progress_end(&c.prog, c.bytes_done);
    rtn_phase_end("parse");
    if (st) goto out;

    counters gt = c.tot;
    MPI_Allreduce(MPI_IN_PLACE, &gt, NCOUNTERS, MPI_UINT64_T, MPI_SUM, comm);
    uint64_t rejected = 0;
    for (int i = 1; i < RTN_REJ_NREASONS; i++)
        if (i != RTN_REJ_DUPLICATE) rejected += gt.by_reason[i];
    uint64_t bytes_in = 0;
    for (int i = 1; i <= c.nfiles; i++) {
        uint64_t v[2] = {c.files[i].rows_read, c.files[i].rejected};
        MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_SUM, comm);
        c.files[i].rows_read = v[0];
        c.files[i].rejected = v[1];
        bytes_in += c.files[i].len;
    }
    rtn_summary_set_int("ingest", "files", c.nfiles);
    rtn_summary_set_int("ingest", "bytes", (int64_t)bytes_in);
    rtn_summary_set_int("ingest", "rows_read", (int64_t)gt.rows_read);
    rtn_summary_set_int("ingest", "rows_rejected", (int64_t)rejected);
    rtn_summary_set_int("ingest", "blank_lines", (int64_t)gt.blank);
    rtn_summary_set_int("ingest", "returns", (int64_t)gt.returns);
    rtn_summary_set_int("ingest", "amounts_rounded", (int64_t)gt.rounded);
    json_object_set_new(rtn_summary_section("ingest"), "rejected_by_reason", reasons_json(gt.by_reason));
    rtn_summary_set_str("ingest", "rejects_file", rejects);
    rtn_summary_set_str("ingest", "mapping", opt->mapping.name);
    rtn_info("ingest: %" PRIu64 " rows read from %d file(s), %" PRIu64 " rejected (%.2f%%)",
             gt.rows_read, c.nfiles, rejected,
             gt.rows_read ? 100.0 * (double)rejected / (double)gt.rows_read : 0.0);
    for (int i = 1; i < RTN_REJ_NREASONS; i++)
        if (gt.by_reason[i]) rtn_info("  rejected %-20s %" PRIu64, rtn_reject_names[i], gt.by_reason[i]);

    if (gt.rows_read > 0 && (double)rejected > max_rate * (double)gt.rows_read) {
        st = write_rejects(&c, rejects);
        if (st == RTN_OK)
            st = rtn_fail(RTN_ERR_DATA, "%" PRIu64 " of %" PRIu64 " rows rejected (%.2f%%), more "
                          "than --max-reject-rate %g; no store written; rejected rows are in '%s'",
                          rejected, gt.rows_read, 100.0 * (double)rejected / (double)gt.rows_read,
                          max_rate, rejects);
        goto out;
    }
    if (gt.accepted == 0 && !old) {
        st = write_rejects(&c, rejects);
        if (st == RTN_OK)
            st = rtn_fail(RTN_ERR_DATA, "no rows accepted (%" PRIu64 " read, %" PRIu64 " rejected); "
                          "no store written%s%s", gt.rows_read, rejected,
                          rejected ? "; see " : "", rejected ? rejects : "");
        goto out;
    }

    /* dictionaries */
    rtn_phase_begin("dictionaries");
    {
        const rtn_strdict *od[3] = {old ? &old->dict[0] : NULL, old ? &old->dict[1] : NULL,
                                    old ? &old->dict[2] : NULL};
        unsigned char *used[3];
        for (int k = 0; k < 3; k++) used[k] = calloc(c.dict[k].n ? c.dict[k].n : 1, 1);
        if (!used[0] || !used[1] || !used[2]) st = rtn_fail(RTN_ERR_NOMEM, "out of memory");
        if (st == RTN_OK && !c.discarded) {
            /* every interned string came from a row that was kept */
            for (int k = 0; k < 3; k++) memset(used[k], 1, c.dict[k].n);
        }
        for (size_t i = 0; st == RTN_OK && c.discarded && i < c.nrows; i++) {
            const ing_row *r = &c.rows[i];
            if (r->item >= 0) used[0][r->item] = 1;
            if (r->category >= 0) used[1][r->category] = 1;
            if (r->store >= 0) used[2][r->store] = 1;
        }
        st = rtn_agree(comm, st);
        for (int k = 0; k < 3 && st == RTN_OK; k++) st = build_dict(&c, k, od[k], &g[k], used[k]);
        for (int k = 0; k < 3; k++) free(used[k]);
        /* the rows' local codes become global codes while the shuffle packs them */
    }
    rtn_phase_end("dictionaries");
    if (st) goto out;

    /* shuffle to bucket owners, add the appended store's rows, sort, de-duplicate */
    uint32_t b0 = 0, b1 = 0;
    rtn_phase_begin("shuffle");
    st = shuffle(&c, old ? old->off : NULL, g, &b0, &b1, &recv_cnt);
    rtn_phase_end("shuffle");
    if (st) goto out;
    uint64_t from_old = 0;
    if (old) {
        rtn_phase_begin("read-append");
        size_t before = c.nrows;
        st = load_old_rows(&c, old, b0, b1, g);
        from_old = c.nrows - before;
        st = rtn_agree(comm, st);
        rtn_phase_end("read-append");
        if (st) goto out;
        MPI_Allreduce(MPI_IN_PLACE, &from_old, 1, MPI_UINT64_T, MPI_SUM, comm);
    }
    rtn_phase_begin("sort");
    st = sort_rows(&c, b0, b1, recv_cnt);
    uint64_t dups[2] = {0, 0};
    stats.off = calloc((size_t)c.B + 1, sizeof *stats.off);
    stats.tmin = INT64_MAX;
    stats.tmax = INT64_MIN;
    if (st == RTN_OK && !stats.off) st = rtn_fail(RTN_ERR_NOMEM, "out of memory (bucket offsets)");
    if (st == RTN_OK && !keep_dups) st = dedup(&c, &dups[0], &dups[1], &stats);
    else if (st == RTN_OK) row_stats(&c, &stats);
    st = rtn_agree(comm, st);
    rtn_phase_end("sort");
    if (st) goto out;
    MPI_Allreduce(MPI_IN_PLACE, dups, 2, MPI_UINT64_T, MPI_SUM, comm);
    rtn_summary_set_int("ingest", "duplicates_removed", (int64_t)(dups[0] + dups[1]));
    rtn_summary_set_int("ingest", "rows_accepted", (int64_t)(gt.accepted - dups[0]));
    if (old) {
        rtn_summary_set_int("ingest", "rows_from_appended_store", (int64_t)from_old);
        rtn_summary_set_int("ingest", "appended_store_duplicates_removed", (int64_t)dups[1]);
    }
    if (dups[0] + dups[1])
        rtn_info("ingest: %" PRIu64 " exact duplicate rows removed", dups[0] + dups[1]);

    /* rejects file (parse rejects and removed duplicates) */
    rtn_phase_begin("rejects");
    st = write_rejects(&c, rejects);
    rtn_phase_end("rejects");
    if (st) goto out;

    /* provenance and the store */
    char *prov_txt = NULL;
    {
        json_t *p = json_object();
        json_object_set_new(p, "created_by", json_string("retain ingest"));
        json_object_set_new(p, "mapping", json_string(opt->mapping.name));
        json_object_set_new(p, "key_fingerprint", json_string(fp));
        json_t *ins = json_array();
        for (int i = 1; i <= c.nfiles; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "path", json_string(c.files[i].path));
            json_object_set_new(o, "bytes", json_integer((json_int_t)c.files[i].len));
            json_object_set_new(o, "rows_read", json_integer((json_int_t)c.files[i].rows_read));
            json_object_set_new(o, "rows_rejected", json_integer((json_int_t)c.files[i].rejected));
            json_array_append_new(ins, o);
        }
        json_object_set_new(p, "inputs", ins);
        json_object_set_new(p, "rows_read", json_integer((json_int_t)gt.rows_read));
        json_object_set_new(p, "rows_rejected", json_integer((json_int_t)rejected));
        json_object_set_new(p, "duplicates_removed", json_integer((json_int_t)(dups[0] + dups[1])));
        json_object_set_new(p, "rejected_by_reason", reasons_json(gt.by_reason));
        const rtn_ingest_mapping *m = &opt->mapping;
        json_object_set_new(p, "time_zone", json_string(m->tz_kind == RTN_TZ_NAME ? m->tz_name
                                                        : m->tz_kind == RTN_TZ_OFFSET ? "fixed offset"
                                                        : "UTC"));
        if (m->tz_kind == RTN_TZ_OFFSET)
            json_object_set_new(p, "time_zone_offset_seconds", json_integer(m->tz_offset));
        if (opt->append_to) {
            json_t *a = json_object();
            json_object_set_new(a, "path", json_string(opt->append_to));
            json_object_set_new(a, "content_digest", json_string(old->digest));
            json_object_set_new(a, "rows", json_integer((json_int_t)old->n_rows));
            if (old_prov) json_object_set(a, "provenance", old_prov);
            json_object_set_new(p, "appended_to", a);
        }
        prov_txt = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(p);
    }
    uint64_t n_rows = 0, n_cust = 0;
    rtn_phase_begin("write");
    st = write_store(&c, b0, b1, g, prov_txt ? prov_txt : "{}", &stats, &n_rows, &n_cust);
    rtn_phase_end("write");
    free(prov_txt);
    if (st == RTN_OK) {
        rtn_summary_set_int("ingest", "rows_written", (int64_t)n_rows);
        rtn_summary_set_int("ingest", "customers", (int64_t)n_cust);
        rtn_summary_set_int("ingest", "buckets", c.B);
        rtn_summary_set_str("ingest", "store", opt->out);
        rtn_summary_set_str("ingest", "key_fingerprint", fp);
        rtn_info("ingest: wrote '%s': %" PRIu64 " rows, %" PRIu64 " customers, %zu items, "
                 "%zu categories, %zu stores", opt->out, n_rows, n_cust, g[0].n, g[1].n, g[2].n);
    }

out:
    if (oldh) rtn_store_close(oldh);
    old_store_free(&os_);
    json_decref(old_prov);
    for (int k = 0; k < 3; k++) gdict_free(&g[k]);
    for (int i = 0; c.files && i <= c.nfiles; i++)
        if (c.files[i].map) munmap((void *)c.files[i].map, c.files[i].len);
    free(c.files);
    free(c.rows);
    free(c.spare);
    free(stats.off);
    free(recv_cnt);
    free(c.bucket_cnt);
    free(c.rej);
    st_free(&c.cust);
    for (int k = 0; k < 3; k++) st_free(&c.dict[k]);
    rtn_csv_record_free(&c.rec);
    rtn_pseudo_free(c.pz);
    tz_restore();
    return st;
}
