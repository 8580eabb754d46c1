#include "retain/model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <hdf5.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "retain/atomic.h"
#include "retain/h5.h"
#include "retain/model_kind.h"

const char *const rtn_risk_tier_names[RTN_RISK_TIERS] = {"low", "medium", "high", "critical"};

int rtn_model_risk_tier(const rtn_model *m, double p)
{
    int t = 0;
    while (t < RTN_RISK_TIERS - 1 && p >= m->risk_cut[t]) t++;
    return t;
}

/* ------------------------------------------------------------------ writing */

struct rtn_bundle_writer {
    hid_t file;
    EVP_MD_CTX *hash;   /* content id: every model dataset and model attribute, in order */
    rtn_status st;
    int hash_only;      /* recomputing the content id of a loaded bundle: no file */
};
typedef struct rtn_bundle_writer bw;

static void hash_item(bw *w, const char *name, const void *data, size_t bytes)
{
    EVP_DigestUpdate(w->hash, name, strlen(name) + 1);
    uint64_t n = bytes;
    EVP_DigestUpdate(w->hash, &n, sizeof n);
    if (bytes) EVP_DigestUpdate(w->hash, data, bytes);
}

void rtn_bundle_put(bw *w, const char *path, hid_t type, int rank, uint64_t d0, uint64_t d1,
                    const void *data)
{
    if (w->st) return;
    uint64_t dims[2] = {d0, d1};
    if (!w->hash_only)
        w->st = rtn_h5_write_small(MPI_COMM_SELF, 0, w->file, path, type, rank, dims, data);
    hash_item(w, path, data, (size_t)(d0 * (rank == 2 ? d1 : 1) * H5Tget_size(type)));
}

void rtn_bundle_put_f64(bw *w, const char *path, const double *v, size_t n)
{
    rtn_bundle_put(w, path, H5T_NATIVE_DOUBLE, 1, n, 1, v);
}

void rtn_bundle_put_strings(bw *w, const char *path, char **s, size_t n)
{
    if (w->st) return;
    if (!w->hash_only)
        w->st = rtn_h5_write_strings(MPI_COMM_SELF, 0, w->file, path, (const char *const *)s, n);
    for (size_t i = 0; i < n; i++) hash_item(w, path, s[i], strlen(s[i]));
}

