/* The customer-360 sources of the store: their one table, the group writer and reader,
 * and their digests (include/retain/source.h, docs/formats.md "Sources"). */
#include "retain/source.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "retain/buckets.h"
#include "retain/h5.h"
#include "retain/log.h"

#define KEY(n, d) {n, RTN_SRC_U64, RTN_FILL_KEY, 1, 0, 0, 0, d}
#define TIME(n, req, d) {n, RTN_SRC_I64, RTN_FILL_TIME, req, 0, 0, 0, d}
#define DICT(n, d) {n, RTN_SRC_I32, RTN_FILL_DICT, 0, 0, 0, 0, d}

/* The sources. Order is the order of the store's `sources` attribute and store digest;
 * append new sources at the end. */
const rtn_source_desc rtn_sources[] = {
    {"members", "members", "customer",
     "one row per member: the latest state by updated_at",
     12,
     {KEY("customer", "keyed pseudonym of the customer id (as in /transactions/customer)"),
      TIME("time", 1, "registration time, seconds since 1970-01-01 UTC"),
      TIME("updated_at", 1, "time of this state of the member record, seconds UTC"),
      DICT("acquisition_channel", "how the member was acquired (store_desk, app, web, ...)"),
      DICT("tier", "membership tier"),
      {"birth_year", RTN_SRC_I16, RTN_FILL_BIRTH, 0, 0, 0, 0,
       "birth year, or the first year of its band (privacy birth = band5); -1 unknown"},
      {"gender", RTN_SRC_I32, RTN_FILL_DICT, 0, 1, 0, 0,
       "gender code; sensitive: stored only when [privacy] keep names it"},
      {"region", RTN_SRC_I32, RTN_FILL_POSTCODE, 0, 0, 0, 0,
       "home postcode generalized to its first [privacy] postcode_prefix characters"},
      {"opt_in_email", RTN_SRC_I8, RTN_FILL_FLAG, 0, 0, 0, 0, "e-mail marketing opt-in: 1, 0, -1 unknown"},
      {"opt_in_sms", RTN_SRC_I8, RTN_FILL_FLAG, 0, 0, 0, 0, "SMS marketing opt-in: 1, 0, -1 unknown"},
      {"opt_in_push", RTN_SRC_I8, RTN_FILL_FLAG, 0, 0, 0, 0, "app push opt-in: 1, 0, -1 unknown"},
      {"points", RTN_SRC_I64, RTN_FILL_INT, 0, 0, 0, INT64_MAX, "loyalty-points balance; -1 unknown"}}},
    {"member_tiers", "members", "customer",
     "tier history: one row per tier a member entered, at the updated_at it was first seen",
     3,
     {KEY("customer", "keyed pseudonym of the customer id"),
      TIME("time", 1, "when the member record first shows this tier, seconds UTC"),
      DICT("tier", "the tier entered")}},
    {"events", "events", "customer",
     "behaviour events of known customers",
     7,
     {KEY("customer", "keyed pseudonym of the customer id"),
      TIME("time", 1, "event time, seconds UTC"),
      {"event_type", RTN_SRC_I32, RTN_FILL_DICT, 1, 0, 0, 0,
       "event type from the declared vocabulary (visit, page_view, ...)"},
      DICT("item", "item code where the event concerns one; -1 none"),
      DICT("category", "category where the event concerns one; -1 none"),
      DICT("channel", "channel of the event (in-store, online, app, ...); -1 none"),
      {"session", RTN_SRC_U64, RTN_FILL_HASH, 0, 0, 0, 0,
       "session: keyed hash of the export's session id, or of (key, first event time) "
       "when sessions are cut by the inactivity gap"}}},
    {"visitor_events", "events", "visitor",
     "behaviour events of anonymous visitors (no customer id on the row)",
     7,
     {{"visitor", RTN_SRC_U64, RTN_FILL_KEY, 1, 0, 0, 0,
       "keyed pseudonym of the visitor/device id (its own domain: never equal to a customer's)"},
      TIME("time", 1, "event time, seconds UTC"),
      {"event_type", RTN_SRC_I32, RTN_FILL_DICT, 1, 0, 0, 0, "event type"},
      DICT("item", "item code; -1 none"),
      DICT("category", "category; -1 none"),
      DICT("channel", "channel; -1 none"),
      {"session", RTN_SRC_U64, RTN_FILL_HASH, 0, 0, 0, 0, "session (as in events)"}}},
    {"visitor_links", "events", "visitor",
     "visitor -> customer links: one row per (visitor, customer), at the first event that "
     "carried both ids",
     3,
     {{"visitor", RTN_SRC_U64, RTN_FILL_KEY, 1, 0, 0, 0, "keyed pseudonym of the visitor id"},
      TIME("time", 1, "first event carrying both ids, seconds UTC"),
      {"customer", RTN_SRC_U64, RTN_FILL_KEY, 1, 0, 0, 0, "keyed pseudonym of the customer id"}}},
    {"feedback", "feedback", "customer",
     "satisfaction answers, reviews, complaints and service tickets (never free text)",
     6,
     {KEY("customer", "keyed pseudonym of the customer id"),
      TIME("time", 1, "when the feedback was given, seconds UTC"),
      {"kind", RTN_SRC_I32, RTN_FILL_DICT, 1, 0, 0, 0,
       "nps, csat, rating, complaint or ticket (fixed vocabulary)"},
      {"score", RTN_SRC_I16, RTN_FILL_SCORE, 0, 0, 0, 0,
       "nps 0-10, csat 1-5, rating 1-5; -1 for complaints and tickets"},
      DICT("topic", "declared topic code; -1 none"),
      DICT("channel", "channel the feedback came through; -1 none")}},
};
const int rtn_nsources = (int)(sizeof rtn_sources / sizeof rtn_sources[0]);

