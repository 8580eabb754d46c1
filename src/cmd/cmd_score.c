/* retain score: scores every customer of a features file with a model bundle, writes the
 * scores (HDF5, optional CSV) and the churn warning list. Identical for any rank count. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/atomic.h"
#include "retain/cli.h"
#include "retain/commands.h"
#include "retain/features.h"
#include "retain/h5.h"
#include "retain/log.h"
#include "retain/model.h"
#include "retain/score.h"
#include "retain/version.h"

#define RTN_SCORES_FORMAT "retain-scores"
#define RTN_SCORES_FORMAT_VERSION 1

const char rtn_usage_score[] =
    "usage: retain score --model BUNDLE --features FEATURES --out SCORES [--csv FILE]\n"
    "                    [--top N] [--warning-list FILE]\n"
    "\n"
    "Scores every customer of FEATURES with the model bundle: churn probability, risk tier,\n"
    "segment, value (the lifetime value when the bundle has a CLV model, else monetary_total),\n"
    "P(alive), the three features raising the risk most, the expected loss (probability x\n"
    "value), the recommended retention action and the preferred category for a coupon\n"
    "(docs/scoring.md). The output is identical for any number of ranks and holds no raw\n"
    "customer identifiers.\n"
    "\n"
    "  --model BUNDLE       model bundle from retain train\n"
    "  --features FEATURES  features file (the same feature spec as the bundle)\n"
    "  --out SCORES         scores, HDF5 (docs/formats.md)\n"
    "  --csv FILE           the same scores as CSV, one line per customer\n"
    "  --top N              write the churn warning list: the N customers with the highest\n"
    "                       expected loss (default file: warning-list.csv next to SCORES)\n"
    "  --warning-list FILE  where the warning list goes\n"
    "  --allow-currency-mismatch\n"
    "                       score although FEATURES' currency differs from the currency\n"
    "                       the model was trained in (values are then not comparable)\n";

/* Order-preserving map of doubles to unsigned integers (for exact global quantiles). */
static uint64_t dkey(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return (b >> 63) ? ~b : b | (1ULL << 63);
}
static double dval(uint64_t k)
{
    uint64_t b = (k >> 63) ? k & ~(1ULL << 63) : ~k;
    double v;
    memcpy(&v, &b, 8);
    return v;
}

typedef struct {
    double loss;
    uint64_t customer;
    uint64_t row; /* local row */
} top_entry;

static int cmp_top(const void *a, const void *b)
{
    const top_entry *x = a, *y = b;
    if (x->loss != y->loss) return x->loss > y->loss ? -1 : 1;
    return x->customer < y->customer ? -1 : x->customer > y->customer;
}

/* Keeps the k first entries in cmp_top order (n log k instead of sorting all n rows): h
 * is a heap whose root is the last of the kept entries. Returns how many were kept,
 * sorted. */
static size_t select_top(const top_entry *all, size_t n, size_t k, top_entry *h)
{
    size_t m = 0;
    for (size_t i = 0; i < n && k > 0; i++) {
        size_t c;
        if (m < k) { /* sift up */
            c = m++;
            while (c > 0 && cmp_top(&h[(c - 1) / 2], &all[i]) < 0) {
                h[c] = h[(c - 1) / 2];
                c = (c - 1) / 2;
            }
            h[c] = all[i];
            continue;
        }
        if (cmp_top(&all[i], &h[0]) >= 0) continue;
        c = 0; /* replace the root, sift down */
        for (;;) {
            size_t l = 2 * c + 1, r = l + 1, big = c;
            const top_entry *bv = &all[i];
            if (l < m && cmp_top(&h[l], bv) > 0) big = l, bv = &h[l];
            if (r < m && cmp_top(&h[r], bv) > 0) big = r;
            if (big == c) break;
            h[c] = h[big];
            c = big;
        }
        h[c] = all[i];
    }
    qsort(h, m, sizeof *h, cmp_top);
    return m;
}

typedef struct {
    size_t n;
    double *p, *value, *clv, *p_alive, *loss;
    int8_t *tier, *action, *vtier;
    int32_t *segment;
    int16_t *reason; /* n x 3 */
    const int32_t *preferred_category; /* the features file's codes (not owned) */
    char *const *category_names;       /* the features file's category dictionary */
    size_t n_extra;                    /* the model kinds' own columns (rtn_score_extra) */
    const char *extra_name[RTN_SCORE_EXTRA_MAX];
    double *extra;                     /* n_extra columns of n, column after column */
} score_cols;

