/* retain features: point-in-time per-customer features, churn labels, RFM scores and
 * the CLV summary, in one streaming pass over each rank's buckets (docs/features.md). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/cli.h"
#include "retain/commands.h"
#include "retain/features.h"
#include "retain/log.h"
#include "retain/store.h"

const char rtn_usage_features[] =
    "usage: retain features --store STORE --cutoff DATE --horizon DAYS [--lookback DAYS]\n"
    "                       --out FEATURES [--population lookback|all] [--zero-value-purchases]\n"
    "                       [--block-rows N]\n"
    "\n"
    "Computes one row per customer from the transactions strictly before the cutoff and the\n"
    "churn label from the horizon window [cutoff, cutoff + DAYS): 1 = churned (no purchase),\n"
    "0 = retained, -1 = unknown (the store ends before the window does). A purchase is a\n"
    "basket with a positive net amount (or zero, with --zero-value-purchases).\n"
    "Definitions: docs/features.md.\n"
    "\n"
    "  --store STORE        transaction store (retain ingest / retain generate)\n"
    "  --cutoff DATE        YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (UTC)\n"
    "  --horizon DAYS       label window length in days (1..36500)\n"
    "  --lookback DAYS      population: a purchase in the DAYS before the cutoff (default 365)\n"
    "  --population P       lookback (default) or all: every customer with a purchase before\n"
    "                       the cutoff (e.g. for the lifetime-value model)\n"
    "  --zero-value-purchases  baskets with net amount 0 count as purchases too (free\n"
    "                       items, data sets that record zero-value orders such as CDNOW)\n"
    "  --out FEATURES       output HDF5 file (written under a temporary name, then renamed)\n"
    "  --block-rows N       store rows read per block (default 1048576; whole buckets)\n";

static void longest_gap(const uint8_t *days, size_t nd, uint64_t *zero, uint64_t *longest)
{
    uint64_t run = 0;
    *zero = *longest = 0;
    for (size_t i = 0; i < nd; i++) {
        if (days[i]) {
            run = 0;
            continue;
        }
        (*zero)++;
        if (++run > *longest) *longest = run;
    }
}

rtn_status rtn_cmd_features(MPI_Comm comm, int argc, char **argv)
{
    const rtn_command *self = rtn_find_command("features");
    static const struct option opts[] = {{"store", required_argument, 0, 's'},
                                         {"cutoff", required_argument, 0, 'c'},
                                         {"horizon", required_argument, 0, 'h'},
                                         {"lookback", required_argument, 0, 'l'},
                                         {"out", required_argument, 0, 'o'},
                                         {"population", required_argument, 0, 'p'},
                                         {"block-rows", required_argument, 0, 'b'},
                                         {"zero-value-purchases", no_argument, 0, 'z'},
                                         {0, 0, 0, 0}};
    const char *store_path = NULL, *out_path = NULL;
    int64_t cutoff = 0, horizon = -1, lookback = 365;
    int have_cutoff = 0, pop_all = 0, zero_value = 0;
    uint64_t block_rows = 1u << 20;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': store_path = optarg; break;
        case 'o': out_path = optarg; break;
        case 'c':
            if (rtn_parse_date("--cutoff", optarg, &cutoff))
                return rtn_usage_error(self, "%s", rtn_errmsg());
            have_cutoff = 1;
            break;
        case 'h':
            if (rtn_parse_i64("--horizon", optarg, 1, 36500, &horizon))
                return rtn_usage_error(self, "%s", rtn_errmsg());
            break;
        case 'l':
            if (rtn_parse_i64("--lookback", optarg, 1, 36500, &lookback))
                return rtn_usage_error(self, "%s", rtn_errmsg());
            break;
        case 'z': zero_value = 1; break;
        case 'p':
            if (strcmp(optarg, "all") == 0) pop_all = 1;
            else if (strcmp(optarg, "lookback") == 0) pop_all = 0;
            else return rtn_usage_error(self, "--population: '%s' is not 'lookback' or 'all'", optarg);
            break;
        case 'b':
            if (rtn_parse_u64("--block-rows", optarg, 1, 1ull << 30, &block_rows))
                return rtn_usage_error(self, "%s", rtn_errmsg());
            break;
        default: return rtn_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc) return rtn_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (!store_path) return rtn_usage_error(self, "--store is required");
    if (!out_path) return rtn_usage_error(self, "--out is required");
    if (!have_cutoff) return rtn_usage_error(self, "--cutoff is required");
    if (horizon < 0) return rtn_usage_error(self, "--horizon is required");
    int rank;
    MPI_Comm_rank(comm, &rank);

    rtn_phase_begin("open");
    rtn_store *store;
    rtn_status st = rtn_store_open(&store, comm, store_path);
    rtn_phase_end("open");
    if (st) return st;
    const rtn_store_info *in = rtn_store_get_info(store);

    rtn_features_params p = {0};
    p.cutoff = cutoff;
    p.horizon_days = horizon;
    p.lookback_days = lookback;
    p.population_all = pop_all;
    p.zero_value_purchases = zero_value;
    /* Labels need the store to reach the last second of the horizon window. */
    p.labels_known = in->time_max >= cutoff + horizon * RTN_SECONDS_PER_DAY - 1;
    p.currency_exponent = in->currency_exponent;
    p.n_categories = (int32_t)in->dict_category.n;
    p.n_stores = (int32_t)in->dict_store.n;
    char iso[32], tend[32];
    rtn_format_time(cutoff, iso, sizeof iso);
    rtn_format_time(in->time_max, tend, sizeof tend);
    if (cutoff <= in->time_min)
        rtn_warn("features: the cutoff %s is not after the store's first transaction; the "
                 "population will be empty", iso);
    if (!p.labels_known)
        rtn_warn("features: the store ends at %s, before the end of the %" PRId64 "-day horizon "
                 "after %s: labels are unknown (-1)", tend, horizon, iso);

    /* Nearest-rank p99.9 of |amount| over all store rows needs the K largest values. */
    uint64_t N = in->n_rows, K = 0;
    if (N) K = N - (uint64_t)(((unsigned __int128)N * 999 + 999) / 1000) + 1;

    rtn_features_ctx *ctx = NULL;
    rtn_features_rows rows = {0};
    uint32_t b0, b1;
    rtn_store_my_buckets(store, comm, &b0, &b1);
    uint64_t *bucket_rows = rtn_calloc((size_t)(b1 - b0) + 1, sizeof *bucket_rows, "bucket rows");
    st = bucket_rows ? rtn_features_ctx_new(&ctx, &p) : RTN_ERR_NOMEM;
    if (st == RTN_OK) st = rtn_features_ctx_dq(ctx, in->time_min, in->time_max, (size_t)K);
    st = rtn_agree(comm, st);

    rtn_txn_block blk = {0};
    double t_scan = rtn_now();
    uint64_t my_rows = in->bucket_offsets[b1] - in->bucket_offsets[b0];
    if (st == RTN_OK) {
        rtn_phase_begin("scan");
        rtn_store_scan it;
        rtn_store_scan_begin(&it, store, b0, b1, (size_t)block_rows, RTN_FEATURES_COLS);
        /* The columns are read in place from the page cache when the layout allows:
         * copying them out (HDF5's read) took about a quarter of the scan. */
        rtn_store_map(store, RTN_FEATURES_COLS);
        rtn_txn_block view;
        rtn_progress prog;
        rtn_progress_begin(&prog, "features", "rows", (double)my_rows);
        uint64_t done = 0;
        for (;;) {
            uint32_t c0, c1;
            st = rtn_store_scan_view(&it, &blk, &view, &c0, &c1);
            if (st || c0 == c1) break;
            for (uint32_t b = c0; b < c1 && st == RTN_OK; b++) {
                size_t i0 = (size_t)(in->bucket_offsets[b] - in->bucket_offsets[c0]);
                size_t i1 = (size_t)(in->bucket_offsets[b + 1] - in->bucket_offsets[c0]);
                size_t before = rows.n;
                st = rtn_features_compute(ctx, &view, i0, i1, &rows);
                if (st)
                    st = rtn_fail_context(st, "store '%s', bucket %u (rows from %" PRIu64 ")",
                                          store_path, b, in->bucket_offsets[b]);
                bucket_rows[b - b0] = rows.n - before;
            }
            if (st) break;
            done += view.n;
            rtn_progress_update(&prog, (double)done);
        }
        rtn_progress_end(&prog, (double)done);
        if (st == RTN_OK) st = rtn_inject_failure("features", rank);
        rtn_phase_end("scan");
    }
    t_scan = rtn_now() - t_scan;
    rtn_txn_block_free(&blk);
    st = rtn_agree(comm, st);

    /* Global steps: RFM quantiles, data-quality percentile, counts, day coverage. */
    rtn_features_file_meta meta = {0};
    uint64_t tot[10] = {0}, extreme = 0, amount_q = 0, zero_days = 0, gap = 0, outside = 0;
    size_t ndays = 0;
    if (st == RTN_OK) {
        rtn_phase_begin("quantiles");
        st = rtn_features_rfm_thresholds(comm, &rows, meta.rfm_q);
        const rtn_features_counts *k = rtn_features_ctx_counts(ctx);
        uint64_t loc[10] = {k->rows,          k->customers,    k->customers_history,
                            k->customers_purchase, k->population, k->single_purchase,
                            k->negative_net,  k->churned,      k->retained,
                            k->duplicate_basket_runs};
        MPI_Allreduce(loc, tot, 10, MPI_UINT64_T, MPI_SUM, comm);
        uint64_t lo = rtn_features_ctx_rows_outside(ctx);
        MPI_Allreduce(&lo, &outside, 1, MPI_UINT64_T, MPI_SUM, comm);
        size_t hn;
        const uint64_t *heap = rtn_features_ctx_heap(ctx, &hn);
        uint64_t hn64 = hn, U = 0;
        MPI_Allreduce(&hn64, &U, 1, MPI_UINT64_T, MPI_SUM, comm);
        if (st == RTN_OK && K > 0) {
            uint64_t pos = U - K;
            st = rtn_global_select_u64(comm, heap, hn, 1, &pos, 1, &amount_q);
            uint64_t le = 0;
            for (size_t i = 0; i < hn; i++) le += heap[i] > amount_q;
            MPI_Allreduce(&le, &extreme, 1, MPI_UINT64_T, MPI_SUM, comm);
        }
        uint8_t *days = (uint8_t *)rtn_features_ctx_days(ctx, &ndays);
        if (days && ndays)
            MPI_Allreduce(MPI_IN_PLACE, days, (int)ndays, MPI_UNSIGNED_CHAR, MPI_BOR, comm);
        if (days) longest_gap(days, ndays, &zero_days, &gap);
        rtn_phase_end("quantiles");
    }
    st = rtn_agree(comm, st);

    /* data-quality counts: in the features file (the report shows them) and the summary */
    double scale = 1; /* minor units per major unit */
    for (int i = 0; i < in->currency_exponent; i++) scale *= 10;
    json_t *dq = NULL;
    char *dq_text = NULL;
    if (st == RTN_OK) {
        dq = json_object();
        json_object_set_new(dq, "single_purchase_customers", json_integer((json_int_t)tot[5]));
        json_object_set_new(dq, "negative_net_spend_customers", json_integer((json_int_t)tot[6]));
        json_object_set_new(dq, "amount_abs_p999", json_real((double)amount_q / scale));
        json_object_set_new(dq, "extreme_amount_rows", json_integer((json_int_t)extreme));
        json_object_set_new(dq, "coverage_days", json_integer((json_int_t)ndays));
        json_object_set_new(dq, "zero_transaction_days", json_integer((json_int_t)zero_days));
        json_object_set_new(dq, "longest_gap_days", json_integer((json_int_t)gap));
        json_object_set_new(dq, "rows_outside_time_range", json_integer((json_int_t)outside));
        json_object_set_new(dq, "split_basket_runs", json_integer((json_int_t)tot[9]));
        dq_text = json_dumps(dq, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(15));
        if (!dq_text) st = rtn_fail(RTN_ERR_NOMEM, "data-quality counts");
    }
    st = rtn_agree(comm, st);

    if (st == RTN_OK) {
        rtn_phase_begin("write");
        meta.params = &p;
        meta.nbuckets = in->nbuckets;
        meta.b0 = b0;
        meta.b1 = b1;
        meta.bucket_rows = bucket_rows;
        meta.store_path = store_path;
        meta.store_digest = in->digest;
        meta.currency = in->currency;
        meta.created_by = rtn_command_line();
        meta.category_names = (const char *const *)in->dict_category.s;
        meta.n_category_names = in->dict_category.n;
        meta.data_quality_json = dq_text;
        st = rtn_features_write(comm, out_path, &rows, &meta);
        rtn_phase_end("write");
    }

    if (st == RTN_OK) {
        double scan_max = 0;
        MPI_Allreduce(&t_scan, &scan_max, 1, MPI_DOUBLE, MPI_MAX, comm);
        const char *S = "features";
        rtn_summary_set_str(S, "store", store_path);
        rtn_summary_set_str(S, "out", out_path);
        rtn_summary_set_str(S, "cutoff", iso);
        rtn_summary_set_int(S, "horizon_days", horizon);
        rtn_summary_set_int(S, "lookback_days", lookback);
        rtn_summary_set_str(S, "population_rule", pop_all ? "all" : "lookback");
        rtn_summary_set_int(S, "rows_scanned", (int64_t)tot[0]);
        rtn_summary_set_int(S, "customers_scanned", (int64_t)tot[1]);
        rtn_summary_set_int(S, "customers_with_history", (int64_t)tot[2]);
        rtn_summary_set_int(S, "customers_with_purchase", (int64_t)tot[3]);
        rtn_summary_set_int(S, "population", (int64_t)tot[4]);
        rtn_summary_set_int(S, "labels_known", p.labels_known);
        if (p.labels_known) {
            rtn_summary_set_int(S, "churned", (int64_t)tot[7]);
            rtn_summary_set_int(S, "retained", (int64_t)tot[8]);
            rtn_summary_set_real(S, "churn_rate",
                                 tot[4] ? (double)tot[7] / (double)tot[4] : 0.0);
        } else {
            rtn_summary_set_str(S, "labels", "unknown: the store ends before the horizon window "
                                "does (labels are -1)");
        }
        rtn_summary_set_real(S, "scan_seconds", scan_max);
        rtn_summary_set_real(S, "rows_per_second", scan_max > 0 ? (double)tot[0] / scan_max : 0);
        json_object_set_new(rtn_summary_section(S), "data_quality", dq);
        dq = NULL;

        rtn_info("features: %" PRIu64 " rows, %" PRIu64 " customers scanned in %.2f s (%.3g rows/s)",
                 tot[0], tot[1], scan_max, scan_max > 0 ? (double)tot[0] / scan_max : 0.0);
        if (p.labels_known)
            rtn_info("features: population %" PRIu64 " (cutoff %s), churned %" PRIu64
                     ", retained %" PRIu64 " within %" PRId64 " days", tot[4], iso, tot[7],
                     tot[8], horizon);
        else
            rtn_info("features: population %" PRIu64 " (cutoff %s), labels unknown", tot[4], iso);
        rtn_info("features: data quality: %" PRIu64 " single-purchase customers, %" PRIu64
                 " customers with negative net spend, %" PRIu64 " rows beyond |amount| p99.9 = "
                 "%.2f %s, %" PRIu64 " of %zu days without transactions (longest gap %" PRIu64
                 " days)", tot[5], tot[6], extreme, (double)amount_q / scale, in->currency,
                 zero_days, ndays, gap);
        rtn_info("features: wrote %s", out_path);
    }
    json_decref(dq);
    free(dq_text);
    rtn_features_rows_free(&rows);
    rtn_features_ctx_free(ctx);
    free(bucket_rows);
    rtn_store_close(store);
    return st;
}
