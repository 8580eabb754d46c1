/* retain report: the retention report (HTML + JSON/CSV figures) from the store, the
 * features, the model bundle and the scores. Identical for any rank count. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "retain/cli.h"
#include "retain/commands.h"
#include "retain/h5.h"
#include "retain/log.h"
#include "retain/report.h"
#include "retain/split.h"

const char rtn_usage_report[] =
    "usage: retain report --store STORE --features FEATURES --model BUNDLE --scores SCORES\n"
    "                     --out REPORT.html [--figures DIR] [--k-anon K] [--period-days N]\n"
    "\n"
    "Writes the retention report: one self-contained HTML file (no network needed to view\n"
    "it) with the KPIs of the last period against the previous one, monthly acquisition\n"
    "cohorts, the lifecycle flow, RFM and k-means segment tables, churn model quality (ROC,\n"
    "calibration, lift, coefficients), lifetime value, the churn warning summary and data\n"
    "quality; the same figures go to DIR as report.json and one CSV per figure. Any group of\n"
    "fewer than K customers is shown as suppressed (docs/report.md).\n"
    "\n"
    "  --store STORE        transaction store the features were computed from\n"
    "  --features FEATURES  features file (its cutoff ends the last period)\n"
    "  --model BUNDLE       model bundle from retain train\n"
    "  --scores SCORES      scores from retain score (same features file)\n"
    "  --out REPORT.html    the report\n"
    "  --figures DIR        figures as JSON and CSV (default: REPORT's name without .html)\n"
    "  --k-anon K           smallest group shown (default 10; 1 shows every group)\n"
    "  --period-days N      length of a KPI period in days (default 90)\n";

/* Store pass: every rank its buckets; integer counts summed over ranks. */
static rtn_status store_pass(MPI_Comm comm, const char *path, rtn_report_params *prm,
                             rtn_report_store_counts *acc, char *digest, size_t ndigest)
{
    rtn_store *s = NULL;
    RTN_TRY(rtn_store_open(&s, comm, path));
    const rtn_store_info *in = rtn_store_get_info(s);
    snprintf(digest, ndigest, "%s", in->digest);
    rtn_report_params_months(prm, in->time_min);
    rtn_status st = rtn_report_store_counts_init(acc, prm->n_months);
    st = rtn_agree(comm, st);
    uint32_t b0, b1;
    rtn_store_my_buckets(s, comm, &b0, &b1);
    rtn_txn_block blk = {0};
    if (st == RTN_OK) {
        rtn_store_scan it;
        rtn_store_scan_begin(&it, s, b0, b1, (size_t)1 << 20, RTN_REPORT_STORE_COLS);
        for (;;) {
            uint32_t c0, c1;
            st = rtn_store_scan_next(&it, &blk, &c0, &c1);
            if (st || c0 == c1) break;
            st = rtn_report_store_add(prm, &blk, 0, blk.n, acc);
            if (st) break;
        }
    }
    rtn_txn_block_free(&blk);
    st = rtn_agree(comm, st);
    if (st == RTN_OK) st = rtn_report_store_reduce(comm, acc);
    rtn_store_close(s);
    return st;
}

static rtn_status read_col(hid_t f, const char *name, hid_t mt, uint64_t row0, size_t n, void *buf)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return rtn_fail(RTN_ERR_FORMAT, "dataset '%s' is missing", name);
    rtn_status st = rtn_h5_read_rows(d, mt, row0, n, buf);
    H5Dclose(d);
    return st;
}