const rtn_source_desc *rtn_source_find(const char *name)
{
    for (int i = 0; i < rtn_nsources; i++)
        if (strcmp(rtn_sources[i].name, name) == 0) return &rtn_sources[i];
    return NULL;
}

int rtn_source_column(const rtn_source_desc *d, const char *name)
{
    for (int c = 0; c < d->ncols; c++)
        if (strcmp(d->cols[c].name, name) == 0) return c;
    return -1;
}

size_t rtn_src_type_size(rtn_src_type t)
{
    static const size_t sz[] = {8, 8, 4, 2, 1};
    return sz[t];
}

static hid_t file_type_of(rtn_src_type t)
{
    switch (t) {
    case RTN_SRC_U64: return H5T_STD_U64LE;
    case RTN_SRC_I64: return H5T_STD_I64LE;
    case RTN_SRC_I32: return H5T_STD_I32LE;
    case RTN_SRC_I16: return H5T_STD_I16LE;
    default: return H5T_STD_I8LE;
    }
}

static hid_t native_of(rtn_src_type t)
{
    switch (t) {
    case RTN_SRC_U64: return H5T_NATIVE_UINT64;
    case RTN_SRC_I64: return H5T_NATIVE_INT64;
    case RTN_SRC_I32: return H5T_NATIVE_INT32;
    case RTN_SRC_I16: return H5T_NATIVE_INT16;
    default: return H5T_NATIVE_INT8;
    }
}

rtn_status rtn_src_block_reserve(rtn_src_block *b, const rtn_source_desc *d, size_t cap)
{
    if (cap <= b->cap && b->v[0]) return RTN_OK;
    if (cap < 16) cap = 16;
    for (int c = 0; c < d->ncols; c++) {
        int64_t *p = realloc(b->v[c], cap * sizeof *p);
        if (!p) return rtn_fail(RTN_ERR_NOMEM, "out of memory for %zu rows of source %s", cap, d->name);
        b->v[c] = p;
    }
    b->cap = cap;
    return RTN_OK;
}