static void cols_free(score_cols *c)
{
    free(c->p);
    free(c->value);
    free(c->clv);
    free(c->p_alive);
    free(c->loss);
    free(c->tier);
    free(c->action);
    free(c->vtier);
    free(c->segment);
    free(c->reason);
    free(c->extra);
}

static void csv_field(char **p, const char *s)
{
    /* names are ours (features, segments, actions): quote when they hold a comma or quote */
    int q = strpbrk(s, ",\"\n") != NULL;
    if (q) *(*p)++ = '"';
    for (; *s; s++) {
        if (*s == '"') *(*p)++ = '"';
        *(*p)++ = *s;
    }
    if (q) *(*p)++ = '"';
}

static size_t csv_line(char *buf, const rtn_model *m, const score_cols *c, size_t i,
                       uint64_t customer)
{
    char *p = buf;
    p += sprintf(p, "%016" PRIx64 ",%.9g,%s,", customer, c->p[i], rtn_risk_tier_names[c->tier[i]]);
    if (c->segment[i] >= 0) {
        p += sprintf(p, "%d,", m->segment_id[c->segment[i]]);
        csv_field(&p, m->segment_name[c->segment[i]]);
    } else {
        p += sprintf(p, ",");
    }
    p += sprintf(p, ",%.2f,%s,", c->value[i], rtn_value_tier_names[c->vtier[i]]);
    if (isfinite(c->clv[i])) p += sprintf(p, "%.2f", c->clv[i]);
    *p++ = ',';
    if (isfinite(c->p_alive[i])) p += sprintf(p, "%.6f", c->p_alive[i]);
    p += sprintf(p, ",%.2f", c->loss[i]);
    for (int r = 0; r < RTN_SCORE_REASONS; r++) {
        *p++ = ',';
        int16_t j = c->reason[i * RTN_SCORE_REASONS + r];
        if (j >= 0) csv_field(&p, m->feature_names[j]);
    }
    p += sprintf(p, ",%s,", rtn_action_names[c->action[i]]);
    /* category names come from the customer's data: quoted like any CSV text */
    if (c->preferred_category[i] >= 0) csv_field(&p, c->category_names[c->preferred_category[i]]);
    for (size_t e = 0; e < c->n_extra; e++) {
        *p++ = ',';
        double v = c->extra[e * c->n + i];
        if (isfinite(v)) p += sprintf(p, "%.9g", v);
    }
    *p++ = '\n';
    return (size_t)(p - buf);
}

static const char csv_fixed_header[] =
    "customer,churn_probability,risk_tier,segment_id,segment_name,value,value_tier,clv,"
    "p_alive,expected_loss,reason_1,reason_2,reason_3,action,preferred_category";

/* The fixed columns, then the model kinds' own. */
static void csv_header(char *buf, size_t n, const score_cols *c)
{
    snprintf(buf, n, "%s", csv_fixed_header);
    for (size_t e = 0; e < c->n_extra; e++)
        snprintf(buf + strlen(buf), n - strlen(buf), ",%s", c->extra_name[e]);
    snprintf(buf + strlen(buf), n - strlen(buf), "\n");
}

/* Collective: every rank formats its rows, writes them at its byte offset with MPI-IO into
 * a temporary file; rank 0 renames it. */
