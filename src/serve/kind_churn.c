/* The churn model kind: logistic regression on transformed, standardized features; its
 * bundle group /churn (docs/serving.md), its part of a score (probability, risk tier, the
 * three reasons), of the JSON export and of `retain model show/diff`. Fitted by retain
 * train (src/cmd/cmd_train.c: train_churn). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retain/kmeans.h"
#include "retain/model_kind.h"

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

const rtn_model_kind rtn_churn_kind = {
    .name = "churn",
    .summary = "churn probability, risk tier and reasons (logistic regression)",
    .present = present,
    .fit = NULL,
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
