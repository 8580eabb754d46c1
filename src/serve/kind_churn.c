/* The churn model kind: logistic regression on transformed, standardized features; its
 * bundle group /churn (docs/serving.md), its part of a score (probability, risk tier, the
 * three reasons), of the JSON export and of `retain model show/diff`, and its fit: the
 * distributed L-BFGS solve (src/models/logreg.c) on the training split, metrics on the
 * validation and test splits, the decision threshold. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retain/cli.h"
#include "retain/kmeans.h"
#include "retain/log.h"
#include "retain/logreg.h"
#include "retain/metrics.h"
#include "retain/model_kind.h"
#include "retain/split.h"

static int present(const rtn_model *m) { return m->has_churn; }

static void save(rtn_bundle_writer *w, const rtn_model *m)
{
    hid_t g = rtn_bundle_group(w, "/churn");
    rtn_bundle_put(w, "/churn/transform", H5T_NATIVE_INT8, 1, m->d, 1, m->churn_transform);
    rtn_bundle_put_f64(w, "/churn/scaler_mean", m->scaler_mean, m->d);
    rtn_bundle_put_f64(w, "/churn/scaler_scale", m->scaler_scale, m->d);
    rtn_bundle_put_f64(w, "/churn/coef", m->coef, m->d);
    rtn_bundle_put_f64(w, "/churn/coef_std", m->coef_std, m->d);
    rtn_bundle_put_f64(w, "/churn/objective_history", m->history, (size_t)m->n_history);
    rtn_bundle_put_f64(w, "/churn/risk_cut", m->risk_cut, RTN_RISK_TIERS - 1);
    if (g >= 0) {
        rtn_bundle_attr_f64(w, g, "intercept", m->intercept);
        rtn_bundle_attr_f64(w, g, "intercept_std", m->intercept_std);
        rtn_bundle_attr_f64(w, g, "threshold", m->threshold);
        rtn_bundle_attr_str(w, g, "threshold_rule", "max F1 on the validation split");
        rtn_bundle_attr_f64(w, g, "lambda", m->lambda);
        rtn_bundle_attr_f64(w, g, "l1_ratio", m->l1_ratio);
        rtn_bundle_attr_f64(w, g, "C", m->C);
        rtn_bundle_attr_i64(w, g, "class_weight_balanced", m->class_weight_balanced);
        rtn_bundle_attr_i64(w, g, "iterations", m->iterations);
        rtn_bundle_attr_i64(w, g, "converged", m->converged);
        rtn_bundle_attr_f64(w, g, "objective", m->objective);
        rtn_bundle_attr_i64(w, g, "n_train", (int64_t)m->n_train);
        rtn_bundle_attr_i64(w, g, "n_pos", (int64_t)m->n_pos);
        rtn_bundle_attr_f64(w, g, "budget", m->budget);
        rtn_bundle_close_group(w, g);
    }
    rtn_bundle_put_eval(w, "/churn/metrics/validation", &m->valid);
    rtn_bundle_put_eval(w, "/churn/metrics/test", &m->test);
}

static void load(rtn_bundle_reader *r, rtn_model *m)
{
    size_t d = m->d;
    m->has_churn = 1;
    hid_t g = rtn_bundle_open_group(r, "/churn");
    m->churn_transform = rtn_bundle_get(r, "/churn/transform", H5T_NATIVE_INT8, d, NULL);
    m->scaler_mean = rtn_bundle_get(r, "/churn/scaler_mean", H5T_NATIVE_DOUBLE, d, NULL);
    m->scaler_scale = rtn_bundle_get(r, "/churn/scaler_scale", H5T_NATIVE_DOUBLE, d, NULL);
    m->coef = rtn_bundle_get(r, "/churn/coef", H5T_NATIVE_DOUBLE, d, NULL);
    m->coef_std = rtn_bundle_get(r, "/churn/coef_std", H5T_NATIVE_DOUBLE, d, NULL);
    size_t nh = 0;
    m->history = rtn_bundle_get(r, "/churn/objective_history", H5T_NATIVE_DOUBLE, (size_t)-1, &nh);
    m->n_history = (int)nh;
    double *cuts = rtn_bundle_get(r, "/churn/risk_cut", H5T_NATIVE_DOUBLE, RTN_RISK_TIERS - 1, NULL);
    if (cuts) {
        memcpy(m->risk_cut, cuts, sizeof m->risk_cut);
        free(cuts);
    }
    m->intercept = rtn_bundle_get_attr_f64(r, g, "intercept");
    m->intercept_std = rtn_bundle_get_attr_f64(r, g, "intercept_std");
    m->threshold = rtn_bundle_get_attr_f64(r, g, "threshold");
    m->lambda = rtn_bundle_get_attr_f64(r, g, "lambda");
    m->l1_ratio = rtn_bundle_get_attr_f64(r, g, "l1_ratio");
    m->C = rtn_bundle_get_attr_f64(r, g, "C");
    m->class_weight_balanced = (int)rtn_bundle_get_attr_i64(r, g, "class_weight_balanced");
    m->iterations = (int)rtn_bundle_get_attr_i64(r, g, "iterations");
    m->converged = (int)rtn_bundle_get_attr_i64(r, g, "converged");
    m->objective = rtn_bundle_get_attr_f64(r, g, "objective");
    m->n_train = (uint64_t)rtn_bundle_get_attr_i64(r, g, "n_train");
    m->n_pos = (uint64_t)rtn_bundle_get_attr_i64(r, g, "n_pos");
    m->budget = rtn_bundle_get_attr_f64(r, g, "budget");
    if (g >= 0) H5Gclose(g);
    rtn_bundle_get_eval(r, "/churn/metrics/validation", &m->valid);
    rtn_bundle_get_eval(r, "/churn/metrics/test", &m->test);
}

static void release(rtn_model *m)
{
    free(m->churn_transform);
    free(m->scaler_mean);
    free(m->scaler_scale);
    free(m->coef);
    free(m->coef_std);
    free(m->history);
}

static void score(const rtn_model *m, const double *x, const double *clv, double *work,
                  rtn_score *out)
{
    (void)clv;
    size_t d = m->d;
    /* decision function on standardized values, so contributions are comparable */
    double z = m->intercept_std;
    double *contrib = work;
    for (size_t j = 0; j < d; j++) {
        double t = rtn_xform_value((rtn_xform)m->churn_transform[j], x[j]);
        double s = (t - m->scaler_mean[j]) / m->scaler_scale[j];
        contrib[j] = m->coef_std[j] * s;
        z += contrib[j];
    }
    out->churn_probability = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
    out->risk_tier = rtn_model_risk_tier(m, out->churn_probability);
    /* reasons: the largest positive contributions, ties to the lower feature index;
     * one pass keeping the best three in order (a later feature displaces a kept one
     * only when strictly larger) */
    int nr = 0;
    for (size_t j = 0; j < d; j++) {
        double v = contrib[j];
        if (!(v > 0)) continue;
        int at = nr;
        while (at > 0 && v > out->reason_contribution[at - 1]) at--;
        if (at >= RTN_SCORE_REASONS) continue;
        if (nr < RTN_SCORE_REASONS) nr++;
        for (int q = nr - 1; q > at; q--) {
            out->reason[q] = out->reason[q - 1];
            out->reason_contribution[q] = out->reason_contribution[q - 1];
        }
        out->reason[at] = (int16_t)j;
        out->reason_contribution[at] = v;
    }
}

