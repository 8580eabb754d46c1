#include "retain/store.h"
#include "retain/source.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "retain/buckets.h"
#include "retain/h5.h"
#include "retain/log.h"
#include "retain/version.h"

const char *const rtn_column_names[RTN_NCOLS] = {"customer", "time",  "amount",
                                                 "quantity", "item",  "category",
                                                 "store",    "channel", "basket"};
const size_t rtn_column_sizes[RTN_NCOLS] = {8, 8, 8, 4, 4, 4, 4, 1, 8};

static hid_t file_type(rtn_column c)
{
    switch (c) {
    case RTN_COL_CUSTOMER:
    case RTN_COL_BASKET: return H5T_STD_U64LE;
    case RTN_COL_TIME:
    case RTN_COL_AMOUNT: return H5T_STD_I64LE;
    case RTN_COL_CHANNEL: return H5T_STD_I8LE;
    default: return H5T_STD_I32LE;
    }
}

static hid_t mem_type(rtn_column c)
{
    switch (c) {
    case RTN_COL_CUSTOMER:
    case RTN_COL_BASKET: return H5T_NATIVE_UINT64;
    case RTN_COL_TIME:
    case RTN_COL_AMOUNT: return H5T_NATIVE_INT64;
    case RTN_COL_CHANNEL: return H5T_NATIVE_INT8;
    default: return H5T_NATIVE_INT32;
    }
}

void *rtn_txn_block_column(rtn_txn_block *b, rtn_column c)
{
    switch (c) {
    case RTN_COL_CUSTOMER: return b->customer;
    case RTN_COL_TIME: return b->time;
    case RTN_COL_AMOUNT: return b->amount;
    case RTN_COL_QUANTITY: return b->quantity;
    case RTN_COL_ITEM: return b->item;
    case RTN_COL_CATEGORY: return b->category;
    case RTN_COL_STORE: return b->store;
    case RTN_COL_CHANNEL: return b->channel;
    case RTN_COL_BASKET: return b->basket;
    default: return NULL;
    }
}

static void **column_slot(rtn_txn_block *b, rtn_column c)
{
    switch (c) {
    case RTN_COL_CUSTOMER: return (void **)&b->customer;
    case RTN_COL_TIME: return (void **)&b->time;
    case RTN_COL_AMOUNT: return (void **)&b->amount;
    case RTN_COL_QUANTITY: return (void **)&b->quantity;
    case RTN_COL_ITEM: return (void **)&b->item;
    case RTN_COL_CATEGORY: return (void **)&b->category;
    case RTN_COL_STORE: return (void **)&b->store;
    case RTN_COL_CHANNEL: return (void **)&b->channel;
    case RTN_COL_BASKET: return (void **)&b->basket;
    default: return NULL;
    }
}

rtn_status rtn_txn_block_reserve(rtn_txn_block *b, size_t cap, unsigned cols)
{
    if (cap < 16) cap = 16;
    for (int c = 0; c < RTN_NCOLS; c++) {
        void **slot = column_slot(b, (rtn_column)c);
        int want = (cols & RTN_COL(c)) != 0;
        if (!want) continue;
        int have = (b->cols & RTN_COL(c)) != 0;
        if (have && b->cap >= cap) continue;
        /* a column added to a block that is already bigger gets the block's capacity:
         * every held column must hold b->cap rows (the invariant below) */
        size_t newcap = b->cap > cap ? b->cap : cap;
        void *p = realloc(*slot, newcap * rtn_column_sizes[c]);
        if (!p)
            return rtn_fail(RTN_ERR_NOMEM, "out of memory: %zu rows of column %s", newcap,
                            rtn_column_names[c]);
        *slot = p;
    }
    /* Columns held before and not re-requested keep their capacity only if cap grew
     * for all; simplest invariant: every held column has capacity >= b->cap. */
    unsigned held = b->cols | cols;
    size_t newcap = cap > b->cap ? cap : b->cap;
    for (int c = 0; c < RTN_NCOLS; c++) {
        if (!(held & RTN_COL(c)) || (cols & RTN_COL(c))) continue;
        if (newcap > b->cap) {
            void **slot = column_slot(b, (rtn_column)c);
            void *p = realloc(*slot, newcap * rtn_column_sizes[c]);
            if (!p) return rtn_fail(RTN_ERR_NOMEM, "out of memory growing a row block");
            *slot = p;
        }
    }
    b->cols = held;
    b->cap = newcap;
    return RTN_OK;
}

void rtn_txn_block_free(rtn_txn_block *b)
{
    for (int c = 0; c < RTN_NCOLS; c++) {
        void **slot = column_slot(b, (rtn_column)c);
        free(*slot);
        *slot = NULL;
    }
    b->n = b->cap = 0;
    b->cols = 0;
}

rtn_status rtn_txn_block_append(rtn_txn_block *dst, const rtn_txn_block *src, size_t i)
{
    if (dst->n == dst->cap) RTN_TRY(rtn_txn_block_reserve(dst, dst->cap * 2, dst->cols));
    size_t j = dst->n++;
    for (int c = 0; c < RTN_NCOLS; c++) {
        if (!(dst->cols & RTN_COL(c))) continue;
        char *d = rtn_txn_block_column(dst, (rtn_column)c);
        const char *s = rtn_txn_block_column((rtn_txn_block *)src, (rtn_column)c);
        if (!s) return rtn_fail(RTN_ERR_INTERNAL, "append: column %s missing", rtn_column_names[c]);
        memcpy(d + j * rtn_column_sizes[c], s + i * rtn_column_sizes[c], rtn_column_sizes[c]);
    }
    return RTN_OK;
}

