/* The model bundle as a versioned JSON document ("format": "retain-model-json",
 * "version": 1; schema in docs/serving.md). Numbers are written with 17 significant digits,
 * so every double reads back to the same bits; NaN (an undefined metric) becomes null. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retain/atomic.h"
#include "retain/export.h"
#include "retain/kmeans.h"
#include "retain/score.h"
#include "retain/version.h"

static json_t *jreal(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *jreals(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, jreal(v[i]));
    return a;
}

static json_t *jmatrix(const double *v, size_t rows, size_t cols)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rows; i++) json_array_append_new(a, jreals(v + i * cols, cols));
    return a;
}

static json_t *jstrings(char *const *s, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(s[i]));
    return a;
}

static json_t *jxforms(const int8_t *t, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(rtn_xform_name((rtn_xform)t[i])));
    return a;
}

/* embedded JSON text (training options, job): parsed, or kept as a string if it is not JSON */
static json_t *jembedded(const char *txt)
{
    if (!txt || !*txt) return json_object();
    json_error_t e;
    json_t *v = json_loads(txt, JSON_DECODE_ANY, &e);
    return v ? v : json_string(txt);
}

static void set(json_t *o, const char *k, json_t *v)
{
    json_object_set_new(o, k, v ? v : json_null());
}

/* {names[0]: v[0], ...}: model parameters as a JSON object. */
static json_t *jnamed(const char *const *names, const double *v, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) set(o, names[i], jreal(v[i]));
    return o;
}

static const char *const bg_names[] = {"r", "alpha", "a", "b"};
static const char *const nbd_names[] = {"r", "alpha"};
static const char *const gg_names[] = {"p", "q", "gamma"};

static json_t *jconfusion(const rtn_confusion *c)
{
    json_t *o = json_object();
    set(o, "threshold", jreal(c->threshold));
    set(o, "precision", jreal(c->precision));
    set(o, "recall", jreal(c->recall));
    set(o, "f1", jreal(c->f1));
    set(o, "tn", jreal(c->tn));
    set(o, "fp", jreal(c->fp));
    set(o, "fn", jreal(c->fn));
    set(o, "tp", jreal(c->tp));
    return o;
}

static json_t *jeval(const rtn_model_eval *e)
{
    if (!e->present) return json_null();
    const rtn_metrics *m = &e->m;
    json_t *o = json_object();
    set(o, "n", json_integer((json_int_t)m->n));
    set(o, "n_pos", json_integer((json_int_t)m->n_pos));
    set(o, "base_rate", jreal(m->base_rate));
    set(o, "roc_auc", jreal(m->roc_auc));
    set(o, "pr_auc", jreal(m->pr_auc));
    set(o, "log_loss", jreal(m->log_loss));
    set(o, "brier", jreal(m->brier));
    set(o, "calibration_error", jreal(m->calibration_error));
    set(o, "oracle_roc_auc", jreal(e->oracle_roc_auc));
    set(o, "at_max_f1", jconfusion(&m->at_max_f1));
    set(o, "budget", jreal(m->budget));
    set(o, "at_budget", jconfusion(&m->at_budget));
    return o;
}

