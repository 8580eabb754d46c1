/* Mapping files and presets of `retain ingest` (include/retain/ingest.h, docs/ingest.md):
 * the INI mapping, its checks, and the resolution of column names against a CSV header. */
#include "retain/ingest.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "retain/store.h"

#include "ingest_private.h"

const char *const rtn_ingest_role_names[RTN_ING_NROLES] = {
    "customer", "time", "amount", "quantity", "unit_price",
    "item", "category", "store", "channel", "basket"};

void ing_mapping_defaults(rtn_ingest_mapping *m)
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
    ing_mapping_defaults(m);
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
            int ch = rtn_ingest_channel_code(value, strlen(value));
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

int ing_mapping_common_key(rtn_ingest_mapping *m, const char *section, const char *name,
                           const char *value, char *err, size_t errn)
{
    int common = strcasecmp(section, "input") == 0 ||
                 (strcasecmp(section, "values") == 0 &&
                  (!strcasecmp(name, "time_format") || !strcasecmp(name, "timezone") ||
                   !strcasecmp(name, "duplicates") || !strcasecmp(name, "max_reject_rate")));
    if (!common) return -1;
    ini_ctx c = {m, ""};
    int ok = mapping_ini_handler(&c, section, name, value);
    if (!ok) snprintf(err, errn, "%s", c.err);
    return ok;
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
    ing_mapping_defaults(m);
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