hid_t rtn_bundle_group(bw *w, const char *path)
{
    if (w->st) return H5I_INVALID_HID;
    if (w->hash_only) return 0; /* stands for the group; never reaches HDF5 */
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = rtn_h5_exists(w->file, path) ? H5Gopen2(w->file, path, H5P_DEFAULT)
                                           : H5Gcreate2(w->file, path, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    if (g < 0) w->st = rtn_fail(RTN_ERR_IO, "cannot create group %s", path);
    return g;
}

void rtn_bundle_attr_f64(bw *w, hid_t obj, const char *name, double v)
{
    if (w->st) return;
    if (!w->hash_only) w->st = rtn_h5_attr_f64(obj, name, v);
    hash_item(w, name, &v, sizeof v);
}

void rtn_bundle_attr_i64(bw *w, hid_t obj, const char *name, int64_t v)
{
    if (w->st) return;
    if (!w->hash_only) w->st = rtn_h5_attr_i64(obj, name, v);
    hash_item(w, name, &v, sizeof v);
}

static void attr_str(bw *w, hid_t obj, const char *name, const char *v, int hashed)
{
    if (w->st) return;
    if (!w->hash_only) w->st = rtn_h5_attr_str(obj, name, v ? v : "");
    if (hashed) hash_item(w, name, v ? v : "", v ? strlen(v) : 0);
}

void rtn_bundle_attr_str(bw *w, hid_t obj, const char *name, const char *v)
{
    attr_str(w, obj, name, v, 1);
}

void rtn_bundle_close_group(bw *w, hid_t g)
{
    if (!w->hash_only && g >= 0) H5Gclose(g);
}

void rtn_bundle_put_eval(bw *w, const char *path, const rtn_model_eval *e)
{
    if (!e->present || w->st) return;
    const rtn_metrics *m = &e->m;
    hid_t g = rtn_bundle_group(w, path);
    if (w->st) return;
    rtn_bundle_attr_i64(w, g, "n", (int64_t)m->n);
    rtn_bundle_attr_i64(w, g, "n_pos", (int64_t)m->n_pos);
    rtn_bundle_attr_f64(w, g, "base_rate", m->base_rate);
    rtn_bundle_attr_f64(w, g, "roc_auc", m->roc_auc);
    rtn_bundle_attr_f64(w, g, "pr_auc", m->pr_auc);
    rtn_bundle_attr_f64(w, g, "log_loss", m->log_loss);
    rtn_bundle_attr_f64(w, g, "brier", m->brier);
    rtn_bundle_attr_f64(w, g, "calibration_error", m->calibration_error);
    rtn_bundle_attr_f64(w, g, "oracle_roc_auc", e->oracle_roc_auc);
    const rtn_confusion *cs[2] = {&m->at_max_f1, &m->at_budget};
    const char *cn[2] = {"max_f1", "budget"};
    for (int i = 0; i < 2; i++) {
        char nm[64];
        const rtn_confusion *c = cs[i];
        double conf[4] = {c->tn, c->fp, c->fn, c->tp};
        snprintf(nm, sizeof nm, "%s/confusion_%s", path, cn[i]);
        rtn_bundle_put(w, nm, H5T_NATIVE_DOUBLE, 2, 2, 2, conf);
        snprintf(nm, sizeof nm, "threshold_%s", cn[i]);
        rtn_bundle_attr_f64(w, g, nm, c->threshold);
        snprintf(nm, sizeof nm, "precision_%s", cn[i]);
        rtn_bundle_attr_f64(w, g, nm, c->precision);
        snprintf(nm, sizeof nm, "recall_%s", cn[i]);
        rtn_bundle_attr_f64(w, g, nm, c->recall);
        snprintf(nm, sizeof nm, "f1_%s", cn[i]);
        rtn_bundle_attr_f64(w, g, nm, c->f1);
    }
    rtn_bundle_attr_f64(w, g, "budget", m->budget);
    static const char *const dnames[] = {"decile_n", "decile_mean_pred", "decile_rate", "decile_lift",
                                         "decile_cum_gain", "decile_cum_lift"};
    double tmp[RTN_METRICS_BINS];
    for (int b = 0; b < RTN_METRICS_BINS; b++) tmp[b] = (double)m->bin_n[b];
    const double *arrs[6] = {tmp, m->bin_mean_pred, m->bin_rate, m->lift, m->cum_gain, m->cum_lift};
    for (int i = 0; i < 6; i++) {
        char nm[96];
        snprintf(nm, sizeof nm, "%s/%s", path, dnames[i]);
        rtn_bundle_put_f64(w, nm, arrs[i], RTN_METRICS_BINS);
    }
    rtn_bundle_close_group(w, g);
}

/* Everything the content id covers, in its order: the model datasets and attributes. */
static void bundle_content(bw *wp, const rtn_model *m)
{
    hid_t root = wp->file;
    attr_str(wp, root, "format", RTN_MODEL_FORMAT, 1);
    rtn_bundle_attr_i64(wp, root, "format_version", RTN_MODEL_FORMAT_VERSION);
    attr_str(wp, root, "features_digest", m->features_digest, 1);
    attr_str(wp, root, "store_digest", m->store_digest, 1);
    rtn_bundle_attr_i64(wp, root, "cutoff", m->cutoff);
    attr_str(wp, root, "cutoff_iso", m->cutoff_iso, 1);
    rtn_bundle_attr_i64(wp, root, "horizon_days", m->horizon_days);
    rtn_bundle_attr_i64(wp, root, "lookback_days", m->lookback_days);
    attr_str(wp, root, "currency", m->currency, 1);
    rtn_bundle_attr_i64(wp, root, "n_customers", (int64_t)m->n_customers);
    attr_str(wp, root, "options", m->options_json ? m->options_json : "{}", 1);
    rtn_bundle_put_strings(wp, "/features/names", m->feature_names, m->d);

    for (size_t k = 0; k < rtn_n_model_kinds; k++)
        if (rtn_model_kinds[k]->present(m)) rtn_model_kinds[k]->save(wp, m);
}

static rtn_status write_bundle(const char *tmp, const char *final_path, rtn_model *m)
{
    rtn_h5_quiet();
    bw w = {H5I_INVALID_HID, EVP_MD_CTX_new(), RTN_OK, 0};
    if (!w.hash) return rtn_fail(RTN_ERR_NOMEM, "cannot create a hash context");
    EVP_DigestInit_ex(w.hash, EVP_sha256(), NULL);
    errno = 0;
    w.file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w.file < 0) {
        const char *problem = rtn_atomic_create_problem(tmp, errno);
        EVP_MD_CTX_free(w.hash);
        return rtn_fail(RTN_ERR_IO, "cannot create '%s': %s", tmp, problem ? problem : "HDF5 error");
    }
    hid_t root = w.file;
    bundle_content(&w, m);
    /* provenance: not part of the content id */
    unsigned char dig[32];
    unsigned int dl = 32;
    EVP_DigestFinal_ex(w.hash, dig, &dl);
    EVP_MD_CTX_free(w.hash);
    for (int i = 0; i < 32; i++) snprintf(m->content_id + 2 * i, 3, "%02x", dig[i]);
    attr_str(&w, root, "content_id", m->content_id, 0);
    attr_str(&w, root, "created_by", m->created_by, 0);
    attr_str(&w, root, "creator_version", m->creator_version, 0);
    attr_str(&w, root, "created_at", m->created_at, 0);
    attr_str(&w, root, "features_path", m->features_path, 0);
    attr_str(&w, root, "job", m->job_json ? m->job_json : "{}", 0);
    return rtn_h5_close_output(w.file, tmp, final_path, w.st, MPI_COMM_NULL);
}