static rtn_status export_check(const rtn_model *m)
{
    RTN_TRY(rtn_kind_check_finite("/churn/scaler_mean", m->scaler_mean, m->d, 0));
    RTN_TRY(rtn_kind_check_finite("/churn/scaler_scale", m->scaler_scale, m->d, 1));
    RTN_TRY(rtn_kind_check_finite("/churn/coef_std", m->coef_std, m->d, 0));
    return rtn_kind_check_finite("/churn@intercept_std", &m->intercept_std, 1, 0);
}

/* churn_probability [N] = Sigmoid(((T(x) - mean) / scale) @ coef_std + intercept_std) */
static void onnx_graph(const rtn_onnx_builder *b, rtn_onnx_graph *g, const rtn_model *m)
{
    const int64_t d = (int64_t)m->d;
    const char *t = b->signed_log1p(g, "features", "churn", m->d, m->churn_transform);
    b->init_f64(g, "churn_mean", 1, &d, m->scaler_mean);
    b->init_f64(g, "churn_scale", 1, &d, m->scaler_scale);
    int64_t cd[2] = {d, 1};
    b->init_f64(g, "churn_coef_std", 2, cd, m->coef_std);
    b->init_f64(g, "churn_intercept_std", 0, NULL, &m->intercept_std);
    int64_t flat = -1, one1 = 1;
    b->init_i64(g, "flat_shape", 1, &one1, &flat);
    const char *c = b->node(g, "Sub", "churn_centered", NULL, 0, NULL, 0, 2, t, "churn_mean");
    const char *s = b->node(g, "Div", "churn_standardized", NULL, 0, NULL, 0, 2, c, "churn_scale");
    const char *z1 = b->node(g, "MatMul", NULL, NULL, 0, NULL, 0, 2, s, "churn_coef_std");
    const char *z = b->node(g, "Add", "churn_logit", NULL, 0, NULL, 0, 2, z1, "churn_intercept_std");
    const char *p = b->node(g, "Sigmoid", NULL, NULL, 0, NULL, 0, 1, z);
    b->node(g, "Reshape", "churn_probability", NULL, 0, NULL, 0, 2, p, "flat_shape");
    b->output(g, "churn_probability", 0, "churn probability of each customer, in (0, 1)");
}