rtn_status rtn_export_json_doc(const rtn_model *m, json_t **out)
{
    *out = NULL;
    json_t *root = json_object();
    if (!root) return rtn_fail(RTN_ERR_NOMEM, "out of memory building the JSON export");
    set(root, "format", json_string(RTN_JSON_FORMAT));
    set(root, "version", json_integer(RTN_JSON_FORMAT_VERSION));

    json_t *b = json_object();
    set(b, "format", json_string(RTN_MODEL_FORMAT));
    set(b, "format_version", json_integer(RTN_MODEL_FORMAT_VERSION));
    set(b, "content_id", json_string(m->content_id));
    set(root, "bundle", b);

    json_t *p = json_object();
    set(p, "created_by", json_string(m->created_by));
    set(p, "creator_version", json_string(m->creator_version));
    set(p, "created_at", json_string(m->created_at));
    set(p, "exported_by_version", json_string(RTN_VERSION_STRING));
    set(p, "features_path", json_string(m->features_path));
    set(p, "features_digest", json_string(m->features_digest));
    set(p, "store_digest", json_string(m->store_digest));
    set(p, "cutoff", json_integer(m->cutoff));
    set(p, "cutoff_iso", json_string(m->cutoff_iso));
    set(p, "horizon_days", json_integer(m->horizon_days));
    set(p, "lookback_days", json_integer(m->lookback_days));
    set(p, "currency", json_string(m->currency));
    set(p, "n_customers", json_integer((json_int_t)m->n_customers));
    set(p, "options", jembedded(m->options_json));
    set(p, "job", jembedded(m->job_json));
    set(root, "provenance", p);

    json_t *f = json_object();
    set(f, "names", jstrings(m->feature_names, m->d));
    set(f, "units", json_string("original units, as written by retain features (docs/features.md)"));
    set(root, "features", f);

    json_t *tr = json_object();
    set(tr, "identity", json_string("t = x"));
    set(tr, "log1p", json_string("t = sign(x) * log(1 + |x|)"));
    set(root, "transforms", tr);

    if (m->has_churn) {
        json_t *c = json_object();
        set(c, "transform", jxforms(m->churn_transform, m->d));
        set(c, "scaler_mean", jreals(m->scaler_mean, m->d));
        set(c, "scaler_scale", jreals(m->scaler_scale, m->d));
        set(c, "coef", jreals(m->coef, m->d));
        set(c, "intercept", jreal(m->intercept));
        set(c, "coef_std", jreals(m->coef_std, m->d));
        set(c, "intercept_std", jreal(m->intercept_std));
        set(c, "threshold", jreal(m->threshold));
        set(c, "threshold_rule", json_string("max F1 on the validation split"));
        set(c, "risk_cuts", jreals(m->risk_cut, RTN_RISK_TIERS - 1));
        json_t *tiers = json_array();
        for (int t = 0; t < RTN_RISK_TIERS; t++) json_array_append_new(tiers, json_string(rtn_risk_tier_names[t]));
        set(c, "risk_tiers", tiers);
        json_t *reg = json_object();
        set(reg, "lambda", jreal(m->lambda));
        set(reg, "l1_ratio", jreal(m->l1_ratio));
        set(reg, "C", jreal(m->C));
        set(reg, "class_weight_balanced", json_boolean(m->class_weight_balanced));
        set(c, "regularization", reg);
        json_t *fit = json_object();
        set(fit, "iterations", json_integer(m->iterations));
        set(fit, "converged", json_boolean(m->converged));
        set(fit, "objective", jreal(m->objective));
        set(fit, "n_train", json_integer((json_int_t)m->n_train));
        set(fit, "n_pos", json_integer((json_int_t)m->n_pos));
        set(c, "fit", fit);
        json_t *met = json_object();
        set(met, "validation", jeval(&m->valid));
        set(met, "test", jeval(&m->test));
        set(c, "metrics", met);
        set(root, "churn", c);
    } else {
        set(root, "churn", json_null());
    }

    if (m->has_segments) {
        size_t k = (size_t)m->k;
        json_t *s = json_object();
        set(s, "k", json_integer(m->k));
        json_t *fi = json_array(), *fn = json_array();
        for (size_t j = 0; j < m->ds; j++) {
            json_array_append_new(fi, json_integer(m->seg_feature[j]));
            json_array_append_new(fn, json_string(m->feature_names[m->seg_feature[j]]));
        }
        set(s, "feature_index", fi);
        set(s, "features", fn);
        set(s, "transform", jxforms(m->seg_transform, m->ds));
        set(s, "scaler_mean", jreals(m->seg_mean, m->ds));
        set(s, "scaler_scale", jreals(m->seg_scale, m->ds));
        set(s, "centroids", jmatrix(m->centroids, k, m->ds));
        json_t *ids = json_array();
        for (size_t c = 0; c < k; c++) json_array_append_new(ids, json_integer(m->segment_id[c]));
        set(s, "ids", ids);
        set(s, "names", jstrings(m->segment_name, k));
        set(s, "size", jreals(m->seg_size, k));
        set(s, "revenue_share", jreals(m->seg_revenue_share, k));
        set(s, "churn_rate", jreals(m->seg_churn_rate, k));
        set(s, "profile_mean", jmatrix(m->seg_profile, k, m->d));
        set(s, "k_rule", json_string(m->k_rule));
        set(s, "inertia", jreal(m->inertia));
        set(s, "iterations", json_integer(m->seg_iterations));
        set(s, "converged", json_boolean(m->seg_converged));
        set(s, "ari_truth", jreal(m->ari_truth));
        set(root, "segments", s);
    } else {
        set(root, "segments", json_null());
    }

    if (m->has_clv) {
        json_t *c = json_object();
        set(c, "time_unit", json_string("weeks"));
        if (m->purchase_kind == RTN_PURCHASE_NBD) {
            /* like the bundle: the key only for NBD, so BG/NBD exports keep their bytes */
            set(c, "purchase_model", json_string("nbd"));
            set(c, "nbd", jnamed(nbd_names, (double[]){m->nbd.r, m->nbd.alpha}, 2));
            set(c, "nbd_stderr", jnamed(nbd_names, (double[]){m->nbd_se.r, m->nbd_se.alpha}, 2));
            set(c, "nbd_loglik", jreal(m->nbd_loglik));
            set(c, "nbd_converged", json_boolean(m->nbd_converged));
            set(c, "bgnbd", json_null());
            set(c, "bgnbd_stderr", json_null());
        } else {
            const rtn_bgnbd_params *p = &m->bgnbd, *e = &m->bgnbd_se;
            set(c, "bgnbd", jnamed(bg_names, (double[]){p->r, p->alpha, p->a, p->b}, 4));
            set(c, "bgnbd_stderr", jnamed(bg_names, (double[]){e->r, e->alpha, e->a, e->b}, 4));
        }
        set(c, "bgnbd_loglik", jreal(m->bgnbd_loglik));
        set(c, "bgnbd_converged", json_boolean(m->bgnbd_converged));
        set(c, "bgnbd_customers", json_integer((json_int_t)m->bgnbd_n));
        if (m->has_gg) {
            const rtn_gg_params *p = &m->gg, *e = &m->gg_se;
            set(c, "gamma_gamma", jnamed(gg_names, (double[]){p->p, p->q, p->gamma}, 3));
            set(c, "gamma_gamma_stderr", jnamed(gg_names, (double[]){e->p, e->q, e->gamma}, 3));
            set(c, "gamma_gamma_loglik", jreal(m->gg_loglik));
            set(c, "gamma_gamma_converged", json_boolean(m->gg_converged));
            set(c, "gamma_gamma_customers", json_integer((json_int_t)m->gg_n));
        } else {
            set(c, "gamma_gamma", json_null());
        }
        set(c, "horizon_months", json_integer(m->clv_opt.horizon_months));
        set(c, "periods_per_month", jreal(m->clv_opt.periods_per_month));
        set(c, "discount_rate_monthly", jreal(m->clv_opt.monthly_discount));
        set(c, "margin", jreal(m->clv_opt.margin));
        set(root, "clv", c);
    } else {
        set(root, "clv", json_null());
    }

    json_t *sc = json_object();
    json_t *va = json_array();
    for (int v = 0; v < RTN_VALUE_TIERS; v++) json_array_append_new(va, json_string(rtn_value_tier_names[v]));
    set(sc, "value_tiers", va);
    json_t *ac = json_array();
    for (int a = 0; a < RTN_N_ACTIONS; a++) json_array_append_new(ac, json_string(rtn_action_names[a]));
    set(sc, "actions", ac);
    json_t *pb = json_array();
    for (int r = 0; r < RTN_RISK_TIERS; r++) {
        json_t *row = json_array();
        for (int v = 0; v < RTN_VALUE_TIERS; v++)
            json_array_append_new(row, json_string(rtn_action_names[rtn_playbook(r, v)]));
        json_array_append_new(pb, row);
    }
    set(sc, "playbook", pb);
    set(root, "scoring", sc);
    *out = root;
    return RTN_OK;
}

rtn_status rtn_export_json_text(const rtn_model *m, char **txt, size_t *len)
{
    json_t *doc;
    *txt = NULL;
    *len = 0;
    RTN_TRY(rtn_export_json_doc(m, &doc));
    char *s = json_dumps(doc, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    json_decref(doc);
    size_t n = s ? strlen(s) : 0;
    char *t = s ? realloc(s, n + 2) : NULL;
    if (!t) {
        free(s);
        return rtn_fail(RTN_ERR_NOMEM, "out of memory serializing the JSON export");
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    *txt = t;
    *len = n + 1;
    return RTN_OK;
}

rtn_status rtn_export_json(const rtn_model *m, const char *path)
{
    char *txt;
    size_t len;
    RTN_TRY(rtn_export_json_text(m, &txt, &len));
    rtn_status st = rtn_atomic_write_file(path, txt, len);
    free(txt);
    if (st) rtn_fail_context(st, "writing JSON model '%s'", path);
    return st;
}
