/* retain inspect STORE: readable summary and full structural validation of a store. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/cli.h"
#include "retain/commands.h"
#include "retain/h5.h"
#include "retain/log.h"
#include "retain/source.h"
#include "retain/store.h"

const char rtn_usage_inspect[] =
    "usage: retain inspect STORE [--json] [--quick] [--block-rows N]\n"
    "\n"
    "Prints a summary of a transaction store and validates it: bucket offsets monotone and\n"
    "covering all rows, every row in the bucket its customer hashes to, rows ordered by\n"
    "(bucket, customer, time), dictionary codes in range, channel codes valid, the customer\n"
    "count, and the per-bucket XXH3-128 digests against /index/bucket_digest. A store with\n"
    "customer-360 sources (members, events, feedback; retain ingest --add) gets the same\n"
    "checks per source, its rows, keys, time range and vocabularies, the orphan keys of\n"
    "events and feedback (customers with no transactions and no member row) and the\n"
    "store digest over all sources.\n"
    "\n"
    "  --json          print the summary as JSON on stdout\n"
    "  --quick         check the header and index only (no scan of the rows)\n"
    "  --block-rows N  rows read per block (default 1048576)\n"
    "\n"
    "Exit status 0 when the store is valid, 4 when it is damaged, truncated or foreign.\n";

typedef struct {
    uint64_t rows, customers, problems;
    int64_t amount_sum, amount_neg_sum;
    uint64_t channel_rows[3];
    uint64_t baskets_hint; /* rows starting a new (customer, basket) run */
    int64_t time_min, time_max;
} scan_stats;

typedef struct {
    uint64_t row;
    char what[512];
} first_problem;