static void onnx_meta(const rtn_onnx_builder *b, rtn_onnx_graph *g, const rtn_model *m)
{
    char cuts[128], num[64];
    snprintf(cuts, sizeof cuts, "[%.17g,%.17g,%.17g]", m->risk_cut[0], m->risk_cut[1], m->risk_cut[2]);
    b->meta(g, "retain.risk_cuts", cuts);
    snprintf(num, sizeof num, "%.17g", m->threshold);
    b->meta(g, "retain.threshold", num);
}

static json_t *export_json(const rtn_model *m)
{
    json_t *c = json_object();
    rtn_json_set(c, "transform", rtn_json_xforms(m->churn_transform, m->d));
    rtn_json_set(c, "scaler_mean", rtn_json_reals(m->scaler_mean, m->d));
    rtn_json_set(c, "scaler_scale", rtn_json_reals(m->scaler_scale, m->d));
    rtn_json_set(c, "coef", rtn_json_reals(m->coef, m->d));
    rtn_json_set(c, "intercept", rtn_json_real(m->intercept));
    rtn_json_set(c, "coef_std", rtn_json_reals(m->coef_std, m->d));
    rtn_json_set(c, "intercept_std", rtn_json_real(m->intercept_std));
    rtn_json_set(c, "threshold", rtn_json_real(m->threshold));
    rtn_json_set(c, "threshold_rule", json_string("max F1 on the validation split"));
    rtn_json_set(c, "risk_cuts", rtn_json_reals(m->risk_cut, RTN_RISK_TIERS - 1));
    json_t *tiers = json_array();
    for (int t = 0; t < RTN_RISK_TIERS; t++) json_array_append_new(tiers, json_string(rtn_risk_tier_names[t]));
    rtn_json_set(c, "risk_tiers", tiers);
    json_t *reg = json_object();
    rtn_json_set(reg, "lambda", rtn_json_real(m->lambda));
    rtn_json_set(reg, "l1_ratio", rtn_json_real(m->l1_ratio));
    rtn_json_set(reg, "C", rtn_json_real(m->C));
    rtn_json_set(reg, "class_weight_balanced", json_boolean(m->class_weight_balanced));
    rtn_json_set(c, "regularization", reg);
    json_t *fit = json_object();
    rtn_json_set(fit, "iterations", json_integer(m->iterations));
    rtn_json_set(fit, "converged", json_boolean(m->converged));
    rtn_json_set(fit, "objective", rtn_json_real(m->objective));
    rtn_json_set(fit, "n_train", json_integer((json_int_t)m->n_train));
    rtn_json_set(fit, "n_pos", json_integer((json_int_t)m->n_pos));
    rtn_json_set(c, "fit", fit);
    json_t *met = json_object();
    rtn_json_set(met, "validation", rtn_json_eval(&m->valid));
    rtn_json_set(met, "test", rtn_json_eval(&m->test));
    rtn_json_set(c, "metrics", met);
    return c;
}