void rtn_src_block_free(rtn_src_block *b)
{
    for (int c = 0; c < RTN_SOURCE_MAX_COLS; c++) free(b->v[c]);
    memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------------------ digests */

void rtn_source_bucket_digest(const rtn_source_desc *d, unsigned present,
                              const rtn_src_block *blk, size_t i0, size_t i1,
                              unsigned char out[RTN_BUCKET_DIGEST_BYTES])
{
    XXH3_state_t *st = XXH3_createState();
    XXH3_128bits_reset(st);
    unsigned char buf[8 * RTN_SOURCE_MAX_COLS * 256];
    size_t used = 0;
    for (size_t i = i0; i < i1; i++) {
        for (int c = 0; c < d->ncols; c++) {
            if (!(present & (1u << c))) continue;
            uint64_t v = (uint64_t)blk->v[c][i];
            size_t w = rtn_src_type_size(d->cols[c].type);
            for (size_t k = 0; k < w; k++) buf[used++] = (unsigned char)(v >> (8 * k));
        }
        if (used > sizeof buf - 8 * RTN_SOURCE_MAX_COLS) {
            XXH3_128bits_update(st, buf, used);
            used = 0;
        }
    }
    XXH3_128bits_update(st, buf, used);
    XXH128_canonical_t can;
    XXH128_canonicalFromHash(&can, XXH3_128bits_digest(st));
    memcpy(out, can.digest, RTN_BUCKET_DIGEST_BYTES);
    XXH3_freeState(st);
}

static void sha_str(EVP_MD_CTX *ctx, const char *s) { EVP_DigestUpdate(ctx, s, strlen(s) + 1); }

static void sha_u64(EVP_MD_CTX *ctx, uint64_t v)
{
    unsigned char b[8];
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)(v >> (8 * k));
    EVP_DigestUpdate(ctx, b, 8);
}

static void sha_hex(EVP_MD_CTX *ctx, char hex[65])
{
    unsigned char out[32];
    unsigned int len = 32;
    EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", out[i]);
}

