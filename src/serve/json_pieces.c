/* The JSON pieces the model kinds build their part of the export from (model_kind.h).
 * Numbers keep their bits when written with 17 significant digits (export_json.c); NaN and
 * infinities, which JSON cannot hold, become null. */
#include <math.h>

#include "retain/kmeans.h"
#include "retain/model_kind.h"

json_t *rtn_json_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *rtn_json_reals(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, rtn_json_real(v[i]));
    return a;
}

json_t *rtn_json_matrix(const double *v, size_t rows, size_t cols)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rows; i++) json_array_append_new(a, rtn_json_reals(v + i * cols, cols));
    return a;
}

json_t *rtn_json_strings(char *const *s, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(s[i]));
    return a;
}

json_t *rtn_json_xforms(const int8_t *t, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_string(rtn_xform_name((rtn_xform)t[i])));
    return a;
}

void rtn_json_set(json_t *o, const char *k, json_t *v)
{
    json_object_set_new(o, k, v ? v : json_null());
}

/* {names[0]: v[0], ...}: model parameters as a JSON object. */
json_t *rtn_json_named(const char *const *names, const double *v, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++) rtn_json_set(o, names[i], rtn_json_real(v[i]));
    return o;
}

static json_t *jconfusion(const rtn_confusion *c)
{
    json_t *o = json_object();
    rtn_json_set(o, "threshold", rtn_json_real(c->threshold));
    rtn_json_set(o, "precision", rtn_json_real(c->precision));
    rtn_json_set(o, "recall", rtn_json_real(c->recall));
    rtn_json_set(o, "f1", rtn_json_real(c->f1));
    rtn_json_set(o, "tn", rtn_json_real(c->tn));
    rtn_json_set(o, "fp", rtn_json_real(c->fp));
    rtn_json_set(o, "fn", rtn_json_real(c->fn));
    rtn_json_set(o, "tp", rtn_json_real(c->tp));
    return o;
}

json_t *rtn_json_eval(const rtn_model_eval *e)
{
    if (!e->present) return json_null();
    const rtn_metrics *m = &e->m;
    json_t *o = json_object();
    rtn_json_set(o, "n", json_integer((json_int_t)m->n));
    rtn_json_set(o, "n_pos", json_integer((json_int_t)m->n_pos));
    rtn_json_set(o, "base_rate", rtn_json_real(m->base_rate));
    rtn_json_set(o, "roc_auc", rtn_json_real(m->roc_auc));
    rtn_json_set(o, "pr_auc", rtn_json_real(m->pr_auc));
    rtn_json_set(o, "log_loss", rtn_json_real(m->log_loss));
    rtn_json_set(o, "brier", rtn_json_real(m->brier));
    rtn_json_set(o, "calibration_error", rtn_json_real(m->calibration_error));
    rtn_json_set(o, "oracle_roc_auc", rtn_json_real(e->oracle_roc_auc));
    rtn_json_set(o, "at_max_f1", jconfusion(&m->at_max_f1));
    rtn_json_set(o, "budget", rtn_json_real(m->budget));
    rtn_json_set(o, "at_budget", jconfusion(&m->at_budget));
    return o;
}