rtn_status rtn_model_content_id(const rtn_model *m, char id[65])
{
    bw w = {H5I_INVALID_HID, EVP_MD_CTX_new(), RTN_OK, 1};
    if (!w.hash) return rtn_fail(RTN_ERR_NOMEM, "cannot create a hash context");
    EVP_DigestInit_ex(w.hash, EVP_sha256(), NULL);
    bundle_content(&w, m);
    unsigned char dig[32];
    unsigned int dl = 32;
    EVP_DigestFinal_ex(w.hash, dig, &dl);
    EVP_MD_CTX_free(w.hash);
    for (int i = 0; i < 32; i++) snprintf(id + 2 * i, 3, "%02x", dig[i]);
    return w.st;
}

rtn_status rtn_model_save(MPI_Comm comm, const char *path, rtn_model *m)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    rtn_status st = RTN_OK;
    if (rank == 0) {
        char tmp[RTN_PATH_MAX];
        st = rtn_atomic_tmpname(path, tmp, sizeof tmp);
        if (st == RTN_OK) st = write_bundle(tmp, path, m);
        if (st == RTN_OK) st = rtn_atomic_commit(tmp, path);
        else rtn_atomic_discard(tmp);
        if (st) rtn_fail_context(st, "writing model bundle '%s'", path);
    }
    st = rtn_agree(comm, st);
    MPI_Bcast(m->content_id, sizeof m->content_id, MPI_CHAR, 0, comm);
    return st;
}

/* ------------------------------------------------------------------ reading */

struct rtn_bundle_reader {
    hid_t file;
    const char *path;
    rtn_status st;
};
typedef struct rtn_bundle_reader br;

