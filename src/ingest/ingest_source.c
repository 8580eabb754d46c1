/* `retain ingest --add KIND`: a customer-360 export (members, events, feedback) added to a
 * copy of an existing store, keyed and bucketed like its transactions (docs/ingest.md
 * "Sources", docs/formats.md "Sources", docs/privacy.md).
 *
 * Every rank parses its byte range of each input (ing_parse_ranges) into rows of words:
 * [target source<<32 | bucket, key, file<<48 | line, offset<<16 | raw length, one value per
 * role of the kind]. Dictionary strings are merged into sorted global lists, rows go to
 * the rank owning their bucket (MPI_Alltoallv), are sorted by (source, bucket, key, time,
 * values, file, line) and the kind's rules run per key (latest member state, tier history,
 * sessions, visitor links, duplicates). Each source of the kind is then written as its own
 * group into a byte copy of the base store, which is never modified. */
#define _GNU_SOURCE /* qsort_r */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <ini.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "retain/buckets.h"
#include "retain/h5.h"
#include "retain/source.h"

#include "ingest_private.h"

/* ------------------------------------------------------------------ reject reasons */

enum {
    SR_NONE = 0,
    SR_UNTERMINATED_QUOTE,
    SR_BAD_QUOTE,
    SR_WRONG_COLUMN_COUNT,
    SR_BAD_UTF8,
    SR_MISSING_CUSTOMER,
    SR_BAD_CUSTOMER,
    SR_BAD_DATE,
    SR_FIELD_TOO_LONG,
    SR_UNKNOWN_EVENT_TYPE,
    SR_UNKNOWN_KIND,
    SR_BAD_SCORE,
    SR_BAD_FLAG,
    SR_BAD_NUMBER,
    SR_BAD_BIRTH_DATE,
    SR_DUPLICATE_MEMBER,
    SR_DUPLICATE,
    SR_NREASONS
};

static const char *const sr_names[SR_NREASONS] = {
    "none", "unterminated_quote", "bad_quote", "wrong_column_count", "bad_utf8",
    "missing_customer", "bad_customer", "bad_date", "field_too_long", "unknown_event_type",
    "unknown_kind", "bad_score", "bad_flag", "bad_number", "bad_birth_date",
    "duplicate_member", "duplicate"};

/* ------------------------------------------------------------------ the kinds */

#define MAX_ROLES 24
#define MAX_TARGETS 4

/* An input kind: the sources its rows fill (all table entries whose `input` is the kind)
 * and the roles a mapping may assign, which are the union of those sources' columns plus
 * the kind's own extras. */
typedef struct {
    const char *name;
    const char *extra_role;         /* NULL or a flag role not stored (members: opt_out) */
    const char *vocab_role;         /* dictionary role with a declared vocabulary */
    const char *const *vocabulary;  /* built-in vocabulary (NULL-terminated) */
    int vocab_fixed;                /* 1: the vocabulary cannot be extended or relaxed */
} src_kind;

static const char *const event_vocabulary[] = {
    "visit", "page_view", "product_view", "search", "add_to_cart", "remove_from_cart",
    "checkout_start", "purchase", "coupon_issued", "coupon_redeemed", "app_open", "push_open",
    NULL};
static const char *const feedback_vocabulary[] = {"nps", "csat", "rating", "complaint", "ticket",
                                                  NULL};

static const src_kind kinds[] = {
    {"members", "opt_out", NULL, NULL, 0},
    {"events", NULL, "event_type", event_vocabulary, 0},
    {"feedback", NULL, "kind", feedback_vocabulary, 1},
};
static const int nkinds = (int)(sizeof kinds / sizeof kinds[0]);

typedef struct {
    const char *name;
    rtn_src_fill fill;
    int sensitive;
    int64_t lo, hi;
} role_t;

typedef struct {
    const src_kind *k;
    int nroles;
    role_t role[MAX_ROLES];
    int ntargets;
    const rtn_source_desc *target[MAX_TARGETS];
    int role_of[MAX_TARGETS][RTN_SOURCE_MAX_COLS]; /* target column -> role */
} kind_info;

static int role_index(const kind_info *ki, const char *name)
{
    for (int r = 0; r < ki->nroles; r++)
        if (strcmp(ki->role[r].name, name) == 0) return r;
    return -1;
}

static void kind_info_build(kind_info *ki, const src_kind *k)
{
    memset(ki, 0, sizeof *ki);
    ki->k = k;
    for (int s = 0; s < rtn_nsources; s++) {
        const rtn_source_desc *d = &rtn_sources[s];
        if (strcmp(d->input, k->name) != 0 || ki->ntargets == MAX_TARGETS) continue;
        int t = ki->ntargets++;
        ki->target[t] = d;
        for (int c = 0; c < d->ncols; c++) {
            int r = role_index(ki, d->cols[c].name);
            if (r < 0 && ki->nroles < MAX_ROLES) {
                r = ki->nroles++;
                ki->role[r] = (role_t){d->cols[c].name, d->cols[c].fill, d->cols[c].sensitive,
                                       d->cols[c].lo, d->cols[c].hi};
            }
            ki->role_of[t][c] = r;
        }
    }
    if (k->extra_role && ki->nroles < MAX_ROLES)
        ki->role[ki->nroles++] = (role_t){k->extra_role, RTN_FILL_FLAG, 0, 0, 1};
}

static const src_kind *kind_find(const char *name)
{
    for (int i = 0; i < nkinds; i++)
        if (strcmp(kinds[i].name, name) == 0) return &kinds[i];
    return NULL;
}

/* ------------------------------------------------------------------ mapping */

typedef struct {
    rtn_ingest_mapping base;              /* dialect, header, time format and zone, rates */
    char column[MAX_ROLES][RTN_ING_NAME_MAX];
    int col[MAX_ROLES];
    char vocabulary[2048];                /* extra event types, comma-separated */
    int strict;                           /* reject types outside the vocabulary */
    int64_t session_gap;                  /* seconds */
    int birth_band;                       /* 0: birth year, 5: first year of a 5-year band */
    int postcode_prefix;
    char keep[512];                       /* sensitive roles opted in, comma-separated */
    char suppression[RTN_PATH_MAX];
} src_mapping;

typedef struct {
    src_mapping *m;
    const kind_info *ki;
    char err[300];
} src_ini;

static int list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        while (*p == ',' || isblank((unsigned char)*p)) p++;
        const char *q = p;
        while (*q && *q != ',') q++;
        const char *e = q;
        while (e > p && isblank((unsigned char)e[-1])) e--;
        if ((size_t)(e - p) == n && strncasecmp(p, name, n) == 0) return 1;
        p = q;
    }
    return 0;
}

static int src_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    src_ini *c = user;
    src_mapping *m = c->m;
#define BAD(...)                                                                           \
    do {                                                                                   \
        snprintf(c->err, sizeof c->err, __VA_ARGS__);                                      \
        return 0;                                                                          \
    } while (0)
    int common = ing_mapping_common_key(&m->base, section, name, value, c->err, sizeof c->err);
    if (common >= 0) return common;
    if (!strcasecmp(section, "columns")) {
        int r = role_index(c->ki, name);
        if (r < 0) {
            char known[400] = "";
            for (int i = 0, o = 0; i < c->ki->nroles; i++)
                o += snprintf(known + o, sizeof known - (size_t)o, "%s%s", i ? ", " : "",
                              c->ki->role[i].name);
            BAD("[columns] unknown role '%s' for %s (known: %s)%s", name, c->ki->k->name, known,
                !strcasecmp(name, "comment") ? "; free text is never stored" : "");
        }
        if (strlen(value) >= RTN_ING_NAME_MAX) BAD("[columns] %s: name too long", name);
        snprintf(m->column[r], sizeof m->column[r], "%s", value);
        return 1;
    }
    if (!strcasecmp(section, "values")) {
        if (!strcasecmp(name, "vocabulary") && c->ki->k->vocab_role && !c->ki->k->vocab_fixed) {
            if (strlen(value) >= sizeof m->vocabulary) BAD("[values] vocabulary is too long");
            snprintf(m->vocabulary, sizeof m->vocabulary, "%s", value);
            return 1;
        }
        if (!strcasecmp(name, "strict_vocabulary") && c->ki->k->vocab_role && !c->ki->k->vocab_fixed) {
            if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") || !strcmp(value, "1")) m->strict = 1;
            else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") || !strcmp(value, "0")) m->strict = 0;
            else BAD("[values] strict_vocabulary '%s' is not yes or no", value);
            return 1;
        }
        if (!strcasecmp(name, "session_gap_minutes") && role_index(c->ki, "session") >= 0) {
            char *e;
            long v = strtol(value, &e, 10);
            if (*e || v < 1 || v > 24 * 60) BAD("[values] session_gap_minutes '%s' is not in 1..1440", value);
            m->session_gap = (int64_t)v * 60;
            return 1;
        }
        BAD("[values] unknown key '%s' for %s", name, c->ki->k->name);
    }
    if (!strcasecmp(section, "privacy")) {
        if (!strcasecmp(name, "birth") && role_index(c->ki, "birth_year") >= 0) {
            if (!strcasecmp(value, "year")) m->birth_band = 0;
            else if (!strcasecmp(value, "band5")) m->birth_band = 5;
            else BAD("[privacy] birth '%s' is not year or band5", value);
            return 1;
        }
        if (!strcasecmp(name, "postcode_prefix") && role_index(c->ki, "region") >= 0) {
            char *e;
            long v = strtol(value, &e, 10);
            if (*e || v < 1 || v > 16) BAD("[privacy] postcode_prefix '%s' is not in 1..16", value);
            m->postcode_prefix = (int)v;
            return 1;
        }
        if (!strcasecmp(name, "keep")) {
            if (strlen(value) >= sizeof m->keep) BAD("[privacy] keep is too long");
            snprintf(m->keep, sizeof m->keep, "%s", value);
            return 1;
        }
        if (!strcasecmp(name, "suppression_list")) {
            if (strlen(value) >= sizeof m->suppression) BAD("[privacy] suppression_list: path too long");
            snprintf(m->suppression, sizeof m->suppression, "%s", value);
            return 1;
        }
        BAD("[privacy] unknown key '%s' for %s", name, c->ki->k->name);
    }
    BAD("unknown section [%s] (known: input, columns, values, privacy)", section);
