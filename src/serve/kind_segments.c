/* The segments kind: k-means on transformed, standardized segment features, with stable
 * ids and names; its bundle group /segments (docs/serving.md), the segment of a score, its
 * part of the JSON export and of `retain model show/diff`. Fitted by retain train
 * (src/cmd/cmd_train.c: train_segments). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retain/h5.h"
#include "retain/kmeans.h"
#include "retain/model_kind.h"

static int present(const rtn_model *m) { return m->has_segments; }

static void save(rtn_bundle_writer *w, const rtn_model *m)
{
    hid_t g = rtn_bundle_group(w, "/segments");
    size_t k = (size_t)m->k;
    rtn_bundle_put(w, "/segments/feature_index", H5T_NATIVE_INT32, 1, m->ds, 1, m->seg_feature);
    rtn_bundle_put(w, "/segments/transform", H5T_NATIVE_INT8, 1, m->ds, 1, m->seg_transform);
    rtn_bundle_put_f64(w, "/segments/scaler_mean", m->seg_mean, m->ds);
    rtn_bundle_put_f64(w, "/segments/scaler_scale", m->seg_scale, m->ds);
    rtn_bundle_put(w, "/segments/centroids", H5T_NATIVE_DOUBLE, 2, k, m->ds, m->centroids);
    rtn_bundle_put(w, "/segments/id", H5T_NATIVE_INT32, 1, k, 1, m->segment_id);
    rtn_bundle_put_strings(w, "/segments/name", m->segment_name, k);
    rtn_bundle_put_f64(w, "/segments/size", m->seg_size, k);
    rtn_bundle_put_f64(w, "/segments/revenue_share", m->seg_revenue_share, k);
    rtn_bundle_put_f64(w, "/segments/churn_rate", m->seg_churn_rate, k);
    rtn_bundle_put(w, "/segments/profile_mean", H5T_NATIVE_DOUBLE, 2, k, m->d, m->seg_profile);
    if (m->n_kscan > 0) {
        rtn_bundle_put(w, "/segments/k_scan/k", H5T_NATIVE_INT32, 1, (uint64_t)m->n_kscan, 1, m->kscan_k);
        rtn_bundle_put_f64(w, "/segments/k_scan/inertia", m->kscan_inertia, (size_t)m->n_kscan);
        rtn_bundle_put_f64(w, "/segments/k_scan/silhouette", m->kscan_silhouette, (size_t)m->n_kscan);
    }
    if (g >= 0) {
        rtn_bundle_attr_i64(w, g, "k", m->k);
        rtn_bundle_attr_str(w, g, "k_rule", m->k_rule);
        rtn_bundle_attr_f64(w, g, "inertia", m->inertia);
        rtn_bundle_attr_i64(w, g, "iterations", m->seg_iterations);
        rtn_bundle_attr_i64(w, g, "converged", m->seg_converged);
        rtn_bundle_attr_f64(w, g, "ari_truth", m->ari_truth);
        rtn_bundle_close_group(w, g);
    }
}

static void load(rtn_bundle_reader *r, rtn_model *m)
{
    size_t d = m->d;
    m->has_segments = 1;
    hid_t g = rtn_bundle_open_group(r, "/segments");
    m->k = (int)rtn_bundle_get_attr_i64(r, g, "k");
    size_t k = (size_t)m->k;
    m->seg_feature = rtn_bundle_get(r, "/segments/feature_index", H5T_NATIVE_INT32, (size_t)-1, &m->ds);
    m->seg_transform = rtn_bundle_get(r, "/segments/transform", H5T_NATIVE_INT8, m->ds, NULL);
    m->seg_mean = rtn_bundle_get(r, "/segments/scaler_mean", H5T_NATIVE_DOUBLE, m->ds, NULL);
    m->seg_scale = rtn_bundle_get(r, "/segments/scaler_scale", H5T_NATIVE_DOUBLE, m->ds, NULL);
    m->centroids = rtn_bundle_get(r, "/segments/centroids", H5T_NATIVE_DOUBLE, k * m->ds, NULL);
    m->segment_id = rtn_bundle_get(r, "/segments/id", H5T_NATIVE_INT32, k, NULL);
    size_t nn = 0;
    rtn_bundle_get_strings(r, "/segments/name", &m->segment_name, &nn);
    if (rtn_bundle_ok(r) && nn != k)
        rtn_bundle_fail(r, "/segments/name has %zu names for k = %zu", nn, k);
    m->seg_size = rtn_bundle_get(r, "/segments/size", H5T_NATIVE_DOUBLE, k, NULL);
    m->seg_revenue_share = rtn_bundle_get(r, "/segments/revenue_share", H5T_NATIVE_DOUBLE, k, NULL);
    m->seg_churn_rate = rtn_bundle_get(r, "/segments/churn_rate", H5T_NATIVE_DOUBLE, k, NULL);
    m->seg_profile = rtn_bundle_get(r, "/segments/profile_mean", H5T_NATIVE_DOUBLE, k * d, NULL);
    if (rtn_bundle_exists(r, "/segments/k_scan/k")) {
        size_t nk = 0;
        m->kscan_k = rtn_bundle_get(r, "/segments/k_scan/k", H5T_NATIVE_INT32, (size_t)-1, &nk);
        m->n_kscan = (int)nk;
        m->kscan_inertia = rtn_bundle_get(r, "/segments/k_scan/inertia", H5T_NATIVE_DOUBLE, nk, NULL);
        m->kscan_silhouette = rtn_bundle_get(r, "/segments/k_scan/silhouette", H5T_NATIVE_DOUBLE, nk, NULL);
    }
    rtn_bundle_get_attr_str(r, g, "k_rule", m->k_rule, sizeof m->k_rule);
    m->inertia = rtn_bundle_get_attr_f64(r, g, "inertia");
    m->seg_iterations = (int)rtn_bundle_get_attr_i64(r, g, "iterations");
    m->seg_converged = (int)rtn_bundle_get_attr_i64(r, g, "converged");
    m->ari_truth = rtn_bundle_get_attr_f64(r, g, "ari_truth");
    for (size_t j = 0; rtn_bundle_ok(r) && j < m->ds; j++)
        if (m->seg_feature[j] < 0 || (size_t)m->seg_feature[j] >= d)
            rtn_bundle_fail(r, "/segments/feature_index[%zu] = %d is not a feature", j,
                            m->seg_feature[j]);
    if (g >= 0) H5Gclose(g);
}

static void release(rtn_model *m)
{
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
}

/* the nearest centroid in the standardized space; ties to the lower index */
static void score(const rtn_model *m, const double *x, const double *clv, double *work,
                  rtn_score *out)
{
    (void)clv;
    double *s = work + m->d;
    for (size_t j = 0; j < m->ds; j++) {
        double t = rtn_xform_value((rtn_xform)m->seg_transform[j], x[m->seg_feature[j]]);
        s[j] = (t - m->seg_mean[j]) / m->seg_scale[j];
    }
    double best = INFINITY;
    for (int c = 0; c < m->k; c++) {
        double dist = 0;
        const double *cc = m->centroids + (size_t)c * m->ds;
        for (size_t j = 0; j < m->ds; j++) {
            double e = s[j] - cc[j];
            dist += e * e;
        }
        if (dist < best) {
            best = dist;
            out->segment = c;
        }
    }
}