/* Reads this rank's rows of the scores file (the features file's rows, in its order). */
static rtn_status read_scores(MPI_Comm comm, const char *path, const rtn_features_data *fd,
                              rtn_report_customer *rows)
{
    hid_t f;
    RTN_TRY(rtn_h5_open_read(comm, path, &f));
    char fmt[64] = "";
    rtn_status st = RTN_OK;
    uint64_t n = 0;
    if (H5Aexists(f, "format") <= 0 || rtn_h5_read_attr_str(f, "format", fmt, sizeof fmt) ||
        strcmp(fmt, "retain-scores") != 0)
        st = rtn_fail(RTN_ERR_FORMAT, "'%s' is not a retain scores file (format '%s')", path, fmt);
    if (st == RTN_OK) st = rtn_h5_read_attr_u64(f, "n_customers", &n);
    if (st == RTN_OK && n != fd->n_total)
        st = rtn_fail(RTN_ERR_DATA, "'%s' scores %" PRIu64 " customers, the features file has %" PRIu64,
                      path, n, fd->n_total);
    size_t m = fd->n + 1;
    uint64_t *cust = malloc(8 * m);
    double *p = malloc(8 * m), *clv = malloc(8 * m);
    int8_t *tier = malloc(m), *act = malloc(m);
    int32_t *seg = malloc(4 * m);
    if (st == RTN_OK && (!cust || !p || !clv || !tier || !act || !seg))
        st = rtn_fail(RTN_ERR_NOMEM, "scores of %zu customers", fd->n);
    if (st == RTN_OK) st = read_col(f, "/scores/customer", H5T_NATIVE_UINT64, fd->row0, fd->n, cust);
    if (st == RTN_OK) st = read_col(f, "/scores/churn_probability", H5T_NATIVE_DOUBLE, fd->row0, fd->n, p);
    if (st == RTN_OK) st = read_col(f, "/scores/clv", H5T_NATIVE_DOUBLE, fd->row0, fd->n, clv);
    if (st == RTN_OK) st = read_col(f, "/scores/risk_tier", H5T_NATIVE_INT8, fd->row0, fd->n, tier);
    if (st == RTN_OK) st = read_col(f, "/scores/action", H5T_NATIVE_INT8, fd->row0, fd->n, act);
    if (st == RTN_OK) st = read_col(f, "/scores/segment", H5T_NATIVE_INT32, fd->row0, fd->n, seg);
    for (size_t i = 0; st == RTN_OK && i < fd->n; i++) {
        if (cust[i] != fd->customer[i]) {
            st = rtn_fail(RTN_ERR_DATA, "'%s' row %" PRIu64 " scores another customer than the "
                          "features file: scores and features do not belong together", path,
                          fd->row0 + i);
            break;
        }
        const double *x = fd->X + i * fd->d;
        rows[i] = (rtn_report_customer){
            .customer = cust[i],
            .rfm_segment = fd->rfm_segment[i],
            .recency = x[RTN_F_RECENCY_DAYS],
            .frequency = x[RTN_F_FREQUENCY],
            .monetary = x[RTN_F_MONETARY_TOTAL],
            .label = fd->label[i],
            .churn_probability = p[i],
            .clv = clv[i],
            .risk_tier = tier[i],
            .segment = seg[i],
            .action = act[i],
        };
    }
    free(cust);
    free(p);
    free(clv);
    free(tier);
    free(act);
    free(seg);
    H5Fclose(f);
    return st;
}

/* The bundle's split options, so the ROC curve uses the customers train held out. */
static rtn_status model_split(const rtn_model *m, rtn_split_options *o)
{
    rtn_split_defaults(o);
    if (!m->options_json) return RTN_OK;
    json_error_t err;
    json_t *j = json_loads(m->options_json, 0, &err);
    if (!j) return rtn_fail(RTN_ERR_FORMAT, "model options are not JSON: %s", err.text);
    json_t *sp = json_object_get(j, "split"), *salt = json_object_get(j, "split_salt");
    if (json_is_array(sp) && json_array_size(sp) == 3) {
        o->train = json_number_value(json_array_get(sp, 0));
        o->valid = json_number_value(json_array_get(sp, 1));
        o->test = json_number_value(json_array_get(sp, 2));
    }
    if (json_is_integer(salt)) o->salt = (uint64_t)json_integer_value(salt);
    json_decref(j);
    return rtn_split_check(o);
}