void rtn_strdict_free(rtn_strdict *d)
{
    rtn_strings_free(d->s, d->n);
    d->s = NULL;
    d->n = 0;
}

/* ---------------------------------------------------------------- digests */

/* Per-bucket digests are XXH3-128 (xxHash) since format version 2: they detect damage and
 * identify content at memory speed (version 1 stores carry SHA-256 ones, still verified);
 * the SHA-256 content digest over them identifies the whole store. */
struct rtn_bucket_hasher {
    XXH3_state_t *state; /* format version 2 */
    EVP_MD_CTX *sha;     /* format version 1 */
    unsigned char buf[4096 * 49];
};

size_t rtn_store_bucket_digest_bytes(int format_version)
{
    return format_version == 1 ? 32
           : format_version >= 2 && format_version <= RTN_STORE_FORMAT_VERSION ? RTN_BUCKET_DIGEST_BYTES
                                                                                : 0;
}

rtn_status rtn_bucket_hasher_new_for(rtn_bucket_hasher **h, int format_version)
{
    if (!rtn_store_bucket_digest_bytes(format_version))
        return rtn_fail(RTN_ERR_FORMAT, "no bucket digest for store format version %d",
                        format_version);
    *h = rtn_calloc(1, sizeof **h, "bucket hasher");
    if (!*h) return RTN_ERR_NOMEM;
    if (format_version == 1) (*h)->sha = EVP_MD_CTX_new();
    else (*h)->state = XXH3_createState();
    if (!(*h)->state && !(*h)->sha) {
        free(*h);
        *h = NULL;
        return rtn_fail(RTN_ERR_NOMEM, "cannot create a bucket hash state");
    }
    rtn_bucket_hasher_reset(*h);
    return RTN_OK;
}

rtn_status rtn_bucket_hasher_new(rtn_bucket_hasher **h)
{
    return rtn_bucket_hasher_new_for(h, RTN_STORE_FORMAT_VERSION);
}

void rtn_bucket_hasher_reset(rtn_bucket_hasher *h)
{
    if (h->sha) EVP_DigestInit_ex(h->sha, EVP_sha256(), NULL);
    else XXH3_128bits_reset(h->state);
}

static inline unsigned char *put_le(unsigned char *p, uint64_t v, int nbytes)
{
    for (int i = 0; i < nbytes; i++) p[i] = (unsigned char)(v >> (8 * i));
    return p + nbytes;
}

void rtn_bucket_hasher_rows(rtn_bucket_hasher *h, const rtn_txn_block *b, size_t i0, size_t i1)
{
    size_t i = i0;
    while (i < i1) {
        size_t n = i1 - i;
        if (n > 4096) n = 4096;
        unsigned char *p = h->buf;
        for (size_t k = i; k < i + n; k++) {
            p = put_le(p, b->customer[k], 8);
            p = put_le(p, (uint64_t)b->time[k], 8);
            p = put_le(p, (uint64_t)b->amount[k], 8);
            p = put_le(p, (uint64_t)(uint32_t)b->quantity[k], 4);
            p = put_le(p, (uint64_t)(uint32_t)b->item[k], 4);
            p = put_le(p, (uint64_t)(uint32_t)b->category[k], 4);
            p = put_le(p, (uint64_t)(uint32_t)b->store[k], 4);
            p = put_le(p, (uint64_t)(uint8_t)b->channel[k], 1);
            p = put_le(p, b->basket[k], 8);
        }
        if (h->sha) EVP_DigestUpdate(h->sha, h->buf, (size_t)(p - h->buf));
        else XXH3_128bits_update(h->state, h->buf, (size_t)(p - h->buf));
        i += n;
    }
}

void rtn_bucket_hasher_final(rtn_bucket_hasher *h, unsigned char *out)
{
    if (h->sha) {
        unsigned int len = 32;
        EVP_DigestFinal_ex(h->sha, out, &len);
    } else {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h->state)); /* big-endian bytes */
        memcpy(out, c.digest, RTN_BUCKET_DIGEST_BYTES);
    }
    rtn_bucket_hasher_reset(h);
}

void rtn_bucket_hasher_free(rtn_bucket_hasher *h)
{
    if (!h) return;
    if (h->state) XXH3_freeState(h->state);
    if (h->sha) EVP_MD_CTX_free(h->sha);
    free(h);
}

static void hash_dict(EVP_MD_CTX *ctx, const char *tag, const rtn_strdict *d)
{
    unsigned char n8[8];
    EVP_DigestUpdate(ctx, tag, strlen(tag) + 1);
    put_le(n8, d ? d->n : 0, 8);
    EVP_DigestUpdate(ctx, n8, 8);
    for (size_t i = 0; d && i < d->n; i++) EVP_DigestUpdate(ctx, d->s[i], strlen(d->s[i]) + 1);
}