#undef BAD
}

static rtn_status src_mapping_load(src_mapping *m, const kind_info *ki, const char *path)
{
    memset(m, 0, sizeof *m);
    ing_mapping_defaults(&m->base);
    snprintf(m->base.name, sizeof m->base.name, "%s", path);
    m->session_gap = 30 * 60;
    m->postcode_prefix = 3;
    for (int r = 0; r < MAX_ROLES; r++) m->col[r] = -1;
    src_ini c = {m, ki, ""};
    int r = ini_parse(path, src_ini_handler, &c);
    if (r == -1) return rtn_fail(RTN_ERR_IO, "cannot open mapping file '%s': %s", path, strerror(errno));
    if (r == -2) return rtn_fail(RTN_ERR_NOMEM, "out of memory reading mapping '%s'", path);
    if (r > 0)
        return rtn_fail(RTN_ERR_CONFIG, "mapping file '%s', line %d: %s", path, r,
                        c.err[0] ? c.err : "syntax error");
    if (m->base.dialect.whitespace)
        return rtn_fail(RTN_ERR_CONFIG, "mapping file '%s': %s exports are delimited files; the "
                        "whitespace dialect is for transaction files only", path, ki->k->name);
    int has_customer = m->column[role_index(ki, "customer")][0] != 0;
    int rv = role_index(ki, "visitor");
    int has_visitor = rv >= 0 && m->column[rv][0];
    if (!has_customer && !has_visitor)
        return rtn_fail(RTN_ERR_CONFIG, "mapping file '%s': no customer column mapped%s", path,
                        rv >= 0 ? " (nor a visitor column)" : "");
    /* the required columns of the kind's first source (its own rows) */
    const rtn_source_desc *d = ki->target[0];
    for (int col = 1; col < d->ncols; col++) {
        const rtn_src_column *sc = &d->cols[col];
        if (sc->required && !m->column[ki->role_of[0][col]][0])
            return rtn_fail(RTN_ERR_CONFIG, "mapping file '%s': no %s column mapped (required for %s)",
                            path, sc->name, ki->k->name);
    }
    for (const char *p = m->keep; *p;) {
        while (*p == ',' || isblank((unsigned char)*p)) p++;
        if (!*p) break;
        const char *q = p;
        while (*q && *q != ',' && !isblank((unsigned char)*q)) q++;
        char nm[64];
        snprintf(nm, sizeof nm, "%.*s", (int)(q - p), p);
        int ri = role_index(ki, nm);
        if (ri < 0 || !ki->role[ri].sensitive)
            return rtn_fail(RTN_ERR_CONFIG, "mapping file '%s': [privacy] keep names '%s', which is "
                            "not a sensitive column of %s", path, nm, ki->k->name);
        p = q;
    }
    return RTN_OK;
}

/* ------------------------------------------------------------------ run state */

#define HDR 4 /* words before the role values */

typedef struct {
    ictx base; /* comm, rank, size, files, rejects (shared with ing_write_rejects) */
    const kind_info *ki;
    src_mapping m;
    int W;                                 /* words per row */
    int role_customer, role_visitor, role_time, role_session, role_vocab, role_kind_score,
        role_optout, role_updated, role_tier;
    unsigned used_roles;                   /* bit r: role r read from the CSV */
    strtab dict[MAX_ROLES];
    strtab cust_cache, visitor_cache;
    uint64_t seed;                         /* session hash seed (from the key) */
    uint64_t *suppressed;                  /* sorted pseudonyms */
    size_t nsuppressed;
    uint64_t *rows;
    size_t nrows, caprows;
    uint64_t *bucket_cnt;                  /* rows per bucket parsed on this rank */
    uint64_t by_reason[SR_NREASONS];
    uint64_t rows_read, blank, accepted, newlines, suppressed_rows;
    /* range state */
    uint16_t fi;
    size_t mark_rows, mark_rej;
    uint64_t k_rows_read, k_accepted, k_blank, k_newlines, k_suppressed, k_reason[SR_NREASONS];
    const char *kind_codes[8];             /* feedback kinds in vocabulary order */
} sctx;

static int role_used(const sctx *c, int r) { return r >= 0 && (c->used_roles & (1u << r)); }

static int rows_grow(sctx *c, size_t need)
{
    if (need <= c->caprows) return 1;
    size_t nc = c->caprows ? c->caprows * 2 : 4096;
    while (nc < need) nc *= 2;
    uint64_t *p = realloc(c->rows, nc * (size_t)c->W * sizeof *p);
    if (!p) return 0;
    c->rows = p;
    c->caprows = nc;
    return 1;
}

static void trim(const char **p, size_t *n)
{
    while (*n && isblank((unsigned char)**p)) (*p)++, (*n)--;
    while (*n && isblank((unsigned char)(*p)[*n - 1])) (*n)--;
}

static void excerpt(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[o++] = (ch >= 32 && ch < 127) ? (char)ch : '?';
    }
    if (n > 40 && o >= 4) memcpy(out + o - 3, "...", 3);
    out[o] = 0;
}

static rtn_status cached_pseudo(sctx *c, strtab *t, const char *prefix, const char *s, size_t n,
                                uint64_t *out)
{
    size_t idx;
    int r = ing_st_find_add(t, s, n, ing_str_hash(s, n), &idx);
    if (r < 0) return rtn_fail(RTN_ERR_NOMEM, "out of memory in the pseudonym cache");
    if (r == 1) {
        char buf[300];
        size_t pl = strlen(prefix);
        memcpy(buf, prefix, pl);
        memcpy(buf + pl, s, n);
        t->e[idx].val = rtn_pseudo_of(c->base.pz, buf, pl + n);
    }
    *out = t->e[idx].val;
    return RTN_OK;
}