/* coefficient order of `show`: largest standardized effect first, ties by feature index */
static const rtn_model *sort_model;
static int cmp_coef(const void *a, const void *b)
{
    double x = fabs(sort_model->coef_std[*(const int *)a]), y = fabs(sort_model->coef_std[*(const int *)b]);
    if (x != y) return x > y ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

static void show(FILE *out, const rtn_model *m)
{
    fprintf(out, "\nchurn model      logistic regression, %d iterations (%s), lambda %.3g, l1 %.2g%s\n",
           m->iterations, m->converged ? "converged" : "NOT converged", m->lambda, m->l1_ratio,
           m->class_weight_balanced ? ", balanced classes" : "");
    fprintf(out, "                 threshold %.4f (max F1, validation); risk tiers at %.3f / %.3f / %.3f\n",
           m->threshold, m->risk_cut[0], m->risk_cut[1], m->risk_cut[2]);
    const rtn_model_eval *ev[2] = {&m->valid, &m->test};
    const char *nm[2] = {"validation", "test"};
    fprintf(out, "  %-10s %8s %7s %7s %8s %7s %9s %9s\n", "split", "n", "AUC", "PR-AUC", "log-loss",
           "Brier", "top-10%", "oracle");
    for (int i = 0; i < 2; i++) {
        if (!ev[i]->present) continue;
        const rtn_metrics *x = &ev[i]->m;
        fprintf(out, "  %-10s %8llu %7.4f %7.4f %8.4f %7.4f %9.2f", nm[i], (unsigned long long)x->n,
               x->roc_auc, x->pr_auc, x->log_loss, x->brier, x->lift[0]);
        if (isnan(ev[i]->oracle_roc_auc)) fprintf(out, " %9s\n", "-");
        else fprintf(out, " %9.4f\n", ev[i]->oracle_roc_auc);
    }
    int *idx = malloc(sizeof(int) * m->d);
    for (size_t j = 0; idx && j < m->d; j++) idx[j] = (int)j;
    sort_model = m;
    if (idx) qsort(idx, m->d, sizeof *idx, cmp_coef);
    fprintf(out, "  %-24s %10s %12s %9s\n", "coefficient", "standard", "original", "transform");
    fprintf(out, "  %-24s %10.4f %12.4g\n", "(intercept)", m->intercept_std, m->intercept);
    for (size_t t = 0; idx && t < m->d; t++) {
        int j = idx[t];
        fprintf(out, "  %-24s %10.4f %12.4g %9s\n", m->feature_names[j], m->coef_std[j], m->coef[j],
               m->churn_transform[j] ? "log1p" : "");
    }
    free(idx);
}

static void diff(FILE *out, const rtn_model *a, const rtn_model *b)
{
    fprintf(out, "\nchurn model\n");
    fprintf(out, "  %-26s %-20.4f %-20.4f\n", "test AUC", a->test.m.roc_auc, b->test.m.roc_auc);
    fprintf(out, "  %-26s %-20.4f %-20.4f\n", "test PR-AUC", a->test.m.pr_auc, b->test.m.pr_auc);
    fprintf(out, "  %-26s %-20.4f %-20.4f\n", "test log-loss", a->test.m.log_loss, b->test.m.log_loss);
    fprintf(out, "  %-26s %-20.4f %-20.4f\n", "test base rate", a->test.m.base_rate, b->test.m.base_rate);
    fprintf(out, "  %-26s %-20.4f %-20.4f\n", "threshold", a->threshold, b->threshold);
    fprintf(out, "  %-26s %-20s %-20s %s\n", "standardized coefficient", "", "", "change");
    for (size_t j = 0; j < b->d; j++) {
        int ja = -1;
        for (size_t i = 0; i < a->d; i++)
            if (strcmp(a->feature_names[i], b->feature_names[j]) == 0) ja = (int)i;
        if (ja < 0) fprintf(out, "  %-26s %-20s %-20.4f new\n", b->feature_names[j], "-", b->coef_std[j]);
        else
            fprintf(out, "  %-26s %-20.4f %-20.4f %+.4f\n", b->feature_names[j], a->coef_std[ja],
                   b->coef_std[j], b->coef_std[j] - a->coef_std[ja]);
    }
}

#ifndef RETAIN_SCORING_ONLY
/* ---- training ------------------------------------------------------------------------ */

/* Counts, days and money are skewed: their log1p is closer to linear in the log-odds. */
static const char *const default_log1p[] = {
    "recency_days", "frequency",  "n_baskets",      "monetary_total", "monetary_mean",
    "tenure_days",  "ipi_mean",   "ipi_std",        "spend_30d",      "spend_90d",
    "spend_prev_90d", "n_categories", "n_stores",   "mean_basket_quantity"};

typedef struct {
    double C, lambda, l1_ratio, tol, budget;
    int lambda_given, balanced, max_iter, log1p;
} churn_options;

static const char *const option_names[] = {"C", "lambda", "l1-ratio", "class-weight", "max-iter",
                                           "tol", "budget", "churn-transforms", NULL};

static const char options_help[] =
    "churn model:\n"
    "  --C C                  inverse regularization as scikit-learn's C (default 1.0)\n"
    "  --lambda L             regularization on the mean loss (overrides --C)\n"
    "  --l1-ratio R           elastic-net mixing, 0 = L2 (default 0)\n"
    "  --class-weight W       none | balanced (default none)\n"
    "  --max-iter N           solver iterations (default 500)\n"
    "  --tol T                gradient tolerance (default 1e-6)\n"
    "  --budget F             contact budget fraction for the top-k confusion matrix (default 0.1)\n"
    "  --churn-transforms T   log1p (default: log1p on counts, days and money) | none\n";

static void *options_new(void)
{
    churn_options *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->C = 1.0;
    o->tol = 1e-6;
    o->budget = 0.1;
    o->max_iter = 500;
    o->log1p = 1;
    return o;
}

static rtn_status option(void *opts, const char *name, const char *v)
{
    churn_options *o = opts;
    uint64_t u;
    rtn_status st = RTN_OK;
    if (strcmp(name, "C") == 0) {
        st = rtn_parse_double("--C", v, 1e-12, 1e12, &o->C);
    } else if (strcmp(name, "lambda") == 0) {
        st = rtn_parse_double("--lambda", v, 0, 1e6, &o->lambda);
        o->lambda_given = 1;
    } else if (strcmp(name, "l1-ratio") == 0) {
        st = rtn_parse_double("--l1-ratio", v, 0, 1, &o->l1_ratio);
    } else if (strcmp(name, "class-weight") == 0) {
        if (strcmp(v, "balanced") == 0) o->balanced = 1;
        else if (strcmp(v, "none") == 0) o->balanced = 0;
        else st = rtn_fail(RTN_ERR_USAGE, "--class-weight: '%s' is not none or balanced", v);
    } else if (strcmp(name, "max-iter") == 0) {
        st = rtn_parse_u64("--max-iter", v, 1, 100000, &u);
        o->max_iter = (int)u;
    } else if (strcmp(name, "tol") == 0) {
        st = rtn_parse_double("--tol", v, 0, 1, &o->tol);
    } else if (strcmp(name, "budget") == 0) {
        st = rtn_parse_double("--budget", v, 0, 1, &o->budget);
    } else if (strcmp(name, "churn-transforms") == 0) {
        if (strcmp(v, "log1p") == 0) o->log1p = 1;
        else if (strcmp(v, "none") == 0) o->log1p = 0;
        else st = rtn_fail(RTN_ERR_USAGE, "--churn-transforms: '%s' is not log1p or none", v);
    }
    return st;
}

static void options_json(const void *opts, json_t *j)
{
    const churn_options *o = opts;
    json_object_set_new(j, "C", json_real(o->C));
    if (o->lambda_given) json_object_set_new(j, "lambda", json_real(o->lambda));
    json_object_set_new(j, "l1_ratio", json_real(o->l1_ratio));
    json_object_set_new(j, "class_weight", json_string(o->balanced ? "balanced" : "none"));
    json_object_set_new(j, "max_iter", json_integer(o->max_iter));
    json_object_set_new(j, "tol", json_real(o->tol));
    json_object_set_new(j, "budget", json_real(o->budget));
    json_object_set_new(j, "churn_transforms", json_string(o->log1p ? "log1p" : "none"));
}

/* The solver's iteration boundaries: progress lines and the checkpoint. */
typedef struct {
    const rtn_fit_input *in;
    double start, last_print;
    long first_iteration; /* iterations already done when this run (re)started */
    int max_iter;
} progress;

static rtn_status boundary(void *ctx, const rtn_logreg_state *s)
{
    progress *c = ctx;
    if (s->finished) return rtn_fit_done(c->in);
    long done = s->iteration - c->first_iteration;
    if (rtn_fit_progress_due(&c->last_print, done)) {
        double el = rtn_now() - c->start, rate = el > 0 ? (double)done / el : 0;
        rtn_info("train: churn iteration %d/%d  objective %.10g  %.1f it/s  ETA <= %.0fs (at "
                 "max-iter)", s->iteration, c->max_iter, s->objective, rate,
                 rate > 0 ? (c->max_iter - s->iteration) / rate : 0.0);
    }
    return c->in->boundary(c->in, "logreg", s->iteration, 0);
}

static void eval_summary(const char *which, const rtn_model_eval *e)
{
    char sec[64];
    snprintf(sec, sizeof sec, "train.churn.%s", which);
    rtn_summary_set_int(sec, "n", (int64_t)e->m.n);
    rtn_summary_set_real(sec, "roc_auc", e->m.roc_auc);
    rtn_summary_set_real(sec, "pr_auc", e->m.pr_auc);
    rtn_summary_set_real(sec, "log_loss", e->m.log_loss);
    rtn_summary_set_real(sec, "brier", e->m.brier);
    if (!isnan(e->oracle_roc_auc)) rtn_summary_set_real(sec, "oracle_roc_auc", e->oracle_roc_auc);
}

static rtn_status fit(const rtn_fit_input *in, rtn_model *m)
{
    MPI_Comm comm = in->comm;
    const churn_options *o = in->options;
    const rtn_features_data *fd = in->fd;
    const uint8_t *part = in->part;
    const rtn_truth *tj = in->truth;
    const rtn_model *old = in->warm;
    size_t n = fd->n, d = fd->d;
    if (!fd->labels_known)
        return rtn_fail(RTN_ERR_DATA, "'%s' has no churn labels (the store ends before cutoff + "
                        "horizon): train the churn model on an earlier cutoff", in->features_path);
    m->churn_transform = rtn_calloc(d, 1, "transforms");
    double *Xt = rtn_malloc(n * d * sizeof(double) + 8, "transformed features");
    uint8_t *train = rtn_malloc(n + 1, "train mask"), *valid = rtn_malloc(n + 1, "mask"),
            *test = rtn_malloc(n + 1, "mask");
    double *prob = rtn_malloc(n * sizeof(double) + 8, "probabilities");
    rtn_status st = (m->churn_transform && Xt && train && valid && test && prob) ? RTN_OK : RTN_ERR_NOMEM;
    rtn_xform xf[64];
    if (st == RTN_OK && d > 64) st = rtn_fail(RTN_ERR_INTERNAL, "too many features");
    for (size_t j = 0; st == RTN_OK && j < d; j++) {
        xf[j] = RTN_XFORM_IDENTITY;
        for (size_t t = 0; o->log1p && t < sizeof default_log1p / sizeof *default_log1p; t++)
            if (strcmp(fd->feature_names[j], default_log1p[t]) == 0) xf[j] = RTN_XFORM_LOG1P;
        m->churn_transform[j] = (int8_t)xf[j];
    }
    if (st == RTN_OK) {
        memcpy(Xt, fd->X, n * d * sizeof(double));
        rtn_xform_apply(xf, d, Xt, n);
        for (size_t i = 0; i < n; i++) {
            train[i] = part[i] == RTN_SPLIT_TRAIN && fd->label[i] >= 0;
            valid[i] = part[i] == RTN_SPLIT_VALID && fd->label[i] >= 0;
            test[i] = part[i] == RTN_SPLIT_TEST && fd->label[i] >= 0;
        }
    }
    st = rtn_agree(comm, st);
    rtn_bucketed_rows rows = fd->rows;
    rows.X = Xt;
    rtn_logreg_options lo;
    rtn_logreg_defaults(&lo);
    lo.l1_ratio = o->l1_ratio;
    lo.class_weight_balanced = o->balanced;
    lo.tol = o->tol;
    lo.max_iter = o->max_iter;
    rtn_logreg_model lr;
    memset(&lr, 0, sizeof lr);
    double warm[65];
    const double *warm_p = NULL;
    if (st == RTN_OK && old && old->has_churn && old->d == d &&
        memcmp(old->churn_transform, m->churn_transform, d) == 0) {
        warm[0] = old->intercept;
        memcpy(warm + 1, old->coef, d * sizeof(double));
        warm_p = warm;
        rtn_info("train: churn model warm-started from the previous bundle");
    } else if (st == RTN_OK && old && old->has_churn) {
        rtn_warn("train: previous churn model has a different feature spec; starting from zero");
    }
    if (st == RTN_OK) {
        /* lambda on the mean loss equivalent to C: needs the training weight W */
        if (o->lambda_given) {
            lo.lambda = o->lambda;
        } else {
            double wloc = 0, wsum = 0;
            for (size_t i = 0; i < n; i++) wloc += train[i];
            /* integer counts: exact; balanced class weights also sum to the row count */
            MPI_Allreduce(&wloc, &wsum, 1, MPI_DOUBLE, MPI_SUM, comm);
            lo.lambda = rtn_logreg_lambda_from_C(o->C, wsum);
        }
        rtn_phase_begin("train:churn");
        rtn_logreg_state *state = &in->state->logreg;
        progress pr = {in, rtn_now(), 0, state->valid ? state->iteration : 0, lo.max_iter};
        st = rtn_logreg_fit_resumable(comm, &rows, fd->label, NULL, train, &lo, warm_p, state,
                                      boundary, &pr, &lr);
        rtn_phase_end("train:churn");
    }
    if (st == RTN_OK) {
        rtn_logreg_predict(&lr, Xt, n, prob);
        m->has_churn = 1;
        m->scaler_mean = rtn_malloc(d * 8, "coef");
        m->scaler_scale = rtn_malloc(d * 8, "coef");
        m->coef = rtn_malloc(d * 8, "coef");
        m->coef_std = rtn_malloc(d * 8, "coef");
        m->history = rtn_malloc((size_t)lr.n_history * 8 + 8, "history");
        if (!m->scaler_mean || !m->scaler_scale || !m->coef || !m->coef_std || !m->history)
            st = RTN_ERR_NOMEM;
    }
    st = rtn_agree(comm, st);
    if (st == RTN_OK) {
        memcpy(m->scaler_mean, lr.scaler.mean, d * 8);
        memcpy(m->scaler_scale, lr.scaler.scale, d * 8);
        memcpy(m->coef, lr.coef, d * 8);
        memcpy(m->coef_std, lr.coef_std, d * 8);
        memcpy(m->history, lr.history, (size_t)lr.n_history * 8);
        m->n_history = lr.n_history;
        m->intercept = lr.intercept;
        m->intercept_std = lr.intercept_std;
        m->lambda = lr.options.lambda;
        m->l1_ratio = lr.options.l1_ratio;
        m->C = o->lambda_given ? NAN : o->C;
        m->class_weight_balanced = o->balanced;
        m->iterations = lr.iterations;
        m->converged = lr.converged;
        m->objective = lr.objective;
        m->n_train = lr.n_train;
        m->n_pos = lr.n_pos;
        m->budget = o->budget;
        rtn_info("train: churn model: %d iterations (%s), objective %.6g, %llu training rows "
                 "(%.1f%% churned)", lr.iterations, lr.converged ? "converged" : lr.stop_reason,
                 lr.objective, (unsigned long long)lr.n_train,
                 lr.n_train ? 100.0 * (double)lr.n_pos / (double)lr.n_train : 0.0);
        rtn_summary_set_int("train.churn", "iterations", lr.iterations);
        rtn_summary_set_int("train.churn", "evaluations", lr.evaluations);
        rtn_summary_set_int("train.churn", "rows", (int64_t)lr.n_train);
        rtn_summary_set_int("train.churn", "features", (int64_t)d);
        if (!lr.converged)
            rtn_warn("train: churn model did not converge: %s (gradient %.3g > tol %.3g)",
                     lr.stop_reason, lr.grad_norm, o->tol);
        rtn_phase_begin("train:evaluate");
        struct { const uint8_t *mask; rtn_model_eval *e; const char *name; } ev[2] = {
            {valid, &m->valid, "validation"}, {test, &m->test, "test"}};
        for (int i = 0; i < 2 && st == RTN_OK; i++) {
            st = rtn_metrics_gather(comm, n, prob, fd->label, NULL, ev[i].mask, o->budget, &ev[i].e->m);
            ev[i].e->present = st == RTN_OK;
            ev[i].e->oracle_roc_auc = NAN;
            if (st == RTN_OK && tj && tj->oracle_p) {
                rtn_metrics om;
                st = rtn_metrics_gather(comm, n, tj->oracle_p, fd->label, NULL, ev[i].mask, o->budget, &om);
                if (st == RTN_OK) ev[i].e->oracle_roc_auc = om.roc_auc;
            }
            if (st == RTN_OK) {
                eval_summary(ev[i].name, ev[i].e);
                rtn_info("train: churn %-10s AUC %.4f  PR-AUC %.4f  log-loss %.4f  Brier %.4f%s",
                         ev[i].name, ev[i].e->m.roc_auc, ev[i].e->m.pr_auc, ev[i].e->m.log_loss,
                         ev[i].e->m.brier, "");
                if (!isnan(ev[i].e->oracle_roc_auc))
                    rtn_info("train: churn %-10s AUC of the truth-based oracle %.4f", ev[i].name,
                             ev[i].e->oracle_roc_auc);
            }
        }
        rtn_phase_end("train:evaluate");
        if (st == RTN_OK) {
            /* threshold: max F1 on validation; tiers around it (docs/serving.md) */
            double t = m->valid.m.at_max_f1.threshold;
            if (!(t > 0 && t < 1)) t = 0.5;
            m->threshold = t;
            m->risk_cut[0] = 0.5 * t;
            m->risk_cut[1] = t;
            m->risk_cut[2] = 0.5 * (1.0 + t);
        }
    }
    rtn_logreg_model_free(&lr);
    free(Xt);
    free(train);
    free(valid);
    free(test);
    free(prob);
    return st;
}

#endif /* RETAIN_SCORING_ONLY */

const rtn_model_kind rtn_churn_kind = {
    .name = "churn",
    .summary = "churn probability, risk tier and reasons (logistic regression)",
    .present = present,
    .solver = RTN_SOLVER_LOGREG,
    .option_names = RTN_TRAINING(option_names),
    .options_help = RTN_TRAINING(options_help),
    .options_new = RTN_TRAINING(options_new),
    .option = RTN_TRAINING(option),
    .options_json = RTN_TRAINING(options_json),
    .fit = RTN_TRAINING(fit),
    .save = save,
    .load = load,
    .release = release,
    .score = score,
    .export_check = export_check,
    .export_json = export_json,
    .onnx_graph = onnx_graph,
    .onnx_meta = onnx_meta,
    .show = show,
    .diff = diff,
};