void rtn_store_content_digest(uint32_t nbuckets, const unsigned char *bucket_digests,
                              size_t digest_bytes, const rtn_strdict *item,
                              const rtn_strdict *category, const rtn_strdict *store,
                              char hex[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    const char *tag = "retain-transaction-store/1";
    EVP_DigestUpdate(ctx, tag, strlen(tag) + 1);
    unsigned char b8[8];
    put_le(b8, nbuckets, 8);
    EVP_DigestUpdate(ctx, b8, 8);
    EVP_DigestUpdate(ctx, bucket_digests, (size_t)nbuckets * digest_bytes);
    hash_dict(ctx, "item", item);
    hash_dict(ctx, "category", category);
    hash_dict(ctx, "store", store);
    unsigned char out[32];
    unsigned int len = 32;
    EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", out[i]);
}

/* ---------------------------------------------------------------- writer */

struct rtn_store_writer {
    MPI_Comm comm;
    rtn_h5_out out;
    hid_t cols[RTN_NCOLS];
    uint32_t nbuckets;
    uint64_t *offsets;
    uint64_t n_rows;
    rtn_store_meta meta;
    char *currency, *created_by, *provenance;
    /* digest state */
    rtn_bucket_hasher *hasher;
    unsigned char *digests;      /* nbuckets x RTN_BUCKET_DIGEST_BYTES, this rank's buckets */
    unsigned char *have;         /* nbuckets flags */
    uint32_t cur_bucket;         /* bucket being hashed */
    uint64_t next_row;           /* next expected row (UINT64_MAX before the first) */
};

static uint32_t bucket_of_row(const uint64_t *off, uint32_t B, uint64_t row)
{
    /* last b with off[b] <= row, skipping empty buckets */
    uint32_t lo = 0, hi = B;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (off[mid] <= row) lo = mid;
        else hi = mid;
    }
    return lo;
}

rtn_status rtn_store_create(rtn_store_writer **wp, MPI_Comm comm, const char *path,
                            const rtn_store_meta *meta)
{
    *wp = NULL;
    rtn_status st = RTN_OK;
    if (meta->nbuckets == 0 || meta->nbuckets > RTN_STORE_MAX_BUCKETS)
        st = rtn_fail(RTN_ERR_USAGE, "bucket count %u outside [1, %u]", meta->nbuckets,
                      RTN_STORE_MAX_BUCKETS);
    rtn_store_writer *w = NULL;
    if (st == RTN_OK) {
        w = rtn_calloc(1, sizeof *w, "store writer");
        if (!w) st = RTN_ERR_NOMEM;
    }
    if (st == RTN_OK) {
        w->comm = comm;
        w->nbuckets = meta->nbuckets;
        w->meta = *meta;
        w->offsets = rtn_malloc(sizeof(uint64_t) * (meta->nbuckets + 1u), "bucket offsets");
        w->digests = rtn_calloc(meta->nbuckets, RTN_BUCKET_DIGEST_BYTES, "bucket digests");
        w->have = rtn_calloc(meta->nbuckets, 1, "bucket digest flags");
        w->currency = strdup(meta->currency ? meta->currency : "XXX");
        w->created_by = strdup(meta->created_by ? meta->created_by : "");
        w->provenance = strdup(meta->provenance ? meta->provenance : "{}");
        if (!w->offsets || !w->digests || !w->have || !w->currency || !w->created_by ||
            !w->provenance)
            st = rtn_fail(RTN_ERR_NOMEM, "out of memory creating the store writer");
    }
    if (st == RTN_OK) {
        memcpy(w->offsets, meta->bucket_offsets, sizeof(uint64_t) * (meta->nbuckets + 1u));
        w->n_rows = w->offsets[meta->nbuckets];
        if (w->offsets[0] != 0) st = rtn_fail(RTN_ERR_INTERNAL, "bucket offsets must start at 0");
        for (uint32_t b = 0; st == RTN_OK && b < meta->nbuckets; b++)
            if (w->offsets[b + 1] < w->offsets[b])
                st = rtn_fail(RTN_ERR_INTERNAL, "bucket offsets decrease at bucket %u", b);
        w->next_row = UINT64_MAX;
        if (st == RTN_OK) st = rtn_bucket_hasher_new(&w->hasher);
    }
    st = rtn_agree(comm, st);
    if (st) goto fail;
    st = rtn_h5_out_create(&w->out, comm, path);
    if (st) goto fail;
    for (int c = 0; c < RTN_NCOLS; c++) w->cols[c] = H5I_INVALID_HID;
    for (int c = 0; c < RTN_NCOLS && st == RTN_OK; c++) {
        char name[64];
        snprintf(name, sizeof name, "/transactions/%s", rtn_column_names[c]);
        st = rtn_h5_create_1d(w->out.file, name, file_type((rtn_column)c), w->n_rows, 0,
                              &w->cols[c]);
    }
    st = rtn_agree(comm, st);
    if (st) {
        for (int c = 0; c < RTN_NCOLS; c++)
            if (w->cols[c] >= 0) H5Dclose(w->cols[c]);
        rtn_h5_out_finish(&w->out, st);
        goto fail;
    }
    *wp = w;
    return RTN_OK;
fail:
    if (w) {
        rtn_bucket_hasher_free(w->hasher);
        free(w->offsets);
        free(w->digests);
        free(w->have);
        free(w->currency);
        free(w->created_by);
        free(w->provenance);
        free(w);
    }
    return st;
}

