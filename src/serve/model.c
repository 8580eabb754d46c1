#include "retain/model.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "retain/atomic.h"
#include "retain/h5.h"

const char *const rtn_risk_tier_names[RTN_RISK_TIERS] = {"low", "medium", "high", "critical"};

int rtn_model_risk_tier(const rtn_model *m, double p)
{
    int t = 0;
    while (t < RTN_RISK_TIERS - 1 && p >= m->risk_cut[t]) t++;
    return t;
}

/* ------------------------------------------------------------------ writing */

typedef struct {
    hid_t file;
    EVP_MD_CTX *hash;   /* content id: every model dataset and model attribute, in order */
    rtn_status st;
    int hash_only;      /* recomputing the content id of a loaded bundle: no file */
} bw;

static void hash_item(bw *w, const char *name, const void *data, size_t bytes)
{
    EVP_DigestUpdate(w->hash, name, strlen(name) + 1);
    uint64_t n = bytes;
    EVP_DigestUpdate(w->hash, &n, sizeof n);
    if (bytes) EVP_DigestUpdate(w->hash, data, bytes);
}

static void put(bw *w, const char *path, hid_t type, int rank, uint64_t d0, uint64_t d1,
                const void *data)
{
    if (w->st) return;
    uint64_t dims[2] = {d0, d1};
    if (!w->hash_only)
        w->st = rtn_h5_write_small(MPI_COMM_SELF, 0, w->file, path, type, rank, dims, data);
    hash_item(w, path, data, (size_t)(d0 * (rank == 2 ? d1 : 1) * H5Tget_size(type)));
}

static void put_f64(bw *w, const char *path, const double *v, size_t n)
{
    put(w, path, H5T_NATIVE_DOUBLE, 1, n, 1, v);
}

static void put_strings(bw *w, const char *path, char **s, size_t n)
{
    if (w->st) return;
    if (!w->hash_only)
        w->st = rtn_h5_write_strings(MPI_COMM_SELF, 0, w->file, path, (const char *const *)s, n);
    for (size_t i = 0; i < n; i++) hash_item(w, path, s[i], strlen(s[i]));
}

static hid_t group(bw *w, const char *path)
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

static void attr_f64(bw *w, hid_t obj, const char *name, double v)
{
    if (w->st) return;
    if (!w->hash_only) w->st = rtn_h5_attr_f64(obj, name, v);
    hash_item(w, name, &v, sizeof v);
}

static void attr_i64(bw *w, hid_t obj, const char *name, int64_t v)
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

static void close_group(bw *w, hid_t g)
{
    if (!w->hash_only && g >= 0) H5Gclose(g);
}

static void put_eval(bw *w, const char *path, const rtn_model_eval *e)
{
    if (!e->present || w->st) return;
    const rtn_metrics *m = &e->m;
    hid_t g = group(w, path);
    if (w->st) return;
    attr_i64(w, g, "n", (int64_t)m->n);
    attr_i64(w, g, "n_pos", (int64_t)m->n_pos);
    attr_f64(w, g, "base_rate", m->base_rate);
    attr_f64(w, g, "roc_auc", m->roc_auc);
    attr_f64(w, g, "pr_auc", m->pr_auc);
    attr_f64(w, g, "log_loss", m->log_loss);
    attr_f64(w, g, "brier", m->brier);
    attr_f64(w, g, "calibration_error", m->calibration_error);
    attr_f64(w, g, "oracle_roc_auc", e->oracle_roc_auc);
    const rtn_confusion *cs[2] = {&m->at_max_f1, &m->at_budget};
    const char *cn[2] = {"max_f1", "budget"};
    for (int i = 0; i < 2; i++) {
        char nm[64];
        const rtn_confusion *c = cs[i];
        double conf[4] = {c->tn, c->fp, c->fn, c->tp};
        snprintf(nm, sizeof nm, "%s/confusion_%s", path, cn[i]);
        put(w, nm, H5T_NATIVE_DOUBLE, 2, 2, 2, conf);
        snprintf(nm, sizeof nm, "threshold_%s", cn[i]);
        attr_f64(w, g, nm, c->threshold);
        snprintf(nm, sizeof nm, "precision_%s", cn[i]);
        attr_f64(w, g, nm, c->precision);
        snprintf(nm, sizeof nm, "recall_%s", cn[i]);
        attr_f64(w, g, nm, c->recall);
        snprintf(nm, sizeof nm, "f1_%s", cn[i]);
        attr_f64(w, g, nm, c->f1);
    }
    attr_f64(w, g, "budget", m->budget);
    static const char *const dnames[] = {"decile_n", "decile_mean_pred", "decile_rate", "decile_lift",
                                         "decile_cum_gain", "decile_cum_lift"};
    double tmp[RTN_METRICS_BINS];
    for (int b = 0; b < RTN_METRICS_BINS; b++) tmp[b] = (double)m->bin_n[b];
    const double *arrs[6] = {tmp, m->bin_mean_pred, m->bin_rate, m->lift, m->cum_gain, m->cum_lift};
    for (int i = 0; i < 6; i++) {
        char nm[96];
        snprintf(nm, sizeof nm, "%s/%s", path, dnames[i]);
        put_f64(w, nm, arrs[i], RTN_METRICS_BINS);
    }
    close_group(w, g);
}