void rtn_source_content_digest(const rtn_source_desc *d, unsigned present, uint32_t nbuckets,
                               const unsigned char *bucket_digests, const rtn_strdict *dicts,
                               char hex[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    sha_str(ctx, "retain-source/1");
    sha_str(ctx, d->name);
    for (int c = 0; c < d->ncols; c++)
        if (present & (1u << c)) sha_str(ctx, d->cols[c].name);
    sha_u64(ctx, nbuckets);
    EVP_DigestUpdate(ctx, bucket_digests, (size_t)nbuckets * RTN_BUCKET_DIGEST_BYTES);
    for (int c = 0; c < d->ncols; c++) {
        if (!(present & (1u << c)) || d->cols[c].type != RTN_SRC_I32 ||
            (d->cols[c].fill != RTN_FILL_DICT && d->cols[c].fill != RTN_FILL_POSTCODE))
            continue;
        sha_str(ctx, d->cols[c].name);
        sha_u64(ctx, dicts[c].n);
        for (size_t i = 0; i < dicts[c].n; i++) sha_str(ctx, dicts[c].s[i]);
    }
    sha_hex(ctx, hex);
}

static int is_dict_column(const rtn_src_column *c)
{
    return c->fill == RTN_FILL_DICT || c->fill == RTN_FILL_POSTCODE;
}

/* ------------------------------------------------------------------------- writer */

static void narrow(rtn_src_type t, const int64_t *v, size_t n, void *out)
{
    switch (t) {
    case RTN_SRC_U64:
    case RTN_SRC_I64: memcpy(out, v, n * 8); break;
    case RTN_SRC_I32:
        for (size_t i = 0; i < n; i++) ((int32_t *)out)[i] = (int32_t)v[i];
        break;
    case RTN_SRC_I16:
        for (size_t i = 0; i < n; i++) ((int16_t *)out)[i] = (int16_t)v[i];
        break;
    default:
        for (size_t i = 0; i < n; i++) ((int8_t *)out)[i] = (int8_t)v[i];
    }
}

rtn_status rtn_source_write(MPI_Comm comm, hid_t file, const rtn_source_data *x,
                            char digest_hex[65])
{
    const rtn_source_desc *d = x->desc;
    const uint32_t B = x->nbuckets;
    const uint64_t n_rows = x->offsets[B];
    const uint64_t row0 = x->offsets[x->b0];
    const size_t n = x->rows->n;
    rtn_status st = RTN_OK;
    if (row0 + n != x->offsets[x->b1])
        st = rtn_fail(RTN_ERR_INTERNAL, "source %s: rank holds %zu rows, its buckets %u..%u "
                      "hold %llu", d->name, n, x->b0, x->b1,
                      (unsigned long long)(x->offsets[x->b1] - row0));
    unsigned char *dig = rtn_calloc(B ? B : 1, RTN_BUCKET_DIGEST_BYTES, "source bucket digests");
    void *tmp = rtn_malloc((n ? n : 1) * 8, "source column buffer");
    if (!dig || !tmp) st = RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    char name[256];
    for (int c = 0; c < d->ncols && st == RTN_OK; c++) {
        if (!(x->present & (1u << c))) continue;
        snprintf(name, sizeof name, "/%s/%s", d->name, d->cols[c].name);
        hid_t ds = H5I_INVALID_HID;
        st = rtn_h5_create_1d(file, name, file_type_of(d->cols[c].type), n_rows, 0, &ds);
        if (st == RTN_OK) {
            narrow(d->cols[c].type, x->rows->v[c], n, tmp);
            st = rtn_h5_write_rows(ds, native_of(d->cols[c].type), row0, n, tmp, 1);
        }
        if (ds >= 0) H5Dclose(ds);
        st = rtn_agree(comm, st);
    }
    if (st == RTN_OK) {
        /* The rank ranges cover every bucket once; the others contribute zeros to OR. */
        for (uint32_t b = x->b0; b < x->b1; b++)
            rtn_source_bucket_digest(d, x->present, x->rows, x->offsets[b] - row0,
                                     x->offsets[b + 1] - row0, dig + (size_t)b * RTN_BUCKET_DIGEST_BYTES);
        MPI_Allreduce(MPI_IN_PLACE, dig, (int)B * RTN_BUCKET_DIGEST_BYTES, MPI_UNSIGNED_CHAR,
                      MPI_BOR, comm);
        rtn_source_content_digest(d, x->present, B, dig, x->dicts, digest_hex);
        uint64_t d1[1] = {(uint64_t)B + 1};
        snprintf(name, sizeof name, "/%s/index/bucket_offsets", d->name);
        st = rtn_h5_write_small(comm, 0, file, name, H5T_STD_U64LE, 1, d1, x->offsets);
        uint64_t d2[2] = {B, RTN_BUCKET_DIGEST_BYTES};
        snprintf(name, sizeof name, "/%s/index/bucket_digest", d->name);
        if (st == RTN_OK) st = rtn_h5_write_small(comm, 0, file, name, H5T_STD_U8LE, 2, d2, dig);
    }
    for (int c = 0; c < d->ncols && st == RTN_OK; c++) {
        if (!(x->present & (1u << c)) || !is_dict_column(&d->cols[c])) continue;
        static const char *const none[1] = {""};
        snprintf(name, sizeof name, "/%s/dict/%s", d->name, d->cols[c].name);
        const rtn_strdict *dc = &x->dicts[c];
        st = rtn_h5_write_strings(comm, 0, file, name,
                                  dc->n ? (const char *const *)dc->s : none, dc->n);
    }
    if (st == RTN_OK) {
        hid_t g = H5Gopen2(file, d->name, H5P_DEFAULT);
        if (g < 0) st = rtn_fail(RTN_ERR_IO, "cannot open group /%s", d->name);
        const char *cols[RTN_SOURCE_MAX_COLS];
        size_t nc = 0;
        for (int c = 0; c < d->ncols; c++)
            if (x->present & (1u << c)) cols[nc++] = d->cols[c].name;
        if (st == RTN_OK) st = rtn_h5_attr_str(g, "format", RTN_SOURCE_FORMAT);
        if (st == RTN_OK) st = rtn_h5_attr_i64(g, "source_version", RTN_SOURCE_VERSION);
        if (st == RTN_OK) st = rtn_h5_attr_str(g, "key", d->key_kind);
        if (st == RTN_OK) st = rtn_h5_attr_u64(g, "n_rows", n_rows);
        if (st == RTN_OK) st = rtn_h5_attr_u64(g, "n_keys", x->n_keys);
        if (st == RTN_OK) st = rtn_h5_attr_i64(g, "time_min", x->time_min);
        if (st == RTN_OK) st = rtn_h5_attr_i64(g, "time_max", x->time_max);
        if (st == RTN_OK) st = rtn_h5_attr_strings(g, "columns", cols, nc);
        if (st == RTN_OK) st = rtn_h5_attr_str(g, "content_digest", digest_hex);
        if (st == RTN_OK) st = rtn_h5_attr_str(g, "provenance", x->provenance ? x->provenance : "{}");
        if (g >= 0) H5Gclose(g);
    }
    free(dig);
    free(tmp);
    return rtn_agree(comm, st);
}

int rtn_store_has_source(hid_t file, const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "/%s", name);
    return rtn_h5_exists(file, p);
}

