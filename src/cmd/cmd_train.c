/* retain train: churn model (logistic regression), segmentation (k-means) and lifetime
 * value (BG/NBD + Gamma-Gamma) from a features file, written as one model bundle. */
#include <getopt.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "retain/buckets.h"
#include "retain/checkpoint.h"
#include "retain/cli.h"
#include "retain/clv.h"
#include "retain/commands.h"
#include "retain/features.h"
#include "retain/h5.h"
#include "retain/kmeans.h"
#include "retain/log.h"
#include "retain/logreg.h"
#include "retain/metrics.h"
#include "retain/model.h"
#include "retain/model_kind.h"
#include "retain/segments.h"
#include "retain/signals.h"
#include "retain/split.h"
#include "retain/version.h"

const char rtn_usage_train[] =
    "usage: retain train --features FEATURES --out BUNDLE [options]\n"
    "\n"
    "Trains the churn model (logistic regression), the segmentation (k-means) and the\n"
    "lifetime-value models (BG/NBD + Gamma-Gamma) and writes one model bundle (HDF5,\n"
    "docs/serving.md) with metrics and provenance. Results are bitwise identical for any\n"
    "number of ranks.\n"
    "\n"
    "general:\n"
    "  --seed S               random seed for k-means initialization (default 42)\n"
    "  --split T,V,E          train/validation/test fractions (default 0.7,0.15,0.15)\n"
    "  --split-salt N         changes which customers fall in each split (default 0)\n"
    "  --warm-start BUNDLE    start from a previous model: churn coefficients as the initial\n"
    "                         point, segment ids kept stable by matching centroids\n"
    "  --truth FILE           generator ground truth: report the oracle AUC and the\n"
    "                         adjusted Rand index of the segments against the archetypes\n"
    "  --models LIST          which models, comma-separated: churn,segments,clv (default all)\n"
    "  --checkpoint FILE      keep the solver state in FILE (docs/jobs.md): on SIGUSR1 or\n"
    "                         SIGTERM every rank stops at the next iteration, FILE is written\n"
    "                         and the exit status is 75; when FILE exists (same features and\n"
    "                         options) training resumes from it; removed after success\n"
    "  --checkpoint-every N   iterations between checkpoint writes (default 20; a stop\n"
    "                         request and the end of every model and k-means run always write)\n"
    "churn model:\n"
    "  --C C                  inverse regularization as scikit-learn's C (default 1.0)\n"
    "  --lambda L             regularization on the mean loss (overrides --C)\n"
    "  --l1-ratio R           elastic-net mixing, 0 = L2 (default 0)\n"
    "  --class-weight W       none | balanced (default none)\n"
    "  --max-iter N           solver iterations (default 500)\n"
    "  --tol T                gradient tolerance (default 1e-6)\n"
    "  --budget F             contact budget fraction for the top-k confusion matrix (default 0.1)\n"
    "  --churn-transforms T   log1p (default: log1p on counts, days and money) | none\n"
    "segments:\n"
    "  --k K | --k KMIN:KMAX  clusters, or a range scanned by silhouette (default 6)\n"
    "  --segment-features L   NAME[:log1p],... or a preset: default (monetary_mean:log1p,\n"
    "                         frequency:log1p,recency_days:log1p,tenure_days:log1p,\n"
    "                         category_entropy,top_category_share,online_share,app_share,\n"
    "                         weekend_share) or behavior (monetary_mean:log1p,ipi_mean:log1p,\n"
    "                         category_entropy,top_category_share,online_share,app_share,\n"
    "                         weekend_share)\n"
    "  --n-init N             k-means|| restarts (default 3)\n"
    "lifetime value:\n"
    "  --clv-months M         CLV horizon in months (default 12)\n"
    "  --discount D           monthly discount rate (default 0.01)\n"
    "  --margin M             share of spend that is profit (default 1)\n";

static const char *const default_log1p[] = {
    "recency_days", "frequency",  "n_baskets",      "monetary_total", "monetary_mean",
    "tenure_days",  "ipi_mean",   "ipi_std",        "spend_30d",      "spend_90d",
    "spend_prev_90d", "n_categories", "n_stores",   "mean_basket_quantity"};

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

/* The models `retain train` fits are the model-kind table (retain/model_kind.h), in its
 * order; --models names them. The built-in kinds are fitted here, with this command's
 * options and checkpoint (looked up by name); a kind without options brings its own fit. */
typedef struct train_ctx train_ctx;
typedef struct {
    const char *name;
    rtn_status (*fit)(const train_ctx *c);
} builtin_fit;
static rtn_status fit_churn(const train_ctx *c);
static rtn_status fit_segments(const train_ctx *c);
static rtn_status fit_clv(const train_ctx *c);
static const builtin_fit builtin_fits[] = {
    {"churn", fit_churn},
    {"segments", fit_segments},
    {"clv", fit_clv},
};

static rtn_status (*builtin_fit_of(const char *name))(const train_ctx *)
{
    for (size_t i = 0; i < sizeof builtin_fits / sizeof builtin_fits[0]; i++)
        if (strcmp(builtin_fits[i].name, name) == 0) return builtin_fits[i].fit;
    return NULL;
}