/* Everything the content id covers, in its order: the model datasets and attributes. */
static void bundle_content(bw *wp, const rtn_model *m)
{
    hid_t root = wp->file;
    attr_str(wp, root, "format", RTN_MODEL_FORMAT, 1);
    attr_i64(wp, root, "format_version", RTN_MODEL_FORMAT_VERSION);
    attr_str(wp, root, "features_digest", m->features_digest, 1);
    attr_str(wp, root, "store_digest", m->store_digest, 1);
    attr_i64(wp, root, "cutoff", m->cutoff);
    attr_str(wp, root, "cutoff_iso", m->cutoff_iso, 1);
    attr_i64(wp, root, "horizon_days", m->horizon_days);
    attr_i64(wp, root, "lookback_days", m->lookback_days);
    attr_str(wp, root, "currency", m->currency, 1);
    attr_i64(wp, root, "n_customers", (int64_t)m->n_customers);
    attr_str(wp, root, "options", m->options_json ? m->options_json : "{}", 1);
    put_strings(wp, "/features/names", m->feature_names, m->d);

    if (m->has_churn) {
        hid_t g = group(wp, "/churn");
        put(wp, "/churn/transform", H5T_NATIVE_INT8, 1, m->d, 1, m->churn_transform);
        put_f64(wp, "/churn/scaler_mean", m->scaler_mean, m->d);
        put_f64(wp, "/churn/scaler_scale", m->scaler_scale, m->d);
        put_f64(wp, "/churn/coef", m->coef, m->d);
        put_f64(wp, "/churn/coef_std", m->coef_std, m->d);
        put_f64(wp, "/churn/objective_history", m->history, (size_t)m->n_history);
        put_f64(wp, "/churn/risk_cut", m->risk_cut, RTN_RISK_TIERS - 1);
        if (g >= 0) {
            attr_f64(wp, g, "intercept", m->intercept);
            attr_f64(wp, g, "intercept_std", m->intercept_std);
            attr_f64(wp, g, "threshold", m->threshold);
            attr_str(wp, g, "threshold_rule", "max F1 on the validation split", 1);
            attr_f64(wp, g, "lambda", m->lambda);
            attr_f64(wp, g, "l1_ratio", m->l1_ratio);
            attr_f64(wp, g, "C", m->C);
            attr_i64(wp, g, "class_weight_balanced", m->class_weight_balanced);
            attr_i64(wp, g, "iterations", m->iterations);
            attr_i64(wp, g, "converged", m->converged);
            attr_f64(wp, g, "objective", m->objective);
            attr_i64(wp, g, "n_train", (int64_t)m->n_train);
            attr_i64(wp, g, "n_pos", (int64_t)m->n_pos);
            attr_f64(wp, g, "budget", m->budget);
            close_group(wp, g);
        }
        put_eval(wp, "/churn/metrics/validation", &m->valid);
        put_eval(wp, "/churn/metrics/test", &m->test);
    }
    if (m->has_segments) {
        hid_t g = group(wp, "/segments");
        size_t k = (size_t)m->k;
        put(wp, "/segments/feature_index", H5T_NATIVE_INT32, 1, m->ds, 1, m->seg_feature);
        put(wp, "/segments/transform", H5T_NATIVE_INT8, 1, m->ds, 1, m->seg_transform);
        put_f64(wp, "/segments/scaler_mean", m->seg_mean, m->ds);
        put_f64(wp, "/segments/scaler_scale", m->seg_scale, m->ds);
        put(wp, "/segments/centroids", H5T_NATIVE_DOUBLE, 2, k, m->ds, m->centroids);
        put(wp, "/segments/id", H5T_NATIVE_INT32, 1, k, 1, m->segment_id);
        put_strings(wp, "/segments/name", m->segment_name, k);
        put_f64(wp, "/segments/size", m->seg_size, k);
        put_f64(wp, "/segments/revenue_share", m->seg_revenue_share, k);
        put_f64(wp, "/segments/churn_rate", m->seg_churn_rate, k);
        put(wp, "/segments/profile_mean", H5T_NATIVE_DOUBLE, 2, k, m->d, m->seg_profile);
        if (m->n_kscan > 0) {
            put(wp, "/segments/k_scan/k", H5T_NATIVE_INT32, 1, (uint64_t)m->n_kscan, 1, m->kscan_k);
            put_f64(wp, "/segments/k_scan/inertia", m->kscan_inertia, (size_t)m->n_kscan);
            put_f64(wp, "/segments/k_scan/silhouette", m->kscan_silhouette, (size_t)m->n_kscan);
        }
        if (g >= 0) {
            attr_i64(wp, g, "k", m->k);
            attr_str(wp, g, "k_rule", m->k_rule, 1);
            attr_f64(wp, g, "inertia", m->inertia);
            attr_i64(wp, g, "iterations", m->seg_iterations);
            attr_i64(wp, g, "converged", m->seg_converged);
            attr_f64(wp, g, "ari_truth", m->ari_truth);
            close_group(wp, g);
        }
    }
    if (m->has_clv) {
        hid_t g = group(wp, "/clv");
        if (g >= 0) {
            attr_str(wp, g, "time_unit", "weeks", 1);
            if (m->purchase_kind == RTN_PURCHASE_NBD) {
                /* BG/NBD bundles carry no purchase_model attribute, so their bytes and
                 * content id are what they were before the NBD fallback existed. */
                attr_str(wp, g, "purchase_model", "nbd", 1);
                double nb[2] = {m->nbd.r, m->nbd.alpha};
                double nbse[2] = {m->nbd_se.r, m->nbd_se.alpha};
                put_f64(wp, "/clv/nbd_params", nb, 2);
                put_f64(wp, "/clv/nbd_stderr", nbse, 2);
                attr_f64(wp, g, "nbd_loglik", m->nbd_loglik);
                attr_i64(wp, g, "nbd_converged", m->nbd_converged);
            } else {
                double bg[4] = {m->bgnbd.r, m->bgnbd.alpha, m->bgnbd.a, m->bgnbd.b};
                double bgse[4] = {m->bgnbd_se.r, m->bgnbd_se.alpha, m->bgnbd_se.a,
                                  m->bgnbd_se.b};
                put_f64(wp, "/clv/bgnbd_params", bg, 4);
                put_f64(wp, "/clv/bgnbd_stderr", bgse, 4);
            }
            attr_f64(wp, g, "bgnbd_loglik", m->bgnbd_loglik);
            attr_i64(wp, g, "bgnbd_converged", m->bgnbd_converged);
            attr_i64(wp, g, "bgnbd_customers", (int64_t)m->bgnbd_n);
            attr_i64(wp, g, "has_gamma_gamma", m->has_gg);
            if (m->has_gg) {
                double gg[3] = {m->gg.p, m->gg.q, m->gg.gamma};
                double ggse[3] = {m->gg_se.p, m->gg_se.q, m->gg_se.gamma};
                put_f64(wp, "/clv/gg_params", gg, 3);
                put_f64(wp, "/clv/gg_stderr", ggse, 3);
                attr_f64(wp, g, "gg_loglik", m->gg_loglik);
                attr_i64(wp, g, "gg_converged", m->gg_converged);
                attr_i64(wp, g, "gg_customers", (int64_t)m->gg_n);
            }
            attr_f64(wp, g, "horizon_months", m->clv_opt.horizon_months);
            attr_f64(wp, g, "periods_per_month", m->clv_opt.periods_per_month);
            attr_f64(wp, g, "discount_rate_monthly", m->clv_opt.monthly_discount);
            attr_f64(wp, g, "margin", m->clv_opt.margin);
            close_group(wp, g);
        }
    }
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

typedef struct {
    hid_t file;
    const char *path;
    rtn_status st;
} br;

static void *get(br *r, const char *name, hid_t type, size_t want_elems, size_t *got_elems)
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

static double aget_f64(br *r, hid_t obj, const char *name)
{
    double v = NAN;
    if (!r->st) r->st = rtn_h5_read_attr_f64(obj, name, &v);
    return v;
}

static int64_t aget_i64(br *r, hid_t obj, const char *name)
{
    int64_t v = 0;
    if (!r->st) r->st = rtn_h5_read_attr_i64(obj, name, &v);
    return v;
}

static void aget_str(br *r, hid_t obj, const char *name, char *buf, size_t n)
{
    if (!r->st) r->st = rtn_h5_read_attr_str(obj, name, buf, n);
}

static void get_eval(br *r, const char *path, rtn_model_eval *e)
{
    memset(e, 0, sizeof *e);
    if (r->st || !rtn_h5_exists(r->file, path)) return;
    hid_t g = H5Gopen2(r->file, path, H5P_DEFAULT);
    rtn_metrics *m = &e->m;
    e->present = 1;
    m->n = (uint64_t)aget_i64(r, g, "n");
    m->n_pos = (uint64_t)aget_i64(r, g, "n_pos");
    m->base_rate = aget_f64(r, g, "base_rate");
    m->roc_auc = aget_f64(r, g, "roc_auc");
    m->pr_auc = aget_f64(r, g, "pr_auc");
    m->log_loss = aget_f64(r, g, "log_loss");
    m->brier = aget_f64(r, g, "brier");
    m->calibration_error = aget_f64(r, g, "calibration_error");
    m->budget = aget_f64(r, g, "budget");
    e->oracle_roc_auc = aget_f64(r, g, "oracle_roc_auc");
    rtn_confusion *cs[2] = {&m->at_max_f1, &m->at_budget};
    const char *cn[2] = {"max_f1", "budget"};
    for (int i = 0; i < 2; i++) {
        char nm[160];
        snprintf(nm, sizeof nm, "threshold_%s", cn[i]);
        cs[i]->threshold = aget_f64(r, g, nm);
        snprintf(nm, sizeof nm, "precision_%s", cn[i]);
        cs[i]->precision = aget_f64(r, g, nm);
        snprintf(nm, sizeof nm, "recall_%s", cn[i]);
        cs[i]->recall = aget_f64(r, g, nm);
        snprintf(nm, sizeof nm, "f1_%s", cn[i]);
        cs[i]->f1 = aget_f64(r, g, nm);
        snprintf(nm, sizeof nm, "%s/confusion_%s", path, cn[i]);
        double *c = get(r, nm, H5T_NATIVE_DOUBLE, 4, NULL);
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
        double *v = get(r, nm, H5T_NATIVE_DOUBLE, RTN_METRICS_BINS, NULL);
        if (!v) break;
        for (int b = 0; b < RTN_METRICS_BINS; b++) {
            if (i == 0) m->bin_n[b] = (uint64_t)v[b];
            else dst[i][b] = v[b];
        }
        free(v);
    }
    H5Gclose(g);
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
    int64_t ver = aget_i64(&r, f, "format_version");
    if (r.st == RTN_OK && (ver < 1 || ver > RTN_MODEL_FORMAT_VERSION))
        r.st = rtn_fail(RTN_ERR_FORMAT, "model format version %lld is not supported (1..%d)",
                        (long long)ver, RTN_MODEL_FORMAT_VERSION);
    aget_str(&r, f, "content_id", m->content_id, sizeof m->content_id);
    aget_str(&r, f, "created_by", m->created_by, sizeof m->created_by);
    aget_str(&r, f, "creator_version", m->creator_version, sizeof m->creator_version);
    aget_str(&r, f, "created_at", m->created_at, sizeof m->created_at);
    aget_str(&r, f, "features_path", m->features_path, sizeof m->features_path);
    aget_str(&r, f, "features_digest", m->features_digest, sizeof m->features_digest);
    aget_str(&r, f, "store_digest", m->store_digest, sizeof m->store_digest);
    aget_str(&r, f, "cutoff_iso", m->cutoff_iso, sizeof m->cutoff_iso);
    aget_str(&r, f, "currency", m->currency, sizeof m->currency);
    m->cutoff = aget_i64(&r, f, "cutoff");
    m->horizon_days = aget_i64(&r, f, "horizon_days");
    m->lookback_days = aget_i64(&r, f, "lookback_days");
    m->n_customers = (uint64_t)aget_i64(&r, f, "n_customers");
    if (!r.st) r.st = rtn_h5_read_attr_str_alloc(f, "options", &m->options_json);
    if (!r.st) r.st = rtn_h5_read_attr_str_alloc(f, "job", &m->job_json);
    if (!r.st) r.st = rtn_h5_read_strings(f, "/features/names", &m->feature_names, &m->d);
    size_t d = m->d;
    if (!r.st && rtn_h5_exists(f, "/churn")) {
        m->has_churn = 1;
        hid_t g = H5Gopen2(f, "/churn", H5P_DEFAULT);
        m->churn_transform = get(&r, "/churn/transform", H5T_NATIVE_INT8, d, NULL);
        m->scaler_mean = get(&r, "/churn/scaler_mean", H5T_NATIVE_DOUBLE, d, NULL);
        m->scaler_scale = get(&r, "/churn/scaler_scale", H5T_NATIVE_DOUBLE, d, NULL);
        m->coef = get(&r, "/churn/coef", H5T_NATIVE_DOUBLE, d, NULL);
        m->coef_std = get(&r, "/churn/coef_std", H5T_NATIVE_DOUBLE, d, NULL);
        size_t nh = 0;
        m->history = get(&r, "/churn/objective_history", H5T_NATIVE_DOUBLE, (size_t)-1, &nh);
        m->n_history = (int)nh;
        double *cuts = get(&r, "/churn/risk_cut", H5T_NATIVE_DOUBLE, RTN_RISK_TIERS - 1, NULL);
        if (cuts) {
            memcpy(m->risk_cut, cuts, sizeof m->risk_cut);
            free(cuts);
        }
        m->intercept = aget_f64(&r, g, "intercept");
        m->intercept_std = aget_f64(&r, g, "intercept_std");
        m->threshold = aget_f64(&r, g, "threshold");
        m->lambda = aget_f64(&r, g, "lambda");
        m->l1_ratio = aget_f64(&r, g, "l1_ratio");
        m->C = aget_f64(&r, g, "C");
        m->class_weight_balanced = (int)aget_i64(&r, g, "class_weight_balanced");
        m->iterations = (int)aget_i64(&r, g, "iterations");
        m->converged = (int)aget_i64(&r, g, "converged");
        m->objective = aget_f64(&r, g, "objective");
        m->n_train = (uint64_t)aget_i64(&r, g, "n_train");
        m->n_pos = (uint64_t)aget_i64(&r, g, "n_pos");
        m->budget = aget_f64(&r, g, "budget");
        H5Gclose(g);
        get_eval(&r, "/churn/metrics/validation", &m->valid);
        get_eval(&r, "/churn/metrics/test", &m->test);
    }
    if (!r.st && rtn_h5_exists(f, "/segments")) {
        m->has_segments = 1;
        hid_t g = H5Gopen2(f, "/segments", H5P_DEFAULT);
        m->k = (int)aget_i64(&r, g, "k");
        size_t k = (size_t)m->k;
        m->seg_feature = get(&r, "/segments/feature_index", H5T_NATIVE_INT32, (size_t)-1, &m->ds);
        m->seg_transform = get(&r, "/segments/transform", H5T_NATIVE_INT8, m->ds, NULL);
        m->seg_mean = get(&r, "/segments/scaler_mean", H5T_NATIVE_DOUBLE, m->ds, NULL);
        m->seg_scale = get(&r, "/segments/scaler_scale", H5T_NATIVE_DOUBLE, m->ds, NULL);
        m->centroids = get(&r, "/segments/centroids", H5T_NATIVE_DOUBLE, k * m->ds, NULL);
        m->segment_id = get(&r, "/segments/id", H5T_NATIVE_INT32, k, NULL);
        size_t nn = 0;
        if (!r.st) r.st = rtn_h5_read_strings(f, "/segments/name", &m->segment_name, &nn);
        if (!r.st && nn != k) r.st = rtn_fail(RTN_ERR_FORMAT, "/segments/name has %zu names for k = %zu", nn, k);
        m->seg_size = get(&r, "/segments/size", H5T_NATIVE_DOUBLE, k, NULL);
        m->seg_revenue_share = get(&r, "/segments/revenue_share", H5T_NATIVE_DOUBLE, k, NULL);
        m->seg_churn_rate = get(&r, "/segments/churn_rate", H5T_NATIVE_DOUBLE, k, NULL);
        m->seg_profile = get(&r, "/segments/profile_mean", H5T_NATIVE_DOUBLE, k * d, NULL);
        if (!r.st && rtn_h5_exists(f, "/segments/k_scan/k")) {
            size_t nk = 0;
            m->kscan_k = get(&r, "/segments/k_scan/k", H5T_NATIVE_INT32, (size_t)-1, &nk);
            m->n_kscan = (int)nk;
            m->kscan_inertia = get(&r, "/segments/k_scan/inertia", H5T_NATIVE_DOUBLE, nk, NULL);
            m->kscan_silhouette = get(&r, "/segments/k_scan/silhouette", H5T_NATIVE_DOUBLE, nk, NULL);
        }
        aget_str(&r, g, "k_rule", m->k_rule, sizeof m->k_rule);
        m->inertia = aget_f64(&r, g, "inertia");
        m->seg_iterations = (int)aget_i64(&r, g, "iterations");
        m->seg_converged = (int)aget_i64(&r, g, "converged");
        m->ari_truth = aget_f64(&r, g, "ari_truth");
        for (size_t j = 0; !r.st && j < m->ds; j++)
            if (m->seg_feature[j] < 0 || (size_t)m->seg_feature[j] >= d)
                r.st = rtn_fail(RTN_ERR_FORMAT, "/segments/feature_index[%zu] = %d is not a feature",
                                j, m->seg_feature[j]);
        H5Gclose(g);
    }
    if (!r.st && rtn_h5_exists(f, "/clv")) {
        m->has_clv = 1;
        hid_t g = H5Gopen2(f, "/clv", H5P_DEFAULT);
        char kind[16] = "bgnbd"; /* bundles without the attribute are BG/NBD */
        if (H5Aexists(g, "purchase_model") > 0) aget_str(&r, g, "purchase_model", kind, sizeof kind);
        if (!r.st && strcmp(kind, "nbd") == 0) {
            m->purchase_kind = RTN_PURCHASE_NBD;
            double *nb = get(&r, "/clv/nbd_params", H5T_NATIVE_DOUBLE, 2, NULL);
            double *nbse = get(&r, "/clv/nbd_stderr", H5T_NATIVE_DOUBLE, 2, NULL);
            if (nb && nbse) {
                m->nbd = (rtn_nbd_params){nb[0], nb[1]};
                m->nbd_se = (rtn_nbd_params){nbse[0], nbse[1]};
            }
            free(nb);
            free(nbse);
            m->nbd_loglik = aget_f64(&r, g, "nbd_loglik");
            m->nbd_converged = (int)aget_i64(&r, g, "nbd_converged");
        } else if (!r.st && strcmp(kind, "bgnbd") == 0) {
            m->purchase_kind = RTN_PURCHASE_BGNBD;
            double *bg = get(&r, "/clv/bgnbd_params", H5T_NATIVE_DOUBLE, 4, NULL);
            double *bgse = get(&r, "/clv/bgnbd_stderr", H5T_NATIVE_DOUBLE, 4, NULL);
            if (bg && bgse) {
                m->bgnbd = (rtn_bgnbd_params){bg[0], bg[1], bg[2], bg[3]};
                m->bgnbd_se = (rtn_bgnbd_params){bgse[0], bgse[1], bgse[2], bgse[3]};
            }
            free(bg);
            free(bgse);
        } else if (!r.st) {
            r.st = rtn_fail(RTN_ERR_FORMAT, "/clv@purchase_model is '%s', expected bgnbd or nbd",
                            kind);
        }
        m->bgnbd_loglik = aget_f64(&r, g, "bgnbd_loglik");
        m->bgnbd_converged = (int)aget_i64(&r, g, "bgnbd_converged");
        m->bgnbd_n = (uint64_t)aget_i64(&r, g, "bgnbd_customers");
        m->has_gg = (int)aget_i64(&r, g, "has_gamma_gamma");
        if (m->has_gg) {
            double *gg = get(&r, "/clv/gg_params", H5T_NATIVE_DOUBLE, 3, NULL);
            double *ggse = get(&r, "/clv/gg_stderr", H5T_NATIVE_DOUBLE, 3, NULL);
            if (gg && ggse) {
                m->gg = (rtn_gg_params){gg[0], gg[1], gg[2]};
                m->gg_se = (rtn_gg_params){ggse[0], ggse[1], ggse[2]};
            }
            free(gg);
            free(ggse);
            m->gg_loglik = aget_f64(&r, g, "gg_loglik");
            m->gg_converged = (int)aget_i64(&r, g, "gg_converged");
            m->gg_n = (uint64_t)aget_i64(&r, g, "gg_customers");
        }
        m->clv_opt.horizon_months = (int)aget_f64(&r, g, "horizon_months");
        m->clv_opt.periods_per_month = aget_f64(&r, g, "periods_per_month");
        m->clv_opt.monthly_discount = aget_f64(&r, g, "discount_rate_monthly");
        m->clv_opt.margin = aget_f64(&r, g, "margin");
        H5Gclose(g);
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
    free(m->options_json);
    free(m->job_json);
    rtn_strings_free(m->feature_names, m->d);
    free(m->churn_transform);
    free(m->scaler_mean);
    free(m->scaler_scale);
    free(m->coef);
    free(m->coef_std);
    free(m->history);
    free(m->seg_feature);
    free(m->seg_transform);
    free(m->seg_mean);
    free(m->seg_scale);
    free(m->centroids);
    free(m->segment_id);
    rtn_strings_free(m->segment_name, (size_t)m->k);
    free(m->seg_size);
    free(m->seg_revenue_share);
    free(m->seg_churn_rate);
    free(m->seg_profile);
    free(m->kscan_k);
    free(m->kscan_inertia);
    free(m->kscan_silhouette);
    memset(m, 0, sizeof *m);
}