static rtn_status export_check(const rtn_model *m)
{
    if (m->k < 1 || m->ds < 1)
        return rtn_fail(RTN_ERR_FORMAT, "the bundle's segmentation is empty (k = %d, %zu features)",
                        m->k, m->ds);
    RTN_TRY(rtn_kind_check_finite("/segments/scaler_mean", m->seg_mean, m->ds, 0));
    RTN_TRY(rtn_kind_check_finite("/segments/scaler_scale", m->seg_scale, m->ds, 1));
    return rtn_kind_check_finite("/segments/centroids", m->centroids, (size_t)m->k * m->ds, 0);
}

/* segment_id [N] (int64) = ids[ArgMin over centroids of |S(x) - centroid|^2] */
static void onnx_graph(const rtn_onnx_builder *b, rtn_onnx_graph *g, const rtn_model *m)
{
    const int64_t ds = (int64_t)m->ds, k = m->k;
    int64_t *cols = b->alloc(g, sizeof(int64_t) * m->ds);
    int64_t *ids = b->alloc(g, sizeof(int64_t) * (size_t)k);
    if (cols && ids) {
        for (size_t j = 0; j < m->ds; j++) cols[j] = m->seg_feature[j];
        for (int c = 0; c < m->k; c++) ids[c] = m->segment_id[c];
    }
    b->init_i64(g, "seg_columns", 1, &ds, cols);
    b->init_f64(g, "seg_mean", 1, &ds, m->seg_mean);
    b->init_f64(g, "seg_scale", 1, &ds, m->seg_scale);
    int64_t cdim[2] = {k, ds};
    b->init_f64(g, "seg_centroids", 2, cdim, m->centroids);
    b->init_i64(g, "seg_ids", 1, &k, ids);
    int64_t ax1 = 1, ax2 = 2, one1 = 1;
    b->init_i64(g, "axis_1", 1, &one1, &ax1);
    b->init_i64(g, "axis_2", 1, &one1, &ax2);
    const char *xs = b->node(g, "Gather", "seg_raw", "axis", 1, NULL, 0, 2, "features",
                          "seg_columns");
    const char *t = b->signed_log1p(g, xs, "seg", m->ds, m->seg_transform);
    const char *c = b->node(g, "Sub", "seg_centered", NULL, 0, NULL, 0, 2, t, "seg_mean");
    const char *s = b->node(g, "Div", "seg_standardized", NULL, 0, NULL, 0, 2, c, "seg_scale");
    const char *s3 = b->node(g, "Unsqueeze", NULL, NULL, 0, NULL, 0, 2, s, "axis_1");
    const char *e = b->node(g, "Sub", NULL, NULL, 0, NULL, 0, 2, s3, "seg_centroids");
    const char *e2 = b->node(g, "Mul", NULL, NULL, 0, NULL, 0, 2, e, e);
    const char *dist = b->node(g, "ReduceSum", "seg_sq_distance", "keepdims", 0, NULL, 0,
                            2, e2, "axis_2");
    const char *idx = b->node(g, "ArgMin", "seg_cluster", "axis", 1, "keepdims", 0, 1, dist);
    b->node(g, "Gather", "segment_id", "axis", 0, NULL, 0, 2, "seg_ids", idx);
    b->output(g, "segment_id", 1, "stable segment id of the nearest centroid (retain.segment_ids)");
}

