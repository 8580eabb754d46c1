/* The segments kind: k-means on transformed, standardized segment features, with stable
 * ids and names; its bundle group /segments (docs/serving.md), the segment of a score, its
 * part of the JSON export and of `retain model show/diff`, and its fit: the k scan by
 * silhouette, k-means|| restarts (src/models/kmeans.c), profiles, names, ids matched to a
 * warm-start bundle's, and the adjusted Rand index against generated archetypes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/cli.h"
#include "retain/h5.h"
#include "retain/kmeans.h"
#include "retain/log.h"
#include "retain/model_kind.h"
#include "retain/segments.h"

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

#ifndef RETAIN_SCORING_ONLY
/* ---- training ------------------------------------------------------------------------ */

/* Segment feature presets (docs/segmentation.md). "default" follows the classic recipe:
 * log monetary and frequency, recency, tenure, category and channel mix. "behavior" leaves
 * out the lifecycle position (recency, tenure) and describes how a customer shops: it
 * recovers shopper types better (adjusted Rand index against generated archetypes). */
static const char default_segment_features[] =
    "monetary_mean:log1p,frequency:log1p,recency_days:log1p,tenure_days:log1p,"
    "category_entropy,top_category_share,online_share,app_share,weekend_share";
static const char behavior_segment_features[] =
    "monetary_mean:log1p,ipi_mean:log1p,category_entropy,top_category_share,online_share,"
    "app_share,weekend_share";

typedef struct {
    int kmin, kmax, n_init;
    const char *features; /* a preset's list, or the option's value (argv lives on) */
} segments_options;

static const char *const option_names[] = {"k", "segment-features", "n-init", NULL};

static const char options_help[] =
    "segments:\n"
    "  --k K | --k KMIN:KMAX  clusters, or a range scanned by silhouette (default 6)\n"
    "  --segment-features L   NAME[:log1p],... or a preset: default (monetary_mean:log1p,\n"
    "                         frequency:log1p,recency_days:log1p,tenure_days:log1p,\n"
    "                         category_entropy,top_category_share,online_share,app_share,\n"
    "                         weekend_share) or behavior (monetary_mean:log1p,ipi_mean:log1p,\n"
    "                         category_entropy,top_category_share,online_share,app_share,\n"
    "                         weekend_share)\n"
    "  --n-init N             k-means|| restarts (default 3)\n";

static void *options_new(void)
{
    segments_options *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->kmin = o->kmax = 6;
    o->n_init = 3;
    o->features = default_segment_features;
    return o;
}

static rtn_status parse_k(const char *s, int *kmin, int *kmax)
{
    int a, b, n = 0;
    if (sscanf(s, "%d:%d%n", &a, &b, &n) == 2 && s[n] == '\0' && a >= 2 && b >= a && b <= 64) {
        *kmin = a;
        *kmax = b;
        return RTN_OK;
    }
    if (sscanf(s, "%d%n", &a, &n) == 1 && s[n] == '\0' && a >= 1 && a <= 64) {
        *kmin = *kmax = a;
        return RTN_OK;
    }
    return rtn_fail(RTN_ERR_USAGE, "--k: '%s' is not K (1..64) or KMIN:KMAX (2..64)", s);
}

static rtn_status option(void *opts, const char *name, const char *v)
{
    segments_options *o = opts;
    uint64_t u;
    rtn_status st = RTN_OK;
    if (strcmp(name, "k") == 0) {
        st = parse_k(v, &o->kmin, &o->kmax);
    } else if (strcmp(name, "segment-features") == 0) {
        o->features = strcmp(v, "default") == 0    ? default_segment_features
                      : strcmp(v, "behavior") == 0 ? behavior_segment_features
                                                   : v;
    } else if (strcmp(name, "n-init") == 0) {
        st = rtn_parse_u64("--n-init", v, 1, 100, &u);
        o->n_init = (int)u;
    }
    return st;
}