void rtn_store_digest_of(const char *const *names, const char *const *digests, size_t n,
                         char hex[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    sha_str(ctx, "retain-store/3");
    for (size_t i = 0; i < n; i++) {
        sha_str(ctx, names[i]);
        sha_str(ctx, digests[i]);
    }
    sha_hex(ctx, hex);
}

rtn_status rtn_store_mark_sources(MPI_Comm comm, hid_t file)
{
    const char *names[1 + 64];
    char digests[1 + 64][80];
    size_t n = 0;
    rtn_status st = RTN_OK;
    if (rtn_h5_exists(file, "/transactions")) {
        names[n] = "transactions";
        st = rtn_h5_read_attr_str(file, "content_digest", digests[n], sizeof digests[n]);
        n++;
    }
    for (int i = 0; i < rtn_nsources && st == RTN_OK; i++) {
        if (!rtn_store_has_source(file, rtn_sources[i].name)) continue;
        hid_t g = H5Gopen2(file, rtn_sources[i].name, H5P_DEFAULT);
        names[n] = rtn_sources[i].name;
        st = g < 0 ? rtn_fail(RTN_ERR_FORMAT, "cannot open /%s", rtn_sources[i].name)
                   : rtn_h5_read_attr_str(g, "content_digest", digests[n], sizeof digests[n]);
        if (g >= 0) H5Gclose(g);
        n++;
    }
    char hex[65] = "";
    if (st == RTN_OK) {
        const char *dp[1 + 64];
        for (size_t i = 0; i < n; i++) dp[i] = digests[i];
        rtn_store_digest_of(names, dp, n, hex);
    }
    st = rtn_agree(comm, st);
    if (st == RTN_OK) st = rtn_h5_attr_i64(file, "format_version", RTN_STORE_FORMAT_VERSION);
    if (st == RTN_OK) st = rtn_h5_attr_strings(file, "sources", names, n);
    if (st == RTN_OK) st = rtn_h5_attr_str(file, "store_digest", hex);
    return rtn_agree(comm, st);
}

/* ------------------------------------------------------------------------- reader */

struct rtn_source {
    MPI_Comm comm;
    hid_t file;
    hid_t ds[RTN_SOURCE_MAX_COLS];
    char path[4096];
    rtn_source_info info;
};

const rtn_source_info *rtn_source_get_info(const rtn_source *s) { return &s->info; }

static rtn_status open_columns(rtn_source *s)
{
    rtn_source_info *in = &s->info;
    const rtn_source_desc *d = in->desc;
    char p[256];
    snprintf(p, sizeof p, "/%s", d->name);
    hid_t g = H5Gopen2(s->file, p, H5P_DEFAULT);
    if (g < 0) return rtn_fail(RTN_ERR_FORMAT, "'%s' holds no source %s", s->path, d->name);
    char fmt[64] = "";
    int64_t ver = 0;
    rtn_status st = rtn_h5_read_attr_str(g, "format", fmt, sizeof fmt);
    if (st == RTN_OK && strcmp(fmt, RTN_SOURCE_FORMAT) != 0)
        st = rtn_fail(RTN_ERR_FORMAT, "/%s: attribute format is '%s', expected '%s'", d->name,
                      fmt, RTN_SOURCE_FORMAT);
    if (st == RTN_OK) st = rtn_h5_read_attr_i64(g, "source_version", &ver);
    if (st == RTN_OK && (ver < 1 || ver > RTN_SOURCE_VERSION))
        st = rtn_fail(RTN_ERR_FORMAT, "/%s: source version %lld is not supported (1..%d)",
                      d->name, (long long)ver, RTN_SOURCE_VERSION);
    if (st == RTN_OK) st = rtn_h5_read_attr_u64(g, "n_rows", &in->n_rows);
    if (st == RTN_OK) st = rtn_h5_read_attr_u64(g, "n_keys", &in->n_keys);
    if (st == RTN_OK) st = rtn_h5_read_attr_i64(g, "time_min", &in->time_min);
    if (st == RTN_OK) st = rtn_h5_read_attr_i64(g, "time_max", &in->time_max);
    if (st == RTN_OK) st = rtn_h5_read_attr_str(g, "content_digest", in->digest, sizeof in->digest);
    if (st == RTN_OK) st = rtn_h5_read_attr_str_alloc(g, "provenance", &in->provenance);
    H5Gclose(g);
    if (st) return st;
    uint64_t B = 0;
    RTN_TRY(rtn_h5_read_attr_u64(s->file, "buckets", &B));
    in->nbuckets = (uint32_t)B;
    int r;
    uint64_t dims[2];
    snprintf(p, sizeof p, "/%s/index/bucket_offsets", d->name);
    RTN_TRY(rtn_h5_dims(s->file, p, &r, dims));
    if (r != 1 || dims[0] != B + 1)
        return rtn_fail(RTN_ERR_FORMAT, "%s has %llu entries, expected buckets+1 = %llu", p,
                        (unsigned long long)dims[0], (unsigned long long)(B + 1));
    in->offsets = rtn_malloc(sizeof(uint64_t) * (B + 1), "source bucket offsets");
    if (!in->offsets) return RTN_ERR_NOMEM;
    hid_t ds = H5Dopen2(s->file, p, H5P_DEFAULT);
    herr_t e = ds < 0 ? -1 : H5Dread(ds, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, in->offsets);
    if (ds >= 0) H5Dclose(ds);
    if (e < 0) return rtn_fail(RTN_ERR_FORMAT, "cannot read %s (damaged?)", p);
    if (in->offsets[0] != 0 || in->offsets[B] != in->n_rows)
        return rtn_fail(RTN_ERR_FORMAT, "%s must run from 0 to n_rows = %llu", p,
                        (unsigned long long)in->n_rows);
    for (uint64_t b = 0; b < B; b++)
        if (in->offsets[b + 1] < in->offsets[b])
            return rtn_fail(RTN_ERR_FORMAT, "%s decreases at bucket %llu", p, (unsigned long long)b);
    for (int c = 0; c < d->ncols; c++) {
        snprintf(p, sizeof p, "/%s/%s", d->name, d->cols[c].name);
        if (!rtn_h5_exists(s->file, p)) {
            if (c < 2 || d->cols[c].required)
                return rtn_fail(RTN_ERR_FORMAT, "dataset %s is missing", p);
            continue;
        }
        s->ds[c] = H5Dopen2(s->file, p, H5P_DEFAULT);
        if (s->ds[c] < 0) return rtn_fail(RTN_ERR_FORMAT, "cannot open dataset %s", p);
        hid_t t = H5Dget_type(s->ds[c]);
        size_t want = rtn_src_type_size(d->cols[c].type);
        int ok = H5Tget_class(t) == H5T_INTEGER && H5Tget_size(t) == want &&
                 H5Tget_sign(t) == (d->cols[c].type == RTN_SRC_U64 ? H5T_SGN_NONE : H5T_SGN_2);
        H5Tclose(t);
        if (!ok)
            return rtn_fail(RTN_ERR_FORMAT, "dataset %s has the wrong type (want %s%zu-bit "
                            "integer)", p, d->cols[c].type == RTN_SRC_U64 ? "unsigned " : "",
                            want * 8);
        RTN_TRY(rtn_h5_dims(s->file, p, &r, dims));
        if (r != 1 || dims[0] != in->n_rows)
            return rtn_fail(RTN_ERR_FORMAT, "dataset %s has %llu rows, n_rows says %llu", p,
                            (unsigned long long)dims[0], (unsigned long long)in->n_rows);
        in->present |= 1u << c;
        if (is_dict_column(&d->cols[c])) {
            snprintf(p, sizeof p, "/%s/dict/%s", d->name, d->cols[c].name);
            RTN_TRY(rtn_h5_read_strings(s->file, p, &in->dicts[c].s, &in->dicts[c].n));
        }
    }
    return RTN_OK;
}

rtn_status rtn_source_open(rtn_source **sp, MPI_Comm comm, const char *path, const char *name)
{
    *sp = NULL;
    const rtn_source_desc *d = rtn_source_find(name);
    if (!d)
        return rtn_agree(comm, rtn_fail(RTN_ERR_USAGE, "unknown source '%s'", name));
    rtn_source *s = rtn_calloc(1, sizeof *s, "source reader");
    rtn_status st = s ? RTN_OK : RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    if (st) return st;
    s->comm = comm;
    s->info.desc = d;
    for (int c = 0; c < RTN_SOURCE_MAX_COLS; c++) s->ds[c] = H5I_INVALID_HID;
    snprintf(s->path, sizeof s->path, "%s", path);
    st = rtn_h5_open_read(comm, path, &s->file);
    if (st) {
        free(s);
        return st;
    }
    st = open_columns(s);
    if (st) st = rtn_fail_context(st, "store '%s'", path);
    st = rtn_agree(comm, st);
    if (st) {
        rtn_source_close(s);
        return st;
    }
    *sp = s;
    return RTN_OK;
}

rtn_status rtn_source_read(rtn_source *s, uint64_t row0, size_t n, rtn_src_block *blk)
{
    const rtn_source_desc *d = s->info.desc;
    RTN_TRY(rtn_src_block_reserve(blk, d, n));
    blk->n = n;
    for (int c = 0; c < d->ncols; c++) {
        int64_t *v = blk->v[c];
        if (!(s->info.present & (1u << c))) {
            for (size_t i = 0; i < n; i++) v[i] = RTN_SOURCE_MISSING;
            continue;
        }
        rtn_src_type t = d->cols[c].type;
        /* read narrow into the tail of the 64-bit array, then widen front to back */
        size_t w = rtn_src_type_size(t);
        void *narrow_at = (char *)v + n * (8 - w);
        rtn_status st = rtn_h5_read_rows(s->ds[c], native_of(t), row0, n, narrow_at);
        if (st) return rtn_fail_context(st, "store '%s', source %s", s->path, d->name);
        if (w == 8) continue;
        for (size_t i = 0; i < n; i++) {
            switch (t) {
            case RTN_SRC_I32: v[i] = ((const int32_t *)narrow_at)[i]; break;
            case RTN_SRC_I16: v[i] = ((const int16_t *)narrow_at)[i]; break;
            default: v[i] = ((const int8_t *)narrow_at)[i]; break;
            }
        }
    }
    return RTN_OK;
}

void rtn_source_close(rtn_source *s)
{
    if (!s) return;
    for (int c = 0; c < RTN_SOURCE_MAX_COLS; c++) {
        if (s->ds[c] >= 0) H5Dclose(s->ds[c]);
        rtn_strdict_free(&s->info.dicts[c]);
    }
    if (s->file >= 0) H5Fclose(s->file);
    free(s->info.offsets);
    free(s->info.provenance);
    free(s);
}

/* ------------------------------------------------------------------------- verify */

static void check_problem(rtn_source_check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void check_problem(rtn_source_check *c, const char *fmt, ...)
{
    if (c->problems++) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->what, sizeof c->what, fmt, ap);
    va_end(ap);
}

static int known_has(const uint64_t *k, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k[mid] < key) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && k[lo] == key;
}