/* Ingest counts from the store's provenance (docs/formats.md); -1 when absent. */
static void ingest_counts(const char *store_path, rtn_report *r)
{
    r->ingest_rows_read = r->ingest_rows_rejected = r->ingest_duplicates_removed = -1;
    hid_t f;
    char *prov = NULL;
    if (rtn_h5_open_read_local(store_path, &f) != RTN_OK) {
        rtn_clear_error();
        return;
    }
    if (H5Aexists(f, "provenance") > 0) rtn_h5_read_attr_str_alloc(f, "provenance", &prov);
    H5Fclose(f);
    rtn_clear_error();
    json_t *j = prov ? json_loads(prov, 0, NULL) : NULL;
    free(prov);
    if (!j) return;
    json_t *a = json_object_get(j, "rows_read"), *b = json_object_get(j, "rows_rejected"),
           *c = json_object_get(j, "duplicates_removed");
    if (json_is_integer(a)) r->ingest_rows_read = json_integer_value(a);
    if (json_is_integer(b)) r->ingest_rows_rejected = json_integer_value(b);
    if (json_is_integer(c)) r->ingest_duplicates_removed = json_integer_value(c);
    json_decref(j);
}

static int features_zero_value(const char *path)
{
    hid_t f;
    int64_t v = 0;
    if (rtn_h5_open_read_local(path, &f) != RTN_OK) return 0;
    if (H5Aexists(f, "zero_value_purchases") > 0) rtn_h5_read_attr_i64(f, "zero_value_purchases", &v);
    H5Fclose(f);
    rtn_clear_error();
    return v != 0;
}