static void problem(first_problem *fp, scan_stats *s, uint64_t row, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static void problem(first_problem *fp, scan_stats *s, uint64_t row, const char *fmt, ...)
{
    if (s->problems++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(fp->what, sizeof fp->what, fmt, ap);
        va_end(ap);
        fp->row = row;
    }
}

static rtn_status scan_range(rtn_store *store, uint32_t b0, uint32_t b1, size_t block_rows,
                             scan_stats *s, first_problem *fp, unsigned char *digests)
{
    const rtn_store_info *in = rtn_store_get_info(store);
    rtn_txn_block blk = {0};
    rtn_store_scan it;
    rtn_bucket_hasher *h;
    RTN_TRY(rtn_bucket_hasher_new_for(&h, in->format_version));
    const size_t dbytes = rtn_store_bucket_digest_bytes(in->format_version);
    rtn_store_scan_begin(&it, store, b0, b1, block_rows, RTN_COLS_ALL);
    const int32_t n_item = (int32_t)in->dict_item.n, n_cat = (int32_t)in->dict_category.n,
                  n_store = (int32_t)in->dict_store.n;
    rtn_progress prog;
    rtn_progress_begin(&prog, "inspect", "rows",
                       (double)(in->bucket_offsets[b1] - in->bucket_offsets[b0]));
    rtn_status st = RTN_OK;
    for (;;) {
        uint32_t c0, c1;
        st = rtn_store_scan_next(&it, &blk, &c0, &c1);
        if (st || c0 == c1) break;
        size_t i = 0;
        for (uint32_t b = c0; b < c1; b++) {
            uint64_t rb = in->bucket_offsets[b], re = in->bucket_offsets[b + 1];
            size_t n = (size_t)(re - rb);
            rtn_bucket_hasher_rows(h, &blk, i, i + n);
            rtn_bucket_hasher_final(h, digests + (size_t)b * dbytes);
            for (size_t k = i; k < i + n; k++) {
                uint64_t row = rb + (k - i);
                uint64_t cu = blk.customer[k];
                if (rtn_bucket_of(cu, in->nbuckets) != b)
                    problem(fp, s, row, "row %" PRIu64 ": customer %016" PRIx64
                            " belongs to bucket %u but is stored in bucket %u", row, cu,
                            rtn_bucket_of(cu, in->nbuckets), b);
                if (k == i || blk.customer[k - 1] != cu) {
                    if (k > i && blk.customer[k - 1] > cu)
                        problem(fp, s, row, "row %" PRIu64 ": customers out of order in bucket %u",
                                row, b);
                    s->customers++;
                } else if (blk.time[k - 1] > blk.time[k]) {
                    problem(fp, s, row, "row %" PRIu64 ": time goes backwards for a customer", row);
                }
                if (blk.item[k] < -1 || blk.item[k] >= n_item)
                    problem(fp, s, row, "row %" PRIu64 ": item code %d outside [-1, %d)", row,
                            blk.item[k], n_item);
                if (blk.category[k] < -1 || blk.category[k] >= n_cat)
                    problem(fp, s, row, "row %" PRIu64 ": category code %d outside [-1, %d)", row,
                            blk.category[k], n_cat);
                if (blk.store[k] < -1 || blk.store[k] >= n_store)
                    problem(fp, s, row, "row %" PRIu64 ": store code %d outside [-1, %d)", row,
                            blk.store[k], n_store);
                if (blk.channel[k] < 0 || blk.channel[k] > 2)
                    problem(fp, s, row, "row %" PRIu64 ": channel code %d is not 0, 1 or 2", row,
                            blk.channel[k]);
                else
                    s->channel_rows[blk.channel[k]]++;
                if (blk.time[k] < in->time_min || blk.time[k] > in->time_max)
                    problem(fp, s, row, "row %" PRIu64 ": time %" PRId64
                            " outside the store's time range", row, blk.time[k]);
                if (blk.time[k] < s->time_min) s->time_min = blk.time[k];
                if (blk.time[k] > s->time_max) s->time_max = blk.time[k];
                s->amount_sum += blk.amount[k];
                if (blk.amount[k] < 0) s->amount_neg_sum += blk.amount[k];
                if (k == i || blk.customer[k - 1] != cu || blk.basket[k - 1] != blk.basket[k])
                    s->baskets_hint++;
            }
            s->rows += n;
            i += n;
        }
        rtn_progress_update(&prog, (double)s->rows);
    }
    rtn_progress_end(&prog, (double)s->rows);
    rtn_txn_block_free(&blk);
    rtn_bucket_hasher_free(h);
    return st;
}

static json_t *dict_json(const rtn_strdict *d) { return json_integer((json_int_t)d->n); }

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The customer keys of buckets [b0, b1) in the transactions and, when present, the members
 * source: what an event or feedback row's customer must be found in (else it is an orphan). */
static rtn_status known_customers(rtn_store *store, const char *path, MPI_Comm comm, uint32_t b0,
                                  uint32_t b1, uint64_t **out, size_t *n)
{
    const rtn_store_info *in = rtn_store_get_info(store);
    size_t cap = (size_t)(in->bucket_offsets[b1] - in->bucket_offsets[b0]) + 1, k = 0;
    uint64_t *v = NULL;
    rtn_txn_block blk = {0};
    rtn_store_scan it;
    rtn_store_scan_begin(&it, store, b0, b1, (size_t)1 << 20, 1u << RTN_COL_CUSTOMER);
    rtn_status st = RTN_OK;
    for (;;) {
        uint32_t c0, c1;
        st = rtn_store_scan_next(&it, &blk, &c0, &c1);
        if (st || c0 == c1) break;
        for (size_t i = 0; i < blk.n; i++) {
            if (i && blk.customer[i - 1] == blk.customer[i]) continue;
            if (k == cap || !v) {
                uint64_t *p = realloc(v, (cap = cap * 2 + 1024) * sizeof *v);
                if (!p) {
                    st = rtn_fail(RTN_ERR_NOMEM, "out of memory (customer keys)");
                    break;
                }
                v = p;
            }
            v[k++] = blk.customer[i];
        }
        if (st) break;
    }
    rtn_txn_block_free(&blk);
    st = rtn_agree(comm, st);
    hid_t f = H5I_INVALID_HID;
    int has_members = 0;
    if (st == RTN_OK && rtn_h5_open_read_local(path, &f) == RTN_OK) {
        has_members = rtn_store_has_source(f, "members");
        H5Fclose(f);
    }
    MPI_Allreduce(MPI_IN_PLACE, &has_members, 1, MPI_INT, MPI_MIN, comm);
    if (st == RTN_OK && has_members) {
        rtn_source *m = NULL;
        st = rtn_source_open(&m, comm, path, "members");
        if (st == RTN_OK) {
            const rtn_source_info *mi = rtn_source_get_info(m);
            rtn_src_block mb = {0};
            size_t mn = (size_t)(mi->offsets[b1] - mi->offsets[b0]);
            rtn_status lst = rtn_source_read(m, mi->offsets[b0], mn, &mb);
            uint64_t *p = lst == RTN_OK ? realloc(v, (k + mn + 1) * sizeof *v) : NULL;
            if (lst == RTN_OK && !p) lst = rtn_fail(RTN_ERR_NOMEM, "out of memory (member keys)");
            if (p) {
                v = p;
                for (size_t i = 0; i < mn; i++) v[k++] = (uint64_t)mb.v[0][i];
            }
            rtn_src_block_free(&mb);
            st = rtn_agree(comm, lst);
            rtn_source_close(m);
        }
    }
    if (v) qsort(v, k, sizeof *v, cmp_u64);
    *out = v;
    *n = k;
    return st;
}

static void print_source(json_t *o, int quick)
{
    const char *name = json_string_value(json_object_get(o, "name"));
    printf("source           %-15s %" JSON_INTEGER_FORMAT " rows, %" JSON_INTEGER_FORMAT " %ss, %s .. %s\n",
           name, json_integer_value(json_object_get(o, "rows")),
           json_integer_value(json_object_get(o, "keys")),
           json_string_value(json_object_get(o, "key")),
           json_string_value(json_object_get(o, "time_min")),
           json_string_value(json_object_get(o, "time_max")));
    const char *col;
    json_t *v;
    json_object_foreach(json_object_get(o, "dictionaries"), col, v) {
        if (json_is_integer(v)) {
            printf("                 %-20s %" JSON_INTEGER_FORMAT " values\n", col, json_integer_value(v));
            continue;
        }
        printf("                 %-20s %zu values:", col, json_array_size(v));
        size_t j;
        json_t *x;
        json_array_foreach(v, j, x) printf("%s %s", j ? "," : "", json_string_value(x));
        printf("\n");
    }
    if (!quick) {
        printf("                 digests %s", json_is_true(json_object_get(o, "digests_verified"))
                                               ? "verified" : "MISMATCH");
        if (json_object_get(o, "orphan_keys"))
            printf(", %" JSON_INTEGER_FORMAT " orphan keys (%" JSON_INTEGER_FORMAT " rows) with "
                   "no transactions or member row", json_integer_value(json_object_get(o, "orphan_keys")),
                   json_integer_value(json_object_get(o, "orphan_rows")));
        printf("\n");
    }
}

/* Reports and validates every customer-360 source of the store (docs/cli.md "inspect"):
 * rows, keys, time range, dictionaries, digests, orphan keys, and the store digest. */
static rtn_status inspect_sources(MPI_Comm comm, rtn_store *store, const char *path, int quick,
                                  json_t *arr, char *problem_out, size_t pn, char store_digest[65],
                                  int *store_digest_ok)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    hid_t f = H5I_INVALID_HID;
    rtn_status st = rtn_h5_open_read_local(path, &f);
    unsigned have = 0;
    char root_digest[80] = "", txn_digest[80] = "";
    if (st == RTN_OK) {
        for (int i = 0; i < rtn_nsources; i++)
            if (rtn_store_has_source(f, rtn_sources[i].name)) have |= 1u << i;
        if (have) {
            if (rtn_h5_read_attr_str(f, "store_digest", root_digest, sizeof root_digest) != RTN_OK)
                root_digest[0] = 0;
            rtn_h5_read_attr_str(f, "content_digest", txn_digest, sizeof txn_digest);
        }
        H5Fclose(f);
    }
    st = rtn_agree(comm, st);
    if (st || !have) return st;
    uint32_t b0, b1;
    rtn_store_my_buckets(store, comm, &b0, &b1);
    uint64_t *known = NULL;
    size_t nknown = 0;
    if (!quick) RTN_TRY(known_customers(store, path, comm, b0, b1, &known, &nknown));
    const char *names[1 + 64], *digs[1 + 64];
    char digbuf[64][65];
    size_t nd = 0;
    names[nd] = "transactions";
    digs[nd++] = txn_digest;
    int all_ok = 1;
    for (int i = 0; i < rtn_nsources && st == RTN_OK; i++) {
        if (!(have & (1u << i))) continue;
        const rtn_source_desc *d = &rtn_sources[i];
        rtn_source *s = NULL;
        st = rtn_source_open(&s, comm, path, d->name);
        if (st) break;
        const rtn_source_info *in = rtn_source_get_info(s);
        snprintf(digbuf[nd], sizeof digbuf[nd], "%s", in->digest);
        names[nd] = d->name;
        digs[nd] = digbuf[nd];
        nd++;
        rtn_source_check chk;
        memset(&chk, 0, sizeof chk);
        int digest_ok = 1;
        uint64_t tot[5] = {0};
        if (!quick) {
            unsigned char *dig = rtn_calloc(in->nbuckets, RTN_BUCKET_DIGEST_BYTES, "source digests");
            /* orphans: customer-keyed sources other than members itself */
            int orphans = !strcmp(d->key_kind, "customer") && strcmp(d->name, "members") != 0 &&
                          strcmp(d->name, "member_tiers") != 0;
            rtn_status lst = dig ? rtn_source_verify(s, b0, b1, orphans ? known : NULL, nknown, dig, &chk)
                                 : RTN_ERR_NOMEM;
            st = rtn_agree(comm, lst);
            if (st == RTN_OK) {
                uint64_t loc[5] = {chk.rows, chk.keys, chk.problems, chk.orphan_rows, chk.orphan_keys};
                MPI_Allreduce(loc, tot, 5, MPI_UINT64_T, MPI_SUM, comm);
                MPI_Allreduce(MPI_IN_PLACE, dig, (int)in->nbuckets * RTN_BUCKET_DIGEST_BYTES,
                              MPI_UNSIGNED_CHAR, MPI_BOR, comm);
                /* stored digests */
                unsigned char *stored = rtn_calloc(in->nbuckets, RTN_BUCKET_DIGEST_BYTES, "stored digests");
                char p[256];
                snprintf(p, sizeof p, "/%s/index/bucket_digest", d->name);
                hid_t ff;
                int ok = stored && rtn_h5_open_read_local(path, &ff) == RTN_OK;
                if (ok) {
                    int r;
                    uint64_t dims[2] = {0, 0};
                    ok = rtn_h5_dims(ff, p, &r, dims) == RTN_OK && r == 2 && dims[0] == in->nbuckets &&
                         dims[1] == RTN_BUCKET_DIGEST_BYTES;
                    hid_t ds = ok ? H5Dopen2(ff, p, H5P_DEFAULT) : H5I_INVALID_HID;
                    ok = ok && ds >= 0 && H5Dread(ds, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, stored) >= 0;
                    if (ds >= 0) H5Dclose(ds);
                    H5Fclose(ff);
                }
                if (ok) ok = memcmp(stored, dig, (size_t)in->nbuckets * RTN_BUCKET_DIGEST_BYTES) == 0;
                char hex[65];
                rtn_source_content_digest(d, in->present, in->nbuckets, dig, in->dicts, hex);
                if (ok) ok = strcmp(hex, in->digest) == 0;
                digest_ok = ok;
                free(stored);
            }
            free(dig);
            /* the first problem comes from the lowest rank that saw one */
            rtn_status vst = chk.problems ? rtn_fail(RTN_ERR_FORMAT, "%s", chk.what) : RTN_OK;
            vst = rtn_agree(comm, vst);
            if (st == RTN_OK && vst) {
                all_ok = 0;
                if (!problem_out[0]) snprintf(problem_out, pn, "%s", rtn_errmsg());
            } else if (st == RTN_OK && !digest_ok) {
                all_ok = 0;
                if (!problem_out[0])
                    snprintf(problem_out, pn, "/%s: content does not match its digests (data "
                             "changed or damaged)", d->name);
            } else if (st == RTN_OK && (tot[0] != in->n_rows || tot[1] != in->n_keys)) {
                all_ok = 0;
                if (!problem_out[0])
                    snprintf(problem_out, pn, "/%s: scanned %llu rows and %llu keys, the header says "
                             "%llu and %llu", d->name, (unsigned long long)tot[0],
                             (unsigned long long)tot[1], (unsigned long long)in->n_rows,
                             (unsigned long long)in->n_keys);
            }
        }
        if (rank == 0 && st == RTN_OK) {
            char t0[32], t1[32];
            rtn_format_time(in->time_min, t0, sizeof t0);
            rtn_format_time(in->time_max, t1, sizeof t1);
            json_t *o = json_object();
            json_object_set_new(o, "name", json_string(d->name));
            json_object_set_new(o, "key", json_string(d->key_kind));
            json_object_set_new(o, "rows", json_integer((json_int_t)in->n_rows));
            json_object_set_new(o, "keys", json_integer((json_int_t)in->n_keys));
            json_object_set_new(o, "time_min", json_string(t0));
            json_object_set_new(o, "time_max", json_string(t1));
            json_object_set_new(o, "content_digest", json_string(in->digest));
            json_t *cols = json_array(), *dicts = json_object();
            for (int c = 0; c < d->ncols; c++) {
                if (!(in->present & (1u << c))) continue;
                json_array_append_new(cols, json_string(d->cols[c].name));
                if (d->cols[c].fill == RTN_FILL_DICT || d->cols[c].fill == RTN_FILL_POSTCODE) {
                    json_t *v = json_array();
                    /* small vocabularies are listed, large dictionaries counted */
                    if (in->dicts[c].n <= 32)
                        for (size_t j = 0; j < in->dicts[c].n; j++)
                            json_array_append_new(v, json_string(in->dicts[c].s[j]));
                    json_object_set_new(dicts, d->cols[c].name,
                                        in->dicts[c].n <= 32 ? v : (json_decref(v), json_integer((json_int_t)in->dicts[c].n)));
                }
            }
            json_object_set_new(o, "columns", cols);
            json_object_set_new(o, "dictionaries", dicts);
            if (!quick) {
                json_object_set_new(o, "digests_verified", json_boolean(digest_ok));
                if (!strcmp(d->key_kind, "customer") && strcmp(d->name, "members") && strcmp(d->name, "member_tiers")) {
                    json_object_set_new(o, "orphan_keys", json_integer((json_int_t)tot[4]));
                    json_object_set_new(o, "orphan_rows", json_integer((json_int_t)tot[3]));
                }
            }
            json_array_append_new(arr, o);
        }
        rtn_source_close(s);
    }
    free(known);
    if (st) return st;
    char hex[65];
    rtn_store_digest_of(names, digs, nd, hex);
    if (strcmp(hex, root_digest) != 0) {
        all_ok = 0;
        if (!problem_out[0])
            snprintf(problem_out, pn, "store_digest '%s' does not match the sources' digests (%s)",
                     root_digest, hex);
    }
    *store_digest_ok = strcmp(hex, root_digest) == 0;
    snprintf(store_digest, 65, "%s", root_digest);
    (void)all_ok;
    return RTN_OK;
}