static void onnx_meta(const rtn_onnx_builder *b, rtn_onnx_graph *g, const rtn_model *m)
{
    json_t *names = rtn_json_strings(m->segment_name, (size_t)m->k);
    char *sn = json_dumps(names, JSON_COMPACT);
    json_decref(names);
    b->meta(g, "retain.segment_names", sn);
    free(sn);
    json_t *arr = json_array();
    for (int c = 0; c < m->k; c++) json_array_append_new(arr, json_integer(m->segment_id[c]));
    char *si = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    b->meta(g, "retain.segment_ids", si);
    free(si);
}

static json_t *export_json(const rtn_model *m)
{
    size_t k = (size_t)m->k;
    json_t *s = json_object();
    rtn_json_set(s, "k", json_integer(m->k));
    json_t *fi = json_array(), *fn = json_array();
    for (size_t j = 0; j < m->ds; j++) {
        json_array_append_new(fi, json_integer(m->seg_feature[j]));
        json_array_append_new(fn, json_string(m->feature_names[m->seg_feature[j]]));
    }
    rtn_json_set(s, "feature_index", fi);
    rtn_json_set(s, "features", fn);
    rtn_json_set(s, "transform", rtn_json_xforms(m->seg_transform, m->ds));
    rtn_json_set(s, "scaler_mean", rtn_json_reals(m->seg_mean, m->ds));
    rtn_json_set(s, "scaler_scale", rtn_json_reals(m->seg_scale, m->ds));
    rtn_json_set(s, "centroids", rtn_json_matrix(m->centroids, k, m->ds));
    json_t *ids = json_array();
    for (size_t c = 0; c < k; c++) json_array_append_new(ids, json_integer(m->segment_id[c]));
    rtn_json_set(s, "ids", ids);
    rtn_json_set(s, "names", rtn_json_strings(m->segment_name, k));
    rtn_json_set(s, "size", rtn_json_reals(m->seg_size, k));
    rtn_json_set(s, "revenue_share", rtn_json_reals(m->seg_revenue_share, k));
    rtn_json_set(s, "churn_rate", rtn_json_reals(m->seg_churn_rate, k));
    rtn_json_set(s, "profile_mean", rtn_json_matrix(m->seg_profile, k, m->d));
    rtn_json_set(s, "k_rule", json_string(m->k_rule));
    rtn_json_set(s, "inertia", rtn_json_real(m->inertia));
    rtn_json_set(s, "iterations", json_integer(m->seg_iterations));
    rtn_json_set(s, "converged", json_boolean(m->seg_converged));
    rtn_json_set(s, "ari_truth", rtn_json_real(m->ari_truth));
    return (s);
}

