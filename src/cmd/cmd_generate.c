/* retain generate: a synthetic mall transaction store (+ ground truth, + CSV export).
 *
 * Two passes over the customers of this rank's buckets: a cheap counting pass (stream A
 * only) gives the exact rows per bucket, which fixes the global bucket offsets; the writing
 * pass generates whole buckets in rounds of bounded size and writes them collectively.
 * Every customer depends only on (seed, index), so the files are bitwise identical for
 * any number of ranks. Model: docs/generator.md. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "retain/atomic.h"
#include "retain/buckets.h"
#include "retain/cli.h"
#include "retain/commands.h"
#include "retain/generate.h"
#include "retain/h5.h"
#include "retain/log.h"
#include "retain/store.h"

const char rtn_usage_generate[] =
    "usage: retain generate --out STORE [--truth FILE] [--csv FILE] [--customers N]\n"
    "                       [--days D] [--start DATE] [--seed S] [--buckets B]\n"
    "                       [--block-rows N] [--members-csv FILE] [--events-csv FILE]\n"
    "                       [--feedback-csv FILE]\n"
    "\n"
    "Writes a synthetic mall transaction store (POS + online + app) from a generative model\n"
    "of customers with latent archetypes, a BG/NBD-style purchase process, Gamma-Gamma\n"
    "spend, seasonality, returns and engagement decay before dropout (docs/generator.md).\n"
    "The output is bitwise identical for any number of ranks.\n"
    "\n"
    "  --out STORE      transaction store to write (HDF5, docs/formats.md)\n"
    "  --truth FILE     also write the per-customer ground truth (HDF5)\n"
    "  --csv FILE       also write the transactions as a CSV export (docs/generator.md)\n"
    "  --customers N    number of customers (default 10000)\n"
    "  --days D         length of the observation window in days (default 730)\n"
    "  --start DATE     first day of the window, YYYY-MM-DD (default 2023-01-01)\n"
    "  --seed S         random seed (default 1)\n"
    "  --buckets B      buckets of the store (default 1024)\n"
    "  --block-rows N   rows generated per write round and rank (default 2097152)\n"
    "  --members-csv FILE   also write the loyalty members and their tier history (CSV)\n"
    "  --events-csv FILE    also write web, app and in-store clickstream events (CSV)\n"
    "  --feedback-csv FILE  also write surveys, ratings, complaints and tickets (CSV)\n"
    "                   These customer 360 exports describe the same customers and leave\n"
    "                   the store, the truth datasets and --csv unchanged (docs/generator.md).\n";

typedef struct {
    uint64_t key, index;
} centry;

static int cmp_centry(const void *x, const void *y)
{
    const centry *a = x, *b = y;
    return a->key < b->key ? -1 : a->key > b->key;
}

/* ------------------------------------------------------------------ truth file */

enum {
    T_CUSTOMER, T_INDEX, T_ARCH, T_LAMBDA, T_P, T_MEAN, T_ACQ, T_DROP, T_ALIVE, T_NTX, T_NBASK,
    T_NRET, T_N
};
static const char *const TNAME[T_N] = {
    "customer",         "index",        "archetype",    "lambda",         "p_dropout",
    "mean_basket_value", "acquisition_time", "dropout_time", "alive_at_end", "n_transactions",
    "n_baskets",        "n_returns"};

static hid_t tfile_type(int c)
{
    switch (c) {
    case T_CUSTOMER:
    case T_INDEX: return H5T_STD_U64LE;
    case T_ARCH:
    case T_ALIVE: return H5T_STD_I8LE;
    case T_LAMBDA:
    case T_P:
    case T_MEAN: return H5T_IEEE_F64LE;
    case T_NBASK:
    case T_NRET: return H5T_STD_I32LE;
    default: return H5T_STD_I64LE;
    }
}

static hid_t tmem_type(int c)
{
    switch (c) {
    case T_CUSTOMER:
    case T_INDEX: return H5T_NATIVE_UINT64;
    case T_ARCH:
    case T_ALIVE: return H5T_NATIVE_INT8;
    case T_LAMBDA:
    case T_P:
    case T_MEAN: return H5T_NATIVE_DOUBLE;
    case T_NBASK:
    case T_NRET: return H5T_NATIVE_INT32;
    default: return H5T_NATIVE_INT64;
    }
}

typedef struct {
    rtn_h5_out out;
    hid_t d[T_N];
    /* one round of rows */
    size_t n, cap;
    uint64_t *customer, *index;
    int8_t *arch, *alive;
    double *lambda, *p, *mean;
    int64_t *acq, *drop, *ntx;
    int32_t *nbask, *nret;
} truth_writer;

static void *tcol(truth_writer *t, int c)
{
    switch (c) {
    case T_CUSTOMER: return t->customer;
    case T_INDEX: return t->index;
    case T_ARCH: return t->arch;
    case T_LAMBDA: return t->lambda;
    case T_P: return t->p;
    case T_MEAN: return t->mean;
    case T_ACQ: return t->acq;
    case T_DROP: return t->drop;
    case T_ALIVE: return t->alive;
    case T_NTX: return t->ntx;
    case T_NBASK: return t->nbask;
    default: return t->nret;
    }
}

static void truth_free_bufs(truth_writer *t)
{
    free(t->customer);
    free(t->index);
    free(t->arch);
    free(t->alive);
    free(t->lambda);
    free(t->p);
    free(t->mean);
    free(t->acq);
    free(t->drop);
    free(t->ntx);
    free(t->nbask);
    free(t->nret);
}