static rtn_status hash_rows(rtn_store_writer *w, uint64_t row0, const rtn_txn_block *blk)
{
    if (blk->n == 0) return RTN_OK;
    uint64_t row = row0;
    size_t i = 0;
    if (w->next_row != row0) {
        /* Starting a new run of rows: must be at a bucket start. */
        uint32_t b = bucket_of_row(w->offsets, w->nbuckets, row0);
        if (w->offsets[b] != row0 && w->next_row != UINT64_MAX)
            return rtn_fail(RTN_ERR_INTERNAL, "store writer: rows must arrive in order "
                            "(expected row %llu, got %llu)", (unsigned long long)w->next_row,
                            (unsigned long long)row0);
        if (w->offsets[b] != row0)
            return rtn_fail(RTN_ERR_INTERNAL, "store writer: a rank must write whole buckets "
                            "(row %llu is inside bucket %u)", (unsigned long long)row0, b);
        w->cur_bucket = b;
        rtn_bucket_hasher_reset(w->hasher);
    }
    while (i < blk->n) {
        uint32_t b = w->cur_bucket;
        while (w->offsets[b + 1] <= row) {
            /* bucket b (possibly empty) is complete */
            rtn_bucket_hasher_final(w->hasher, w->digests + (size_t)b * RTN_BUCKET_DIGEST_BYTES);
            w->have[b] = 1;
            b++;
        }
        w->cur_bucket = b;
        uint64_t end = w->offsets[b + 1];
        size_t take = (size_t)((end - row) < (uint64_t)(blk->n - i) ? (end - row) : (blk->n - i));
        rtn_bucket_hasher_rows(w->hasher, blk, i, i + take);
        i += take;
        row += take;
        if (row == end) {
            rtn_bucket_hasher_final(w->hasher, w->digests + (size_t)b * RTN_BUCKET_DIGEST_BYTES);
            w->have[b] = 1;
            w->cur_bucket = b + 1 < w->nbuckets ? b + 1 : b;
        }
    }
    w->next_row = row;
    return RTN_OK;
}

rtn_status rtn_store_write(rtn_store_writer *w, uint64_t row0, const rtn_txn_block *blk)
{
    rtn_status st = RTN_OK;
    if (blk->n && (blk->cols & RTN_COLS_ALL) != RTN_COLS_ALL)
        st = rtn_fail(RTN_ERR_INTERNAL, "store writer: block lacks columns");
    if (st == RTN_OK && row0 + blk->n > w->n_rows)
        st = rtn_fail(RTN_ERR_INTERNAL, "store writer: rows [%llu,%llu) beyond %llu",
                      (unsigned long long)row0, (unsigned long long)(row0 + blk->n),
                      (unsigned long long)w->n_rows);
    if (st == RTN_OK) st = hash_rows(w, row0, blk);
    if (st == RTN_OK) {
        int rank;
        MPI_Comm_rank(w->comm, &rank);
        st = rtn_inject_failure("store-write", rank);
    }
    /* Agree before the collective writes so one rank's error cannot hang the others. */
    st = rtn_agree(w->comm, st);
    if (st) return st;
    for (int c = 0; c < RTN_NCOLS && st == RTN_OK; c++)
        st = rtn_h5_write_rows(w->cols[c], mem_type((rtn_column)c), row0, blk->n,
                               rtn_txn_block_column((rtn_txn_block *)blk, (rtn_column)c), 1);
    return rtn_agree(w->comm, st);
}

static rtn_status write_dict(rtn_store_writer *w, const char *name, const rtn_strdict *d)
{
    static const char *const none[1] = {""};
    return rtn_h5_write_strings(w->comm, 0, w->out.file, name,
                                d && d->n ? (const char *const *)d->s : none, d ? d->n : 0);
}