static void options_json(const void *opts, json_t *j)
{
    const segments_options *o = opts;
    json_object_set_new(j, "k", json_pack("[ii]", o->kmin, o->kmax));
    json_object_set_new(j, "segment_features", json_string(o->features));
    json_object_set_new(j, "n_init", json_integer(o->n_init));
}

/* The k-means boundaries: progress lines and the checkpoint. */
typedef struct {
    const rtn_fit_input *in;
    double start, last_print;
    long first_iteration;   /* Lloyd iterations already done when this run (re)started */
    int max_iter;           /* Lloyd bound per run */
    int final_job, n_init;  /* index of the final fit, runs per fit */
} progress;

static rtn_status boundary(void *ctx, const rtn_kmeans_state *s)
{
    progress *c = ctx;
    if (s->iteration == 0) { /* a run (restart) ended */
        if (s->finished && s->job == c->final_job) return rtn_fit_done(c->in);
        return c->in->boundary(c->in, "kmeans-run", s->total_runs, 1);
    }
    long done = s->total_iterations - c->first_iteration;
    if (rtn_fit_progress_due(&c->last_print, done)) {
        /* bound: every remaining run of every remaining fit goes to max_iter */
        long runs_left = (long)(c->final_job - s->job) * c->n_init + (c->n_init - s->restart);
        double el = rtn_now() - c->start, rate = el > 0 ? (double)done / el : 0;
        double bound = (double)runs_left * c->max_iter - s->iteration;
        rtn_info("train: segments fit %d/%d (k=%d) run %d/%d  Lloyd iteration %d  %.1f it/s  "
                 "ETA <= %.0fs (at max-iter)", s->job + 1, c->final_job + 1, s->k, s->restart + 1,
                 c->n_init, s->iteration, rate, rate > 0 ? bound / rate : 0.0);
    }
    return c->in->boundary(c->in, "kmeans", s->total_iterations, 0);
}

/* Adjusted Rand index from the k x a contingency table, summed per bucket (deterministic). */
static rtn_status ari_from_truth(MPI_Comm comm, const rtn_features_data *fd, const int32_t *lab,
                                 int k, const rtn_truth *tj, double *ari)
{
    int a = tj->n_archetypes;
    size_t m = (size_t)k * (size_t)a;
    double *part = rtn_calloc((size_t)(fd->b1 - fd->b0 + 1) * m, sizeof(double), "ari table");
    double *tab = rtn_calloc(m, sizeof(double), "ari table");
    rtn_status st = (part && tab) ? RTN_OK : RTN_ERR_NOMEM;
    for (uint32_t b = fd->b0; st == RTN_OK && b < fd->b1; b++)
        for (uint64_t i = fd->boff[b - fd->b0]; i < fd->boff[b - fd->b0 + 1]; i++)
            if (tj->archetype[i] >= 0)
                part[(size_t)(b - fd->b0) * m + (size_t)lab[i] * a + tj->archetype[i]] += 1;
    st = rtn_agree(comm, st);
    if (st == RTN_OK) st = rtn_bucket_sum(comm, fd->nbuckets, fd->b0, fd->b1, m, part, tab);
    if (st == RTN_OK) {
        double n = 0, sum_ij = 0, sum_a = 0, sum_b = 0;
        for (int i = 0; i < k; i++) {
            double row = 0;
            for (int c = 0; c < a; c++) {
                double v = tab[(size_t)i * a + c];
                row += v;
                sum_ij += v * (v - 1) / 2;
            }
            sum_a += row * (row - 1) / 2;
            n += row;
        }
        for (int c = 0; c < a; c++) {
            double col = 0;
            for (int i = 0; i < k; i++) col += tab[(size_t)i * a + c];
            sum_b += col * (col - 1) / 2;
        }
        double total = n * (n - 1) / 2;
        double expected = total > 0 ? sum_a * sum_b / total : 0;
        double maxi = (sum_a + sum_b) / 2;
        *ari = maxi - expected != 0 ? (sum_ij - expected) / (maxi - expected) : 1.0;
    }
    free(part);
    free(tab);
    return st;
}