static rtn_status write_csv(MPI_Comm comm, const char *path, const rtn_model *m,
                            const score_cols *c, const uint64_t *customer)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    rtn_status st = buf ? RTN_OK : rtn_fail(RTN_ERR_NOMEM, "CSV buffer");
    char line[4096];
    if (st == RTN_OK && rank == 0) {
        csv_header(line, sizeof line, c);
        len = strlen(line);
        memcpy(buf, line, len);
    }
    for (size_t i = 0; st == RTN_OK && i < c->n; i++) {
        size_t l = csv_line(line, m, c, i, customer[i]);
        if (len + l > cap) {
            cap = 2 * cap + l;
            char *nb = realloc(buf, cap);
            if (!nb) {
                st = rtn_fail(RTN_ERR_NOMEM, "CSV buffer of %zu bytes", cap);
                break;
            }
            buf = nb;
        }
        memcpy(buf + len, line, l);
        len += l;
    }
    char tmp[RTN_PATH_MAX];
    st = rtn_agree(comm, st);
    if (st == RTN_OK) st = rtn_atomic_tmpname_collective(comm, path, tmp, sizeof tmp);
    if (st) {
        free(buf);
        return st;
    }
    unsigned long long mine = len, off = 0, total = 0;
    MPI_Exscan(&mine, &off, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
    if (rank == 0) off = 0;
    MPI_Allreduce(&mine, &total, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
    MPI_File fh;
    int e = MPI_File_open(comm, tmp, MPI_MODE_CREATE | MPI_MODE_WRONLY, MPI_INFO_NULL, &fh);
    if (e != MPI_SUCCESS) st = rtn_fail(RTN_ERR_IO, "cannot create '%s'", tmp);
    st = rtn_agree(comm, st);
    if (st == RTN_OK) {
        /* Independent writes, in pieces below 2 GiB (MPI counts are int): each rank's
         * part is one contiguous range, so collective buffering gains nothing here, and
         * Open MPI 4.1's collective path has been seen to lose a write error. */
        size_t done = 0;
        while (st == RTN_OK && done < len) {
            int cnt = (int)(len - done > (1u << 30) ? (1u << 30) : len - done);
            errno = 0;
            MPI_Status ms;
            int we = MPI_File_write_at(fh, (MPI_Offset)(off + done), buf + done, cnt, MPI_CHAR,
                                       &ms);
            int wrote = 0;
            if (we == MPI_SUCCESS) MPI_Get_count(&ms, MPI_CHAR, &wrote);
            if (we != MPI_SUCCESS || wrote != cnt) {
                /* Open MPI's OMPIO can report a failed write as a short one */
                char why[MPI_MAX_ERROR_STRING];
                st = rtn_fail(RTN_ERR_IO, "writing '%s' failed: %s", path,
                              rtn_mpi_io_cause(we, errno ? errno : EIO, why, sizeof why));
            }
            done += (size_t)cnt;
        }
        /* before the collective close, so that no rank is left waiting in it */
        st = rtn_agree_bounded(comm, st, rtn_atomic_abandon_all, NULL);
        if (st) rtn_atomic_divert(tmp);
        MPI_File_close(&fh);
    }
    free(buf);
    st = rtn_agree(comm, st);
    rtn_status cst = RTN_OK;
    if (rank == 0) {
        if (st == RTN_OK) cst = rtn_atomic_commit_sized(tmp, path, total);
        else rtn_atomic_discard(tmp);
    }
    return st ? st : rtn_agree(comm, cst);
}

static rtn_status write_warning_list(MPI_Comm comm, const char *path, uint64_t top,
                                     const rtn_model *m, const score_cols *c,
                                     const uint64_t *customer)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    size_t k = c->n < top ? c->n : (size_t)top;
    top_entry *loc = malloc(sizeof *loc * (c->n + 1));
    rtn_status st = loc ? RTN_OK : rtn_fail(RTN_ERR_NOMEM, "warning list");
    st = rtn_agree(comm, st);
    if (st) {
        free(loc);
        return st;
    }
    for (size_t i = 0; i < c->n; i++) loc[i] = (top_entry){c->loss[i], customer[i], i};
    top_entry *best = malloc(sizeof *best * (k + 1));
    st = rtn_agree(comm, best ? RTN_OK : rtn_fail(RTN_ERR_NOMEM, "warning list"));
    if (st) {
        free(loc);
        free(best);
        return st;
    }
    select_top(loc, c->n, k, best);
    free(loc);
    loc = best;
    /* each rank sends its k best lines, already formatted */
    size_t cap = k * 512 + 1, len = 0;
    char *mine = malloc(cap);
    double *keys = malloc(sizeof(double) * (k + 1) * 2);
    if (!mine || !keys) st = rtn_fail(RTN_ERR_NOMEM, "warning list");
    st = rtn_agree(comm, st);
    int *lens = NULL, *cnts = NULL, *displs = NULL, *kd = NULL, *kc = NULL;
    char *all = NULL;
    double *allkeys = NULL;
    int *linelen = malloc(sizeof(int) * (k + 1));
    if (st == RTN_OK) {
        char line[4096];
        for (size_t i = 0; i < k; i++) {
            size_t l = csv_line(line, m, c, loc[i].row, customer[loc[i].row]);
            if (len + l > cap) {
                char *grown = realloc(mine, 2 * cap + l);
                if (!grown) {
                    st = rtn_fail(RTN_ERR_NOMEM, "warning list: %zu bytes", 2 * cap + l);
                    break;
                }
                mine = grown;
                cap = 2 * cap + l;
            }
            memcpy(mine + len, line, l);
            len += l;
            linelen[i] = (int)l;
            keys[2 * i] = loc[i].loss;
            memcpy(&keys[2 * i + 1], &loc[i].customer, 8);
        }
    }
    st = rtn_agree(comm, st); /* before the gathers: a rank that ran out of memory stops all */
    if (st == RTN_OK) {
        int ml = (int)len, mk = (int)k;
        lens = malloc(sizeof(int) * (size_t)size);
        cnts = malloc(sizeof(int) * (size_t)size);
        displs = malloc(sizeof(int) * (size_t)size);
        kd = malloc(sizeof(int) * (size_t)size);
        kc = malloc(sizeof(int) * (size_t)size);
        MPI_Gather(&ml, 1, MPI_INT, lens, 1, MPI_INT, 0, comm);
        MPI_Gather(&mk, 1, MPI_INT, cnts, 1, MPI_INT, 0, comm);
        int tl = 0, tk = 0;
        if (rank == 0)
            for (int r = 0; r < size; r++) {
                displs[r] = tl;
                tl += lens[r];
                kd[r] = tk * 2;
                kc[r] = cnts[r] * 2;
                tk += cnts[r];
            }
        if (rank == 0) {
            all = malloc((size_t)tl + 1);
            allkeys = malloc(sizeof(double) * (size_t)(2 * tk + 2));
        }
        MPI_Gatherv(mine, ml, MPI_CHAR, all, lens, displs, MPI_CHAR, 0, comm);
        MPI_Gatherv(keys, 2 * mk, MPI_DOUBLE, allkeys, kc, kd, MPI_DOUBLE, 0, comm);
        int *alllen = rank == 0 ? malloc(sizeof(int) * (size_t)(tk + 1)) : NULL;
        int *ld = rank == 0 ? malloc(sizeof(int) * (size_t)size) : NULL;
        if (rank == 0) {
            int t = 0;
            for (int r = 0; r < size; r++) {
                ld[r] = t;
                t += cnts[r];
            }
        }
        MPI_Gatherv(linelen, mk, MPI_INT, alllen, cnts, ld, MPI_INT, 0, comm);
        if (rank == 0) {
            /* merge: sort every candidate by (loss desc, customer asc), keep the top N */
            top_entry *cand = malloc(sizeof *cand * (size_t)(tk + 1));
            size_t *start = malloc(sizeof(size_t) * (size_t)(tk + 1));
            size_t pos = 0;
            for (int i = 0; i < tk; i++) {
                uint64_t cu;
                memcpy(&cu, &allkeys[2 * i + 1], 8);
                cand[i] = (top_entry){allkeys[2 * i], cu, (uint64_t)i};
                start[i] = pos;
                pos += (size_t)alllen[i];
            }
            qsort(cand, (size_t)tk, sizeof *cand, cmp_top);
            rtn_atomic_file af;
            st = rtn_atomic_open(&af, path);
            if (st == RTN_OK) {
                char header[4096];
                csv_header(header, sizeof header, c);
                fputs("rank,", af.fp);
                fputs(header, af.fp);
                for (uint64_t i = 0; i < top && i < (uint64_t)tk; i++) {
                    fprintf(af.fp, "%" PRIu64 ",", i + 1);
                    fwrite(all + start[cand[i].row], 1, (size_t)alllen[cand[i].row], af.fp);
                }
                st = rtn_atomic_close(&af);
            }
            free(cand);
            free(start);
        }
        free(alllen);
        free(ld);
    }
    free(loc);
    free(mine);
    free(keys);
    free(linelen);
    free(lens);
    free(cnts);
    free(displs);
    free(kd);
    free(kc);
    free(all);
    free(allkeys);
    return rtn_agree(comm, st);
}