rtn_status rtn_store_finish(rtn_store_writer *w, rtn_status st)
{
    int rank;
    MPI_Comm_rank(w->comm, &rank);
    st = rtn_agree(w->comm, st);
    for (int c = 0; c < RTN_NCOLS; c++)
        if (w->cols[c] >= 0) H5Dclose(w->cols[c]);
    char hex[65] = {0};
    if (st == RTN_OK) {
        /* Buckets nobody wrote are empty: digest of no rows. Each bucket has one writer. */
        unsigned char empty[RTN_BUCKET_DIGEST_BYTES];
        rtn_bucket_hasher_reset(w->hasher);
        rtn_bucket_hasher_final(w->hasher, empty);
        MPI_Allreduce(MPI_IN_PLACE, w->digests, (int)w->nbuckets * RTN_BUCKET_DIGEST_BYTES, MPI_UNSIGNED_CHAR, MPI_BOR,
                      w->comm);
        MPI_Allreduce(MPI_IN_PLACE, w->have, (int)w->nbuckets, MPI_UNSIGNED_CHAR, MPI_BOR,
                      w->comm);
        for (uint32_t b = 0; b < w->nbuckets && st == RTN_OK; b++) {
            if (!w->have[b]) {
                if (w->offsets[b + 1] != w->offsets[b])
                    st = rtn_fail(RTN_ERR_INTERNAL, "store writer: bucket %u was not written", b);
                memcpy(w->digests + (size_t)b * RTN_BUCKET_DIGEST_BYTES, empty, RTN_BUCKET_DIGEST_BYTES);
            }
        }
        rtn_store_content_digest(w->nbuckets, w->digests, RTN_BUCKET_DIGEST_BYTES, w->meta.dict_item,
                                 w->meta.dict_category, w->meta.dict_store, hex);
    }
    st = rtn_agree(w->comm, st);
    hid_t f = w->out.file;
    if (st == RTN_OK) {
        uint64_t d1[1] = {(uint64_t)w->nbuckets + 1};
        st = rtn_h5_write_small(w->comm, 0, f, "/index/bucket_offsets", H5T_STD_U64LE, 1, d1,
                                w->offsets);
        uint64_t d2[2] = {w->nbuckets, RTN_BUCKET_DIGEST_BYTES};
        if (st == RTN_OK)
            st = rtn_h5_write_small(w->comm, 0, f, "/index/bucket_digest", H5T_STD_U8LE, 2, d2,
                                    w->digests);
        if (st == RTN_OK) st = write_dict(w, "/dict/item", w->meta.dict_item);
        if (st == RTN_OK) st = write_dict(w, "/dict/category", w->meta.dict_category);
        if (st == RTN_OK) st = write_dict(w, "/dict/store", w->meta.dict_store);
        char created[32];
        rtn_h5_timestamp(w->comm, created, sizeof created);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "format", RTN_STORE_FORMAT);
        if (st == RTN_OK) st = rtn_h5_attr_i64(f, "format_version", RTN_STORE_FORMAT_VERSION);
        if (st == RTN_OK) st = rtn_h5_attr_u64(f, "buckets", w->nbuckets);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "bucket_function", "splitmix64-multiply-shift");
        if (st == RTN_OK) st = rtn_h5_attr_u64(f, "n_rows", w->n_rows);
        if (st == RTN_OK) st = rtn_h5_attr_u64(f, "n_customers", w->meta.n_customers);
        if (st == RTN_OK) st = rtn_h5_attr_i64(f, "time_min", w->meta.time_min);
        if (st == RTN_OK) st = rtn_h5_attr_i64(f, "time_max", w->meta.time_max);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "currency", w->currency);
        if (st == RTN_OK)
            st = rtn_h5_attr_i64(f, "currency_exponent", w->meta.currency_exponent);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "content_digest", hex);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "created_by", w->created_by);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "creator_version", RTN_VERSION_STRING);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "created_at", created);
        if (st == RTN_OK) st = rtn_h5_attr_str(f, "provenance", w->provenance);
        if (st == RTN_OK) st = rtn_store_mark_sources(w->comm, f);
    }
    st = rtn_h5_out_finish(&w->out, st);
    rtn_bucket_hasher_free(w->hasher);
    free(w->offsets);
    free(w->digests);
    free(w->have);
    free(w->currency);
    free(w->created_by);
    free(w->provenance);
    free(w);
    return st;
}

/* ---------------------------------------------------------------- reader */

struct rtn_store {
    MPI_Comm comm;
    hid_t file;
    hid_t cols[RTN_NCOLS];
    rtn_store_info info;
    /* read-only mapping of the file (rtn_store_map) and where each mapped column's rows
     * start in it (NULL: read through HDF5) */
    void *map;
    size_t map_len;
    haddr_t *chunk_pos[RTN_NCOLS]; /* byte position of each chunk of a mapped column */
    uint64_t chunk_rows[RTN_NCOLS];
};

static rtn_status check_column(rtn_store *s, rtn_column c)
{
    char name[64];
    snprintf(name, sizeof name, "/transactions/%s", rtn_column_names[c]);
    if (!rtn_h5_exists(s->file, name))
        return rtn_fail(RTN_ERR_FORMAT, "'%s': dataset %s is missing", s->info.path, name);
    hid_t d = H5Dopen2(s->file, name, H5P_DEFAULT);
    if (d < 0) return rtn_fail(RTN_ERR_FORMAT, "'%s': cannot open dataset %s", s->info.path, name);
    s->cols[c] = d;
    hid_t t = H5Dget_type(d);
    hid_t sp = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    int r = H5Sget_simple_extent_ndims(sp);
    if (r == 1) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5T_class_t want_class = H5T_INTEGER;
    size_t want_size = rtn_column_sizes[c];
    H5T_sign_t want_sign =
        (c == RTN_COL_CUSTOMER || c == RTN_COL_BASKET) ? H5T_SGN_NONE : H5T_SGN_2;
    rtn_status st = RTN_OK;
    if (H5Tget_class(t) != want_class || H5Tget_size(t) != want_size ||
        H5Tget_sign(t) != want_sign)
        st = rtn_fail(RTN_ERR_FORMAT, "'%s': dataset %s has the wrong type (want %s%zu-bit "
                      "integer)", s->info.path, name, want_sign == H5T_SGN_NONE ? "unsigned " : "",
                      want_size * 8);
    else if (r != 1 || dims[0] != s->info.n_rows)
        st = rtn_fail(RTN_ERR_FORMAT, "'%s': dataset %s has %llu rows, the index says %llu",
                      s->info.path, name, (unsigned long long)dims[0],
                      (unsigned long long)s->info.n_rows);
    H5Sclose(sp);
    H5Tclose(t);
    return st;
}