typedef struct {
    const char *features, *out, *warm, *truth;
    uint64_t seed;
    rtn_split_options split;
    double C, lambda, l1_ratio, tol, budget;
    int lambda_given, balanced, max_iter, churn_log1p;
    int kmin, kmax, n_init;
    const char *segment_features;
    int enabled[RTN_MODEL_KINDS_MAX]; /* by model-kind table position */
    rtn_clv_options clv;
    const char *checkpoint;
    int checkpoint_every;
} train_opts;

/* Solver states (kept current at every iteration boundary), the checkpoint file they go
 * to, and the progress lines of the iterative phases. */
typedef struct {
    MPI_Comm comm;
    const char *path;      /* NULL: no checkpoint, no stop at iteration boundaries */
    int every;
    char key[65];
    rtn_logreg_state lr;
    rtn_kmeans_state km;
    int since_write, writes;
    double write_seconds;
    double start, last_print; /* progress of the current phase */
    long first_iteration;     /* iterations already done when the phase (re)started */
    int max_iter;             /* churn: solver bound; segments: Lloyd bound per run */
    int final_job, n_init;    /* segments: index of the final fit, runs per fit */
} train_state;

static rtn_status checkpoint_boundary(train_state *c, const char *phase, long iteration,
                                      int force)
{
    if (!c->path) return RTN_OK;
    int stop = rtn_stop_check(c->comm, phase, iteration);
    if (stop || force || ++c->since_write >= c->every) {
        double t = rtn_now();
        RTN_TRY(rtn_checkpoint_write(c->comm, c->path, c->key, &c->lr, &c->km));
        c->write_seconds += rtn_now() - t;
        c->writes++;
        c->since_write = 0;
    }
    if (stop)
        return rtn_fail(RTN_INTERRUPTED, "training stopped on request at %s %ld; checkpoint "
                        "'%s' written: run the same command again to resume", phase, iteration,
                        c->path);
    return RTN_OK;
}

/* Progress lines: the first iteration of a phase, then at most one every 2 seconds. */
static int progress_due(train_state *c, long done)
{
    double now = rtn_now();
    if (done != 1 && now - c->last_print < 2.0) return 0;
    c->last_print = now;
    return 1;
}

static rtn_status churn_boundary(void *ctx, const rtn_logreg_state *s)
{
    train_state *c = ctx;
    if (s->finished) return checkpoint_boundary(c, "train", 1, 1);
    long done = s->iteration - c->first_iteration;
    if (progress_due(c, done)) {
        double el = rtn_now() - c->start, rate = el > 0 ? (double)done / el : 0;
        rtn_info("train: churn iteration %d/%d  objective %.10g  %.1f it/s  ETA <= %.0fs (at "
                 "max-iter)", s->iteration, c->max_iter, s->objective, rate,
                 rate > 0 ? (c->max_iter - s->iteration) / rate : 0.0);
    }
    return checkpoint_boundary(c, "logreg", s->iteration, 0);
}

static rtn_status segments_boundary(void *ctx, const rtn_kmeans_state *s)
{
    train_state *c = ctx;
    if (s->iteration == 0) { /* a run (restart) ended */
        if (s->finished && s->job == c->final_job) return checkpoint_boundary(c, "train", 2, 1);
        return checkpoint_boundary(c, "kmeans-run", s->total_runs, 1);
    }
    long done = s->total_iterations - c->first_iteration;
    if (progress_due(c, done)) {
        /* bound: every remaining run of every remaining fit goes to max_iter */
        long runs_left = (long)(c->final_job - s->job) * c->n_init + (c->n_init - s->restart);
        double el = rtn_now() - c->start, rate = el > 0 ? (double)done / el : 0;
        double bound = (double)runs_left * c->max_iter - s->iteration;
        rtn_info("train: segments fit %d/%d (k=%d) run %d/%d  Lloyd iteration %d  %.1f it/s  "
                 "ETA <= %.0fs (at max-iter)", s->job + 1, c->final_job + 1, s->k, s->restart + 1,
                 c->n_init, s->iteration, rate, rate > 0 ? bound / rate : 0.0);
    }
    return checkpoint_boundary(c, "kmeans", s->total_iterations, 0);
}

static int find_feature(const rtn_features_data *fd, const char *name)
{
    for (size_t j = 0; j < fd->d; j++)
        if (strcmp(fd->feature_names[j], name) == 0) return (int)j;
    return -1;
}

/* Ground truth rows of this rank's buckets, joined to the feature rows by customer key. */
typedef struct {
    int8_t *archetype;      /* n feature rows; -1 when the customer is not in the truth */
    double *oracle_p;       /* truth-based probability of the churn label */
    int n_archetypes;
} truth_join;