static rtn_status truth_reserve(truth_writer *t, size_t cap)
{
    if (cap <= t->cap) return RTN_OK;
#define TR(f)                                                                   \
    do {                                                                        \
        void *q = realloc(t->f, cap * sizeof *t->f);                            \
        if (!q) return rtn_fail(RTN_ERR_NOMEM, "out of memory (truth buffer)"); \
        t->f = q;                                                               \
    } while (0)
    TR(customer);
    TR(index);
    TR(arch);
    TR(alive);
    TR(lambda);
    TR(p);
    TR(mean);
    TR(acq);
    TR(drop);
    TR(ntx);
    TR(nbask);
    TR(nret);
#undef TR
    t->cap = cap;
    return RTN_OK;
}

static void truth_push(truth_writer *t, const rtn_gen_truth *g)
{
    size_t i = t->n++;
    t->customer[i] = g->key;
    t->index[i] = g->index;
    t->arch[i] = g->archetype;
    t->alive[i] = g->alive_at_end;
    t->lambda[i] = g->lambda;
    t->p[i] = g->p_dropout;
    t->mean[i] = g->mean_basket;
    t->acq[i] = g->acquisition_time;
    t->drop[i] = g->dropout_time;
    t->ntx[i] = (int64_t)g->n_rows;
    t->nbask[i] = (int32_t)g->n_baskets;
    t->nret[i] = (int32_t)g->n_returns;
}

static rtn_status truth_create(truth_writer *t, MPI_Comm comm, const char *path, uint64_t n)
{
    for (int c = 0; c < T_N; c++) t->d[c] = H5I_INVALID_HID;
    RTN_TRY(rtn_h5_out_create(&t->out, comm, path));
    rtn_status st = RTN_OK;
    for (int c = 0; c < T_N && st == RTN_OK; c++) {
        char name[64];
        snprintf(name, sizeof name, "/truth/%s", TNAME[c]);
        st = rtn_h5_create_1d(t->out.file, name, tfile_type(c), n, 0, &t->d[c]);
    }
    return rtn_agree(comm, st);
}

static rtn_status truth_write(truth_writer *t, uint64_t row0)
{
    rtn_status st = RTN_OK;
    for (int c = 0; c < T_N && st == RTN_OK; c++)
        st = rtn_h5_write_rows(t->d[c], tmem_type(c), row0, t->n, tcol(t, c), 1);
    t->n = 0;
    return st;
}

static rtn_status truth_finish(truth_writer *t, MPI_Comm comm, rtn_status st,
                               const rtn_gen_model *m, uint32_t B, const uint64_t *coff,
                               const char *params_json, const char *c360_json)
{
    for (int c = 0; c < T_N; c++)
        if (t->d[c] >= 0 && c != T_ARCH) {
            H5Dclose(t->d[c]);
            t->d[c] = H5I_INVALID_HID;
        }
    st = rtn_agree(comm, st);
    hid_t f = t->out.file;
    const rtn_gen_params *p = rtn_gen_model_params(m);
    const char *names[RTN_GEN_N_ARCHETYPES];
    for (int a = 0; a < RTN_GEN_N_ARCHETYPES; a++) names[a] = rtn_gen_archetype_name(a);
    if (st == RTN_OK && t->d[T_ARCH] >= 0)
        st = rtn_h5_attr_strings(t->d[T_ARCH], "names", names, RTN_GEN_N_ARCHETYPES);
    if (t->d[T_ARCH] >= 0) H5Dclose(t->d[T_ARCH]);
    t->d[T_ARCH] = H5I_INVALID_HID;
    if (st == RTN_OK) {
        uint64_t dims[1] = {(uint64_t)B + 1};
        st = rtn_h5_write_small(comm, 0, f, "/index/customer_offsets", H5T_STD_U64LE, 1, dims,
                                coff);
    }
    if (st == RTN_OK)
        st = rtn_h5_write_strings(comm, 0, f, "/archetype_names", names, RTN_GEN_N_ARCHETYPES);
    char created[32], t0[32], t1[32];
    rtn_h5_timestamp(comm, created, sizeof created);
    rtn_format_time(p->start, t0, sizeof t0);
    rtn_format_time(p->start + (int64_t)p->days * 86400, t1, sizeof t1);
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "format", "retain-generator-truth");
    if (st == RTN_OK) st = rtn_h5_attr_i64(f, "format_version", 1);
    if (st == RTN_OK) st = rtn_h5_attr_i64(f, "model_version", RTN_GEN_MODEL_VERSION);
    if (st == RTN_OK) st = rtn_h5_attr_u64(f, "n_customers", p->n_customers);
    if (st == RTN_OK) st = rtn_h5_attr_u64(f, "seed", p->seed);
    if (st == RTN_OK) st = rtn_h5_attr_u64(f, "buckets", B);
    if (st == RTN_OK) st = rtn_h5_attr_i64(f, "days", p->days);
    if (st == RTN_OK) st = rtn_h5_attr_i64(f, "time_start", p->start);
    if (st == RTN_OK) st = rtn_h5_attr_i64(f, "time_end", p->start + (int64_t)p->days * 86400);
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "start", t0);
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "end", t1);
    if (st == RTN_OK) st = rtn_h5_attr_strings(f, "archetype_names", names, RTN_GEN_N_ARCHETYPES);
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "parameters", params_json);
    if (st == RTN_OK && c360_json) st = rtn_h5_attr_str(f, "customer360", c360_json);
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "created_by", rtn_command_line());
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "created_at", created);
    truth_free_bufs(t);
    return rtn_h5_out_finish(&t->out, st);
}