static rtn_status read_info(rtn_store *s)
{
    rtn_store_info *in = &s->info;
    hid_t f = s->file;
    char fmt[64] = "";
    if (H5Aexists(f, "format") <= 0 || rtn_h5_read_attr_str(f, "format", fmt, sizeof fmt) ||
        strcmp(fmt, RTN_STORE_FORMAT) != 0)
        return rtn_fail(RTN_ERR_FORMAT, "'%s' is not a retain transaction store (root attribute "
                        "format is '%s', expected '%s')", in->path, fmt, RTN_STORE_FORMAT);
    int64_t ver = 0;
    RTN_TRY(rtn_h5_read_attr_i64(f, "format_version", &ver));
    if (ver < 1 || ver > RTN_STORE_FORMAT_VERSION)
        return rtn_fail(RTN_ERR_FORMAT, "'%s': store format version %lld is not supported by "
                        "this retain (supports 1..%d)", in->path, (long long)ver,
                        RTN_STORE_FORMAT_VERSION);
    in->format_version = (int)ver;
    uint64_t B = 0;
    rtn_status st = rtn_h5_read_attr_u64(f, "buckets", &B);
    if (st == RTN_OK) st = rtn_h5_read_attr_u64(f, "n_rows", &in->n_rows);
    if (st == RTN_OK) st = rtn_h5_read_attr_u64(f, "n_customers", &in->n_customers);
    if (st == RTN_OK) st = rtn_h5_read_attr_i64(f, "time_min", &in->time_min);
    if (st == RTN_OK) st = rtn_h5_read_attr_i64(f, "time_max", &in->time_max);
    if (st == RTN_OK) st = rtn_h5_read_attr_str(f, "currency", in->currency, sizeof in->currency);
    int64_t cexp = 2;
    if (st == RTN_OK) st = rtn_h5_read_attr_i64(f, "currency_exponent", &cexp);
    in->currency_exponent = (int32_t)cexp;
    if (st == RTN_OK) st = rtn_h5_read_attr_str(f, "content_digest", in->digest, sizeof in->digest);
    if (st == RTN_OK) st = rtn_h5_read_attr_str(f, "created_at", in->created_at, sizeof in->created_at);
    if (st) return rtn_fail_context(st, "'%s'", in->path);
    if (B == 0 || B > RTN_STORE_MAX_BUCKETS)
        return rtn_fail(RTN_ERR_FORMAT, "'%s': bucket count %llu is invalid", in->path,
                        (unsigned long long)B);
    in->nbuckets = (uint32_t)B;
    int r;
    uint64_t dims[2];
    st = rtn_h5_dims(f, "/index/bucket_offsets", &r, dims);
    if (st) return rtn_fail_context(st, "'%s'", in->path);
    if (r != 1 || dims[0] != B + 1)
        return rtn_fail(RTN_ERR_FORMAT, "'%s': /index/bucket_offsets has %llu entries, expected "
                        "buckets+1 = %llu", in->path, (unsigned long long)dims[0],
                        (unsigned long long)(B + 1));
    in->bucket_offsets = rtn_malloc(sizeof(uint64_t) * (B + 1), "bucket offsets");
    if (!in->bucket_offsets) return RTN_ERR_NOMEM;
    hid_t d = H5Dopen2(f, "/index/bucket_offsets", H5P_DEFAULT);
    herr_t e = H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, in->bucket_offsets);
    H5Dclose(d);
    if (e < 0)
        return rtn_fail(RTN_ERR_FORMAT, "'%s': cannot read /index/bucket_offsets (damaged?)",
                        in->path);
    if (in->bucket_offsets[0] != 0)
        return rtn_fail(RTN_ERR_FORMAT, "'%s': /index/bucket_offsets[0] is %llu, expected 0",
                        in->path, (unsigned long long)in->bucket_offsets[0]);
    for (uint64_t b = 0; b < B; b++)
        if (in->bucket_offsets[b + 1] < in->bucket_offsets[b])
            return rtn_fail(RTN_ERR_FORMAT, "'%s': /index/bucket_offsets decreases at bucket %llu",
                            in->path, (unsigned long long)b);
    if (in->bucket_offsets[B] != in->n_rows)
        return rtn_fail(RTN_ERR_FORMAT, "'%s': /index/bucket_offsets ends at %llu but the store "
                        "has %llu rows", in->path, (unsigned long long)in->bucket_offsets[B],
                        (unsigned long long)in->n_rows);
    for (int c = 0; c < RTN_NCOLS; c++) RTN_TRY(check_column(s, (rtn_column)c));
    st = rtn_h5_read_strings(f, "/dict/item", &in->dict_item.s, &in->dict_item.n);
    if (st == RTN_OK)
        st = rtn_h5_read_strings(f, "/dict/category", &in->dict_category.s, &in->dict_category.n);
    if (st == RTN_OK)
        st = rtn_h5_read_strings(f, "/dict/store", &in->dict_store.s, &in->dict_store.n);
    if (st) return rtn_fail_context(st, "'%s'", in->path);
    return RTN_OK;
}

rtn_status rtn_store_open(rtn_store **sp, MPI_Comm comm, const char *path)
{
    *sp = NULL;
    rtn_store *s = rtn_calloc(1, sizeof *s, "store");
    rtn_status st = s ? RTN_OK : RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    if (st) {
        free(s);
        return st;
    }
    s->comm = comm;
    for (int c = 0; c < RTN_NCOLS; c++) s->cols[c] = H5I_INVALID_HID;
    snprintf(s->info.path, sizeof s->info.path, "%s", path);
    st = rtn_h5_open_read(comm, path, &s->file);
    if (st) {
        free(s);
        return st;
    }
    st = read_info(s);
    st = rtn_agree(comm, st);
    if (st) {
        rtn_store_close(s);
        return st;
    }
    *sp = s;
    return RTN_OK;
}

const rtn_store_info *rtn_store_get_info(const rtn_store *s) { return &s->info; }