static rtn_status write_scores(MPI_Comm comm, const char *path, const rtn_model *m,
                               const rtn_features_data *fd, const score_cols *c,
                               const double vcut[2])
{
    rtn_h5_out o;
    RTN_TRY(rtn_h5_out_create(&o, comm, path));
    uint64_t N = fd->n_total;
    rtn_status st = RTN_OK;
    struct {
        const char *name;
        hid_t ft, mt;
        const void *buf;
        uint64_t cols;
    } cols[] = {
        {"/scores/customer", H5T_STD_U64LE, H5T_NATIVE_UINT64, fd->customer, 1},
        {"/scores/churn_probability", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, c->p, 1},
        {"/scores/risk_tier", H5T_STD_I8LE, H5T_NATIVE_INT8, c->tier, 1},
        {"/scores/segment", H5T_STD_I32LE, H5T_NATIVE_INT32, c->segment, 1},
        {"/scores/value", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, c->value, 1},
        {"/scores/value_tier", H5T_STD_I8LE, H5T_NATIVE_INT8, c->vtier, 1},
        {"/scores/clv", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, c->clv, 1},
        {"/scores/p_alive", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, c->p_alive, 1},
        {"/scores/expected_loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, c->loss, 1},
        {"/scores/reasons", H5T_STD_I16LE, H5T_NATIVE_INT16, c->reason, RTN_SCORE_REASONS},
        {"/scores/action", H5T_STD_I8LE, H5T_NATIVE_INT8, c->action, 1},
        {"/scores/preferred_category", H5T_STD_I32LE, H5T_NATIVE_INT32, c->preferred_category, 1},
    };
    for (size_t i = 0; i < sizeof cols / sizeof cols[0] && st == RTN_OK; i++) {
        hid_t d;
        st = cols[i].cols == 1 ? rtn_h5_create_1d(o.file, cols[i].name, cols[i].ft, N, 0, &d)
                               : rtn_h5_create_2d(o.file, cols[i].name, cols[i].ft, N, cols[i].cols, 0, &d);
        st = rtn_agree(comm, st);
        if (st) break;
        st = rtn_h5_write_rows(d, cols[i].mt, fd->row0, fd->n, cols[i].buf, 1);
        H5Dclose(d);
        st = rtn_agree(comm, st);
    }
    for (size_t e = 0; e < c->n_extra && st == RTN_OK; e++) {
        char name[96];
        snprintf(name, sizeof name, "/scores/%s", c->extra_name[e]);
        hid_t d;
        st = rtn_agree(comm, rtn_h5_create_1d(o.file, name, H5T_IEEE_F64LE, N, 0, &d));
        if (st) break;
        st = rtn_h5_write_rows(d, H5T_NATIVE_DOUBLE, fd->row0, fd->n, c->extra + e * c->n, 1);
        H5Dclose(d);
        st = rtn_agree(comm, st);
    }
    /* global bucket offsets: every rank knows its own buckets' row counts */
    uint64_t *cnt = rtn_calloc((size_t)fd->nbuckets + 1, 8, "bucket offsets");
    if (!cnt) st = RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    if (st == RTN_OK) {
        for (uint32_t b = fd->b0; b < fd->b1; b++) cnt[b + 1] = fd->boff[b - fd->b0 + 1] - fd->boff[b - fd->b0];
        MPI_Allreduce(MPI_IN_PLACE, cnt, (int)fd->nbuckets + 1, MPI_UINT64_T, MPI_SUM, comm);
        for (uint32_t b = 0; b < fd->nbuckets; b++) cnt[b + 1] += cnt[b];
        uint64_t dims[1] = {(uint64_t)fd->nbuckets + 1};
        st = rtn_h5_write_small(comm, 0, o.file, "/scores/bucket_offsets", H5T_STD_U64LE, 1, dims, cnt);
    }
    free(cnt);
    if (st == RTN_OK)
        st = rtn_h5_write_strings(comm, 0, o.file, "/names/feature", (const char *const *)m->feature_names, m->d);
    if (st == RTN_OK)
        st = rtn_h5_write_strings(comm, 0, o.file, "/names/action", rtn_action_names, RTN_N_ACTIONS);
    if (st == RTN_OK)
        st = rtn_h5_write_strings(comm, 0, o.file, "/names/risk_tier", rtn_risk_tier_names, RTN_RISK_TIERS);
    if (st == RTN_OK)
        st = rtn_h5_write_strings(comm, 0, o.file, "/names/value_tier", rtn_value_tier_names, RTN_VALUE_TIERS);
    if (st == RTN_OK)
        st = rtn_h5_write_strings(comm, 0, o.file, "/names/category", (const char *const *)fd->category_names,
                                  fd->n_category_names);
    if (st == RTN_OK && m->has_segments) {
        st = rtn_h5_write_strings(comm, 0, o.file, "/names/segment", (const char *const *)m->segment_name, (size_t)m->k);
        uint64_t dims[1] = {(uint64_t)m->k};
        if (st == RTN_OK)
            st = rtn_h5_write_small(comm, 0, o.file, "/names/segment_id", H5T_STD_I32LE, 1, dims, m->segment_id);
    }
    hid_t f = o.file;
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "format", RTN_SCORES_FORMAT);
    if (st == RTN_OK) st = rtn_h5_attr_i64(f, "format_version", RTN_SCORES_FORMAT_VERSION);
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "model_content_id", m->content_id);
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "store_digest", fd->store_digest);
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "cutoff_iso", fd->cutoff_iso);
    if (st == RTN_OK) st = rtn_h5_attr_u64(f, "n_customers", N);
    if (st == RTN_OK) st = rtn_h5_attr_u64(f, "buckets", fd->nbuckets);
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "value_source", m->has_clv && m->has_gg ? "clv" : "monetary_total");
    if (st == RTN_OK) st = rtn_h5_attr_f64_array(f, "value_tier_cuts", vcut, 2);
    if (st == RTN_OK) st = rtn_h5_attr_f64_array(f, "risk_cuts", m->risk_cut, RTN_RISK_TIERS - 1);
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "currency", fd->currency);
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "created_by", rtn_command_line());
    if (st == RTN_OK) st = rtn_h5_attr_str(f, "creator_version", RTN_VERSION_STRING);
    return rtn_h5_out_finish(&o, st);
}