/* ------------------------------------------------------------------ CSV exports */

static const char *const CHANNEL_NAME[3] = {"in-store", "online", "app"};

/* A CSV file written by all ranks: each rank writes its rows to a part file next to the
 * output; part_finish copies the parts into the final file at their byte offsets with
 * MPI-IO, in rank order, and renames it into place, so the file is bitwise identical for
 * any number of ranks. */
typedef struct {
    char tmp[RTN_PATH_MAX];     /* final file's temporary name (chosen by rank 0) */
    char part[RTN_PATH_MAX + 32];
    const char *path;           /* the final name, for messages */
    const char *what;           /* "CSV export", ... for messages */
    FILE *fp;
} part_file;

static rtn_status part_open(part_file *c, MPI_Comm comm, const char *path, const char *what,
                            int rank, const char *header)
{
    c->fp = NULL;
    c->path = path;
    c->what = what;
    RTN_TRY(rtn_atomic_tmpname_collective(comm, path, c->tmp, sizeof c->tmp));
    snprintf(c->part, sizeof c->part, "%s.part%d", c->tmp, rank);
    rtn_status st = RTN_OK;
    c->fp = fopen(c->part, "wb");
    if (!c->fp)
        st = rtn_fail(RTN_ERR_IO, "cannot create '%s' (part of the %s '%s'): %s", c->part, what,
                      path, strerror(errno));
    else if (rank == 0)
        fputs(header, c->fp);
    if (c->fp) setvbuf(c->fp, NULL, _IOFBF, 1 << 20);
    return rtn_agree(comm, st);
}

static rtn_status part_check(part_file *c)
{
    if (ferror(c->fp))
        return rtn_fail(RTN_ERR_IO, "writing '%s' failed: %s", c->path, strerror(errno));
    return RTN_OK;
}

/* Concatenates the per-rank parts in rank order into the final file (MPI-IO, each rank
 * writes its part at its offset), then renames it. Collective; st is the caller's status. */
static rtn_status part_finish(part_file *c, MPI_Comm comm, rtn_status st, uint64_t *bytes_out)
{
    const char *path = c->path;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    if (c->fp) {
        if (fclose(c->fp) != 0 && st == RTN_OK)
            st = rtn_fail(RTN_ERR_IO, "writing '%s' failed: %s", path, strerror(errno));
        c->fp = NULL;
    }
    st = rtn_agree(comm, st);
    uint64_t mine = 0, off = 0, total = 0;
    if (st == RTN_OK) {
        FILE *f = fopen(c->part, "rb");
        if (!f) st = rtn_fail(RTN_ERR_IO, "cannot reopen '%s'", c->part);
        else {
            fseeko(f, 0, SEEK_END);
            mine = (uint64_t)ftello(f);
            fclose(f);
        }
    }
    st = rtn_agree(comm, st);
    if (st == RTN_OK) {
        MPI_Exscan(&mine, &off, 1, MPI_UINT64_T, MPI_SUM, comm);
        if (rank == 0) off = 0;
        MPI_Allreduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, comm);
        MPI_File fh;
        int e = MPI_File_open(comm, c->tmp, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
        if (e != MPI_SUCCESS) st = rtn_fail(RTN_ERR_IO, "cannot create '%s'", c->tmp);
        st = rtn_agree(comm, st);
        if (st == RTN_OK) {
            size_t bufsz = 8u << 20;
            char *buf = rtn_malloc(bufsz, "CSV copy buffer");
            FILE *f = buf ? fopen(c->part, "rb") : NULL;
            if (buf && !f) st = rtn_fail(RTN_ERR_IO, "cannot reopen '%s'", c->part);
            if (!buf) st = RTN_ERR_NOMEM;
            uint64_t done = 0;
            while (st == RTN_OK && done < mine) {
                size_t got = fread(buf, 1, bufsz, f);
                if (got == 0) {
                    st = rtn_fail(RTN_ERR_IO, "reading '%s' failed", c->part);
                    break;
                }
                MPI_Status ms;
                errno = 0;
                int we = MPI_File_write_at(fh, (MPI_Offset)(off + done), buf, (int)got,
                                           MPI_BYTE, &ms);
                int wrote = 0;
                if (we == MPI_SUCCESS) MPI_Get_count(&ms, MPI_BYTE, &wrote);
                if (we != MPI_SUCCESS || (size_t)wrote != got) {
                    /* Open MPI's OMPIO can report a failed write as a short one */
                    char why[MPI_MAX_ERROR_STRING];
                    st = rtn_fail(RTN_ERR_IO, "writing '%s' failed: %s", path,
                                  rtn_mpi_io_cause(we, errno ? errno : EIO, why, sizeof why));
                }
                done += got;
            }
            if (f) fclose(f);
            free(buf);
            st = rtn_agree_bounded(comm, st, rtn_atomic_abandon_all, NULL);
            if (st) rtn_atomic_divert(c->tmp);
            MPI_File_close(&fh);
        }
        st = rtn_agree(comm, st);
    }
    unlink(c->part);
    if (rank == 0) {
        if (st == RTN_OK) {
            st = rtn_atomic_commit_sized(c->tmp, path, total);
        } else {
            rtn_atomic_discard(c->tmp);
        }
    }
    *bytes_out = total;
    return rtn_agree(comm, st);
}