rtn_status rtn_store_read(rtn_store *s, uint64_t row0, size_t n, unsigned cols,
                          rtn_txn_block *blk)
{
    if (blk->cap < n || (blk->cols & cols) != cols) RTN_TRY(rtn_txn_block_reserve(blk, n, cols));
    blk->n = n;
    for (int c = 0; c < RTN_NCOLS; c++) {
        if (!(cols & RTN_COL(c))) continue;
        rtn_status st = rtn_h5_read_rows(s->cols[c], mem_type((rtn_column)c), row0, n,
                                         rtn_txn_block_column(blk, (rtn_column)c));
        if (st) return rtn_fail_context(st, "store '%s'", s->info.path);
    }
    return RTN_OK;
}

void rtn_store_close(rtn_store *s)
{
    if (!s) return;
    if (s->map) munmap(s->map, s->map_len);
    for (int c = 0; c < RTN_NCOLS; c++) free(s->chunk_pos[c]);
    for (int c = 0; c < RTN_NCOLS; c++)
        if (s->cols[c] >= 0) H5Dclose(s->cols[c]);
    if (s->file >= 0) H5Fclose(s->file);
    free(s->info.bucket_offsets);
    rtn_strdict_free(&s->info.dict_item);
    rtn_strdict_free(&s->info.dict_category);
    rtn_strdict_free(&s->info.dict_store);
    free(s);
}

void rtn_store_my_buckets(const rtn_store *s, MPI_Comm comm, uint32_t *b0, uint32_t *b1)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    rtn_partition_buckets(s->info.bucket_offsets, s->info.nbuckets, size, rank, b0, b1);
}

void rtn_store_scan_begin(rtn_store_scan *it, rtn_store *s, uint32_t b0, uint32_t b1,
                          size_t max_rows, unsigned cols)
{
    it->store = s;
    it->next = b0;
    it->end = b1;
    it->max_rows = max_rows ? max_rows : (1u << 20);
    it->cols = cols;
    it->view_row0 = 0;
    it->view_n = 0;
}

/* The scan's next block: whole buckets [*bb0, *bb1) up to max_rows rows (at least one
 * bucket, however big); an empty range at the end. */
static void scan_advance(rtn_store_scan *it, uint32_t *bb0, uint32_t *bb1)
{
    const uint64_t *off = it->store->info.bucket_offsets;
    uint32_t b0 = it->next, b1 = it->next;
    while (b1 < it->end && (b1 == b0 || off[b1 + 1] - off[b0] <= it->max_rows)) b1++;
    *bb0 = b0;
    *bb1 = b1;
    it->next = b1;
}

rtn_status rtn_store_scan_next(rtn_store_scan *it, rtn_txn_block *blk, uint32_t *bb0,
                               uint32_t *bb1)
{
    const uint64_t *off = it->store->info.bucket_offsets;
    scan_advance(it, bb0, bb1);
    uint32_t b0 = *bb0, b1 = *bb1;
    if (b0 == b1) {
        blk->n = 0;
        return RTN_OK;
    }
    return rtn_store_read(it->store, off[b0], (size_t)(off[b1] - off[b0]), it->cols, blk);
}

/* File addresses of the chunks of column c (one "chunk" for a contiguous layout) when its
 * rows lie in the file as native arrays: no filters, the file type equal to the memory
 * type, every chunk allocated at full size. Returns the chunk count (0: read the column
 * through HDF5). Metadata calls only, identical on every rank (the file is opened with
 * collective metadata reads). */
static size_t column_chunks(rtn_store *s, rtn_column c, uint64_t *chunk_rows, haddr_t **addr)
{
    hid_t ds = s->cols[c];
    hid_t dcpl = H5Dget_create_plist(ds);
    hid_t ft = H5Dget_type(ds);
    uint64_t n = s->info.n_rows;
    size_t elem = rtn_column_sizes[c], nch = 0;
    haddr_t *a = NULL;
    if (dcpl < 0 || ft < 0 || n == 0 || H5Pget_nfilters(dcpl) != 0 ||
        H5Tequal(ft, mem_type(c)) <= 0)
        goto done;
    H5D_layout_t lay = H5Pget_layout(dcpl);
    hsize_t cd = 0;
    if (lay == H5D_CONTIGUOUS) {
        cd = n;
    } else if (lay != H5D_CHUNKED || H5Pget_chunk(dcpl, 1, &cd) != 1 || cd == 0) {
        goto done;
    }
    size_t m = (size_t)((n + cd - 1) / cd);
    a = rtn_malloc(m * sizeof *a, "chunk addresses");
    if (!a) goto done;
    if (lay == H5D_CONTIGUOUS) {
        a[0] = H5Dget_offset(ds);
        if (a[0] == HADDR_UNDEF) goto done;
    } else {
        for (size_t i = 0; i < m; i++) {
            hsize_t off = (hsize_t)i * cd, size = 0;
            unsigned mask = 0;
            if (H5Dget_chunk_info_by_coord(ds, &off, &mask, &a[i], &size) < 0 || mask != 0 ||
                a[i] == HADDR_UNDEF || size != cd * elem)
                goto done;
        }
    }
    nch = m;
done:
    if (ft >= 0) H5Tclose(ft);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (!nch) {
        free(a);
        a = NULL;
    }
    *chunk_rows = cd;
    *addr = a;
    return nch;
}