void *rtn_bundle_get(br *r, const char *name, hid_t type, size_t want_elems, size_t *got_elems)
{
    if (r->st) return NULL;
    int rank;
    uint64_t dims[2];
    r->st = rtn_h5_dims(r->file, name, &rank, dims);
    if (r->st) return NULL;
    size_t n = (size_t)(dims[0] * dims[1]);
    if (want_elems != (size_t)-1 && n != want_elems) {
        r->st = rtn_fail(RTN_ERR_FORMAT, "dataset %s has %zu values, expected %zu", name, n,
                         want_elems);
        return NULL;
    }
    void *buf = rtn_calloc(n ? n : 1, H5Tget_size(type), name);
    if (!buf) {
        r->st = RTN_ERR_NOMEM;
        return NULL;
    }
    hid_t d = H5Dopen2(r->file, name, H5P_DEFAULT);
    if (d < 0 || (n && H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)) {
        r->st = rtn_fail(RTN_ERR_FORMAT, "cannot read dataset %s", name);
        free(buf);
        buf = NULL;
    }
    if (d >= 0) H5Dclose(d);
    if (got_elems) *got_elems = n;
    return buf;
}

double rtn_bundle_get_attr_f64(br *r, hid_t obj, const char *name)
{
    double v = NAN;
    if (!r->st) r->st = rtn_h5_read_attr_f64(obj, name, &v);
    return v;
}

int64_t rtn_bundle_get_attr_i64(br *r, hid_t obj, const char *name)
{
    int64_t v = 0;
    if (!r->st) r->st = rtn_h5_read_attr_i64(obj, name, &v);
    return v;
}

void rtn_bundle_get_attr_str(br *r, hid_t obj, const char *name, char *buf, size_t n)
{
    if (!r->st) r->st = rtn_h5_read_attr_str(obj, name, buf, n);
}

void rtn_bundle_get_eval(br *r, const char *path, rtn_model_eval *e)
{
    memset(e, 0, sizeof *e);
    if (r->st || !rtn_h5_exists(r->file, path)) return;
    hid_t g = H5Gopen2(r->file, path, H5P_DEFAULT);
    rtn_metrics *m = &e->m;
    e->present = 1;
    m->n = (uint64_t)rtn_bundle_get_attr_i64(r, g, "n");
    m->n_pos = (uint64_t)rtn_bundle_get_attr_i64(r, g, "n_pos");
    m->base_rate = rtn_bundle_get_attr_f64(r, g, "base_rate");
    m->roc_auc = rtn_bundle_get_attr_f64(r, g, "roc_auc");
    m->pr_auc = rtn_bundle_get_attr_f64(r, g, "pr_auc");
    m->log_loss = rtn_bundle_get_attr_f64(r, g, "log_loss");
    m->brier = rtn_bundle_get_attr_f64(r, g, "brier");
    m->calibration_error = rtn_bundle_get_attr_f64(r, g, "calibration_error");
    m->budget = rtn_bundle_get_attr_f64(r, g, "budget");
    e->oracle_roc_auc = rtn_bundle_get_attr_f64(r, g, "oracle_roc_auc");
    rtn_confusion *cs[2] = {&m->at_max_f1, &m->at_budget};
    const char *cn[2] = {"max_f1", "budget"};
    for (int i = 0; i < 2; i++) {
        char nm[160];
        snprintf(nm, sizeof nm, "threshold_%s", cn[i]);
        cs[i]->threshold = rtn_bundle_get_attr_f64(r, g, nm);
        snprintf(nm, sizeof nm, "precision_%s", cn[i]);
        cs[i]->precision = rtn_bundle_get_attr_f64(r, g, nm);
        snprintf(nm, sizeof nm, "recall_%s", cn[i]);
        cs[i]->recall = rtn_bundle_get_attr_f64(r, g, nm);
        snprintf(nm, sizeof nm, "f1_%s", cn[i]);
        cs[i]->f1 = rtn_bundle_get_attr_f64(r, g, nm);
        snprintf(nm, sizeof nm, "%s/confusion_%s", path, cn[i]);
        double *c = rtn_bundle_get(r, nm, H5T_NATIVE_DOUBLE, 4, NULL);
        if (c) {
            cs[i]->tn = c[0];
            cs[i]->fp = c[1];
            cs[i]->fn = c[2];
            cs[i]->tp = c[3];
            free(c);
        }
    }
    static const char *const dnames[] = {"decile_n", "decile_mean_pred", "decile_rate", "decile_lift",
                                         "decile_cum_gain", "decile_cum_lift"};
    double *dst[6] = {NULL, m->bin_mean_pred, m->bin_rate, m->lift, m->cum_gain, m->cum_lift};
    for (int i = 0; i < 6; i++) {
        char nm[160];
        snprintf(nm, sizeof nm, "%s/%s", path, dnames[i]);
        double *v = rtn_bundle_get(r, nm, H5T_NATIVE_DOUBLE, RTN_METRICS_BINS, NULL);
        if (!v) break;
        for (int b = 0; b < RTN_METRICS_BINS; b++) {
            if (i == 0) m->bin_n[b] = (uint64_t)v[b];
            else dst[i][b] = v[b];
        }
        free(v);
    }
    H5Gclose(g);
}