static rtn_status fit(const rtn_fit_input *in, rtn_model *m)
{
    MPI_Comm comm = in->comm;
    const segments_options *o = in->options;
    const rtn_features_data *fd = in->fd;
    const rtn_truth *tj = in->truth;
    const rtn_model *old = in->warm;
    rtn_kmeans_state *state = &in->state->kmeans;
    size_t n = fd->n, d = fd->d;
    /* parse the segment feature list */
    int idx[64];
    rtn_xform xf[64];
    size_t ds = 0;
    rtn_status st = RTN_OK;
    char *copy = strdup(o->features), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && st == RTN_OK; t = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(t, ':');
        rtn_xform x = RTN_XFORM_IDENTITY;
        if (colon) {
            *colon = '\0';
            if (rtn_xform_parse(colon + 1, &x) != 0)
                st = rtn_fail(RTN_ERR_USAGE, "--segment-features: unknown transform '%s'", colon + 1);
        }
        int j = rtn_fit_feature(fd, t);
        if (st == RTN_OK && j < 0) st = rtn_fail(RTN_ERR_USAGE, "--segment-features: no feature '%s'", t);
        if (st == RTN_OK && ds == 64) st = rtn_fail(RTN_ERR_USAGE, "--segment-features: too many");
        if (st == RTN_OK) {
            idx[ds] = j;
            xf[ds] = x;
            ds++;
        }
    }
    free(copy);
    if (st) return st;
    double *Xs = rtn_malloc(n * ds * sizeof(double) + 8, "segment features");
    int32_t *lab = rtn_malloc(n * sizeof(int32_t) + 4, "segment labels");
    if (!Xs || !lab) st = RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    rtn_scaler sc = {0};
    rtn_kmeans_model km;
    memset(&km, 0, sizeof km);
    rtn_segment_profiles prof;
    memset(&prof, 0, sizeof prof);
    rtn_kmeans_k_score scores[64];
    int nscores = 0;
    if (st == RTN_OK) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < ds; j++) Xs[i * ds + j] = fd->X[i * d + (size_t)idx[j]];
        rtn_xform_apply(xf, ds, Xs, n);
        rtn_bucketed_rows rows = fd->rows;
        rows.X = Xs;
        rows.d = ds;
        st = rtn_scaler_fit(&sc, comm, &rows, NULL, NULL);
        if (st == RTN_OK) rtn_scaler_apply(&sc, Xs, Xs, n);
        rtn_kmeans_options ko;
        int k = o->kmin;
        rtn_phase_begin("train:segments");
        /* fits 0..nscan-1 are the k scan, fit nscan the final one */
        int nscan = o->kmax > o->kmin ? o->kmax - o->kmin + 1 : 0;
        rtn_kmeans_options_default(&ko, o->kmin);
        progress pr = {in, rtn_now(), 0, state->valid ? state->total_iterations : 0, ko.max_iter,
                       nscan, o->n_init};
        rtn_kmeans_resume scan_rs = {state, 0, boundary, &pr};
        rtn_kmeans_resume final_rs = {state, nscan, boundary, &pr};
        if (st == RTN_OK && o->kmax > o->kmin) {
            rtn_kmeans_options_default(&ko, o->kmin);
            ko.seed = in->seed;
            ko.n_init = o->n_init;
            nscores = o->kmax - o->kmin + 1;
            st = rtn_kmeans_select_k_resumable(comm, &rows, fd->customer, &ko, o->kmin, o->kmax,
                                               4000, &scan_rs, scores, &k);
            if (st == RTN_OK) {
                snprintf(m->k_rule, sizeof m->k_rule, "largest sampled silhouette over k = %d..%d "
                         "(within %.2f: smaller k)", o->kmin, o->kmax, RTN_KMEANS_SILHOUETTE_TIE);
                for (int i = 0; i < nscores; i++)
                    rtn_info("train: k = %2d  inertia %.6g  silhouette %.4f", scores[i].k,
                             scores[i].inertia, scores[i].silhouette);
            }
        } else {
            snprintf(m->k_rule, sizeof m->k_rule, "fixed by --k");
        }
        if (st == RTN_OK) {
            rtn_kmeans_options_default(&ko, k);
            ko.seed = in->seed;
            ko.n_init = o->n_init;
            st = rtn_kmeans_fit_resumable(comm, &rows, fd->customer, &ko, NULL, &final_rs, &km,
                                          lab);
        }
        rtn_phase_end("train:segments");
    }
    if (st == RTN_OK) {
        const double *revenue = NULL;
        double *rev = NULL;
        int jm = rtn_fit_feature(fd, "monetary_total");
        if (jm >= 0) {
            rev = rtn_malloc(n * sizeof(double) + 8, "revenue");
            if (rev)
                for (size_t i = 0; i < n; i++) rev[i] = fd->X[i * d + (size_t)jm];
            revenue = rev;
        }
        st = rtn_segment_profile(comm, &fd->rows, lab, km.k, revenue,
                                 fd->labels_known ? fd->label : NULL, &prof);
        free(rev);
    }
    if (st == RTN_OK) {
        int k = km.k;
        m->has_segments = 1;
        m->k = k;
        m->ds = ds;
        m->seg_feature = rtn_malloc(ds * 4, "seg");
        m->seg_transform = rtn_malloc(ds, "seg");
        m->seg_mean = rtn_malloc(ds * 8, "seg");
        m->seg_scale = rtn_malloc(ds * 8, "seg");
        m->centroids = rtn_malloc((size_t)k * ds * 8, "seg");
        m->segment_id = rtn_malloc((size_t)k * 4, "seg");
        m->segment_name = rtn_calloc((size_t)k, sizeof(char *), "seg");
        m->seg_size = rtn_malloc((size_t)k * 8, "seg");
        m->seg_revenue_share = rtn_malloc((size_t)k * 8, "seg");
        m->seg_churn_rate = rtn_malloc((size_t)k * 8, "seg");
        m->seg_profile = rtn_malloc((size_t)k * d * 8, "seg");
        if (!m->seg_feature || !m->seg_transform || !m->seg_mean || !m->seg_scale || !m->centroids ||
            !m->segment_id || !m->segment_name || !m->seg_size || !m->seg_revenue_share ||
            !m->seg_churn_rate || !m->seg_profile)
            st = RTN_ERR_NOMEM;
    }
    if (st == RTN_OK) {
        int k = km.k;
        for (size_t j = 0; j < ds; j++) {
            m->seg_feature[j] = idx[j];
            m->seg_transform[j] = (int8_t)xf[j];
        }
        memcpy(m->seg_mean, sc.mean, ds * 8);
        memcpy(m->seg_scale, sc.scale, ds * 8);
        memcpy(m->centroids, km.centroids, (size_t)k * ds * 8);
        memcpy(m->seg_size, prof.size, (size_t)k * 8);
        memcpy(m->seg_revenue_share, prof.revenue_share, (size_t)k * 8);
        memcpy(m->seg_churn_rate, prof.churn_rate, (size_t)k * 8);
        memcpy(m->seg_profile, prof.mean, (size_t)k * d * 8);
        m->inertia = km.inertia;
        m->seg_iterations = km.n_iter;
        m->seg_converged = km.converged;
        /* names from the centroids' z-scores; roles are positions in the segment space */
        /* monetary role: monetary_total when segmented on, else monetary_mean */
        rtn_segment_roles roles = {-1, -1, -1, -1, -1};
        int mon_total = -1, mon_mean = -1;
        for (size_t j = 0; j < ds; j++) {
            const char *nm = fd->feature_names[idx[j]];
            if (strcmp(nm, "monetary_total") == 0) mon_total = (int)j;
            else if (strcmp(nm, "monetary_mean") == 0) mon_mean = (int)j;
            else if (strcmp(nm, "frequency") == 0) roles.frequency = (int)j;
            else if (strcmp(nm, "recency_days") == 0) roles.recency = (int)j;
            else if (strcmp(nm, "tenure_days") == 0) roles.tenure = (int)j;
            else if (strcmp(nm, "online_share") == 0) roles.online_share = (int)j;
        }
        roles.monetary = mon_total >= 0 ? mon_total : mon_mean;
        char (*names)[RTN_SEGMENT_NAME_MAX] = calloc((size_t)k, RTN_SEGMENT_NAME_MAX);
        if (!names) st = RTN_ERR_NOMEM;
        else {
            rtn_segment_name(km.centroids, k, ds, &roles, names);
            for (int c = 0; c < k; c++) m->segment_name[c] = strdup(names[c]);
            free(names);
        }
        for (int c = 0; c < k; c++) m->segment_id[c] = c + 1;
        if (st == RTN_OK && old && old->has_segments && old->ds == ds &&
            memcmp(old->seg_feature, m->seg_feature, ds * 4) == 0 &&
            memcmp(old->seg_transform, m->seg_transform, ds) == 0) {
            rtn_scaler from = {ds, old->seg_mean, old->seg_scale};
            double *oc = rtn_malloc((size_t)old->k * ds * 8, "old centroids");
            if (!oc) st = RTN_ERR_NOMEM;
            else {
                rtn_segment_rescale_centroids(old->centroids, old->k, &from, &sc, oc);
                st = rtn_segment_match_ids(oc, old->segment_id, old->k, km.centroids, k, ds,
                                           m->segment_id);
                free(oc);
                rtn_info("train: segment ids matched to the previous model's");
            }
        }
        if (st == RTN_OK && tj && tj->archetype) {
            st = ari_from_truth(comm, fd, lab, k, tj, &m->ari_truth);
            if (st == RTN_OK) {
                rtn_info("train: segments recover the generator's archetypes with adjusted Rand "
                         "index %.3f", m->ari_truth);
                rtn_summary_set_real("train.segments", "ari_truth", m->ari_truth);
            }
        } else {
            m->ari_truth = NAN;
        }
        if (nscores > 0) {
            m->n_kscan = nscores;
            m->kscan_k = rtn_malloc((size_t)nscores * 4, "kscan");
            m->kscan_inertia = rtn_malloc((size_t)nscores * 8, "kscan");
            m->kscan_silhouette = rtn_malloc((size_t)nscores * 8, "kscan");
            if (!m->kscan_k || !m->kscan_inertia || !m->kscan_silhouette) st = RTN_ERR_NOMEM;
            for (int i = 0; st == RTN_OK && i < nscores; i++) {
                m->kscan_k[i] = scores[i].k;
                m->kscan_inertia[i] = scores[i].inertia;
                m->kscan_silhouette[i] = scores[i].silhouette;
            }
        }
        for (int c = 0; st == RTN_OK && c < k; c++)
            rtn_info("train: segment %d %-26s %8.0f customers  revenue %5.1f%%  churn %5.1f%%",
                     m->segment_id[c], m->segment_name[c], m->seg_size[c],
                     100 * m->seg_revenue_share[c], 100 * m->seg_churn_rate[c]);
        rtn_summary_set_int("train.segments", "k", k);
        rtn_summary_set_real("train.segments", "inertia", km.inertia);
        rtn_summary_set_int("train.segments", "iterations", km.n_iter);
        /* every restart and scan fit: the data passes a benchmark divides by */
        rtn_summary_set_int("train.segments", "lloyd_iterations_total", state->total_iterations);
        rtn_summary_set_int("train.segments", "features", (int64_t)m->ds);
        rtn_summary_set_int("train.segments", "restarts", o->n_init);
    }
    rtn_segment_profiles_free(&prof);
    rtn_kmeans_model_free(&km);
    rtn_scaler_free(&sc);
    free(Xs);
    free(lab);
    return rtn_agree(comm, st);
}

#endif /* RETAIN_SCORING_ONLY */

const rtn_model_kind rtn_segments_kind = {
    .name = "segments",
    .summary = "segment of every customer (k-means), with stable ids and names",
    .present = present,
    .solver = RTN_SOLVER_KMEANS,
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