rtn_status rtn_cmd_score(MPI_Comm comm, int argc, char **argv)
{
    const rtn_command *self = rtn_find_command("score");
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"features", required_argument, 0, 'f'},
                                         {"out", required_argument, 0, 'o'},
                                         {"csv", required_argument, 0, 'c'},
                                         {"top", required_argument, 0, 't'},
                                         {"warning-list", required_argument, 0, 'w'},
                                         {"allow-currency-mismatch", no_argument, 0, 'x'},
                                         {0, 0, 0, 0}};
    const char *model_path = NULL, *feat_path = NULL, *out = NULL, *csv = NULL, *wl = NULL;
    uint64_t top = 0;
    int allow_currency_mismatch = 0;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': model_path = optarg; break;
        case 'f': feat_path = optarg; break;
        case 'o': out = optarg; break;
        case 'c': csv = optarg; break;
        case 'w': wl = optarg; break;
        case 'x': allow_currency_mismatch = 1; break;
        case 't':
            if (rtn_parse_u64("--top", optarg, 1, 100000000, &top))
                return rtn_usage_error(self, "%s", rtn_errmsg());
            break;
        default: return rtn_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc) return rtn_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (!model_path || !feat_path || !out)
        return rtn_usage_error(self, "--model, --features and --out are required");
    char wl_default[RTN_PATH_MAX];
    if (top && !wl) {
        const char *slash = strrchr(out, '/');
        snprintf(wl_default, sizeof wl_default, "%.*swarning-list.csv",
                 slash ? (int)(slash - out + 1) : 0, out);
        wl = wl_default;
    }

    rtn_model m;
    rtn_phase_begin("score:load");
    rtn_status st = rtn_model_load(model_path, &m);
    st = rtn_agree(comm, st);
    if (st) return st;
    rtn_features_data fd;
    st = rtn_features_load(comm, feat_path, &fd);
    rtn_phase_end("score:load");
    if (st) {
        rtn_model_free(&m);
        return st;
    }
    if (fd.d != m.d) st = rtn_fail(RTN_ERR_DATA, "'%s' has %zu features, the model %zu", feat_path, fd.d, m.d);
    for (size_t j = 0; st == RTN_OK && j < fd.d; j++)
        if (strcmp(fd.feature_names[j], m.feature_names[j]) != 0)
            st = rtn_fail(RTN_ERR_DATA, "feature %zu of '%s' is %s, the model expects %s", j, feat_path,
                          fd.feature_names[j], m.feature_names[j]);
    if (st == RTN_OK && !m.has_churn)
        st = rtn_fail(RTN_ERR_DATA, "'%s' has no churn model: nothing to score", model_path);
    /* spend features and CLV in another currency would be read as the training one's */
    if (st == RTN_OK && strcmp(fd.currency, m.currency) != 0) {
        if (!allow_currency_mismatch)
            st = rtn_fail(RTN_ERR_DATA, "'%s' is in %s but the model was trained in %s; "
                          "convert the store, or pass --allow-currency-mismatch to score anyway",
                          feat_path, fd.currency, m.currency);
        else
            rtn_warn("score: '%s' is in %s, the model was trained in %s (allowed by "
                     "--allow-currency-mismatch)", feat_path, fd.currency, m.currency);
    }
    score_cols c = {0};
    c.n = fd.n;
    c.preferred_category = fd.preferred_category;
    c.category_names = fd.category_names;
    size_t n1 = fd.n + 1;
    double *work = NULL;
    if (st == RTN_OK) {
        c.p = malloc(8 * n1);
        c.value = malloc(8 * n1);
        c.clv = malloc(8 * n1);
        c.p_alive = malloc(8 * n1);
        c.loss = malloc(8 * n1);
        c.tier = malloc(n1);
        c.action = malloc(n1);
        c.vtier = malloc(n1);
        c.segment = malloc(4 * n1);
        c.reason = malloc(2 * RTN_SCORE_REASONS * n1);
        work = malloc(sizeof(double) * (2 * m.d + 2));
        c.n_extra = rtn_score_extra_columns(&m, c.extra_name, RTN_SCORE_EXTRA_MAX);
        if (c.n_extra > RTN_SCORE_EXTRA_MAX)
            st = rtn_fail(RTN_ERR_INTERNAL, "the model kinds have %zu score columns, more than %d",
                          c.n_extra, RTN_SCORE_EXTRA_MAX);
        else if (c.n_extra && !(c.extra = malloc(8 * c.n_extra * n1)))
            st = RTN_ERR_NOMEM;
        if (st == RTN_OK && (!c.p || !c.value || !c.clv || !c.p_alive || !c.loss || !c.tier || !c.action ||
            !c.vtier || !c.segment || !c.reason || !work))
            st = rtn_fail(RTN_ERR_NOMEM, "out of memory for %zu scores", fd.n);
    }
    st = rtn_agree(comm, st);
    rtn_phase_begin("score:compute");
    double clvrow[RTN_CLV_N];
    const int value_col = rtn_score_value_column(&m);
    for (size_t i = 0; st == RTN_OK && i < fd.n; i++) {
        for (int k = 0; k < RTN_CLV_N; k++) clvrow[k] = fd.clv[k] ? fd.clv[k][i] : NAN;
        rtn_score s;
        st = rtn_score_customer(&m, fd.X + i * fd.d, fd.clv[0] ? clvrow : NULL, value_col, work, &s);
        if (st) {
            rtn_fail_context(st, "'%s' row %" PRIu64, feat_path, fd.row0 + i);
            break;
        }
        c.p[i] = s.churn_probability;
        c.tier[i] = (int8_t)s.risk_tier;
        c.segment[i] = s.segment;
        c.value[i] = s.value;
        c.clv[i] = s.clv;
        c.p_alive[i] = s.p_alive;
        c.loss[i] = s.churn_probability * (s.value > 0 ? s.value : 0);
        for (int r = 0; r < RTN_SCORE_REASONS; r++) c.reason[i * RTN_SCORE_REASONS + r] = s.reason[r];
    }
    /* the model kinds' own columns: a pass of its own, taken only when a kind has any */
    for (size_t i = 0; st == RTN_OK && c.n_extra && i < fd.n; i++) {
        double row[RTN_SCORE_EXTRA_MAX];
        for (int k = 0; k < RTN_CLV_N; k++) clvrow[k] = fd.clv[k] ? fd.clv[k][i] : NAN;
        rtn_score_extra(&m, fd.X + i * fd.d, fd.clv[0] ? clvrow : NULL, row);
        for (size_t e = 0; e < c.n_extra; e++) c.extra[e * fd.n + i] = row[e];
    }
    st = rtn_agree(comm, st);
    /* value tiers from exact global quantiles: medium from the median, high from the 80th */
    double vcut[2] = {0, 0};
    if (st == RTN_OK) {
        uint64_t *keys = malloc(8 * n1);
        if (!keys) st = RTN_ERR_NOMEM;
        st = rtn_agree(comm, st);
        if (st == RTN_OK) {
            for (size_t i = 0; i < fd.n; i++) keys[i] = dkey(c.value[i]);
            uint64_t N = fd.n_total, pos[2] = {N / 2, (N * 4) / 5}, q[2];
            if (N > 0) {
                st = rtn_global_select_u64(comm, keys, fd.n, 1, pos, 2, q);
                if (st == RTN_OK) {
                    vcut[0] = dval(q[0]);
                    vcut[1] = dval(q[1]);
                }
            }
        }
        free(keys);
    }
    uint64_t counts[RTN_RISK_TIERS + RTN_N_ACTIONS] = {0};
    for (size_t i = 0; st == RTN_OK && i < fd.n; i++) {
        c.vtier[i] = (int8_t)rtn_value_tier(vcut, c.value[i]);
        c.action[i] = (int8_t)rtn_playbook(c.tier[i], c.vtier[i]);
        counts[c.tier[i]]++;
        counts[RTN_RISK_TIERS + c.action[i]]++;
    }
    rtn_phase_end("score:compute");
    st = rtn_agree(comm, st);
    if (st == RTN_OK) {
        MPI_Allreduce(MPI_IN_PLACE, counts, RTN_RISK_TIERS + RTN_N_ACTIONS, MPI_UINT64_T, MPI_SUM, comm);
        rtn_phase_begin("score:write");
        st = write_scores(comm, out, &m, &fd, &c, vcut);
        if (st == RTN_OK && csv) st = write_csv(comm, csv, &m, &c, fd.customer);
        if (st == RTN_OK && top) st = write_warning_list(comm, wl, top, &m, &c, fd.customer);
        rtn_phase_end("score:write");
    }
    if (st == RTN_OK) {
        rtn_info("score: %" PRIu64 " customers scored with model %.16s (value: %s; tiers from %.2f / %.2f)",
                 fd.n_total, m.content_id, m.has_clv && m.has_gg ? "CLV" : "monetary_total", vcut[0], vcut[1]);
        char line[512] = "";
        for (int t = 0; t < RTN_RISK_TIERS; t++) {
            char part[64];
            snprintf(part, sizeof part, "%s%s %" PRIu64, t ? ", " : "", rtn_risk_tier_names[t], counts[t]);
            strncat(line, part, sizeof line - strlen(line) - 1);
            rtn_summary_set_int("score.risk_tiers", rtn_risk_tier_names[t], (int64_t)counts[t]);
        }
        rtn_info("score: risk tiers: %s", line);
        line[0] = '\0';
        for (int a = 0; a < RTN_N_ACTIONS; a++) {
            char part[64];
            snprintf(part, sizeof part, "%s%s %" PRIu64, a ? ", " : "", rtn_action_names[a], counts[RTN_RISK_TIERS + a]);
            strncat(line, part, sizeof line - strlen(line) - 1);
            rtn_summary_set_int("score.actions", rtn_action_names[a], (int64_t)counts[RTN_RISK_TIERS + a]);
        }
        rtn_info("score: actions: %s", line);
        rtn_summary_set_int("score", "customers", (int64_t)fd.n_total);
        rtn_summary_set_str("score", "model_content_id", m.content_id);
        if (top) rtn_info("score: churn warning list (top %" PRIu64 " by expected loss): %s", top, wl);
    }
    cols_free(&c);
    free(work);
    rtn_features_data_free(&fd);
    rtn_model_free(&m);
    return st;
}