static rtn_status load_truth(MPI_Comm comm, const char *path, const rtn_features_data *fd,
                             truth_join *tj)
{
    memset(tj, 0, sizeof *tj);
    hid_t f;
    RTN_TRY(rtn_h5_open_read(comm, path, &f));
    rtn_status st = RTN_OK;
    char fmt[64] = "";
    if (rtn_h5_read_attr_str(f, "format", fmt, sizeof fmt) || strcmp(fmt, "retain-generator-truth"))
        st = rtn_fail(RTN_ERR_FORMAT, "'%s' is not a retain ground-truth file", path);
    uint64_t B = 0;
    if (st == RTN_OK) st = rtn_h5_read_attr_u64(f, "buckets", &B);
    if (st == RTN_OK && B != fd->nbuckets)
        st = rtn_fail(RTN_ERR_DATA, "'%s' has %llu buckets, the features %u: not the same store",
                      path, (unsigned long long)B, fd->nbuckets);
    uint64_t *off = NULL, *cust = NULL;
    int8_t *arch = NULL;
    double *lambda = NULL;
    int64_t *drop = NULL;
    size_t nt = 0;
    if (st == RTN_OK) {
        off = rtn_malloc((B + 1) * sizeof *off, "truth offsets");
        hid_t d = H5Dopen2(f, "/index/customer_offsets", H5P_DEFAULT);
        st = (off && d >= 0) ? rtn_h5_read_rows(d, H5T_NATIVE_UINT64, 0, B + 1, off)
                             : rtn_fail(RTN_ERR_FORMAT, "'%s': /index/customer_offsets", path);
        if (d >= 0) H5Dclose(d);
    }
    if (st == RTN_OK) {
        uint64_t r0 = off[fd->b0];
        nt = (size_t)(off[fd->b1] - r0);
        cust = rtn_malloc(nt * 8 + 8, "truth");
        arch = rtn_malloc(nt + 1, "truth");
        lambda = rtn_malloc(nt * 8 + 8, "truth");
        drop = rtn_malloc(nt * 8 + 8, "truth");
        struct { const char *name; hid_t t; void *buf; } cols[4] = {
            {"/truth/customer", H5T_NATIVE_UINT64, cust}, {"/truth/archetype", H5T_NATIVE_INT8, arch},
            {"/truth/lambda", H5T_NATIVE_DOUBLE, lambda}, {"/truth/dropout_time", H5T_NATIVE_INT64, drop}};
        for (int c = 0; c < 4 && st == RTN_OK; c++) {
            hid_t d = H5Dopen2(f, cols[c].name, H5P_DEFAULT);
            st = (d >= 0 && cols[c].buf) ? rtn_h5_read_rows(d, cols[c].t, r0, nt, cols[c].buf)
                                         : rtn_fail(RTN_ERR_FORMAT, "'%s': %s", path, cols[c].name);
            if (d >= 0) H5Dclose(d);
        }
    }
    if (st == RTN_OK) {
        tj->archetype = rtn_malloc(fd->n + 1, "truth join");
        tj->oracle_p = rtn_malloc(fd->n * 8 + 8, "truth join");
        if (!tj->archetype || !tj->oracle_p) st = RTN_ERR_NOMEM;
    }
    /* merge join: both sides ordered by (bucket, customer key) */
    size_t j = 0;
    for (size_t i = 0; st == RTN_OK && i < fd->n; i++) {
        uint32_t bi = rtn_bucket_of(fd->customer[i], fd->nbuckets);
        while (j < nt && (rtn_bucket_of(cust[j], fd->nbuckets) < bi ||
                          (rtn_bucket_of(cust[j], fd->nbuckets) == bi && cust[j] < fd->customer[i])))
            j++;
        if (j < nt && cust[j] == fd->customer[i]) {
            tj->archetype[i] = arch[j];
            if (arch[j] + 1 > tj->n_archetypes) tj->n_archetypes = arch[j] + 1;
            /* the best prediction knowing the latent state at the cutoff: a customer who
             * dropped out before it is churned for sure; one still active churns when no
             * purchase falls in the horizon, exp(-lambda * horizon) for a Poisson rate */
            if (drop[j] >= 0 && drop[j] < fd->cutoff)
                tj->oracle_p[i] = 1.0;
            else
                tj->oracle_p[i] = exp(-lambda[j] * (double)fd->horizon_days);
        } else {
            tj->archetype[i] = -1;
            tj->oracle_p[i] = 0.5;
        }
    }
    int na = tj->n_archetypes;
    MPI_Allreduce(&na, &tj->n_archetypes, 1, MPI_INT, MPI_MAX, comm);
    free(off);
    free(cust);
    free(arch);
    free(lambda);
    free(drop);
    H5Fclose(f);
    st = rtn_agree(comm, st);
    if (st) {
        free(tj->archetype);
        free(tj->oracle_p);
        memset(tj, 0, sizeof *tj);
    }
    return st;
}

/* Adjusted Rand index from the k x a contingency table, summed per bucket (deterministic). */
static rtn_status ari_from_truth(MPI_Comm comm, const rtn_features_data *fd, const int32_t *lab,
                                 int k, const truth_join *tj, double *ari)
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