static int is_suppressed(const sctx *c, uint64_t key)
{
    size_t lo = 0, hi = c->nsuppressed;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->suppressed[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->nsuppressed && c->suppressed[lo] == key;
}

static int parse_flag(const char *s, size_t n, int64_t *v)
{
    static const char *const yes[] = {"1", "y", "yes", "true", "t"}, *const no[] = {"0", "n", "no", "false", "f"};
    for (int i = 0; i < 5; i++) {
        if (strlen(yes[i]) == n && !strncasecmp(s, yes[i], n)) return *v = 1, 0;
        if (strlen(no[i]) == n && !strncasecmp(s, no[i], n)) return *v = 0, 0;
    }
    return -1;
}

static int parse_int(const char *s, size_t n, int64_t *v)
{
    if (!n || n > 19) return -1;
    size_t i = 0;
    int neg = 0;
    if (s[0] == '-' || s[0] == '+') neg = s[i++] == '-';
    if (i == n) return -1;
    int64_t x = 0;
    for (; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = neg ? -x : x;
    return 0;
}

/* Birth date or year: "1984", "1984-05-17", "1984/05/17", "17.05.1984" -> 1984. */
static int parse_birth(const char *s, size_t n, int64_t *year)
{
    int64_t y = -1;
    if (n >= 4 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
        isdigit((unsigned char)s[2]) && isdigit((unsigned char)s[3]) && (n == 4 || s[4] == '-' || s[4] == '/'))
        y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    else if (n == 10 && (s[2] == '.' || s[2] == '/' || s[2] == '-') && s[5] == s[2] &&
             isdigit((unsigned char)s[6]) && isdigit((unsigned char)s[9]))
        y = (s[6] - '0') * 1000 + (s[7] - '0') * 100 + (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1900 || y > 2100) return -1;
    *year = y;
    return 0;
}

static int push_reject(sctx *c, const rtn_csv_record *rec, uint64_t line, int why, const char *detail)
{
    c->k_reason[why]++;
    return ing_push_reject(&c->base, c->fi, line, rec->start, rec->raw_len, (rtn_reject_reason)why,
                           detail);
}

/* Converts one record into a row (or a reject). Returns 0, or -1 on out of memory. */
static rtn_status convert_record(sctx *c, const char *buf, const rtn_csv_record *rec, uint64_t line)
{
    const kind_info *ki = c->ki;
    const src_mapping *m = &c->m;
    char detail[112] = "";
    uint64_t w[HDR + MAX_ROLES];
    int64_t *val = (int64_t *)(w + HDR);
    for (int r = 0; r < ki->nroles; r++) val[r] = RTN_SOURCE_MISSING;
    if ((int)rec->nfields != m->base.ncolumns) {
        snprintf(detail, sizeof detail, "%zu fields, expected %d", rec->nfields, m->base.ncolumns);
        return push_reject(c, rec, line, SR_WRONG_COLUMN_COUNT, detail) ? RTN_OK : RTN_ERR_NOMEM;
    }
    size_t bad = rec->ascii ? 0 : rtn_utf8_check(buf + rec->start, rec->raw_len);
    if (bad) {
        snprintf(detail, sizeof detail, "%s at byte %zu of the record",
                 buf[rec->start + bad - 1] ? "invalid UTF-8" : "NUL byte", bad);
        return push_reject(c, rec, line, SR_BAD_UTF8, detail) ? RTN_OK : RTN_ERR_NOMEM;
    }
    uint64_t customer = 0, visitor = 0;
    int have_customer = 0, have_visitor = 0;
    int why = SR_NONE;
    for (int r = 0; r < ki->nroles && why == SR_NONE; r++) {
        if (!(c->used_roles & (1u << r))) continue;
        const role_t *ro = &ki->role[r];
        const char *s = rec->f[m->col[r]].p;
        size_t n = rec->f[m->col[r]].len;
        trim(&s, &n);
        char ex[48];
        excerpt(ex, sizeof ex, s, n);
        switch (ro->fill) {
        case RTN_FILL_KEY: {
            size_t nl;
            const char *id = rtn_customer_id_normalize(s, n, &nl);
            if (!nl) break;
            if (nl > 256) {
                why = SR_BAD_CUSTOMER;
                snprintf(detail, sizeof detail, "%s id longer than 256 bytes", ro->name);
                break;
            }
            int is_visitor = r == c->role_visitor;
            uint64_t k = 0;
            rtn_status st = cached_pseudo(c, is_visitor ? &c->visitor_cache : &c->cust_cache,
                                          is_visitor ? "visitor:" : "", id, nl, &k);
            if (st) return st;
            if (is_visitor) visitor = k, have_visitor = 1;
            else customer = k, have_customer = 1;
            val[r] = (int64_t)k;
            break;
        }
        case RTN_FILL_TIME: {
            int64_t t;
            if (!n) {
                why = SR_BAD_DATE;
                snprintf(detail, sizeof detail, "%s is empty", ro->name);
            } else if (rtn_ingest_parse_time(&m->base, s, n, &t) != 0) {
                why = SR_BAD_DATE;
                snprintf(detail, sizeof detail, "%s '%.40s' does not match '%.40s'", ro->name, ex,
                         m->base.time_format);
            } else
                val[r] = t;
            break;
        }
        case RTN_FILL_DICT:
        case RTN_FILL_POSTCODE: {
            if (!n) break;
            char tmp[RTN_ING_NAME_MAX];
            if (n >= RTN_ING_NAME_MAX) {
                why = SR_FIELD_TOO_LONG;
                snprintf(detail, sizeof detail, "%s is longer than %d bytes", ro->name, RTN_ING_NAME_MAX - 1);
                break;
            }
            size_t tn = 0;
            if (ro->fill == RTN_FILL_POSTCODE) {
                /* generalized: upper case, blanks removed, first N characters */
                for (size_t i = 0; i < n && (int)tn < m->postcode_prefix; i++)
                    if (!isblank((unsigned char)s[i])) tmp[tn++] = (char)toupper((unsigned char)s[i]);
            } else if (r == c->role_vocab) {
                for (size_t i = 0; i < n; i++) tmp[tn++] = (char)tolower((unsigned char)s[i]);
            } else {
                memcpy(tmp, s, n);
                tn = n;
            }
            size_t idx;
            if (ing_st_find_add(&c->dict[r], tmp, tn, ing_str_hash(tmp, tn), &idx) < 0)
                return rtn_fail(RTN_ERR_NOMEM, "out of memory (dictionary)");
            val[r] = (int64_t)idx;
            break;
        }
        case RTN_FILL_INT:
            if (!n) break;
            if (parse_int(s, n, &val[r]) != 0 || val[r] < ro->lo || val[r] > ro->hi) {
                why = SR_BAD_NUMBER;
                snprintf(detail, sizeof detail, "%s '%s' is not a whole number >= %" PRId64, ro->name,
                         ex, ro->lo);
            }
            break;
        case RTN_FILL_FLAG:
            if (!n) break;
            if (parse_flag(s, n, &val[r]) != 0) {
                why = SR_BAD_FLAG;
                snprintf(detail, sizeof detail, "%s '%s' is not one of 1/0, yes/no, true/false, y/n",
                         ro->name, ex);
            }
            break;
        case RTN_FILL_HASH:
            if (!n) break;
            val[r] = (int64_t)(XXH3_64bits_withSeed(s, n, c->seed) & ((UINT64_C(1) << 63) - 1));
            break;
        case RTN_FILL_BIRTH:
            if (!n) break;
            if (parse_birth(s, n, &val[r]) != 0) {
                why = SR_BAD_BIRTH_DATE;
                snprintf(detail, sizeof detail, "%s '%s' is not a year or a date with a year 1900-2100",
                         ro->name, ex);
            } else if (m->birth_band)
                val[r] -= val[r] % m->birth_band;
            break;
        case RTN_FILL_SCORE:
            if (!n) break;
            if (parse_int(s, n, &val[r]) != 0 || val[r] < 0 || val[r] > 10) {
                why = SR_BAD_SCORE;
                snprintf(detail, sizeof detail, "score '%s' is not a whole number 0-10", ex);
            }
            break;
        default:
            break;
        }
    }
    if (why == SR_NONE && !have_customer && !have_visitor) {
        why = SR_MISSING_CUSTOMER;
        snprintf(detail, sizeof detail, "no customer id%s", c->role_visitor >= 0 ? " and no visitor id" : "");
    }
    if (why != SR_NONE) return push_reject(c, rec, line, why, detail) ? RTN_OK : RTN_ERR_NOMEM;
    if (have_customer && c->nsuppressed && is_suppressed(c, customer)) {
        c->k_suppressed++;
        return RTN_OK;
    }
    w[2] = (uint64_t)c->fi << 48 | line;
    w[3] = (uint64_t)rec->start << 16 | (rec->raw_len < RAW_MAX ? rec->raw_len : RAW_MAX);
    /* target 0: the kind's own source (keyed by customer); events without a customer go to
     * visitor_events (target 1), and an event carrying both ids also yields a link row
     * (target 2), keyed by the visitor */
    int targets[2], nt = 0;
    if (have_customer) targets[nt++] = 0;
    else targets[nt++] = 1;
    if (have_customer && have_visitor) targets[nt++] = 2;
    if (!rows_grow(c, c->nrows + (size_t)nt)) return rtn_fail(RTN_ERR_NOMEM, "out of memory holding rows");
    for (int i = 0; i < nt; i++) {
        uint64_t key = targets[i] == 0 ? customer : visitor;
        uint32_t b = rtn_bucket_of(key, c->base.B);
        w[0] = (uint64_t)targets[i] << 32 | b;
        w[1] = key;
        memcpy(c->rows + c->nrows * (size_t)c->W, w, (size_t)c->W * sizeof *w);
        c->nrows++;
        c->bucket_cnt[b]++;
    }
    c->k_accepted++;
    return RTN_OK;
}

static rtn_status src_parse(void *ctx, size_t p, size_t e, size_t *endpos)
{
    sctx *c = ctx;
    const in_file *f = &c->base.files[c->fi];
    rtn_csv_record *rec = &c->base.rec;
    size_t pos = p;
    while (pos < f->len && pos <= e) {
        rtn_csv_result res = rtn_csv_next(&c->m.base.dialect, f->map, f->len, pos, rec);
        if (res == RTN_CSV_ERR_NOMEM) return rtn_fail(RTN_ERR_NOMEM, "out of memory parsing CSV");
        uint64_t line = c->k_newlines;
        c->k_newlines += rec->newlines;
        pos = rec->end;
        if (res == RTN_CSV_RECORD && rec->blank) {
            c->k_blank++;
            continue;
        }
        c->k_rows_read++;
        if (res == RTN_CSV_ERR_UNTERMINATED_QUOTE || res == RTN_CSV_ERR_BAD_QUOTE ||
            res == RTN_CSV_ERR_TOO_MANY_FIELDS) {
            int why = res == RTN_CSV_ERR_UNTERMINATED_QUOTE ? SR_UNTERMINATED_QUOTE
                      : res == RTN_CSV_ERR_BAD_QUOTE       ? SR_BAD_QUOTE
                                                           : SR_WRONG_COLUMN_COUNT;
            const char *d = why == SR_UNTERMINATED_QUOTE ? "a quoted field is not closed before the end of the file"
                            : why == SR_BAD_QUOTE ? "text between a closing quote and the next delimiter"
                                                  : "too many fields";
            if (!push_reject(c, rec, line, why, d)) return rtn_fail(RTN_ERR_NOMEM, "out of memory recording rejects");
            continue;
        }
        RTN_TRY(convert_record(c, f->map, rec, line));
    }
    *endpos = pos;
    return RTN_OK;
}

static void src_discard(void *ctx)
{
    sctx *c = ctx;
    /* rows of the discarded range are dropped; their bucket counts with them */
    for (size_t i = c->mark_rows; i < c->nrows; i++)
        c->bucket_cnt[(uint32_t)c->rows[i * (size_t)c->W]]--;
    c->nrows = c->mark_rows;
    c->base.nrej = c->mark_rej;
    c->base.discarded = 1;
    c->k_rows_read = c->k_accepted = c->k_blank = c->k_newlines = c->k_suppressed = 0;
    memset(c->k_reason, 0, sizeof c->k_reason);
}

static int trimmed_eq(const char *a, size_t n, const char *b)
{
    while (n && isblank((unsigned char)*a)) a++, n--;
    while (n && isblank((unsigned char)a[n - 1])) n--;
    return strlen(b) == n && strncasecmp(a, b, n) == 0;
}

/* Resolves the mapped column names against the header (or numbers without one). */
static rtn_status resolve_columns(sctx *c, const rtn_csv_record *hdr, const char *path)
{
    src_mapping *m = &c->m;
    if (!hdr || hdr->nfields == 0) return rtn_fail(RTN_ERR_DATA, "input '%s': no header line", path);
    if (m->base.ncolumns && (size_t)m->base.ncolumns != hdr->nfields)
        return rtn_fail(RTN_ERR_CONFIG, "input '%s': %zu columns, the mapping says %d", path,
                        hdr->nfields, m->base.ncolumns);
    int ncol = (int)hdr->nfields;
    for (int r = 0; r < c->ki->nroles; r++) {
        int col = -1;
        const char *name = m->column[r];
        if (!name[0] || !(c->used_roles & (1u << r))) continue;
        if (m->base.header) {
            for (size_t i = 0; i < hdr->nfields; i++)
                if (trimmed_eq(hdr->f[i].p, hdr->f[i].len, name)) col = (int)i;
        } else {
            char *e;
            long v = strtol(name, &e, 10);
            if (!*e && v >= 1 && v <= ncol) col = (int)v - 1;
        }
        if (col < 0)
            return rtn_fail(RTN_ERR_CONFIG, "input '%s': the mapping's %s column '%s' is not %s", path,
                            c->ki->role[r].name, name,
                            m->base.header ? "in the header" : "a column number 1..fields");
        if (m->col[r] >= 0 && m->col[r] != col)
            return rtn_fail(RTN_ERR_CONFIG, "input '%s': column '%s' is at position %d, in the first "
                            "input at %d; every input of one --add must have the same layout",
                            path, name, col + 1, m->col[r] + 1);
        m->col[r] = col;
    }
    m->base.ncolumns = ncol;
    return RTN_OK;
}

static rtn_status process_file(sctx *c, uint16_t fi, json_t *not_read)
{
    in_file *f = &c->base.files[fi];
    rtn_status st = ing_map_file(f);
    if (st == RTN_OK && f->len == 0) st = rtn_fail(RTN_ERR_DATA, "input '%s' is empty (0 bytes)", f->path);
    size_t data_start = 0;
    uint64_t hdr_nl = 0;
    if (st == RTN_OK) {
        size_t bom = rtn_csv_bom(f->map, f->len);
        rtn_csv_result res = rtn_csv_next(&c->m.base.dialect, f->map, f->len, bom, &c->base.rec);
        if (res != RTN_CSV_RECORD || c->base.rec.blank)
            st = rtn_fail(RTN_ERR_FORMAT, "input '%s': the first line is not a CSV record", f->path);
        else if (rtn_utf8_check(f->map + c->base.rec.start, c->base.rec.raw_len))
            st = rtn_fail(RTN_ERR_FORMAT, "input '%s': the first line is not UTF-8 text; is this a "
                          "CSV file?", f->path);
        if (st == RTN_OK) st = resolve_columns(c, &c->base.rec, f->path);
        if (st == RTN_OK && c->m.base.header) {
            data_start = c->base.rec.end;
            hdr_nl = c->base.rec.newlines;
            if (fi == 1 && not_read) {
                /* governance: the export's columns this ingest does not store */
                for (size_t i = 0; i < c->base.rec.nfields; i++) {
                    int mapped = 0;
                    for (int r = 0; r < c->ki->nroles; r++)
                        if ((c->used_roles & (1u << r)) && c->m.col[r] == (int)i) mapped = 1;
                    if (!mapped) {
                        char nm[RTN_ING_NAME_MAX];
                        excerpt(nm, sizeof nm, c->base.rec.f[i].p, c->base.rec.f[i].len);
                        json_array_append_new(not_read, json_string(nm));
                    }
                }
            }
        } else if (st == RTN_OK)
            data_start = bom;
    }
    st = rtn_agree(c->base.comm, st);
    if (st) return st;
    c->fi = fi;
    c->mark_rows = c->nrows;
    c->mark_rej = c->base.nrej;
    c->k_rows_read = c->k_accepted = c->k_blank = c->k_newlines = c->k_suppressed = 0;
    memset(c->k_reason, 0, sizeof c->k_reason);
    const ing_range_parser rp = {src_parse, src_discard, c};
    size_t s = 0, e = 0;
    st = ing_parse_ranges(c->base.comm, f->map, f->len, data_start, c->m.base.dialect.quote, &rp,
                          f->path, &s, &e);
    if (st) return st;
    uint64_t nl_before = 0;
    MPI_Exscan(&c->k_newlines, &nl_before, 1, MPI_UINT64_T, MPI_SUM, c->base.comm);
    if (c->base.rank == 0) nl_before = 0;
    const uint64_t base = 1 + hdr_nl + nl_before;
    for (size_t i = c->mark_rows; i < c->nrows; i++) c->rows[i * (size_t)c->W + 2] += base;
    for (size_t i = c->mark_rej; i < c->base.nrej; i++) c->base.rej[i].line += base;
    f->rows_read = c->k_rows_read;
    f->rejected = c->k_rows_read - c->k_accepted - c->k_suppressed;
    c->rows_read += c->k_rows_read;
    c->accepted += c->k_accepted;
    c->blank += c->k_blank;
    c->suppressed_rows += c->k_suppressed;
    for (int i = 0; i < SR_NREASONS; i++) c->by_reason[i] += c->k_reason[i];
    c->base.bytes_done += (double)(e - s);
    return RTN_OK;
}

/* ------------------------------------------------------------------ ordering */

typedef struct {
    int W;
    int nval;            /* value words compared after the key, in order */
    int val[MAX_ROLES];
} sort_spec;

static int row_cmp(const void *a, const void *b, void *arg)
{
    const sort_spec *sp = arg;
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    if (x[1] != y[1]) return x[1] < y[1] ? -1 : 1;
    for (int i = 0; i < sp->nval; i++) {
        int64_t u = (int64_t)x[HDR + sp->val[i]], v = (int64_t)y[HDR + sp->val[i]];
        if (u != v) return u < v ? -1 : 1;
    }
    if (x[2] != y[2]) return x[2] < y[2] ? -1 : 1;
    return 0;
}

/* ------------------------------------------------------------------ output blocks */

typedef struct {
    rtn_src_block blk;
    uint64_t *cnt;   /* B: rows per bucket (this rank's buckets) */
    uint64_t *off;   /* B+1 global offsets */
    uint64_t n_keys;
    int64_t tmin, tmax;
    unsigned present;
    uint64_t derived; /* rows this rank derived (tier entries, links) or sessions cut */
    int written;
} out_src;

static rtn_status out_push(out_src *o, const rtn_source_desc *d, const int64_t *v, uint32_t bucket)
{
    if (o->blk.n == o->blk.cap) RTN_TRY(rtn_src_block_reserve(&o->blk, d, o->blk.cap * 2 + 1024));
    for (int col = 0; col < d->ncols; col++) o->blk.v[col][o->blk.n] = v[col];
    if (o->blk.n == 0 || o->blk.v[0][o->blk.n - 1] != v[0]) o->n_keys++;
    o->blk.n++;
    o->cnt[bucket]++;
    if (v[1] < o->tmin) o->tmin = v[1];
    if (v[1] > o->tmax) o->tmax = v[1];
    return RTN_OK;
}

/* The stored columns of target t from a row's role values. */
static void target_values(const sctx *c, int t, const uint64_t *w, int64_t *out)
{
    const rtn_source_desc *d = c->ki->target[t];
    const int64_t *val = (const int64_t *)(w + HDR);
    for (int col = 0; col < d->ncols; col++) out[col] = val[c->ki->role_of[t][col]];
    out[0] = (int64_t)w[1];
}

static int same_values(const sctx *c, const uint64_t *x, const uint64_t *y)
{
    return x[0] == y[0] && x[1] == y[1] &&
           memcmp(x + HDR, y + HDR, (size_t)(c->W - HDR) * sizeof *x) == 0;
}

static int push_row_reject(sctx *c, const uint64_t *w, int why, const char *detail)
{
    c->by_reason[why]++;
    return ing_push_reject(&c->base, (uint16_t)(w[2] >> 48), w[2] & ((UINT64_C(1) << 48) - 1),
                           w[3] >> 16, (size_t)(w[3] & 0xffff), (rtn_reject_reason)why, detail);
}

/* Members: per customer the rows sorted by updated_at; the last state wins, unless its
 * opt-out flag is set (then the customer is removed); tier entries become member_tiers. */
static rtn_status members_rules(sctx *c, const uint64_t *rows, size_t n, out_src *out, int keep_dups,
                                uint64_t *dups, uint64_t *optouts)
{
    const int W = c->W;
    const int ru = c->role_updated, rt = c->role_tier, ro = c->role_optout;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && rows[j * W + 1] == rows[i * W + 1]) j++;
        /* within the customer: equal updated_at groups */
        size_t last = i;
        const size_t tiers_mark = out[1].blk.n;
        const uint64_t keys_mark = out[1].n_keys, derived_mark = out[1].derived;
        int64_t prev_tier = RTN_SOURCE_MISSING;
        int64_t vals[RTN_SOURCE_MAX_COLS];
        for (size_t a = i; a < j;) {
            size_t b = a + 1;
            const uint64_t *wa = rows + a * W;
            while (b < j && rows[b * W + HDR + ru] == wa[HDR + ru]) b++;
            for (size_t x = a + 1; x < b; x++) {
                const uint64_t *wx = rows + x * W;
                if (same_values(c, wa, wx)) {
                    if (keep_dups) continue;
                    (*dups)++;
                    if (!push_row_reject(c, wx, SR_DUPLICATE, "exact duplicate of an earlier row"))
                        return rtn_fail(RTN_ERR_NOMEM, "out of memory recording rejects");
                } else {
                    char det[112];
                    snprintf(det, sizeof det, "another row of this member has the same updated_at "
                             "(line %" PRIu64 ") with different values", wa[2] & ((UINT64_C(1) << 48) - 1));
                    if (!push_row_reject(c, wx, SR_DUPLICATE_MEMBER, det))
                        return rtn_fail(RTN_ERR_NOMEM, "out of memory recording rejects");
                }
            }
            last = a;
            if (rt >= 0 && out[1].present) {
                int64_t tier = (int64_t)wa[HDR + rt];
                if (tier != RTN_SOURCE_MISSING && tier != prev_tier) {
                    vals[0] = (int64_t)wa[1];
                    vals[1] = (int64_t)wa[HDR + ru];
                    vals[2] = tier;
                    RTN_TRY(out_push(&out[1], c->ki->target[1], vals, (uint32_t)wa[0]));
                    out[1].derived++;
                    prev_tier = tier;
                }
            }
            a = b;
        }
        const uint64_t *wl = rows + last * W;
        if (ro >= 0 && (int64_t)wl[HDR + ro] == 1) {
            /* opted out: the customer leaves every group of this ingest */
            (*optouts)++;
            out[1].cnt[(uint32_t)wl[0]] -= out[1].blk.n - tiers_mark;
            out[1].blk.n = tiers_mark;
            out[1].n_keys = keys_mark;
            out[1].derived = derived_mark;
        } else {
            target_values(c, 0, wl, vals);
            RTN_TRY(out_push(&out[0], c->ki->target[0], vals, (uint32_t)wl[0]));
        }
        i = j;
    }
    return RTN_OK;
}