int rtn_bundle_ok(const br *r) { return r->st == RTN_OK; }

int rtn_bundle_exists(br *r, const char *path) { return !r->st && rtn_h5_exists(r->file, path); }

hid_t rtn_bundle_open_group(br *r, const char *path)
{
    if (r->st) return H5I_INVALID_HID;
    hid_t g = rtn_h5_exists(r->file, path) ? H5Gopen2(r->file, path, H5P_DEFAULT) : H5I_INVALID_HID;
    if (g < 0) r->st = rtn_fail(RTN_ERR_FORMAT, "cannot open group %s", path);
    return g;
}

void rtn_bundle_get_strings(br *r, const char *path, char ***s, size_t *n)
{
    if (!r->st) r->st = rtn_h5_read_strings(r->file, path, s, n);
}

int rtn_bundle_has_attr(br *r, hid_t obj, const char *name)
{
    return !r->st && H5Aexists(obj, name) > 0;
}

void rtn_bundle_fail(br *r, const char *fmt, ...)
{
    if (r->st) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->st = rtn_fail(RTN_ERR_FORMAT, "%s", msg);
}

/* A group at the root that is neither /features nor a model kind of this build: a model
 * this retain does not know (a newer release, or a build with other kinds). Said plainly,
 * rather than as a content id that does not match. */
typedef struct {
    char name[64];
    int found;
} unknown_group;

static herr_t find_unknown(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)g;
    (void)info;
    unknown_group *u = data;
    if (strcmp(name, "features") == 0 || rtn_model_kind_index(name) >= 0) return 0;
    snprintf(u->name, sizeof u->name, "%s", name);
    u->found = 1;
    return 1;
}

static rtn_status unknown_groups(hid_t f)
{
    unknown_group u = {"", 0};
    hsize_t at = 0;
    if (H5Literate(f, H5_INDEX_NAME, H5_ITER_INC, &at, find_unknown, &u) < 0)
        return rtn_fail(RTN_ERR_FORMAT, "cannot list the bundle's groups");
    if (!u.found) return RTN_OK;
    char known[256] = "";
    for (size_t k = 0; k < rtn_n_model_kinds; k++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                 rtn_model_kinds[k]->name);
    return rtn_fail(RTN_ERR_FORMAT, "the bundle holds a model '/%s' that this retain does not "
                    "know (it knows %s): written by a newer release or another build", u.name,
                    known);
}