/* The transactions export (--csv). */
typedef struct {
    part_file pf;
    const rtn_strdict *item, *cat, *store;
    int64_t cached_day;
    char daybuf[48];
} csv_writer;

static rtn_status csv_open(csv_writer *c, MPI_Comm comm, const char *path, int rank)
{
    c->cached_day = INT64_MIN;
    return part_open(&c->pf, comm, path, "CSV export", rank,
                     "customer_id,invoice,timestamp,item,category,store,channel,quantity,"
                     "unit_price,amount\n");
}

static void fmt_money(char *buf, size_t n, int64_t cents)
{
    const char *sign = cents < 0 ? "-" : "";
    uint64_t a = cents < 0 ? (uint64_t)(-cents) : (uint64_t)cents;
    snprintf(buf, n, "%s%" PRIu64 ".%02u", sign, a / 100, (unsigned)(a % 100));
}

static rtn_status csv_rows(csv_writer *c, const rtn_txn_block *b, const uint64_t *index_of_row)
{
    FILE *fp = c->pf.fp;
    for (size_t i = 0; i < b->n; i++) {
        int64_t t = b->time[i];
        int64_t day = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
        if (day != c->cached_day) {
            time_t tt = (time_t)(day * 86400);
            struct tm tm;
            gmtime_r(&tt, &tm);
            snprintf(c->daybuf, sizeof c->daybuf, "%04d-%02d-%02d", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday);
            c->cached_day = day;
        }
        int64_t sod = t - day * 86400;
        int32_t q = b->quantity[i];
        int64_t unit = q ? b->amount[i] / q : 0;
        char up[32], am[32];
        fmt_money(up, sizeof up, unit);
        fmt_money(am, sizeof am, b->amount[i]);
        int ret = (b->basket[i] >> 63) != 0;
        fprintf(fp, "C%08" PRIu64 ",%c%016" PRIx64 ",%s %02d:%02d:%02d,%s,%s,%s,%s,%d,%s,%s\n",
                index_of_row[i], ret ? 'R' : 'S', (uint64_t)(b->basket[i] & ~(1ULL << 63)), c->daybuf,
                (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60),
                c->item->s[b->item[i]], c->cat->s[b->category[i]], c->store->s[b->store[i]],
                CHANNEL_NAME[b->channel[i]], q, up, am);
    }
    return part_check(&c->pf);
}

/* ---- customer 360 exports (members, events, feedback) */

enum { X_MEMBERS, X_EVENTS, X_FEEDBACK, X_N };
static const char *const X_WHAT[X_N] = {"members export", "events export", "feedback export"};
static const char *const X_KEY[X_N] = {"members", "events", "feedback"};
static const char *const X_HEADER[X_N] = {
    "member_id,registered_at,updated_at,acquisition_channel,tier,birth_date,gender,postcode,"
    "opt_in_email,opt_in_sms,points\n",
    "member_id,visitor_id,event_time,event_type,item,category,channel,session_id\n",
    "member_id,submitted_at,kind,score,topic,channel,comment\n"};