/* Events of one target (customer events or visitor events): exact duplicates removed,
 * sessions cut by the inactivity gap where the export gave none. */
static rtn_status events_rules(sctx *c, int t, const uint64_t *rows, size_t n, out_src *o,
                               int keep_dups, uint64_t *dups)
{
    const int W = c->W, rs = c->role_session, rtm = c->role_time;
    const rtn_source_desc *d = c->ki->target[t];
    const int scol = rtn_source_column(d, "session");
    int64_t vals[RTN_SOURCE_MAX_COLS];
    uint64_t cur_key = 0, cur_session = 0;
    int64_t last_time = 0;
    int have = 0;
    for (size_t i = 0; i < n; i++) {
        const uint64_t *w = rows + i * W;
        if (i && !keep_dups && same_values(c, w - W, w)) {
            (*dups)++;
            if (!push_row_reject(c, w, SR_DUPLICATE, "exact duplicate of an earlier row"))
                return rtn_fail(RTN_ERR_NOMEM, "out of memory recording rejects");
            continue;
        }
        target_values(c, t, w, vals);
        if (scol >= 0 && (rs < 0 || (int64_t)w[HDR + rs] == RTN_SOURCE_MISSING)) {
            int64_t tm = (int64_t)w[HDR + rtm];
            if (!have || cur_key != w[1] || tm - last_time > c->m.session_gap) {
                cur_session = rtn_mix64(w[1] ^ rtn_mix64((uint64_t)tm)) | UINT64_C(1) << 63;
                o->derived++;
            }
            cur_key = w[1];
            last_time = tm;
            have = 1;
            vals[scol] = (int64_t)cur_session;
        }
        RTN_TRY(out_push(o, d, vals, (uint32_t)w[0]));
    }
    return RTN_OK;
}