static rtn_status load_bundle(const char *path, rtn_model *m, int verify)
{
    memset(m, 0, sizeof *m);
    br r = {H5I_INVALID_HID, path, RTN_OK};
    RTN_TRY(rtn_h5_open_read_local(path, &r.file));
    hid_t f = r.file;
    char fmt[64] = "";
    if (H5Aexists(f, "format") <= 0 || rtn_h5_read_attr_str(f, "format", fmt, sizeof fmt) ||
        strcmp(fmt, RTN_MODEL_FORMAT) != 0) {
        H5Fclose(f);
        return rtn_fail(RTN_ERR_FORMAT, "'%s' is not a retain model bundle (format '%s')", path, fmt);
    }
    int64_t ver = rtn_bundle_get_attr_i64(&r, f, "format_version");
    if (r.st == RTN_OK && (ver < 1 || ver > RTN_MODEL_FORMAT_VERSION))
        r.st = rtn_fail(RTN_ERR_FORMAT, "model format version %lld is not supported (1..%d)",
                        (long long)ver, RTN_MODEL_FORMAT_VERSION);
    rtn_bundle_get_attr_str(&r, f, "content_id", m->content_id, sizeof m->content_id);
    rtn_bundle_get_attr_str(&r, f, "created_by", m->created_by, sizeof m->created_by);
    rtn_bundle_get_attr_str(&r, f, "creator_version", m->creator_version, sizeof m->creator_version);
    rtn_bundle_get_attr_str(&r, f, "created_at", m->created_at, sizeof m->created_at);
    rtn_bundle_get_attr_str(&r, f, "features_path", m->features_path, sizeof m->features_path);
    rtn_bundle_get_attr_str(&r, f, "features_digest", m->features_digest, sizeof m->features_digest);
    rtn_bundle_get_attr_str(&r, f, "store_digest", m->store_digest, sizeof m->store_digest);
    rtn_bundle_get_attr_str(&r, f, "cutoff_iso", m->cutoff_iso, sizeof m->cutoff_iso);
    rtn_bundle_get_attr_str(&r, f, "currency", m->currency, sizeof m->currency);
    m->cutoff = rtn_bundle_get_attr_i64(&r, f, "cutoff");
    m->horizon_days = rtn_bundle_get_attr_i64(&r, f, "horizon_days");
    m->lookback_days = rtn_bundle_get_attr_i64(&r, f, "lookback_days");
    m->n_customers = (uint64_t)rtn_bundle_get_attr_i64(&r, f, "n_customers");
    if (!r.st) r.st = rtn_h5_read_attr_str_alloc(f, "options", &m->options_json);
    if (!r.st) r.st = rtn_h5_read_attr_str_alloc(f, "job", &m->job_json);
    if (!r.st) r.st = rtn_h5_read_strings(f, "/features/names", &m->feature_names, &m->d);
    if (!r.st) r.st = unknown_groups(f);
    for (size_t k = 0; !r.st && k < rtn_n_model_kinds; k++) {
        char group[64];
        snprintf(group, sizeof group, "/%s", rtn_model_kinds[k]->name);
        if (rtn_h5_exists(f, group)) rtn_model_kinds[k]->load(&r, m);
    }
    H5Fclose(f);
    if (!r.st && verify) {
        /* A flipped bit in a coefficient must not become silently different scores. */
        char id[65];
        r.st = rtn_model_content_id(m, id);
        if (!r.st && strcmp(id, m->content_id) != 0)
            r.st = rtn_fail(RTN_ERR_FORMAT, "damaged bundle: its content does not match its "
                            "recorded content id (recorded %.12s..., content %.12s...)",
                            m->content_id, id);
    }
    if (r.st) {
        rtn_fail_context(r.st, "model bundle '%s'", path);
        rtn_model_free(m);
    }
    return r.st;
}

rtn_status rtn_model_load(const char *path, rtn_model *m) { return load_bundle(path, m, 1); }

rtn_status rtn_model_load_unverified(const char *path, rtn_model *m)
{
    return load_bundle(path, m, 0);
}

void rtn_model_free(rtn_model *m)
{
    for (size_t k = 0; k < rtn_n_model_kinds; k++) rtn_model_kinds[k]->release(m);
    free(m->options_json);
    free(m->job_json);
    rtn_strings_free(m->feature_names, m->d);
    memset(m, 0, sizeof *m);
}