static rtn_status parse_opts(train_opts *o, int argc, char **argv)
{
    const rtn_command *self = rtn_find_command("train");
    static const struct option opts[] = {
        {"features", required_argument, 0, 'f'}, {"out", required_argument, 0, 'o'},
        {"seed", required_argument, 0, 's'},     {"split", required_argument, 0, 'S'},
        {"split-salt", required_argument, 0, 'T'}, {"warm-start", required_argument, 0, 'w'},
        {"truth", required_argument, 0, 't'},    {"models", required_argument, 0, 'M'},
        {"C", required_argument, 0, 'C'},        {"lambda", required_argument, 0, 'L'},
        {"l1-ratio", required_argument, 0, 'r'}, {"class-weight", required_argument, 0, 'c'},
        {"max-iter", required_argument, 0, 'i'}, {"tol", required_argument, 0, 'e'},
        {"budget", required_argument, 0, 'b'},   {"churn-transforms", required_argument, 0, 'x'},
        {"k", required_argument, 0, 'k'},        {"segment-features", required_argument, 0, 'g'},
        {"n-init", required_argument, 0, 'n'},   {"clv-months", required_argument, 0, 'm'},
        {"discount", required_argument, 0, 'd'}, {"margin", required_argument, 0, 'a'},
        {"checkpoint", required_argument, 0, 'P'}, {"checkpoint-every", required_argument, 0, 'E'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->seed = 42;
    rtn_split_defaults(&o->split);
    o->C = 1.0;
    o->tol = 1e-6;
    o->budget = 0.1;
    o->max_iter = 500;
    o->churn_log1p = 1;
    o->kmin = o->kmax = 6;
    o->n_init = 3;
    o->segment_features = default_segment_features;
    o->checkpoint_every = 20;
    for (size_t k = 0; k < rtn_n_model_kinds; k++) o->enabled[k] = 1;
    o->clv = rtn_clv_options_default();
    optind = 1;
    opterr = 0;
    int c;
    uint64_t u;
    double v;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        rtn_status st = RTN_OK;
        switch (c) {
        case 'f': o->features = optarg; break;
        case 'o': o->out = optarg; break;
        case 'w': o->warm = optarg; break;
        case 't': o->truth = optarg; break;
        case 's': st = rtn_parse_u64("--seed", optarg, 0, UINT64_MAX, &o->seed); break;
        case 'T': st = rtn_parse_u64("--split-salt", optarg, 0, UINT64_MAX, &o->split.salt); break;
        case 'S': {
            double a, b, e;
            int n = 0;
            if (sscanf(optarg, "%lf,%lf,%lf%n", &a, &b, &e, &n) != 3 || optarg[n]) {
                st = rtn_fail(RTN_ERR_USAGE, "--split: '%s' is not T,V,E", optarg);
                break;
            }
            o->split.train = a;
            o->split.valid = b;
            o->split.test = e;
            st = rtn_split_check(&o->split);
            if (st) st = RTN_ERR_USAGE;
            break;
        }
        case 'M': {
            for (size_t k = 0; k < rtn_n_model_kinds; k++) o->enabled[k] = 0;
            char *copy = strdup(optarg), *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t && st == RTN_OK; t = strtok_r(NULL, ",", &save)) {
                int k = rtn_model_kind_index(t);
                if (k >= 0) {
                    o->enabled[k] = 1;
                    continue;
                }
                char known[256] = "";
                for (size_t i = 0; i < rtn_n_model_kinds; i++)
                    snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s",
                             i ? ", " : "", rtn_model_kinds[i]->name);
                st = rtn_fail(RTN_ERR_USAGE, "--models: unknown model '%s' (%s)", t, known);
            }
            free(copy);
            break;
        }
        case 'C': st = rtn_parse_double("--C", optarg, 1e-12, 1e12, &o->C); break;
        case 'L':
            st = rtn_parse_double("--lambda", optarg, 0, 1e6, &o->lambda);
            o->lambda_given = 1;
            break;
        case 'r': st = rtn_parse_double("--l1-ratio", optarg, 0, 1, &o->l1_ratio); break;
        case 'c':
            if (strcmp(optarg, "balanced") == 0) o->balanced = 1;
            else if (strcmp(optarg, "none") == 0) o->balanced = 0;
            else st = rtn_fail(RTN_ERR_USAGE, "--class-weight: '%s' is not none or balanced", optarg);
            break;
        case 'i':
            st = rtn_parse_u64("--max-iter", optarg, 1, 100000, &u);
            o->max_iter = (int)u;
            break;
        case 'e': st = rtn_parse_double("--tol", optarg, 0, 1, &o->tol); break;
        case 'b': st = rtn_parse_double("--budget", optarg, 0, 1, &o->budget); break;
        case 'x':
            if (strcmp(optarg, "log1p") == 0) o->churn_log1p = 1;
            else if (strcmp(optarg, "none") == 0) o->churn_log1p = 0;
            else st = rtn_fail(RTN_ERR_USAGE, "--churn-transforms: '%s' is not log1p or none", optarg);
            break;
        case 'k': st = parse_k(optarg, &o->kmin, &o->kmax); break;
        case 'g':
            o->segment_features = strcmp(optarg, "default") == 0    ? default_segment_features
                                  : strcmp(optarg, "behavior") == 0 ? behavior_segment_features
                                                                    : optarg;
            break;
        case 'n':
            st = rtn_parse_u64("--n-init", optarg, 1, 100, &u);
            o->n_init = (int)u;
            break;
        case 'm':
            st = rtn_parse_u64("--clv-months", optarg, 0, 1200, &u);
            o->clv.horizon_months = (int)u;
            break;
        case 'd':
            st = rtn_parse_double("--discount", optarg, 0, 1, &v);
            o->clv.monthly_discount = v;
            break;
        case 'a':
            st = rtn_parse_double("--margin", optarg, 0, 1, &v);
            o->clv.margin = v;
            break;
        case 'P': o->checkpoint = optarg; break;
        case 'E':
            st = rtn_parse_u64("--checkpoint-every", optarg, 1, 1000000, &u);
            o->checkpoint_every = (int)u;
            break;
        default: return rtn_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
        if (st) return rtn_usage_error(self, "%s", rtn_errmsg());
    }
    if (optind != argc) return rtn_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (!o->features || !o->out) return rtn_usage_error(self, "--features and --out are required");
    int any = 0;
    for (size_t k = 0; k < rtn_n_model_kinds; k++) any |= o->enabled[k];
    if (!any) return rtn_usage_error(self, "--models selects nothing");
    return RTN_OK;
}