/* Proleptic Gregorian date of a day number (days since 1970-01-01), any sign. */
static void civil_date(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

static void fmt_date(char *buf, size_t n, int64_t day)
{
    int y;
    unsigned m, d;
    civil_date(day, &y, &m, &d);
    snprintf(buf, n, "%04d-%02u-%02u", y, m % 100, d % 100);
}

/* "YYYY-MM-DD HH:MM:SS" UTC */
static void fmt_ts(char *buf, size_t n, int64_t t)
{
    int64_t day = t >= 0 ? t / 86400 : -((-t + 86399) / 86400), sod = t - day * 86400;
    int y;
    unsigned m, d;
    civil_date(day, &y, &m, &d);
    snprintf(buf, n, "%04d-%02u-%02u %02d:%02d:%02d", y, m % 100, d % 100, (int)(sod / 3600),
             (int)(sod / 60 % 60), (int)(sod % 60));
}

/* One field, quoted as RFC 4180 asks when it holds a comma, a quote or a line break. */
static void csv_field(FILE *fp, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"') fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

typedef struct {
    part_file pf[X_N];
    int open[X_N];
    const rtn_strdict *item, *cat;
} c360_writer;

static rtn_status c360_rows(c360_writer *x, const rtn_gen_c360 *c)
{
    static const char *const GENDER[4] = {"female", "male", "other", ""};
    char a[32], b[32], d[16];
    if (x->open[X_MEMBERS]) {
        FILE *fp = x->pf[X_MEMBERS].fp;
        for (size_t i = 0; i < c->n_members; i++) {
            const rtn_gen_member_row *r = &c->members[i];
            fmt_ts(a, sizeof a, r->registered_at);
            fmt_ts(b, sizeof b, r->updated_at);
            d[0] = 0;
            if (r->birth_day != INT32_MIN) fmt_date(d, sizeof d, r->birth_day);
            fprintf(fp, "C%08" PRIu64 ",%s,%s,%s,%s,%s,%s,%s,%d,%d,%" PRId64 "\n", r->member, a, b,
                    rtn_gen_acq_channel_name(r->acq_channel), rtn_gen_tier_name(r->tier), d,
                    GENDER[r->gender & 3], r->postcode, r->opt_in_email, r->opt_in_sms, r->points);
        }
        RTN_TRY(part_check(&x->pf[X_MEMBERS]));
    }
    if (x->open[X_EVENTS]) {
        FILE *fp = x->pf[X_EVENTS].fp;
        for (size_t i = 0; i < c->n_events; i++) {
            const rtn_gen_event_row *e = &c->events[i];
            char mid[24] = "", vid[24] = "", sid[24] = "";
            if (e->member != RTN_GEN_NONE) snprintf(mid, sizeof mid, "C%08" PRIu64, e->member);
            if (e->visitor != RTN_GEN_NONE) snprintf(vid, sizeof vid, "V%012" PRIx64, e->visitor);
            if (e->has_session) snprintf(sid, sizeof sid, "S%016" PRIx64, e->session);
            fmt_ts(a, sizeof a, e->time);
            fprintf(fp, "%s,%s,%s,%s,%s,%s,%s,%s\n", mid, vid, a, rtn_gen_event_type_name(e->type),
                    e->item >= 0 ? x->item->s[e->item] : "",
                    e->category >= 0 ? x->cat->s[e->category] : "", CHANNEL_NAME[e->channel], sid);
        }
        RTN_TRY(part_check(&x->pf[X_EVENTS]));
    }
    if (x->open[X_FEEDBACK]) {
        FILE *fp = x->pf[X_FEEDBACK].fp;
        for (size_t i = 0; i < c->n_feedback; i++) {
            const rtn_gen_feedback_row *f = &c->feedback[i];
            fmt_ts(a, sizeof a, f->time);
            b[0] = 0;
            if (f->score >= 0) snprintf(b, sizeof b, "%d", f->score);
            fprintf(fp, "C%08" PRIu64 ",%s,%s,%s,%s,%s,", f->member, a,
                    rtn_gen_feedback_kind_name(f->kind), b, rtn_gen_topic_name(f->topic),
                    CHANNEL_NAME[f->channel]);
            csv_field(fp, f->comment);
            fputc('\n', fp);
        }
        RTN_TRY(part_check(&x->pf[X_FEEDBACK]));
    }
    return RTN_OK;
}

/* ------------------------------------------------------------------ the command */

rtn_status rtn_cmd_generate(MPI_Comm comm, int argc, char **argv)
{
    const rtn_command *self = rtn_find_command("generate");
    static const struct option opts[] = {{"customers", required_argument, 0, 'n'},
                                         {"days", required_argument, 0, 'd'},
                                         {"start", required_argument, 0, 's'},
                                         {"seed", required_argument, 0, 'S'},
                                         {"buckets", required_argument, 0, 'B'},
                                         {"out", required_argument, 0, 'o'},
                                         {"truth", required_argument, 0, 't'},
                                         {"csv", required_argument, 0, 'c'},
                                         {"block-rows", required_argument, 0, 'r'},
                                         {"members-csv", required_argument, 0, 'M'},
                                         {"events-csv", required_argument, 0, 'E'},
                                         {"feedback-csv", required_argument, 0, 'F'},
                                         {0, 0, 0, 0}};
    rtn_gen_params gp = {.seed = 1, .n_customers = 10000, .days = 730};
    const char *out = NULL, *truth = NULL, *csv = NULL, *xpath[X_N] = {NULL, NULL, NULL};
    uint64_t nb = RTN_STORE_DEFAULT_BUCKETS, block_rows = 1u << 21;
    int64_t days = 730;
    if (rtn_parse_date("--start", "2023-01-01", &gp.start)) return RTN_ERR_INTERNAL;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        rtn_status pst = RTN_OK;
        switch (c) {
        case 'n': pst = rtn_parse_u64("--customers", optarg, 1, 1ULL << 40, &gp.n_customers); break;
        case 'd': pst = rtn_parse_i64("--days", optarg, 1, RTN_GEN_MAX_DAYS, &days); break;
        case 's':
            pst = rtn_parse_date("--start", optarg, &gp.start);
            if (pst == RTN_OK && gp.start % 86400 != 0)
                pst = rtn_fail(RTN_ERR_USAGE, "--start: '%s' must be a date (midnight UTC)",
                               optarg);
            break;
        case 'S': pst = rtn_parse_u64("--seed", optarg, 0, UINT64_MAX, &gp.seed); break;
        case 'B': pst = rtn_parse_u64("--buckets", optarg, 1, RTN_STORE_MAX_BUCKETS, &nb); break;
        case 'o': out = optarg; break;
        case 't': truth = optarg; break;
        case 'c': csv = optarg; break;
        case 'M': xpath[X_MEMBERS] = optarg; break;
        case 'E': xpath[X_EVENTS] = optarg; break;
        case 'F': xpath[X_FEEDBACK] = optarg; break;
        case 'r': pst = rtn_parse_u64("--block-rows", optarg, 1, 1ULL << 30, &block_rows); break;
        default:
            return rtn_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (pst) return rtn_usage_error(self, "%s", rtn_errmsg());
    }
    if (optind != argc) return rtn_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (!out) return rtn_usage_error(self, "--out STORE is required");
    {
        const char *all[] = {out, truth, csv, xpath[0], xpath[1], xpath[2]};
        for (int i = 0; i < 6; i++)
            for (int j = i + 1; j < 6; j++)
                if (all[i] && all[j] && strcmp(all[i], all[j]) == 0)
                    return rtn_usage_error(self, "'%s' is given for two outputs", all[i]);
    }
    const int have_c360 = xpath[0] || xpath[1] || xpath[2];
    gp.days = (int32_t)days;
    const uint32_t B = (uint32_t)nb;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);

    rtn_gen_model *model = NULL;
    rtn_status st = rtn_gen_model_create(&model, &gp);
    if (st) return rtn_usage_error(self, "%s", rtn_errmsg());
    const uint64_t N = gp.n_customers;
    char t0s[32];
    rtn_format_time(gp.start, t0s, sizeof t0s);
    rtn_info("generate: %" PRIu64 " customers, %d days from %s, seed %" PRIu64 ", %u buckets, "
             "%d rank%s", N, gp.days, t0s, gp.seed, B, size, size == 1 ? "" : "s");

    /* ---------------- pass 1: count rows per bucket (stream A only) */
    rtn_phase_begin("count");
    uint64_t *brows = rtn_calloc((size_t)B + 1, sizeof *brows, "bucket row counts");
    uint64_t *bcust = rtn_calloc((size_t)B + 1, sizeof *bcust, "bucket customer counts");
    uint64_t *off = rtn_calloc((size_t)B + 1, sizeof *off, "bucket offsets");
    uint64_t *coff = rtn_calloc((size_t)B + 1, sizeof *coff, "customer offsets");
    rtn_gen_work *work = NULL;
    if (!brows || !bcust || !off || !coff) st = RTN_ERR_NOMEM;
    if (st == RTN_OK) st = rtn_gen_work_create(&work, model);
    enum { S_BASKETS, S_RETURNS, S_ALIVE, S_ARCH0, S_N = S_ARCH0 + RTN_GEN_N_ARCHETYPES };
    uint64_t sums[S_N] = {0}, gsums[S_N] = {0};
    int64_t tmin = INT64_MAX, tmax = INT64_MIN;
    uint32_t e0 = 0, e1 = 0;
    if (st == RTN_OK) {
        /* even split by bucket count (off is all zeros here) */
        rtn_partition_buckets(off, B, size, rank, &e0, &e1);
        rtn_progress prog;
        rtn_progress_begin(&prog, "generate (count)", "customers", (double)N);
        rtn_gen_truth t;
        for (uint64_t i = 0; i < N && st == RTN_OK; i++) {
            uint32_t b = rtn_bucket_of(rtn_gen_customer_key(gp.seed, i), B);
            if (b >= e0 && b < e1) {
                st = rtn_gen_count(work, i, &t);
                brows[b] += t.n_rows;
                bcust[b]++;
                sums[S_BASKETS] += t.n_baskets;
                sums[S_RETURNS] += t.n_returns;
                sums[S_ALIVE] += (uint64_t)t.alive_at_end;
                sums[S_ARCH0 + t.archetype]++;
                if (t.n_rows) {
                    if (t.time_min < tmin) tmin = t.time_min;
                    if (t.time_max > tmax) tmax = t.time_max;
                }
            }
            if ((i & 0xffff) == 0) rtn_progress_update(&prog, (double)i);
        }
        rtn_progress_end(&prog, (double)N);
    }
    st = rtn_agree(comm, st);
    if (st == RTN_OK) {
        MPI_Allreduce(MPI_IN_PLACE, brows, (int)B, MPI_UINT64_T, MPI_SUM, comm);
        MPI_Allreduce(MPI_IN_PLACE, bcust, (int)B, MPI_UINT64_T, MPI_SUM, comm);
        MPI_Allreduce(sums, gsums, S_N, MPI_UINT64_T, MPI_SUM, comm);
        MPI_Allreduce(MPI_IN_PLACE, &tmin, 1, MPI_INT64_T, MPI_MIN, comm);
        MPI_Allreduce(MPI_IN_PLACE, &tmax, 1, MPI_INT64_T, MPI_MAX, comm);
        for (uint32_t b = 0; b < B; b++) {
            off[b + 1] = off[b] + brows[b];
            coff[b + 1] = coff[b] + bcust[b];
        }
        if (coff[B] != N)
            st = rtn_fail(RTN_ERR_INTERNAL, "generate: counted %" PRIu64 " customers, expected %"
                          PRIu64, coff[B], N);
    }
    rtn_phase_end("count");
    const uint64_t n_rows = off[B];
    rtn_info("generate: %" PRIu64 " rows (%" PRIu64 " baskets, %" PRIu64 " returns); writing %s",
             n_rows, gsums[S_BASKETS], gsums[S_RETURNS], out);

    /* ---------------- my buckets (balanced by rows) and their customers in store order */
    uint32_t b0 = 0, b1 = 0;
    centry *list = NULL;
    uint64_t *cursor = NULL;
    if (st == RTN_OK) {
        rtn_partition_buckets(off, B, size, rank, &b0, &b1);
        uint64_t nmine = coff[b1] - coff[b0];
        list = rtn_malloc(sizeof *list * (nmine ? nmine : 1), "customer list");
        cursor = rtn_malloc(sizeof *cursor * ((size_t)(b1 - b0) + 1), "bucket cursors");
        if (!list || !cursor) st = RTN_ERR_NOMEM;
        if (st == RTN_OK) {
            for (uint32_t b = b0; b < b1; b++) cursor[b - b0] = coff[b] - coff[b0];
            for (uint64_t i = 0; i < N; i++) {
                uint64_t k = rtn_gen_customer_key(gp.seed, i);
                uint32_t b = rtn_bucket_of(k, B);
                if (b >= b0 && b < b1) list[cursor[b - b0]++] = (centry){k, i};
            }
            for (uint32_t b = b0; b < b1; b++)
                qsort(list + (coff[b] - coff[b0]), (size_t)bcust[b], sizeof *list, cmp_centry);
        }
    }
    st = rtn_agree(comm, st);

    /* ---------------- outputs */
    rtn_strdict ditem = {0}, dcat = {0}, dstore = {0};
    json_t *desc = rtn_gen_describe(model);
    char *params = json_dumps(desc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(desc);
    if (st == RTN_OK && !params) st = rtn_fail(RTN_ERR_NOMEM, "cannot format the parameters");
    if (st == RTN_OK) st = rtn_gen_dicts(&ditem, &dcat, &dstore);
    st = rtn_agree(comm, st);
    rtn_store_writer *sw = NULL;
    truth_writer tw;
    memset(&tw, 0, sizeof tw);
    int have_truth = 0, have_csv = 0;
    csv_writer cw;
    memset(&cw, 0, sizeof cw);
    c360_writer xw;
    memset(&xw, 0, sizeof xw);
    rtn_gen_c360_stats xs;
    memset(&xs, 0, sizeof xs);
    if (st == RTN_OK) {
        rtn_store_meta meta = {.nbuckets = B,
                               .bucket_offsets = off,
                               .n_customers = N,
                               .time_min = n_rows ? tmin : gp.start,
                               .time_max = n_rows ? tmax : gp.start,
                               .currency = "EUR",
                               .currency_exponent = 2,
                               .created_by = rtn_command_line(),
                               .provenance = params,
                               .dict_item = &ditem,
                               .dict_category = &dcat,
                               .dict_store = &dstore};
        st = rtn_store_create(&sw, comm, out, &meta);
    }
    if (st == RTN_OK && truth) {
        st = truth_create(&tw, comm, truth, N);
        if (st) {
            for (int k = 0; k < T_N; k++)
                if (tw.d[k] >= 0) H5Dclose(tw.d[k]);
            if (tw.out.file >= 0) rtn_h5_out_finish(&tw.out, st);
        } else {
            have_truth = 1;
        }
    }
    if (st == RTN_OK && csv) {
        cw.item = &ditem;
        cw.cat = &dcat;
        cw.store = &dstore;
        st = csv_open(&cw, comm, csv, rank);
        have_csv = 1;
    }
    xw.item = &ditem;
    xw.cat = &dcat;
    for (int k = 0; k < X_N && st == RTN_OK; k++)
        if (xpath[k]) {
            st = part_open(&xw.pf[k], comm, xpath[k], X_WHAT[k], rank, X_HEADER[k]);
            xw.open[k] = 1;
        }

    /* ---------------- pass 2: rounds of whole buckets */
    rtn_phase_begin("write");
    uint32_t nr_local = 0, nr = 0;
    for (uint32_t b = b0; b < b1;) {
        uint32_t e = b + 1;
        while (e < b1 && off[e + 1] - off[b] <= block_rows) e++;
        nr_local++;
        b = e;
    }
    MPI_Allreduce(&nr_local, &nr, 1, MPI_UINT32_T, MPI_MAX, comm);
    rtn_txn_block blk = {0};
    uint64_t *rowidx = NULL;
    size_t rowidx_cap = 0;
    rtn_progress prog;
    rtn_progress_begin(&prog, "generate (write)", "rows", (double)(off[b1] - off[b0]));
    uint32_t cb = b0;
    for (uint32_t round = 0; round < nr && sw; round++) {
        uint32_t ce = cb;
        if (cb < b1) {
            ce = cb + 1;
            while (ce < b1 && off[ce + 1] - off[cb] <= block_rows) ce++;
        }
        size_t want = (size_t)(off[ce] - off[cb]);
        size_t ncust = (size_t)(coff[ce] - coff[cb]);
        blk.n = 0;
        if (st == RTN_OK && want > blk.cap) st = rtn_txn_block_reserve(&blk, want, RTN_COLS_ALL);
        if (st == RTN_OK && have_truth) st = truth_reserve(&tw, ncust ? ncust : 1);
        if (st == RTN_OK && have_csv && want > rowidx_cap) {
            free(rowidx);
            rowidx = rtn_malloc(sizeof *rowidx * want, "row index");
            rowidx_cap = rowidx ? want : 0;
            if (!rowidx) st = RTN_ERR_NOMEM;
        }
        for (uint64_t k = coff[cb] - coff[b0]; st == RTN_OK && k < coff[ce] - coff[b0]; k++) {
            rtn_gen_truth t;
            size_t before = blk.n;
            st = rtn_gen_customer(work, list[k].index, &blk, &t);
            if (st) break;
            if (have_truth) truth_push(&tw, &t);
            if (have_csv)
                for (size_t r = before; r < blk.n; r++) rowidx[r] = list[k].index;
            if (have_c360) {
                rtn_gen_c360 x;
                st = rtn_gen_c360_customer(work, &t, &blk, before, &x, &xs);
                if (st == RTN_OK) st = c360_rows(&xw, &x);
            }
        }
        if (st == RTN_OK && blk.n != want)
            st = rtn_fail(RTN_ERR_INTERNAL, "generate: buckets %u..%u produced %zu rows, counted "
                          "%zu", cb, ce, blk.n, want);
        if (st == RTN_OK && have_csv) st = csv_rows(&cw, &blk, rowidx);
        st = rtn_agree(comm, st);
        if (st) break;
        st = rtn_store_write(sw, off[cb], &blk);
        if (have_truth) {
            if (st == RTN_OK) st = truth_write(&tw, coff[cb]);
            st = rtn_agree(comm, st);
        }
        if (st) break;
        rtn_progress_update(&prog, (double)(off[ce] - off[b0]));
        cb = ce;
    }
    rtn_progress_end(&prog, (double)(off[b1] - off[b0]));
    rtn_txn_block_free(&blk);
    free(rowidx);
    if (sw) st = rtn_store_finish(sw, st);
    /* customer 360 counts: integer sums, so the same for any number of ranks */
    char *c360_json = NULL;
    json_t *c360_desc = NULL;
    if (have_c360) {
        MPI_Allreduce(MPI_IN_PLACE, &xs, (int)RTN_GEN_C360_NSTATS, MPI_UINT64_T, MPI_SUM, comm);
        c360_desc = rtn_gen_c360_describe(model, &xs);
        c360_json = json_dumps(c360_desc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!c360_json && st == RTN_OK)
            st = rtn_fail(RTN_ERR_NOMEM, "cannot format the customer 360 truth");
        st = rtn_agree(comm, st);
    }
    if (have_truth)
        st = truth_finish(&tw, comm, st, model, B, coff, params ? params : "{}", c360_json);
    uint64_t csv_bytes = 0, xbytes[X_N] = {0, 0, 0};
    if (have_csv) st = part_finish(&cw.pf, comm, st, &csv_bytes);
    for (int k = 0; k < X_N; k++)
        if (xw.open[k]) st = part_finish(&xw.pf[k], comm, st, &xbytes[k]);
    rtn_phase_end("write");

    if (st == RTN_OK) {
        rtn_summary_set_int("generate", "customers", (int64_t)N);
        rtn_summary_set_int("generate", "rows", (int64_t)n_rows);
        rtn_summary_set_int("generate", "baskets", (int64_t)gsums[S_BASKETS]);
        rtn_summary_set_int("generate", "returns", (int64_t)gsums[S_RETURNS]);
        rtn_summary_set_int("generate", "alive_at_end", (int64_t)gsums[S_ALIVE]);
        rtn_summary_set_int("generate", "buckets", B);
        rtn_summary_set_int("generate", "seed", (int64_t)gp.seed);
        rtn_summary_set_int("generate", "days", gp.days);
        for (int a = 0; a < RTN_GEN_N_ARCHETYPES; a++) {
            char key[64];
            snprintf(key, sizeof key, "customers_%s", rtn_gen_archetype_name(a));
            rtn_summary_set_int("generate", key, (int64_t)gsums[S_ARCH0 + a]);
        }
        rtn_summary_set_int("generate", "store_bytes_data", (int64_t)(n_rows * 49));
        if (have_csv) rtn_summary_set_int("generate", "csv_bytes", (int64_t)csv_bytes);
        rtn_summary_set_str("generate", "out", out);
        if (truth) rtn_summary_set_str("generate", "truth", truth);
        if (csv) rtn_summary_set_str("generate", "csv", csv);
        if (have_c360) {
            rtn_summary_set_int("generate", "members_rows", (int64_t)xs.member_rows);
            rtn_summary_set_int("generate", "events_rows", (int64_t)xs.event_rows);
            rtn_summary_set_int("generate", "feedback_rows", (int64_t)xs.feedback_rows);
            for (int k = 0; k < X_N; k++)
                if (xpath[k]) {
                    char key[64];
                    snprintf(key, sizeof key, "%s_csv", X_KEY[k]);
                    rtn_summary_set_str("generate", key, xpath[k]);
                    snprintf(key, sizeof key, "%s_csv_bytes", X_KEY[k]);
                    rtn_summary_set_int("generate", key, (int64_t)xbytes[k]);
                }
            json_object_set(rtn_summary_section("generate"), "customer360", c360_desc);
            rtn_info("generate: customer 360: %" PRIu64 " member rows, %" PRIu64 " events, %"
                     PRIu64 " feedback rows", xs.member_rows, xs.event_rows, xs.feedback_rows);
        }
        rtn_info("generate: wrote %s (%" PRIu64 " rows, %" PRIu64 " customers, %" PRIu64
                 " alive at the end)%s%s%s%s", out, n_rows, N, gsums[S_ALIVE],
                 truth ? ", truth " : "", truth ? truth : "", csv ? ", csv " : "", csv ? csv : "");
    }
    free(params);
    free(c360_json);
    json_decref(c360_desc);
    rtn_strdict_free(&ditem);
    rtn_strdict_free(&dcat);
    rtn_strdict_free(&dstore);
    free(list);
    free(cursor);
    free(brows);
    free(bcust);
    free(off);
    free(coff);
    rtn_gen_work_free(work);
    rtn_gen_model_free(model);
    return st;
}