static void show(FILE *out, const rtn_model *m)
{
    fprintf(out, "\nsegments         k = %d (%s), inertia %.6g", m->k, m->k_rule, m->inertia);
    if (!isnan(m->ari_truth)) fprintf(out, ", ARI vs truth %.3f", m->ari_truth);
    fprintf(out, "\n  %3s %-28s %9s %8s %7s\n", "id", "name", "customers", "revenue", "churn");
    for (int c = 0; c < m->k; c++)
        fprintf(out, "  %3d %-28s %9.0f %7.1f%% %6.1f%%\n", m->segment_id[c], m->segment_name[c],
               m->seg_size[c], 100 * m->seg_revenue_share[c], 100 * m->seg_churn_rate[c]);
}

static void diff(FILE *out, const rtn_model *a, const rtn_model *b)
{
    fprintf(out, "\nsegments (matched by stable id)\n");
    fprintf(out, "  %3s %-26s %-10s %-10s %-8s %-8s\n", "id", "name (new)", "size old", "size new",
           "churn old", "churn new");
    for (int c = 0; c < b->k; c++) {
        int ca = -1;
        for (int i = 0; i < a->k; i++)
            if (a->segment_id[i] == b->segment_id[c]) ca = i;
        if (ca >= 0)
            fprintf(out, "  %3d %-26s %-10.0f %-10.0f %-8.1f %-8.1f%s\n", b->segment_id[c], b->segment_name[c],
                   a->seg_size[ca], b->seg_size[c], 100 * a->seg_churn_rate[ca], 100 * b->seg_churn_rate[c],
                   strcmp(a->segment_name[ca], b->segment_name[c]) ? "  (renamed)" : "");
        else
            fprintf(out, "  %3d %-26s %-10s %-10.0f %-8s %-8.1f  new\n", b->segment_id[c], b->segment_name[c],
                   "-", b->seg_size[c], "-", 100 * b->seg_churn_rate[c]);
    }
    for (int i = 0; i < a->k; i++) {
        int found = 0;
        for (int c = 0; c < b->k; c++) found |= a->segment_id[i] == b->segment_id[c];
        if (!found) fprintf(out, "  %3d %-26s retired\n", a->segment_id[i], a->segment_name[i]);
    }
}

const rtn_model_kind rtn_segments_kind = {
    .name = "segments",
    .summary = "segment of every customer (k-means), with stable ids and names",
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