/* Links: one row per (visitor, customer), at the first event carrying both. */
static rtn_status links_rules(sctx *c, const uint64_t *rows, size_t n, out_src *o)
{
    const int W = c->W, rcu = c->role_customer;
    const rtn_source_desc *d = c->ki->target[2];
    int64_t vals[RTN_SOURCE_MAX_COLS];
    size_t first_of_visitor = 0;
    for (size_t i = 0; i < n; i++) {
        const uint64_t *w = rows + i * W;
        if (i == 0 || rows[(i - 1) * W + 1] != w[1]) first_of_visitor = o->blk.n;
        int seen = 0;
        for (size_t k = first_of_visitor; k < o->blk.n && !seen; k++)
            seen = o->blk.v[2][k] == (int64_t)w[HDR + rcu];
        if (seen) continue;
        target_values(c, 2, w, vals);
        RTN_TRY(out_push(o, d, vals, (uint32_t)w[0]));
    }
    return RTN_OK;
}

/* ------------------------------------------------------------------ run */

static rtn_status load_suppression(sctx *c, const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return rtn_fail(RTN_ERR_IO, "cannot open the suppression list '%s': %s", path, strerror(errno));
    char line[512];
    size_t cap = 0;
    rtn_status st = RTN_OK;
    while (fgets(line, sizeof line, fp)) {
        size_t n = strcspn(line, "\r\n");
        size_t nl;
        const char *id = rtn_customer_id_normalize(line, n, &nl);
        if (!nl || id[0] == '#') continue;
        if (c->nsuppressed == cap) {
            cap = cap ? cap * 2 : 1024;
            uint64_t *p = realloc(c->suppressed, cap * sizeof *p);
            if (!p) {
                st = rtn_fail(RTN_ERR_NOMEM, "out of memory (suppression list)");
                break;
            }
            c->suppressed = p;
        }
        c->suppressed[c->nsuppressed++] = rtn_pseudo_of(c->base.pz, id, nl);
    }
    fclose(fp);
    if (st) return st;
    for (size_t i = 1; i < c->nsuppressed; i++) { /* insertion sort is fine: lists are short */
        uint64_t v = c->suppressed[i];
        size_t j = i;
        while (j && c->suppressed[j - 1] > v) c->suppressed[j] = c->suppressed[j - 1], j--;
        c->suppressed[j] = v;
    }
    return RTN_OK;
}

static json_t *reasons_json(const uint64_t *by)
{
    json_t *o = json_object();
    for (int i = 1; i < SR_NREASONS; i++)
        if (i != SR_DUPLICATE) json_object_set_new(o, sr_names[i], json_integer((json_int_t)by[i]));
    return o;
}

const char *rtn_ingest_source_kinds(void) { return "members, events, feedback"; }

int rtn_ingest_source_kind_known(const char *name) { return kind_find(name) != NULL; }