static json_t *options_json(const train_opts *o)
{
    json_t *j = json_object();
    json_object_set_new(j, "seed", json_integer((json_int_t)o->seed));
    json_object_set_new(j, "split", json_pack("[fff]", o->split.train, o->split.valid, o->split.test));
    json_object_set_new(j, "split_salt", json_integer((json_int_t)o->split.salt));
    json_t *models = json_object();
    for (size_t k = 0; k < rtn_n_model_kinds; k++)
        json_object_set_new(models, rtn_model_kinds[k]->name, json_boolean(o->enabled[k]));
    json_object_set_new(j, "models", models);
    json_object_set_new(j, "C", json_real(o->C));
    if (o->lambda_given) json_object_set_new(j, "lambda", json_real(o->lambda));
    json_object_set_new(j, "l1_ratio", json_real(o->l1_ratio));
    json_object_set_new(j, "class_weight", json_string(o->balanced ? "balanced" : "none"));
    json_object_set_new(j, "max_iter", json_integer(o->max_iter));
    json_object_set_new(j, "tol", json_real(o->tol));
    json_object_set_new(j, "budget", json_real(o->budget));
    json_object_set_new(j, "churn_transforms", json_string(o->churn_log1p ? "log1p" : "none"));
    json_object_set_new(j, "k", json_pack("[ii]", o->kmin, o->kmax));
    json_object_set_new(j, "segment_features", json_string(o->segment_features));
    json_object_set_new(j, "n_init", json_integer(o->n_init));
    json_object_set_new(j, "clv_months", json_integer(o->clv.horizon_months));
    json_object_set_new(j, "discount", json_real(o->clv.monthly_discount));
    json_object_set_new(j, "margin", json_real(o->clv.margin));
    json_object_set_new(j, "warm_start", o->warm ? json_string(o->warm) : json_null());
    return j;
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

static rtn_status train_churn(MPI_Comm comm, const train_opts *o, const rtn_features_data *fd,
                              const uint8_t *part, const truth_join *tj, const rtn_model *old,
                              train_state *ts, rtn_model *m)
{
    size_t n = fd->n, d = fd->d;
    if (!fd->labels_known)
        return rtn_fail(RTN_ERR_DATA, "'%s' has no churn labels (the store ends before cutoff + "
                        "horizon): train the churn model on an earlier cutoff", o->features);
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
        for (size_t t = 0; o->churn_log1p && t < sizeof default_log1p / sizeof *default_log1p; t++)
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
        ts->start = rtn_now();
        ts->last_print = 0;
        ts->first_iteration = ts->lr.valid ? ts->lr.iteration : 0;
        ts->max_iter = lo.max_iter;
        st = rtn_logreg_fit_resumable(comm, &rows, fd->label, NULL, train, &lo, warm_p, &ts->lr,
                                      churn_boundary, ts, &lr);
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

static rtn_status train_segments(MPI_Comm comm, const train_opts *o, const rtn_features_data *fd,
                                 const truth_join *tj, const rtn_model *old, train_state *ts,
                                 rtn_model *m)
{
    size_t n = fd->n, d = fd->d;
    /* parse the segment feature list */
    int idx[64];
    rtn_xform xf[64];
    size_t ds = 0;
    rtn_status st = RTN_OK;
    char *copy = strdup(o->segment_features), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t && st == RTN_OK; t = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(t, ':');
        rtn_xform x = RTN_XFORM_IDENTITY;
        if (colon) {
            *colon = '\0';
            if (rtn_xform_parse(colon + 1, &x) != 0)
                st = rtn_fail(RTN_ERR_USAGE, "--segment-features: unknown transform '%s'", colon + 1);
        }
        int j = find_feature(fd, t);
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
        ts->final_job = nscan;
        ts->n_init = o->n_init;
        rtn_kmeans_options_default(&ko, o->kmin);
        ts->max_iter = ko.max_iter;
        ts->start = rtn_now();
        ts->last_print = 0;
        ts->first_iteration = ts->km.valid ? ts->km.total_iterations : 0;
        rtn_kmeans_resume scan_rs = {&ts->km, 0, segments_boundary, ts};
        rtn_kmeans_resume final_rs = {&ts->km, nscan, segments_boundary, ts};
        if (st == RTN_OK && o->kmax > o->kmin) {
            rtn_kmeans_options_default(&ko, o->kmin);
            ko.seed = o->seed;
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
            ko.seed = o->seed;
            ko.n_init = o->n_init;
            st = rtn_kmeans_fit_resumable(comm, &rows, fd->customer, &ko, NULL, &final_rs, &km,
                                          lab);
        }
        rtn_phase_end("train:segments");
    }
    if (st == RTN_OK) {
        const double *revenue = NULL;
        double *rev = NULL;
        int jm = find_feature(fd, "monetary_total");
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
        rtn_summary_set_int("train.segments", "lloyd_iterations_total", ts->km.total_iterations);
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

static rtn_status train_clv(MPI_Comm comm, const train_opts *o, const rtn_features_data *fd,
                            rtn_model *m)
{
    rtn_clv_data cd = {fd->n, fd->clv[RTN_CLV_X], fd->clv[RTN_CLV_T_X], fd->clv[RTN_CLV_T],
                       fd->clv[RTN_CLV_MEAN_REPEAT_SPEND], fd->nbuckets, fd->b0, fd->b1, fd->boff};
    rtn_purchase_fit_result pf;
    rtn_phase_begin("train:clv");
    rtn_status st = rtn_purchase_fit(comm, &cd, NULL, &pf);
    rtn_phase_end("train:clv");
    if (st) {
        /* the churn model and segments stay useful without CLV: warn, record, go on */
        rtn_warn("train: BG/NBD fit failed, the bundle has no lifetime-value model: %s", rtn_errmsg());
        rtn_summary_set_str("train.clv", "status", rtn_errmsg());
        rtn_clear_error();
        return RTN_OK;
    }
    const rtn_bgnbd_fit_result *bg = &pf.bgnbd;
    m->has_clv = 1;
    m->purchase_kind = pf.kind;
    m->bgnbd_loglik = bg->loglik;
    m->bgnbd_converged = bg->converged;
    m->bgnbd_n = bg->n_customers;
    m->clv_opt = o->clv;
    if (pf.kind == RTN_PURCHASE_NBD) {
        const rtn_nbd_fit_result *nb = &pf.nbd;
        m->nbd = nb->params;
        m->nbd_se = nb->se;
        m->nbd_loglik = nb->loglik;
        m->nbd_converged = nb->converged;
        rtn_warn("train: %s. BG/NBD's maximum is on that no-dropout boundary, so the "
                 "lifetime-value model is its limit, the NBD model: r %.4g alpha %.4g, LL %.6f "
                 "(best BG/NBD LL reached %.6f; %llu customers)",
                 pf.bgnbd_message, nb->params.r, nb->params.alpha, nb->loglik, bg->loglik,
                 (unsigned long long)nb->n_customers);
        rtn_summary_set_str("train.clv", "model", "nbd");
        rtn_summary_set_str("train.clv", "reason", pf.bgnbd_message);
        rtn_summary_set_real("train.clv", "nbd_r", nb->params.r);
        rtn_summary_set_real("train.clv", "nbd_alpha", nb->params.alpha);
        rtn_summary_set_real("train.clv", "nbd_loglik", nb->loglik);
        rtn_summary_set_real("train.clv", "bgnbd_best_loglik", bg->loglik);
    } else {
        m->bgnbd = bg->params;
        m->bgnbd_se = bg->se;
        rtn_info("train: BG/NBD r %.4g alpha %.4g a %.4g b %.4g (LL %.2f, %llu customers)",
                 bg->params.r, bg->params.alpha, bg->params.a, bg->params.b, bg->loglik,
                 (unsigned long long)bg->n_customers);
        rtn_summary_set_str("train.clv", "model", "bgnbd");
        rtn_summary_set_real("train.clv", "bgnbd_r", bg->params.r);
        rtn_summary_set_real("train.clv", "bgnbd_alpha", bg->params.alpha);
        rtn_summary_set_real("train.clv", "bgnbd_a", bg->params.a);
        rtn_summary_set_real("train.clv", "bgnbd_b", bg->params.b);
        rtn_summary_set_real("train.clv", "bgnbd_loglik", bg->loglik);
    }
    rtn_gg_fit_result gg;
    rtn_phase_begin("train:clv");
    st = rtn_gg_fit(comm, &cd, NULL, &gg);
    rtn_phase_end("train:clv");
    if (st == RTN_ERR_DATA && gg.n_used == 0) {
        /* an event log without amounts (or all-zero spend): nothing to fit, not an error */
        rtn_info("train: Gamma-Gamma skipped: no repeat customer has a positive spend, so the "
                 "bundle has BG/NBD only and no spend model");
        rtn_summary_set_str("train.clv", "gamma_gamma_status", "skipped: no recorded spend");
        rtn_clear_error();
        return RTN_OK;
    }
    if (st) {
        rtn_warn("train: Gamma-Gamma fit failed, CLV uses no spend model: %s", rtn_errmsg());
        rtn_summary_set_str("train.clv", "gamma_gamma_status", rtn_errmsg());
        rtn_clear_error();
        return RTN_OK;
    }
    m->has_gg = 1;
    m->gg = gg.params;
    m->gg_se = gg.se;
    m->gg_loglik = gg.loglik;
    m->gg_converged = gg.converged;
    m->gg_n = gg.n_used;
    rtn_info("train: Gamma-Gamma p %.4g q %.4g gamma %.4g (LL %.2f, %llu repeat customers)",
             gg.params.p, gg.params.q, gg.params.gamma, gg.loglik, (unsigned long long)gg.n_used);
    rtn_summary_set_real("train.clv", "gg_p", gg.params.p);
    rtn_summary_set_real("train.clv", "gg_q", gg.params.q);
    rtn_summary_set_real("train.clv", "gg_gamma", gg.params.gamma);
    rtn_summary_set_real("train.clv", "gg_loglik", gg.loglik);
    return RTN_OK;
}

/* What every fit function of model_kinds gets. */
struct train_ctx {
    MPI_Comm comm;
    const train_opts *o;
    const rtn_features_data *fd;
    const uint8_t *part;
    const truth_join *truth; /* NULL without --truth */
    const rtn_model *old;    /* NULL without --warm-start */
    train_state *ts;
    rtn_model *m;
};

static rtn_status fit_churn(const train_ctx *c)
{
    return train_churn(c->comm, c->o, c->fd, c->part, c->truth, c->old, c->ts, c->m);
}

static rtn_status fit_segments(const train_ctx *c)
{
    return train_segments(c->comm, c->o, c->fd, c->truth, c->old, c->ts, c->m);
}

static rtn_status fit_clv(const train_ctx *c)
{
    return train_clv(c->comm, c->o, c->fd, c->m);
}

/* The checkpoint key: what the training result depends on besides the rank count. */
static void checkpoint_key(const rtn_model *m, const rtn_model *old, char hex[65])
{
    unsigned char out[32];
    unsigned int len = 32;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, "retain-train-checkpoint/1", 26);
    EVP_DigestUpdate(ctx, m->features_digest, strlen(m->features_digest) + 1);
    const char *opts = m->options_json ? m->options_json : "";
    EVP_DigestUpdate(ctx, opts, strlen(opts) + 1);
    const char *warm = old ? old->content_id : "";
    EVP_DigestUpdate(ctx, warm, strlen(warm) + 1);
    EVP_DigestFinal_ex(ctx, out, &len);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", out[i]);
}

/* Reads the checkpoint when there is one: a damaged file is an error, one written for
 * other inputs or options is ignored with a warning (this run replaces it). */
static rtn_status checkpoint_load(train_state *ts)
{
    char key[65] = "";
    int exists = 0;
    RTN_TRY(rtn_checkpoint_read(ts->comm, ts->path, &exists, key, &ts->lr, &ts->km));
    if (!exists) return RTN_OK;
    if (strcmp(key, ts->key) != 0) {
        rtn_warn("train: checkpoint '%s' was written for other features or options; ignored "
                 "(training starts from the beginning and replaces it)", ts->path);
        rtn_logreg_state_free(&ts->lr);
        rtn_kmeans_state_free(&ts->km);
        return RTN_OK;
    }
    char churn[96] = "not started", seg[128] = "not started";
    if (ts->lr.valid)
        snprintf(churn, sizeof churn, ts->lr.finished ? "done (%d iterations)" : "at iteration %d",
                 ts->lr.iteration);
    if (ts->km.valid && ts->km.finished)
        snprintf(seg, sizeof seg, "fit %d (k=%d) done", ts->km.job + 1, ts->km.k);
    else if (ts->km.valid)
        snprintf(seg, sizeof seg, "fit %d (k=%d) run %d, Lloyd iteration %d", ts->km.job + 1,
                 ts->km.k, ts->km.restart + 1, ts->km.iteration);
    rtn_info("train: resuming from checkpoint '%s': churn model %s; segments %s", ts->path, churn,
             seg);
    rtn_summary_set_int("train", "resumed", 1);
    return RTN_OK;
}

rtn_status rtn_cmd_train(MPI_Comm comm, int argc, char **argv)
{
    train_opts o;
    RTN_TRY(parse_opts(&o, argc, argv));
    rtn_features_data fd;
    rtn_phase_begin("train:load");
    rtn_status st = rtn_features_load(comm, o.features, &fd);
    rtn_phase_end("train:load");
    if (st) return st;
    rtn_model m;
    memset(&m, 0, sizeof m);
    m.ari_truth = NAN;
    train_state ts;
    memset(&ts, 0, sizeof ts);
    ts.comm = comm;
    ts.path = o.checkpoint;
    ts.every = o.checkpoint_every;
    rtn_model old;
    memset(&old, 0, sizeof old);
    int have_old = 0;
    truth_join tj;
    memset(&tj, 0, sizeof tj);
    uint8_t *part = rtn_malloc(fd.n + 1, "split");
    st = part ? RTN_OK : RTN_ERR_NOMEM;
    if (st == RTN_OK && o.warm) {
        st = rtn_model_load(o.warm, &old);
        have_old = st == RTN_OK;
        if (st == RTN_OK && old.d != fd.d)
            rtn_warn("train: --warm-start bundle has %zu features, these features %zu", old.d, fd.d);
    }
    st = rtn_agree(comm, st);
    if (st == RTN_OK && o.truth) st = load_truth(comm, o.truth, &fd, &tj);
    if (st == RTN_OK) {
        rtn_split_assign(fd.customer, fd.n, &o.split, part);
        st = rtn_features_content_digest(comm, &fd, m.features_digest);
    }
    if (st == RTN_OK) {
        rtn_info("train: %llu customers, %zu features, cutoff %s", (unsigned long long)fd.n_total,
                 fd.d, fd.cutoff_iso);
        m.d = fd.d;
        m.feature_names = rtn_calloc(fd.d, sizeof(char *), "names");
        for (size_t j = 0; m.feature_names && j < fd.d; j++) m.feature_names[j] = strdup(fd.feature_names[j]);
        m.cutoff = fd.cutoff;
        m.horizon_days = fd.horizon_days;
        m.lookback_days = fd.lookback_days;
        m.n_customers = fd.n_total;
        snprintf(m.cutoff_iso, sizeof m.cutoff_iso, "%s", fd.cutoff_iso);
        snprintf(m.currency, sizeof m.currency, "%s", fd.currency);
        snprintf(m.store_digest, sizeof m.store_digest, "%s", fd.store_digest);
        snprintf(m.features_path, sizeof m.features_path, "%s", o.features);
        snprintf(m.created_by, sizeof m.created_by, "%s", rtn_command_line());
        snprintf(m.creator_version, sizeof m.creator_version, "%s", RTN_VERSION_STRING);
        rtn_h5_timestamp(comm, m.created_at, sizeof m.created_at);
        json_t *oj = options_json(&o);
        m.options_json = json_dumps(oj, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(oj);
        json_t *job = json_object_get(rtn_summary_section("run"), "config");
        m.job_json = job ? json_dumps(job, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        rtn_summary_set_int("train", "customers", (int64_t)fd.n_total);
    }
    st = rtn_agree(comm, st);
    if (st == RTN_OK && ts.path) {
        checkpoint_key(&m, have_old ? &old : NULL, ts.key);
        st = checkpoint_load(&ts);
    }
    const train_ctx ctx = {comm, &o, &fd, part, o.truth ? &tj : NULL, have_old ? &old : NULL, &ts,
                           &m};
    for (size_t k = 0; k < rtn_n_model_kinds; k++) {
        const rtn_model_kind *kind = rtn_model_kinds[k];
        rtn_status (*fit)(const train_ctx *) = builtin_fit_of(kind->name);
        const rtn_fit_input in = {comm, &fd, part};
        if (st == RTN_OK && o.enabled[k])
            st = fit ? fit(&ctx)
                 : kind->fit ? kind->fit(&in, &m)
                             : rtn_fail(RTN_ERR_INTERNAL, "model kind '%s' has no fit", kind->name);
        st = rtn_agree(comm, st);
    }
    if (st == RTN_OK) {
        rtn_phase_begin("train:write");
        st = rtn_model_save(comm, o.out, &m);
        rtn_phase_end("train:write");
        if (st == RTN_OK) {
            rtn_info("train: wrote %s (content id %.16s)", o.out, m.content_id);
            rtn_summary_set_str("train", "bundle", o.out);
            rtn_summary_set_str("train", "content_id", m.content_id);
        }
    }
    if (ts.path && ts.writes > 0) {
        rtn_info("train: %d checkpoint writes, %.2f ms each", ts.writes,
                 1e3 * ts.write_seconds / ts.writes);
        rtn_summary_set_int("train", "checkpoint_writes", ts.writes);
        rtn_summary_set_real("train", "checkpoint_seconds", ts.write_seconds);
    }
    /* a finished training needs no checkpoint; an interrupted one keeps it */
    if (st == RTN_OK && ts.path) rtn_checkpoint_remove(comm, ts.path);
    rtn_logreg_state_free(&ts.lr);
    rtn_kmeans_state_free(&ts.km);
    free(part);
    free(tj.archetype);
    free(tj.oracle_p);
    if (have_old) rtn_model_free(&old);
    rtn_model_free(&m);
    rtn_features_data_free(&fd);
    return st;
}