rtn_status rtn_cmd_inspect(MPI_Comm comm, int argc, char **argv)
{
    const rtn_command *self = rtn_find_command("inspect");
    static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                         {"quick", no_argument, 0, 'q'},
                                         {"block-rows", required_argument, 0, 'b'},
                                         {0, 0, 0, 0}};
    int as_json = 0, quick = 0;
    uint64_t block_rows = 1u << 20;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j': as_json = 1; break;
        case 'q': quick = 1; break;
        case 'b':
            if (rtn_parse_u64("--block-rows", optarg, 1, 1ull << 30, &block_rows))
                return rtn_usage_error(self, "%s", rtn_errmsg());
            break;
        default: return rtn_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) return rtn_usage_error(self, "expected exactly one STORE argument");
    const char *path = argv[optind];
    int rank;
    MPI_Comm_rank(comm, &rank);

    rtn_phase_begin("open");
    rtn_store *store;
    rtn_status st = rtn_store_open(&store, comm, path);
    rtn_phase_end("open");
    if (st) return st;
    const rtn_store_info *in = rtn_store_get_info(store);

    scan_stats s = {0};
    s.time_min = INT64_MAX;
    s.time_max = INT64_MIN;
    first_problem fp = {0};
    uint64_t tot[8] = {0};
    int64_t sums[2] = {0}, tmin = INT64_MAX, tmax = INT64_MIN;
    uint64_t nprob = 0;
    int digest_ok = 1;
    if (!quick) {
        rtn_phase_begin("scan");
        uint32_t b0, b1;
        rtn_store_my_buckets(store, comm, &b0, &b1);
        /* the digest size of the store's format version (1: SHA-256, 2: XXH3-128) */
        const size_t dbytes = rtn_store_bucket_digest_bytes(in->format_version);
        unsigned char *dig = rtn_calloc(in->nbuckets, dbytes, "bucket digests");
        st = dig ? RTN_OK : RTN_ERR_NOMEM;
        if (st == RTN_OK) st = scan_range(store, b0, b1, (size_t)block_rows, &s, &fp, dig);
        if (st == RTN_OK) st = rtn_inject_failure("inspect-scan", rank);
        st = rtn_agree(comm, st);
        if (st == RTN_OK) {
            uint64_t loc[8] = {s.rows, s.customers, s.problems, s.channel_rows[0],
                               s.channel_rows[1], s.channel_rows[2], s.baskets_hint, 0};
            MPI_Allreduce(loc, tot, 8, MPI_UINT64_T, MPI_SUM, comm);
            int64_t lsum[2] = {s.amount_sum, s.amount_neg_sum};
            MPI_Allreduce(lsum, sums, 2, MPI_INT64_T, MPI_SUM, comm);
            MPI_Allreduce(&s.time_min, &tmin, 1, MPI_INT64_T, MPI_MIN, comm);
            MPI_Allreduce(&s.time_max, &tmax, 1, MPI_INT64_T, MPI_MAX, comm);
            MPI_Allreduce(MPI_IN_PLACE, dig, (int)(in->nbuckets * dbytes), MPI_UNSIGNED_CHAR, MPI_BOR,
                          comm);
            nprob = tot[2];
            /* compare with the stored digests */
            unsigned char *stored = rtn_calloc(in->nbuckets, dbytes, "stored digests");
            hid_t f;
            rtn_status dst = stored ? rtn_h5_open_read_local(path, &f) : RTN_ERR_NOMEM;
            if (dst == RTN_OK) {
                hid_t d = rtn_h5_exists(f, "/index/bucket_digest")
                              ? H5Dopen2(f, "/index/bucket_digest", H5P_DEFAULT)
                              : H5I_INVALID_HID;
                /* the shape first: a read of a bigger array would overrun the buffer */
                hsize_t dims[2] = {0, 0};
                hid_t sp = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
                int shape_ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 2 &&
                               H5Sget_simple_extent_dims(sp, dims, NULL) == 2 &&
                               dims[0] == in->nbuckets && dims[1] == dbytes;
                if (sp >= 0) H5Sclose(sp);
                if (!shape_ok || H5Dread(d, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                         stored) < 0)
                    digest_ok = 0;
                if (d >= 0) H5Dclose(d);
                H5Fclose(f);
            } else {
                digest_ok = 0;
            }
            uint32_t bad_bucket = UINT32_MAX;
            for (uint32_t b = 0; digest_ok && b < in->nbuckets; b++)
                if (memcmp(stored + (size_t)b * dbytes, dig + (size_t)b * dbytes, dbytes) != 0) {
                    digest_ok = 0;
                    bad_bucket = b;
                }
            char hex[65];
            rtn_store_content_digest(in->nbuckets, dig, dbytes, &in->dict_item, &in->dict_category,
                                     &in->dict_store, hex);
            if (digest_ok && strcmp(hex, in->digest) != 0) digest_ok = 0;
            if (!digest_ok && nprob == 0) {
                nprob = 1;
                if (bad_bucket != UINT32_MAX)
                    snprintf(fp.what, sizeof fp.what, "bucket %u: content does not match its "
                             "stored digest (data changed or damaged)", bad_bucket);
                else
                    snprintf(fp.what, sizeof fp.what, "content digest does not match the "
                             "content_digest attribute (or /index/bucket_digest is unreadable)");
            }
            free(stored);
            if (tot[0] != in->n_rows && nprob == 0) {
                nprob = 1;
                snprintf(fp.what, sizeof fp.what, "scanned %" PRIu64 " rows, header says %" PRIu64,
                         tot[0], in->n_rows);
            }
            if (tot[1] != in->n_customers && nprob == 0) {
                nprob = 1;
                snprintf(fp.what, sizeof fp.what,
                         "found %" PRIu64 " customers, header says %" PRIu64, tot[1],
                         in->n_customers);
            }
        }
        free(dig);
        rtn_phase_end("scan");
    }
    if (st) {
        rtn_store_close(store);
        return st;
    }
    /* The message of the first problem comes from the lowest rank that saw one. */
    rtn_status vst = s.problems ? rtn_fail(RTN_ERR_FORMAT, "'%s' is invalid: %s", path, fp.what)
                                : RTN_OK;
    vst = rtn_agree(comm, vst);
    if (vst == RTN_OK && nprob)
        vst = rtn_fail(RTN_ERR_FORMAT, "'%s' is invalid: %s", path, fp.what);

    /* the customer-360 sources */
    char src_problem[400] = "", store_digest[65] = "";
    int store_digest_ok = 1;
    json_t *src_arr = json_array();
    st = inspect_sources(comm, store, path, quick, src_arr, src_problem, sizeof src_problem,
                         store_digest, &store_digest_ok);
    if (st) {
        json_decref(src_arr);
        rtn_store_close(store);
        return st;
    }
    if (vst == RTN_OK && src_problem[0]) vst = rtn_fail(RTN_ERR_FORMAT, "'%s' is invalid: %s", path, src_problem);

    uint32_t minb = UINT32_MAX, maxb = 0;
    uint64_t minr = UINT64_MAX, maxr = 0, empty = 0;
    for (uint32_t b = 0; b < in->nbuckets; b++) {
        uint64_t r = in->bucket_offsets[b + 1] - in->bucket_offsets[b];
        if (r < minr) minr = r, minb = b;
        if (r > maxr) maxr = r, maxb = b;
        if (r == 0) empty++;
    }
    (void)minb;
    (void)maxb;
    if (rank == 0) {
        char t0[32], t1[32];
        rtn_format_time(in->time_min, t0, sizeof t0);
        rtn_format_time(in->time_max, t1, sizeof t1);
        json_t *o = json_object();
        json_object_set_new(o, "path", json_string(path));
        json_object_set_new(o, "format_version", json_integer(in->format_version));
        json_object_set_new(o, "rows", json_integer((json_int_t)in->n_rows));
        json_object_set_new(o, "customers", json_integer((json_int_t)in->n_customers));
        json_object_set_new(o, "buckets", json_integer(in->nbuckets));
        json_object_set_new(o, "bucket_rows_min", json_integer((json_int_t)minr));
        json_object_set_new(o, "bucket_rows_max", json_integer((json_int_t)maxr));
        json_object_set_new(o, "empty_buckets", json_integer((json_int_t)empty));
        json_object_set_new(o, "time_min", json_string(t0));
        json_object_set_new(o, "time_max", json_string(t1));
        json_object_set_new(o, "currency", json_string(in->currency));
        json_object_set_new(o, "currency_exponent", json_integer(in->currency_exponent));
        json_object_set_new(o, "content_digest", json_string(in->digest));
        json_object_set_new(o, "created_at", json_string(in->created_at));
        json_object_set_new(o, "items", dict_json(&in->dict_item));
        json_object_set_new(o, "categories", dict_json(&in->dict_category));
        json_object_set_new(o, "stores", dict_json(&in->dict_store));
        json_object_set_new(o, "scanned", json_boolean(!quick));
        if (!quick) {
            json_object_set_new(o, "amount_total_minor", json_integer(sums[0]));
            json_object_set_new(o, "amount_returns_minor", json_integer(sums[1]));
            json_object_set_new(o, "rows_in_store", json_integer((json_int_t)tot[3]));
            json_object_set_new(o, "rows_online", json_integer((json_int_t)tot[4]));
            json_object_set_new(o, "rows_app", json_integer((json_int_t)tot[5]));
            json_object_set_new(o, "baskets", json_integer((json_int_t)tot[6]));
            json_object_set_new(o, "digests_verified", json_boolean(digest_ok));
        }
        if (json_array_size(src_arr)) {
            json_object_set(o, "sources", src_arr);
            json_object_set_new(o, "store_digest", json_string(store_digest));
        }
        json_object_set_new(o, "valid", json_boolean(vst == RTN_OK));
        if (vst != RTN_OK) json_object_set_new(o, "problem", json_string(rtn_errmsg()));
        json_object_set(rtn_summary_section("inspect"), "store", o);
        if (as_json) {
            char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            if (txt) printf("%s\n", txt);
            free(txt);
        } else {
            double scale = 1;
            for (int i = 0; i < in->currency_exponent; i++) scale *= 10;
            printf("store            %s\n", path);
            printf("format           %s version %d\n", RTN_STORE_FORMAT, in->format_version);
            printf("rows             %" PRIu64 "\n", in->n_rows);
            printf("customers        %" PRIu64 "\n", in->n_customers);
            printf("buckets          %u (rows per bucket %" PRIu64 "..%" PRIu64 ", %" PRIu64
                   " empty)\n", in->nbuckets, minr, maxr, empty);
            printf("time range       %s .. %s\n", t0, t1);
            printf("currency         %s (minor unit 10^-%d)\n", in->currency,
                   in->currency_exponent);
            printf("dictionaries     %zu items, %zu categories, %zu stores\n", in->dict_item.n,
                   in->dict_category.n, in->dict_store.n);
            printf("content digest   %s\n", in->digest);
            printf("created          %s\n", in->created_at);
            if (!quick) {
                printf("net amount       %.2f %s (returns %.2f)\n", (double)sums[0] / scale,
                       in->currency, (double)sums[1] / scale);
                printf("baskets          %" PRIu64 "\n", tot[6]);
                printf("channels         in-store %" PRIu64 ", online %" PRIu64 ", app %" PRIu64
                       "\n", tot[3], tot[4], tot[5]);
                printf("digests          %s\n", digest_ok ? "verified" : "MISMATCH");
            }
            size_t si;
            json_t *so;
            json_array_foreach(src_arr, si, so) print_source(so, quick);
            if (json_array_size(src_arr))
                printf("store digest     %s (%s)\n", store_digest,
                       store_digest_ok ? "matches the sources" : "MISMATCH");
            printf("validation       %s\n", vst == RTN_OK ? (quick ? "header and index ok (rows "
                                                                   "not scanned)" : "ok")
                                                          : "FAILED");
        }
        json_decref(o);
    }
    json_decref(src_arr);
    rtn_store_close(store);
    return vst;
}