rtn_status rtn_cmd_report(MPI_Comm comm, int argc, char **argv)
{
    const rtn_command *self = rtn_find_command("report");
    static const struct option opts[] = {{"store", required_argument, 0, 's'},
                                         {"features", required_argument, 0, 'f'},
                                         {"model", required_argument, 0, 'm'},
                                         {"scores", required_argument, 0, 'c'},
                                         {"out", required_argument, 0, 'o'},
                                         {"figures", required_argument, 0, 'g'},
                                         {"k-anon", required_argument, 0, 'k'},
                                         {"period-days", required_argument, 0, 'p'},
                                         {0, 0, 0, 0}};
    const char *store_path = NULL, *feat_path = NULL, *model_path = NULL, *scores_path = NULL,
               *out = NULL, *figs = NULL;
    uint64_t k_anon = RTN_REPORT_DEFAULT_K, period = RTN_REPORT_DEFAULT_PERIOD_DAYS;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 's': store_path = optarg; break;
        case 'f': feat_path = optarg; break;
        case 'm': model_path = optarg; break;
        case 'c': scores_path = optarg; break;
        case 'o': out = optarg; break;
        case 'g': figs = optarg; break;
        case 'k':
            if (rtn_parse_u64("--k-anon", optarg, 1, 1000000, &k_anon))
                return rtn_usage_error(self, "%s", rtn_errmsg());
            break;
        case 'p':
            if (rtn_parse_u64("--period-days", optarg, 1, 3650, &period))
                return rtn_usage_error(self, "%s", rtn_errmsg());
            break;
        default: return rtn_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc) return rtn_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (!store_path || !feat_path || !model_path || !scores_path || !out)
        return rtn_usage_error(self, "--store, --features, --model, --scores and --out are required");
    char figdir[RTN_PATH_MAX];
    if (figs) {
        snprintf(figdir, sizeof figdir, "%s", figs);
    } else {
        size_t l = strlen(out);
        if (l > 5 && strcmp(out + l - 5, ".html") == 0) l -= 5;
        snprintf(figdir, sizeof figdir, "%.*s%s", (int)l, out, l == strlen(out) ? ".figures" : "");
    }
    int rank;
    MPI_Comm_rank(comm, &rank);

    rtn_model m;
    memset(&m, 0, sizeof m);
    rtn_phase_begin("report:load");
    rtn_status st = rtn_model_load(model_path, &m);
    st = rtn_agree(comm, st);
    if (st) return st;
    rtn_features_data fd;
    st = rtn_features_load(comm, feat_path, &fd);
    if (st) {
        rtn_model_free(&m);
        return st;
    }
    rtn_report r;
    memset(&r, 0, sizeof r);
    r.k_anon = (int)k_anon;
    r.params.cutoff = fd.cutoff;
    r.params.period_days = (int64_t)period;
    r.params.zero_value_purchases = features_zero_value(feat_path);
    rtn_report_customer *rows = rtn_calloc(fd.n + 1, sizeof *rows, "report rows");
    uint8_t *test = rtn_calloc(fd.n + 1, 1, "report split");
    st = rows && test ? RTN_OK : RTN_ERR_NOMEM;
    st = rtn_agree(comm, st);
    if (st == RTN_OK) st = read_scores(comm, scores_path, &fd, rows);
    st = rtn_agree(comm, st);
    rtn_phase_end("report:load");
    char store_digest[65] = "";
    if (st == RTN_OK) {
        rtn_phase_begin("report:store");
        st = store_pass(comm, store_path, &r.params, &r.store, store_digest, sizeof store_digest);
        rtn_phase_end("report:store");
    }
    if (st == RTN_OK && strcmp(store_digest, fd.store_digest) != 0)
        st = rtn_fail(RTN_ERR_DATA, "'%s' (content %.16s) is not the store the features were "
                      "computed from (%.16s)", store_path, store_digest, fd.store_digest);
    rtn_split_options so;
    if (st == RTN_OK) st = model_split(&m, &so);
    st = rtn_agree(comm, st);
    if (st == RTN_OK) {
        rtn_phase_begin("report:scores");
        for (size_t i = 0; i < fd.n; i++) test[i] = rtn_split_of(fd.customer[i], &so) == RTN_SPLIT_TEST;
        st = rtn_report_scores_compute(comm, m.has_segments ? m.k : 0, fd.nbuckets, fd.b0, fd.b1,
                                       fd.boff, rows, test, r.k_anon, &r.scores);
        rtn_phase_end("report:scores");
    }
    if (st == RTN_OK) {
        r.model = &m;
        r.currency = fd.currency;
        r.currency_exponent = fd.currency_exponent;
        r.cutoff_iso = fd.cutoff_iso;
        r.store_digest = fd.store_digest;
        r.features_quality_json = fd.data_quality_json;
        r.model_content_id = m.content_id;
        r.n_scored = fd.n_total;
        r.labels_known = fd.labels_known;
        r.horizon_days = fd.horizon_days;
        int64_t single = 0;
        for (size_t i = 0; fd.clv[RTN_CLV_X] && i < fd.n; i++) single += fd.clv[RTN_CLV_X][i] == 0;
        MPI_Allreduce(&single, &r.single_purchase_customers, 1, MPI_INT64_T, MPI_SUM, comm);
        if (rank == 0) ingest_counts(store_path, &r);
        rtn_phase_begin("report:render");
        if (rank == 0) st = rtn_report_render(&r, out, figdir);
        st = rtn_agree(comm, st);
        rtn_phase_end("report:render");
    }
    if (st == RTN_OK) {
        rtn_info("report: %s (figures in %s/), last period %" PRId64 " days to %s, %" PRId64
                 " active customers, k-anonymity %d", out, figdir, r.params.period_days,
                 fd.cutoff_iso, r.store.active[RTN_RP_LAST], r.k_anon);
        rtn_summary_set_str("report", "html", out);
        rtn_summary_set_str("report", "figures", figdir);
        rtn_summary_set_int("report", "active_customers", r.store.active[RTN_RP_LAST]);
    }
    rtn_report_scores_free(&r.scores);
    rtn_report_store_counts_free(&r.store);
    free(rows);
    free(test);
    rtn_features_data_free(&fd);
    rtn_model_free(&m);
    return st;
}