rtn_status rtn_ingest_source_run(MPI_Comm comm, const rtn_source_ingest_options *opt)
{
    const src_kind *k = kind_find(opt->kind);
    if (!k) return rtn_fail(RTN_ERR_USAGE, "--add '%s': unknown kind (known: %s)", opt->kind,
                            rtn_ingest_source_kinds());
    kind_info ki;
    kind_info_build(&ki, k);
    sctx *c = calloc(1, sizeof *c);
    if (!c) return rtn_fail(RTN_ERR_NOMEM, "out of memory");
    c->ki = &ki;
    c->base.comm = comm;
    MPI_Comm_rank(comm, &c->base.rank);
    MPI_Comm_size(comm, &c->base.size);
    c->base.reason_names = sr_names;
    c->W = HDR + ki.nroles;
    rtn_status st = RTN_OK;
    gdict g[MAX_ROLES];
    memset(g, 0, sizeof g);
    out_src out[MAX_TARGETS];
    memset(out, 0, sizeof out);
    uint64_t *all_off = NULL;
    json_t *not_read = json_array(), *base_prov = NULL;
    char fp[17] = "";
    char *prov_txt = NULL, *vocab_buf = NULL;
    const char *rejects = opt->rejects;
    char rejects_buf[RTN_PATH_MAX];
    if (!rejects) {
        snprintf(rejects_buf, sizeof rejects_buf, "%s.%s.rejects.csv", opt->out, k->name);
        rejects = rejects_buf;
    }
    const int P = c->base.size;

    st = src_mapping_load(&c->m, &ki, opt->mapping_path);
    st = rtn_agree(comm, st);
    if (st) goto out;
    int keep_dups = opt->keep_duplicates >= 0 ? opt->keep_duplicates : c->m.base.keep_duplicates;
    double max_rate = opt->max_reject_rate >= 0 ? opt->max_reject_rate
                      : c->m.base.max_reject_rate >= 0 ? c->m.base.max_reject_rate : 0.05;
    c->role_customer = role_index(&ki, "customer");
    c->role_visitor = role_index(&ki, "visitor");
    c->role_time = role_index(&ki, "time");
    c->role_session = role_index(&ki, "session");
    c->role_vocab = k->vocab_role ? role_index(&ki, k->vocab_role) : -1;
    c->role_optout = k->extra_role ? role_index(&ki, k->extra_role) : -1;
    c->role_updated = role_index(&ki, "updated_at");
    c->role_tier = role_index(&ki, "tier");
    json_t *dropped = json_array(), *kept = json_array();
    for (int r = 0; r < ki.nroles; r++) {
        if (!c->m.column[r][0]) continue;
        if (ki.role[r].sensitive && !list_has(c->m.keep, ki.role[r].name)) {
            json_array_append_new(dropped, json_string(ki.role[r].name));
            continue;
        }
        if (ki.role[r].sensitive) json_array_append_new(kept, json_string(ki.role[r].name));
        c->used_roles |= 1u << r;
    }

    /* the base store: key, buckets */
    {
        rtn_store *bs = NULL;
        old_info oi;
        memset(&oi, 0, sizeof oi);
        unsigned char *key = NULL;
        size_t klen = 0;
        st = rtn_key_load(opt->key_path, &key, &klen);
        if (st == RTN_OK) st = rtn_pseudo_new(&c->base.pz, key, klen);
        rtn_key_free(key, klen);
        if (st == RTN_OK) {
            rtn_pseudo_fingerprint(c->base.pz, fp);
            unsigned char h[32];
            rtn_pseudo_hmac(c->base.pz, "retain session hash v1", 22, h);
            memcpy(&c->seed, h, 8);
        }
        st = rtn_agree(comm, st);
        if (st == RTN_OK) st = ing_read_old_provenance(&c->base, opt->base, &oi, &base_prov);
        if (st == RTN_OK) st = rtn_store_open(&bs, comm, opt->base);
        if (st) {
            json_decref(dropped);
            json_decref(kept);
            goto out;
        }
        c->base.B = rtn_store_get_info(bs)->nbuckets;
        if (!oi.fingerprint[0])
            st = rtn_fail(RTN_ERR_DATA, "--append-to '%s': the store records no key fingerprint, so "
                          "its customers cannot be matched with new pseudonyms", opt->base);
        else if (strcmp(oi.fingerprint, fp) != 0)
            st = rtn_fail(RTN_ERR_DATA, "--append-to '%s' was pseudonymized with a different key "
                          "(fingerprint %s, this key %s); customers would not line up", opt->base,
                          oi.fingerprint, fp);
        hid_t f = H5I_INVALID_HID;
        if (st == RTN_OK) st = rtn_h5_open_read_local(opt->base, &f);
        for (int t = 0; st == RTN_OK && t < ki.ntargets; t++)
            if (rtn_store_has_source(f, ki.target[t]->name))
                st = rtn_fail(RTN_ERR_DATA, "--append-to '%s' already holds /%s; adding a source "
                              "to a store that has it is not supported (ingest the complete "
                              "export into a store without it)", opt->base, ki.target[t]->name);
        if (f >= 0) H5Fclose(f);
        rtn_store_close(bs);
        st = rtn_agree(comm, st);
        if (st) {
            json_decref(dropped);
            json_decref(kept);
            goto out;
        }
    }
    if (c->m.suppression[0]) st = load_suppression(c, c->m.suppression);
    st = rtn_agree(comm, st);
    c->bucket_cnt = calloc(c->base.B, sizeof *c->bucket_cnt);
    c->base.files = calloc((size_t)opt->n_inputs + 1, sizeof *c->base.files);
    if (st == RTN_OK && (!c->bucket_cnt || !c->base.files)) st = rtn_fail(RTN_ERR_NOMEM, "out of memory");
    if (st == RTN_OK && opt->n_inputs > 65534) st = rtn_fail(RTN_ERR_USAGE, "too many input files");
    st = rtn_agree(comm, st);
    if (st) {
        json_decref(dropped);
        json_decref(kept);
        goto out;
    }
    c->base.nfiles = opt->n_inputs;
    c->base.files[0].path = opt->base;
    for (int i = 0; i < opt->n_inputs; i++) c->base.files[i + 1].path = opt->inputs[i];

    /* parse */
    rtn_phase_begin("parse");
    {
        double total = 0;
        for (int i = 1; i <= c->base.nfiles; i++) {
            struct stat sb;
            if (stat(c->base.files[i].path, &sb) == 0) total += (double)sb.st_size;
        }
        rtn_progress_begin(&c->base.prog, "ingest: parsing", "bytes", total / P);
    }
    for (int i = 1; i <= c->base.nfiles && st == RTN_OK; i++) st = process_file(c, (uint16_t)i, not_read);
    rtn_progress_end(&c->base.prog, c->base.bytes_done);
    rtn_phase_end("parse");
    if (st) {
        json_decref(dropped);
        json_decref(kept);
        goto out;
    }

    /* validation that needs every rank: vocabulary codes, feedback scores by kind */
    uint64_t tot[5 + SR_NREASONS];
    tot[0] = c->rows_read, tot[1] = c->accepted, tot[2] = c->blank, tot[3] = c->suppressed_rows;
    tot[4] = 0;
    memcpy(tot + 5, c->by_reason, sizeof c->by_reason);

    /* dictionaries: every dictionary role, the vocabulary merged in; under a closed or
     * strict vocabulary other values stay out of it and their rows are rejected below */
    rtn_phase_begin("dictionaries");
    const char *vs[128];
    rtn_strdict voc = {0, (char **)vs};
    if (c->role_vocab >= 0) {
        for (const char *const *p = k->vocabulary; *p; p++) vs[voc.n++] = *p;
        vocab_buf = strdup(c->m.vocabulary);
        for (char *tok = vocab_buf ? strtok(vocab_buf, ",") : NULL; tok && voc.n < 128;
             tok = strtok(NULL, ",")) {
            while (isblank((unsigned char)*tok)) tok++;
            char *e = tok + strlen(tok);
            while (e > tok && isblank((unsigned char)e[-1])) *--e = 0;
            for (char *q = tok; *q; q++) *q = (char)tolower((unsigned char)*q);
            if (*tok) vs[voc.n++] = tok;
        }
    }
    const int closed = c->role_vocab >= 0 && (k->vocab_fixed || c->m.strict);
    for (int r = 0; r < ki.nroles && st == RTN_OK; r++) {
        if (!(c->used_roles & (1u << r)) ||
            (ki.role[r].fill != RTN_FILL_DICT && ki.role[r].fill != RTN_FILL_POSTCODE))
            continue;
        const strtab *t = &c->dict[r];
        unsigned char *used = malloc(t->n ? t->n : 1);
        if (!used) st = rtn_fail(RTN_ERR_NOMEM, "out of memory");
        else memset(used, c->base.discarded ? 0 : 1, t->n);
        for (size_t i = 0; used && c->base.discarded && i < c->nrows; i++) {
            int64_t v = (int64_t)c->rows[i * (size_t)c->W + HDR + r];
            if (v >= 0) used[v] = 1;
        }
        unsigned char *outside = NULL;
        if (used && r == c->role_vocab && closed) {
            outside = calloc(t->n ? t->n : 1, 1);
            if (!outside) st = rtn_fail(RTN_ERR_NOMEM, "out of memory");
            for (size_t i = 0; outside && i < t->n; i++) {
                const char *s = t->arena + t->e[i].off;
                int in = 0;
                for (size_t j = 0; j < voc.n && !in; j++) in = strcmp(vs[j], s) == 0;
                if (!in) outside[i] = 1, used[i] = 0;
            }
        }
        st = rtn_agree(comm, st);
        if (st == RTN_OK)
            st = ing_build_dict(comm, t, r == c->role_vocab ? &voc : NULL, &g[r], used);
        for (size_t i = 0; st == RTN_OK && outside && i < t->n; i++)
            if (outside[i]) g[r].local_map[i] = -2;
        free(used);
        free(outside);
    }
    rtn_phase_end("dictionaries");
    st = rtn_agree(comm, st);
    if (st) {
        json_decref(dropped);
        json_decref(kept);
        goto out;
    }
    /* local ids -> global codes; rows outside a closed vocabulary and feedback scores out
     * of their kind's range are rejected here */
    {
        const int W = c->W;
        int rscore = role_index(&ki, "score");
        size_t o = 0;
        for (size_t i = 0; i < c->nrows && st == RTN_OK; i++) {
            uint64_t *w = c->rows + i * (size_t)W;
            int why = SR_NONE;
            char det[112] = "";
            for (int r = 0; r < ki.nroles; r++) {
                if (!g[r].local_map) continue;
                int64_t v = (int64_t)w[HDR + r];
                if (v < 0) continue;
                int32_t code = g[r].local_map[v];
                if (code == -2) {
                    why = k->vocab_fixed ? SR_UNKNOWN_KIND : SR_UNKNOWN_EVENT_TYPE;
                    snprintf(det, sizeof det, "%s '%.40s' is not in the %s vocabulary", ki.role[r].name,
                             c->dict[r].arena + c->dict[r].e[v].off, k->vocab_fixed ? "fixed" : "strict");
                }
                w[HDR + r] = (uint64_t)(int64_t)code;
            }
            if (why == SR_NONE && rscore >= 0 && c->role_vocab >= 0) {
                int64_t kindc = (int64_t)w[HDR + c->role_vocab];
                int64_t sc = (int64_t)w[HDR + rscore];
                const char *kn = kindc >= 0 ? g[c->role_vocab].s[kindc] : "";
                int64_t lo = 0, hi = -1;
                if (!strcmp(kn, "nps")) lo = 0, hi = 10;
                else if (!strcmp(kn, "csat") || !strcmp(kn, "rating")) lo = 1, hi = 5;
                if (hi < 0 && sc != RTN_SOURCE_MISSING) {
                    why = SR_BAD_SCORE;
                    snprintf(det, sizeof det, "a %s carries no score (got %" PRId64 ")", kn, sc);
                } else if (hi >= 0 && (sc < lo || sc > hi)) {
                    why = SR_BAD_SCORE;
                    if (sc == RTN_SOURCE_MISSING) snprintf(det, sizeof det, "%s without a score", kn);
                    else snprintf(det, sizeof det, "%s score %" PRId64 " is outside %" PRId64 "-%" PRId64,
                                  kn, sc, lo, hi);
                }
            }
            if (why != SR_NONE) {
                /* an event with both ids produced two rows: reject the first, drop the link */
                int is_link = (int)(w[0] >> 32) == 2;
                if (!is_link) {
                    tot[5 + why]++;
                    tot[1]--;
                    c->base.files[(uint16_t)(w[2] >> 48)].rejected++;
                    if (!push_row_reject(c, w, why, det)) st = rtn_fail(RTN_ERR_NOMEM, "out of memory");
                }
                c->bucket_cnt[(uint32_t)w[0]]--;
                continue;
            }
            if (o != i) memmove(c->rows + o * (size_t)W, w, (size_t)W * sizeof *w);
            o++;
        }
        c->nrows = o;
    }
    st = rtn_agree(comm, st);
    if (st) {
        json_decref(dropped);
        json_decref(kept);
        goto out;
    }
    MPI_Allreduce(MPI_IN_PLACE, tot, 5 + SR_NREASONS, MPI_UINT64_T, MPI_SUM, comm);
    uint64_t rejected = 0;
    for (int i = 1; i < SR_NREASONS; i++)
        if (i != SR_DUPLICATE && i != SR_DUPLICATE_MEMBER) rejected += tot[5 + i];
    for (int i = 1; i <= c->base.nfiles; i++) {
        uint64_t v[2] = {c->base.files[i].rows_read, c->base.files[i].rejected};
        MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_SUM, comm);
        c->base.files[i].rows_read = v[0];
        c->base.files[i].rejected = v[1];
    }
    rtn_info("ingest --add %s: %" PRIu64 " rows read from %d file(s), %" PRIu64 " rejected (%.2f%%)",
             k->name, tot[0], c->base.nfiles, rejected, tot[0] ? 100.0 * (double)rejected / (double)tot[0] : 0.0);
    for (int i = 1; i < SR_NREASONS; i++)
        if (tot[5 + i] && i != SR_DUPLICATE && i != SR_DUPLICATE_MEMBER)
            rtn_info("  rejected %-20s %" PRIu64, sr_names[i], tot[5 + i]);
    if (tot[3]) rtn_info("ingest --add %s: %" PRIu64 " rows of suppressed customers removed", k->name, tot[3]);
    if (tot[0] > 0 && (double)rejected > max_rate * (double)tot[0]) {
        st = ing_write_rejects(&c->base, rejects);
        if (st == RTN_OK)
            st = rtn_fail(RTN_ERR_DATA, "%" PRIu64 " of %" PRIu64 " rows rejected (%.2f%%), more than "
                          "--max-reject-rate %g; no store written; rejected rows are in '%s'",
                          rejected, tot[0], 100.0 * (double)rejected / (double)tot[0], max_rate, rejects);
        json_decref(dropped);
        json_decref(kept);
        goto out;
    }

    /* shuffle to the bucket owners */
    const uint32_t B = c->base.B;
    uint32_t b0 = 0, b1 = 0;
    size_t nrecv = 0;
    rtn_phase_begin("shuffle");
    {
        all_off = calloc((size_t)B + 1, sizeof *all_off);
        uint64_t *gc = calloc(B, sizeof *gc);
        int *sc = calloc((size_t)P, sizeof(int)), *rc = calloc((size_t)P, sizeof(int));
        int *sd = calloc((size_t)P, sizeof(int)), *rd = calloc((size_t)P, sizeof(int));
        uint32_t *owner_b0 = calloc((size_t)P + 1, sizeof *owner_b0);
        uint64_t *sendbuf = NULL;
        MPI_Datatype rowt = MPI_DATATYPE_NULL;
        if (!all_off || !gc || !sc || !rc || !sd || !rd || !owner_b0) st = rtn_fail(RTN_ERR_NOMEM, "out of memory");
        st = rtn_agree(comm, st);
        if (st == RTN_OK) {
            memcpy(gc, c->bucket_cnt, B * sizeof *gc);
            MPI_Allreduce(MPI_IN_PLACE, gc, (int)B, MPI_UINT64_T, MPI_SUM, comm);
            for (uint32_t b = 0; b < B; b++) all_off[b + 1] = all_off[b] + gc[b];
            for (int q = 0; q < P; q++) {
                uint32_t x0, x1;
                rtn_partition_buckets(all_off, B, P, q, &x0, &x1);
                owner_b0[q] = x0;
                owner_b0[q + 1] = x1;
                if (q == c->base.rank) b0 = x0, b1 = x1;
            }
            /* counting sort of the rows by destination rank */
            size_t *pos = calloc((size_t)P + 1, sizeof *pos);
            sendbuf = malloc((c->nrows ? c->nrows : 1) * (size_t)c->W * sizeof *sendbuf);
            if (!pos || !sendbuf) st = rtn_fail(RTN_ERR_NOMEM, "out of memory (shuffle)");
            int *dest_of = NULL;
            if (st == RTN_OK) dest_of = malloc(sizeof(int) * (B ? B : 1));
            if (st == RTN_OK && !dest_of) st = rtn_fail(RTN_ERR_NOMEM, "out of memory (shuffle)");
            for (int q = 0; st == RTN_OK && q < P; q++)
                for (uint32_t b = owner_b0[q]; b < owner_b0[q + 1]; b++) dest_of[b] = q;
            for (size_t i = 0; st == RTN_OK && i < c->nrows; i++)
                sc[dest_of[(uint32_t)c->rows[i * (size_t)c->W]]]++;
            for (int q = 0; st == RTN_OK && q < P; q++) pos[q + 1] = pos[q] + (size_t)sc[q];
            for (size_t i = 0; st == RTN_OK && i < c->nrows; i++) {
                int q = dest_of[(uint32_t)c->rows[i * (size_t)c->W]];
                memcpy(sendbuf + pos[q]++ * (size_t)c->W, c->rows + i * (size_t)c->W,
                       (size_t)c->W * sizeof *sendbuf);
            }
            free(pos);
            free(dest_of);
        }
        st = rtn_agree(comm, st);
        if (st == RTN_OK) {
            MPI_Alltoall(sc, 1, MPI_INT, rc, 1, MPI_INT, comm);
            size_t tr = 0;
            for (int q = 0; q < P; q++) {
                sd[q] = q ? sd[q - 1] + sc[q - 1] : 0;
                rd[q] = (int)tr;
                tr += (size_t)rc[q];
            }
            if (tr > INT_MAX) st = rtn_fail(RTN_ERR_DATA, "more than 2^31 rows for one rank; use more ranks");
            nrecv = tr;
            free(c->rows);
            c->rows = malloc((tr ? tr : 1) * (size_t)c->W * sizeof *c->rows);
            c->caprows = tr;
            if (!c->rows) st = rtn_fail(RTN_ERR_NOMEM, "out of memory (shuffle)");
        }
        st = rtn_agree(comm, st);
        if (st == RTN_OK) {
            MPI_Type_contiguous(c->W, MPI_UINT64_T, &rowt);
            MPI_Type_commit(&rowt);
            MPI_Alltoallv(sendbuf, sc, sd, rowt, c->rows, rc, rd, rowt, comm);
            MPI_Type_free(&rowt);
            c->nrows = nrecv;
        }
        free(sendbuf);
        free(gc);
        free(sc);
        free(rc);
        free(sd);
        free(rd);
        free(owner_b0);
    }
    rtn_phase_end("shuffle");
    if (st) {
        json_decref(dropped);
        json_decref(kept);
        goto out;
    }

    /* sort and the kind's rules */
    uint64_t dups = 0, optouts = 0;
    rtn_phase_begin("sort");
    {
        sort_spec sp = {c->W, 0, {0}};
        if (c->role_updated >= 0) sp.val[sp.nval++] = c->role_updated; /* members: file order after it */
        else {
            sp.val[sp.nval++] = c->role_time;
            for (int r = 0; r < ki.nroles; r++)
                if (r != c->role_time) sp.val[sp.nval++] = r;
        }
        qsort_r(c->rows, c->nrows, (size_t)c->W * sizeof *c->rows, row_cmp, &sp);
        for (int t = 0; t < ki.ntargets; t++) {
            const rtn_source_desc *d = ki.target[t];
            out[t].cnt = calloc(B, sizeof *out[t].cnt);
            out[t].off = calloc((size_t)B + 1, sizeof *out[t].off);
            out[t].tmin = INT64_MAX;
            out[t].tmax = INT64_MIN;
            if (!out[t].cnt || !out[t].off) st = rtn_fail(RTN_ERR_NOMEM, "out of memory");
            if (st == RTN_OK) st = rtn_src_block_reserve(&out[t].blk, d, 1024);
            int written = 1;
            for (int col = 1; col < d->ncols; col++) /* a derived source needs its roles */
                if (d->cols[col].required && !(c->used_roles & (1u << ki.role_of[t][col]))) written = 0;
            if (!strcmp(d->key_kind, "visitor") && !role_used(c, c->role_visitor)) written = 0;
            if (!strcmp(d->name, "visitor_links") && !role_used(c, c->role_customer)) written = 0;
            if (!strcmp(d->name, "member_tiers") && !role_used(c, c->role_tier)) written = 0;
            out[t].written = written;
            for (int col = 0; written && col < d->ncols; col++) {
                int r = ki.role_of[t][col];
                if (col < 2 || (c->used_roles & (1u << r)) || d->cols[col].fill == RTN_FILL_HASH)
                    out[t].present |= 1u << col;
            }
        }
        /* the rows of each target are contiguous (target is the high word of w[0]) */
        size_t i = 0;
        while (st == RTN_OK && i < c->nrows) {
            int t = (int)(c->rows[i * (size_t)c->W] >> 32);
            size_t j = i;
            while (j < c->nrows && (int)(c->rows[j * (size_t)c->W] >> 32) == t) j++;
            const uint64_t *seg = c->rows + i * (size_t)c->W;
            if (c->role_updated >= 0) st = members_rules(c, seg, j - i, out, keep_dups, &dups, &optouts);
            else if (t == 2) st = links_rules(c, seg, j - i, &out[2]);
            else st = events_rules(c, t, seg, j - i, &out[t], keep_dups, &dups);
            i = j;
        }
    }
    st = rtn_agree(comm, st);
    rtn_phase_end("sort");
    if (st) {
        json_decref(dropped);
        json_decref(kept);
        goto out;
    }
    uint64_t post[3 + MAX_TARGETS] = {dups, optouts, 0};
    for (int t = 0; t < ki.ntargets; t++) post[3 + t] = out[t].derived;
    MPI_Allreduce(MPI_IN_PLACE, post, 3 + MAX_TARGETS, MPI_UINT64_T, MPI_SUM, comm);
    uint64_t dup_member = c->by_reason[SR_DUPLICATE_MEMBER];
    MPI_Allreduce(MPI_IN_PLACE, &dup_member, 1, MPI_UINT64_T, MPI_SUM, comm);
    tot[5 + SR_DUPLICATE] = post[0];
    tot[5 + SR_DUPLICATE_MEMBER] = dup_member;
    rejected += dup_member;
    if (post[0]) rtn_info("ingest --add %s: %" PRIu64 " exact duplicate rows removed", k->name, post[0]);
    if (dup_member) rtn_info("ingest --add %s: %" PRIu64 " member rows rejected: same updated_at as another "
                             "row of the member with different values", k->name, dup_member);
    if (post[1]) rtn_info("ingest --add %s: %" PRIu64 " opted-out members removed", k->name, post[1]);

    rtn_phase_begin("rejects");
    st = ing_write_rejects(&c->base, rejects);
    rtn_phase_end("rejects");
    if (st) {
        json_decref(dropped);
        json_decref(kept);
        goto out;
    }

    /* provenance */
    {
        json_t *p = json_object();
        json_object_set_new(p, "created_by", json_string("retain ingest --add"));
        json_object_set_new(p, "kind", json_string(k->name));
        json_object_set_new(p, "mapping", json_string(opt->mapping_path));
        json_object_set_new(p, "key_fingerprint", json_string(fp));
        json_t *ins = json_array();
        for (int i = 1; i <= c->base.nfiles; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "path", json_string(c->base.files[i].path));
            json_object_set_new(o, "bytes", json_integer((json_int_t)c->base.files[i].len));
            json_object_set_new(o, "rows_read", json_integer((json_int_t)c->base.files[i].rows_read));
            json_object_set_new(o, "rows_rejected", json_integer((json_int_t)c->base.files[i].rejected));
            json_array_append_new(ins, o);
        }
        json_object_set_new(p, "inputs", ins);
        json_object_set_new(p, "rows_read", json_integer((json_int_t)tot[0]));
        json_object_set_new(p, "rows_rejected", json_integer((json_int_t)rejected));
        json_object_set_new(p, "rejected_by_reason", reasons_json(tot + 5));
        json_object_set_new(p, "duplicates_removed", json_integer((json_int_t)post[0]));
        json_object_set_new(p, "duplicates", json_string(keep_dups ? "keep" : "remove"));
        json_object_set_new(p, "time_zone", json_string(c->m.base.tz_kind == RTN_TZ_NAME ? c->m.base.tz_name
                                                        : c->m.base.tz_kind == RTN_TZ_OFFSET ? "fixed offset" : "UTC"));
        json_t *pv = json_object();
        json_object_set_new(pv, "sensitive_dropped", dropped);
        json_object_set_new(pv, "sensitive_kept", kept);
        json_object_set_new(pv, "columns_not_stored", json_incref(not_read));
        json_t *gen = json_array();
        if (role_index(&ki, "birth_year") >= 0 && (c->used_roles & (1u << role_index(&ki, "birth_year"))))
            json_array_append_new(gen, json_string(c->m.birth_band ? "birth_year: birth date -> first year of its 5-year band"
                                                                   : "birth_year: birth date -> year"));
        if (role_index(&ki, "region") >= 0 && (c->used_roles & (1u << role_index(&ki, "region")))) {
            char t[96];
            snprintf(t, sizeof t, "region: postcode -> its first %d characters", c->m.postcode_prefix);
            json_array_append_new(gen, json_string(t));
        }
        json_object_set_new(pv, "generalized", gen);
        json_object_set_new(pv, "opted_out_customers_removed", json_integer((json_int_t)post[1]));
        json_object_set_new(pv, "suppression_list", json_string(c->m.suppression));
        json_object_set_new(pv, "suppression_list_entries", json_integer((json_int_t)c->nsuppressed));
        json_object_set_new(pv, "suppressed_rows_removed", json_integer((json_int_t)tot[3]));
        json_object_set_new(p, "privacy", pv);
        if (c->role_vocab >= 0) {
            json_t *v = json_array();
            for (size_t j = 0; j < g[c->role_vocab].n; j++) json_array_append_new(v, json_string(g[c->role_vocab].s[j]));
            json_object_set_new(p, "vocabulary", v);
            json_object_set_new(p, "vocabulary_strict", json_boolean(k->vocab_fixed || c->m.strict));
        }
        if (c->role_session >= 0) {
            json_object_set_new(p, "session_gap_seconds", json_integer((json_int_t)c->m.session_gap));
            json_object_set_new(p, "session_ids_from_export",
                                json_boolean((c->used_roles & (1u << c->role_session)) != 0));
        }
        json_t *bp = json_object();
        json_object_set_new(bp, "path", json_string(opt->base));
        json_object_set_new(p, "base_store", bp);
        prov_txt = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(p);
    }

    /* each source's dictionaries hold only the values its stored rows use (so no value of
     * a rejected row, a superseded member state or a removed customer stays in the store),
     * plus the declared vocabulary; codes keep their sorted order */
    char **tdict[MAX_TARGETS][RTN_SOURCE_MAX_COLS];
    size_t tdict_n[MAX_TARGETS][RTN_SOURCE_MAX_COLS];
    memset(tdict, 0, sizeof tdict);
    memset(tdict_n, 0, sizeof tdict_n);
    for (int t = 0; t < ki.ntargets && st == RTN_OK; t++) {
        const rtn_source_desc *d = ki.target[t];
        if (!out[t].written) continue;
        for (int col = 0; col < d->ncols && st == RTN_OK; col++) {
            const int r = ki.role_of[t][col];
            if (!g[r].s || !(out[t].present & (1u << col))) continue;
            const size_t n = g[r].n;
            unsigned char *used = calloc(n ? n : 1, 1);
            int32_t *renum = malloc((n ? n : 1) * sizeof *renum);
            tdict[t][col] = malloc((n ? n : 1) * sizeof(char *));
            if (!used || !renum || !tdict[t][col]) st = rtn_fail(RTN_ERR_NOMEM, "out of memory (dictionaries)");
            st = rtn_agree(comm, st);
            if (st) {
                free(used);
                free(renum);
                break;
            }
            const int64_t *v = out[t].blk.v[col];
            for (size_t i = 0; i < out[t].blk.n; i++)
                if (v[i] >= 0) used[v[i]] = 1;
            if (r == c->role_vocab)
                for (size_t j = 0; j < n; j++)
                    for (size_t q = 0; q < voc.n; q++)
                        if (!strcmp(g[r].s[j], vs[q])) used[j] = 1;
            MPI_Allreduce(MPI_IN_PLACE, used, (int)(n ? n : 1), MPI_UNSIGNED_CHAR, MPI_MAX, comm);
            size_t m = 0;
            for (size_t j = 0; j < n; j++) {
                renum[j] = used[j] ? (int32_t)m : -1;
                if (used[j]) tdict[t][col][m++] = g[r].s[j];
            }
            tdict_n[t][col] = m;
            int64_t *w = out[t].blk.v[col];
            for (size_t i = 0; i < out[t].blk.n; i++)
                if (w[i] >= 0) w[i] = renum[w[i]];
            free(used);
            free(renum);
        }
    }
    if (st) {
        for (int t = 0; t < MAX_TARGETS; t++)
            for (int col = 0; col < RTN_SOURCE_MAX_COLS; col++) free(tdict[t][col]);
        goto out;
    }

    /* write: a copy of the base store with the kind's groups added */
    rtn_phase_begin("write");
    {
        rtn_h5_out ho;
        st = rtn_h5_out_copy_of(&ho, comm, opt->out, opt->base);
        if (st == RTN_OK) {
            for (int t = 0; t < ki.ntargets && st == RTN_OK; t++) {
                if (!out[t].written) continue;
                const rtn_source_desc *d = ki.target[t];
                MPI_Allreduce(MPI_IN_PLACE, out[t].cnt, (int)B, MPI_UINT64_T, MPI_SUM, comm);
                for (uint32_t b = 0; b < B; b++) out[t].off[b + 1] = out[t].off[b] + out[t].cnt[b];
                uint64_t nk = out[t].n_keys;
                int64_t tr[2] = {out[t].tmin, out[t].tmax};
                MPI_Allreduce(MPI_IN_PLACE, &nk, 1, MPI_UINT64_T, MPI_SUM, comm);
                MPI_Allreduce(MPI_IN_PLACE, &tr[0], 1, MPI_INT64_T, MPI_MIN, comm);
                MPI_Allreduce(MPI_IN_PLACE, &tr[1], 1, MPI_INT64_T, MPI_MAX, comm);
                rtn_strdict dicts[RTN_SOURCE_MAX_COLS];
                memset(dicts, 0, sizeof dicts);
                for (int col = 0; col < d->ncols; col++)
                    if (tdict[t][col]) dicts[col] = (rtn_strdict){tdict_n[t][col], tdict[t][col]};
                rtn_source_data sd = {d, out[t].present, B, out[t].off, nk,
                                      out[t].off[B] ? tr[0] : 0, out[t].off[B] ? tr[1] : 0,
                                      dicts, prov_txt, b0, b1, &out[t].blk};
                char digest[65];
                st = rtn_source_write(comm, ho.file, &sd, digest);
                if (st == RTN_OK) {
                    char sec[64];
                    snprintf(sec, sizeof sec, "ingest.%s", d->name);
                    rtn_summary_set_int(sec, "rows", (int64_t)out[t].off[B]);
                    rtn_summary_set_int(sec, "keys", (int64_t)nk);
                    rtn_summary_set_str(sec, "content_digest", digest);
                    rtn_info("ingest --add %s: /%s %" PRIu64 " rows, %" PRIu64 " %ss", k->name, d->name,
                             out[t].off[B], nk, d->key_kind);
                }
            }
            if (st == RTN_OK) st = rtn_store_mark_sources(comm, ho.file);
        }
        st = rtn_h5_out_finish(&ho, st);
    }
    rtn_phase_end("write");
    for (int t = 0; t < MAX_TARGETS; t++)
        for (int col = 0; col < RTN_SOURCE_MAX_COLS; col++) free(tdict[t][col]);
    if (st == RTN_OK) {
        rtn_summary_set_str("ingest", "kind", k->name);
        rtn_summary_set_int("ingest", "rows_read", (int64_t)tot[0]);
        rtn_summary_set_int("ingest", "rows_rejected", (int64_t)rejected);
        rtn_summary_set_int("ingest", "blank_lines", (int64_t)tot[2]);
        rtn_summary_set_int("ingest", "duplicates_removed", (int64_t)post[0]);
        rtn_summary_set_int("ingest", "member_rows_rejected_same_updated_at", (int64_t)dup_member);
        rtn_summary_set_int("ingest", "opted_out_customers_removed", (int64_t)post[1]);
        rtn_summary_set_int("ingest", "suppressed_rows_removed", (int64_t)tot[3]);
        json_object_set_new(rtn_summary_section("ingest"), "rejected_by_reason", reasons_json(tot + 5));
        rtn_summary_set_str("ingest", "rejects_file", rejects);
        rtn_summary_set_str("ingest", "store", opt->out);
        rtn_summary_set_str("ingest", "base_store", opt->base);
        rtn_summary_set_str("ingest", "key_fingerprint", fp);
        rtn_info("ingest --add %s: wrote '%s'", k->name, opt->out);
    }

out:
    free(prov_txt);
    free(vocab_buf);
    json_decref(not_read);
    json_decref(base_prov);
    for (int r = 0; r < MAX_ROLES; r++) {
        ing_gdict_free(&g[r]);
        ing_st_free(&c->dict[r]);
    }
    for (int t = 0; t < MAX_TARGETS; t++) {
        rtn_src_block_free(&out[t].blk);
        free(out[t].cnt);
        free(out[t].off);
    }
    for (int i = 0; c->base.files && i <= c->base.nfiles; i++)
        if (c->base.files[i].map) munmap((void *)c->base.files[i].map, c->base.files[i].len);
    free(c->base.files);
    free(c->base.rej);
    free(c->rows);
    free(c->bucket_cnt);
    free(c->suppressed);
    free(all_off);
    ing_st_free(&c->cust_cache);
    ing_st_free(&c->visitor_cache);
    rtn_csv_record_free(&c->base.rec);
    rtn_pseudo_free(c->base.pz);
    ing_tz_restore();
    free(c);
    return st;
}