unsigned rtn_store_map(rtn_store *s, unsigned cols)
{
    haddr_t *addr[RTN_NCOLS] = {0};
    uint64_t cd[RTN_NCOLS] = {0};
    size_t nch[RTN_NCOLS] = {0};
    unsigned want = 0;
    for (int c = 0; c < RTN_NCOLS; c++) {
        if (!(cols & RTN_COL(c)) || s->chunk_pos[c]) continue;
        nch[c] = column_chunks(s, (rtn_column)c, &cd[c], &addr[c]);
        if (nch[c]) want |= RTN_COL(c);
    }
    hsize_t ub = 0;
    if (want) {
        hid_t fcpl = H5Fget_create_plist(s->file);
        if (fcpl >= 0) {
            H5Pget_userblock(fcpl, &ub);
            H5Pclose(fcpl);
        }
    }
    if (want && !s->map) {
        int fd = open(s->info.path, O_RDONLY);
        struct stat sb;
        if (fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > 0) {
            void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
            if (m != MAP_FAILED) {
                s->map = m;
                s->map_len = (size_t)sb.st_size;
            }
        }
        if (fd >= 0) close(fd);
    }
    for (int c = 0; c < RTN_NCOLS && s->map; c++) {
        if (!(want & RTN_COL(c))) continue;
        /* every chunk inside the file (a truncated file is left to HDF5's checks) and
         * aligned for its type */
        size_t elem = rtn_column_sizes[c], i;
        uint64_t bytes = cd[c] * elem;
        for (i = 0; i < nch[c]; i++) {
            uint64_t pos = (uint64_t)ub + addr[c][i];
            if (pos < addr[c][i] || pos > s->map_len || bytes > s->map_len - pos || pos % elem)
                break;
            addr[c][i] = pos;
        }
        if (i < nch[c]) continue;
        s->chunk_pos[c] = addr[c];
        s->chunk_rows[c] = cd[c];
        addr[c] = NULL;
    }
    unsigned mapped = 0;
    for (int c = 0; c < RTN_NCOLS; c++) {
        free(addr[c]);
        if (s->chunk_pos[c]) mapped |= RTN_COL(c);
    }
    return mapped;
}

/* Column c's rows [row0, row0 + n) in the mapping when the chunks holding them are
 * adjacent in the file (the usual case; the writer's chunks are mostly back to back), else
 * NULL. */
static const void *mapped_rows(const rtn_store *s, rtn_column c, uint64_t row0, size_t n)
{
    const haddr_t *pos = s->chunk_pos[c];
    if (!pos) return NULL;
    uint64_t cd = s->chunk_rows[c], elem = rtn_column_sizes[c];
    uint64_t k0 = row0 / cd, k1 = (row0 + n - 1) / cd;
    for (uint64_t k = k0 + 1; k <= k1; k++)
        if (pos[k] != pos[k0] + (k - k0) * cd * elem) return NULL;
    return (const unsigned char *)s->map + pos[k0] + (row0 - k0 * cd) * elem;
}

rtn_status rtn_store_scan_view(rtn_store_scan *it, rtn_txn_block *blk, rtn_txn_block *view,
                               uint32_t *bb0, uint32_t *bb1)
{
    rtn_store *s = it->store;
    /* Drop the previous block's pages from this process's mapping (they stay in the page
     * cache): otherwise every page of the store ever read counts as resident memory of the
     * rank, and a scan's footprint would grow with the store instead of the block. */
    if (it->view_n) {
        long pg = sysconf(_SC_PAGESIZE);
        for (int c = 0; c < RTN_NCOLS && pg > 0; c++) {
            if (!(it->cols & RTN_COL(c))) continue;
            const unsigned char *p = mapped_rows(s, (rtn_column)c, it->view_row0, it->view_n);
            if (!p) continue;
            /* with a margin: a fault maps neighbouring cached pages too (fault-around,
             * 64 KiB by default), and those count as resident as well */
            const uintptr_t margin = 1u << 20, lo = (uintptr_t)s->map,
                            hi = lo + s->map_len;
            uintptr_t a = (uintptr_t)p, e = a + it->view_n * rtn_column_sizes[c];
            a = a - lo > margin ? a - margin : lo;
            e = hi - e > margin ? e + margin : hi;
            a &= ~(uintptr_t)(pg - 1);
            madvise((void *)a, e - a, MADV_DONTNEED);
        }
        it->view_n = 0;
    }
    const uint64_t *off = s->info.bucket_offsets;
    scan_advance(it, bb0, bb1);
    uint32_t b0 = *bb0, b1 = *bb1;
    memset(view, 0, sizeof *view);
    if (b0 == b1) return RTN_OK;
    uint64_t row0 = off[b0];
    size_t n = (size_t)(off[b1] - row0);
    unsigned copy = 0;
    for (int c = 0; c < RTN_NCOLS; c++) {
        if (!(it->cols & RTN_COL(c))) continue;
        const void *p = mapped_rows(s, (rtn_column)c, row0, n);
        if (!p) copy |= RTN_COL(c);
        *column_slot(view, (rtn_column)c) = (void *)p;
    }
    if (copy) RTN_TRY(rtn_store_read(s, row0, n, copy, blk));
    for (int c = 0; c < RTN_NCOLS; c++)
        if (copy & RTN_COL(c))
            *column_slot(view, (rtn_column)c) = rtn_txn_block_column(blk, (rtn_column)c);
    view->n = view->cap = n;
    view->cols = it->cols;
    it->view_row0 = row0;
    it->view_n = n;
    return RTN_OK;
}