rtn_status rtn_source_verify(rtn_source *s, uint32_t b0, uint32_t b1, const uint64_t *known,
                             size_t nknown, unsigned char *dig, rtn_source_check *chk)
{
    const rtn_source_info *in = &s->info;
    const rtn_source_desc *d = in->desc;
    const uint32_t B = in->nbuckets;
    const size_t max_rows = (size_t)1 << 20;
    rtn_src_block blk = {0};
    rtn_status st = RTN_OK;
    for (uint32_t b = b0; b < b1 && st == RTN_OK;) {
        /* whole buckets, up to max_rows rows (a bigger bucket comes alone) */
        uint32_t e = b + 1;
        while (e < b1 && in->offsets[e + 1] - in->offsets[b] <= max_rows) e++;
        const uint64_t r0 = in->offsets[b];
        const size_t n = (size_t)(in->offsets[e] - r0);
        st = rtn_source_read(s, r0, n, &blk);
        for (uint32_t bb = b; st == RTN_OK && bb < e; bb++) {
            const size_t i0 = (size_t)(in->offsets[bb] - r0), i1 = (size_t)(in->offsets[bb + 1] - r0);
            rtn_source_bucket_digest(d, in->present, &blk, i0, i1, dig + (size_t)bb * RTN_BUCKET_DIGEST_BYTES);
            for (size_t i = i0; i < i1; i++) {
                const uint64_t row = r0 + i, key = (uint64_t)blk.v[0][i];
                const int new_key = i == i0 || (uint64_t)blk.v[0][i - 1] != key;
                if (rtn_bucket_of(key, B) != bb)
                    check_problem(chk, "/%s row %llu: key belongs to bucket %u, stored in bucket %u",
                                  d->name, (unsigned long long)row, rtn_bucket_of(key, B), bb);
                if (new_key) {
                    chk->keys++;
                    if (i > i0 && (uint64_t)blk.v[0][i - 1] > key)
                        check_problem(chk, "/%s row %llu: keys out of order in bucket %u", d->name,
                                      (unsigned long long)row, bb);
                    if (known && !known_has(known, nknown, key)) chk->orphan_keys++;
                } else if (blk.v[1][i - 1] > blk.v[1][i]) {
                    check_problem(chk, "/%s row %llu: time goes backwards for a key", d->name,
                                  (unsigned long long)row);
                }
                if (known && !known_has(known, nknown, key)) chk->orphan_rows++;
                if (blk.v[1][i] < in->time_min || blk.v[1][i] > in->time_max)
                    check_problem(chk, "/%s row %llu: time outside the group's time range", d->name,
                                  (unsigned long long)row);
                for (int c = 2; c < d->ncols; c++) {
                    if (!(in->present & (1u << c))) continue;
                    const rtn_src_column *col = &d->cols[c];
                    const int64_t v = blk.v[c][i];
                    int ok = 1;
                    if (is_dict_column(col)) ok = v >= -1 && v < (int64_t)in->dicts[c].n;
                    else if (col->fill == RTN_FILL_FLAG) ok = v >= -1 && v <= 1;
                    else if (col->fill == RTN_FILL_INT) ok = v == -1 || (v >= col->lo && v <= col->hi);
                    else if (col->fill == RTN_FILL_SCORE) ok = v >= -1 && v <= 10;
                    if (!ok)
                        check_problem(chk, "/%s row %llu: %s value %lld out of range", d->name,
                                      (unsigned long long)row, col->name, (long long)v);
                }
            }
        }
        chk->rows += n;
        b = e;
    }
    rtn_src_block_free(&blk);
    return st;
}
