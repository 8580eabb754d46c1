/* retain train: fits the model kinds of the table (retain/model_kind.h: churn, segments,
 * lifetime value, ...) on a features file and writes them as one model bundle. This file
 * holds what all of them share: the general options and each kind's own, the split, the
 * warm-start bundle and the ground truth handed to every fit, the checkpoint file that
 * keeps the kinds' solver states, and the bundle's provenance. */
#include <getopt.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/checkpoint.h"
#include "retain/cli.h"
#include "retain/commands.h"
#include "retain/features.h"
#include "retain/h5.h"
#include "retain/log.h"
#include "retain/model.h"
#include "retain/model_kind.h"
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
    ;

void rtn_usage_train_rest(FILE *out)
{
    fputs("  --models LIST          which models, comma-separated: ", out);
    for (size_t k = 0; k < rtn_n_model_kinds; k++)
        fprintf(out, "%s%s", k ? "," : "", rtn_model_kinds[k]->name);
    fputs(" (default all)\n"
          "  --checkpoint FILE      keep the solver state in FILE (docs/jobs.md): on SIGUSR1 or\n"
          "                         SIGTERM every rank stops at the next iteration, FILE is written\n"
          "                         and the exit status is 75; when FILE exists (same features and\n"
          "                         options) training resumes from it; removed after success\n"
          "  --checkpoint-every N   iterations between checkpoint writes (default 20; a stop\n"
          "                         request and the end of every model and k-means run always write)\n",
          out);
    for (size_t k = 0; k < rtn_n_model_kinds; k++)
        if (rtn_model_kinds[k]->options_help) fputs(rtn_model_kinds[k]->options_help, out);
}

typedef struct {
    const char *features, *out, *warm, *truth;
    uint64_t seed;
    rtn_split_options split;
    int enabled[RTN_MODEL_KINDS_MAX];   /* by model-kind table position */
    void *kind_opts[RTN_MODEL_KINDS_MAX]; /* each kind's options_new, or NULL */
    const char *checkpoint;
    int checkpoint_every;
} train_opts;

static void opts_free(train_opts *o)
{
    for (size_t k = 0; k < rtn_n_model_kinds; k++) free(o->kind_opts[k]);
}

/* The kinds' solver states (kept current at every iteration boundary), one checkpoint slot
 * each, and the file they go to. */
typedef struct {
    MPI_Comm comm;
    const char *path; /* NULL: no checkpoint, no stop at iteration boundaries */
    int every;
    char key[65];
    rtn_solver_state slot[RTN_MODEL_KINDS_MAX];
    int since_write, writes;
    double write_seconds;
} train_state;

static rtn_status checkpoint_boundary(const rtn_fit_input *in, const char *phase, long iteration,
                                      int force)
{
    train_state *c = in->run;
    if (!c->path) return RTN_OK;
    int stop = rtn_stop_check(c->comm, phase, iteration);
    if (stop || force || ++c->since_write >= c->every) {
        double t = rtn_now();
        RTN_TRY(rtn_checkpoint_write(c->comm, c->path, c->key, c->slot, rtn_n_model_kinds));
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

/* Ground truth rows of this rank's buckets, joined to the feature rows by customer key. */
static rtn_status load_truth(MPI_Comm comm, const char *path, const rtn_features_data *fd,
                             rtn_truth *tj)
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

/* General options first, then every kind's (getopt values 256 + 64 * position + index). */
enum { GENERAL_OPTIONS = 10, KIND_OPTION_BASE = 256, KIND_OPTIONS_MAX = 64 };

static rtn_status kind_option(train_opts *o, int c)
{
    size_t k = (size_t)(c - KIND_OPTION_BASE) / KIND_OPTIONS_MAX;
    size_t i = (size_t)(c - KIND_OPTION_BASE) % KIND_OPTIONS_MAX;
    const rtn_model_kind *kind = rtn_model_kinds[k];
    return kind->option(o->kind_opts[k], kind->option_names[i], optarg);
}

static rtn_status parse_opts(train_opts *o, int argc, char **argv)
{
    const rtn_command *self = rtn_find_command("train");
    static const struct option general[GENERAL_OPTIONS] = {
        {"features", required_argument, 0, 'f'}, {"out", required_argument, 0, 'o'},
        {"seed", required_argument, 0, 's'},     {"split", required_argument, 0, 'S'},
        {"split-salt", required_argument, 0, 'T'}, {"warm-start", required_argument, 0, 'w'},
        {"truth", required_argument, 0, 't'},    {"models", required_argument, 0, 'M'},
        {"checkpoint", required_argument, 0, 'P'}, {"checkpoint-every", required_argument, 0, 'E'}};
    struct option opts[GENERAL_OPTIONS + 1 + RTN_MODEL_KINDS_MAX * KIND_OPTIONS_MAX];
    size_t n = 0;
    for (; n < GENERAL_OPTIONS; n++) opts[n] = general[n];
    memset(o, 0, sizeof *o);
    o->seed = 42;
    rtn_split_defaults(&o->split);
    o->checkpoint_every = 20;
    for (size_t k = 0; k < rtn_n_model_kinds; k++) {
        const rtn_model_kind *kind = rtn_model_kinds[k];
        o->enabled[k] = 1;
        if (kind->options_new && !(o->kind_opts[k] = kind->options_new())) return RTN_ERR_NOMEM;
        for (size_t i = 0; kind->option_names && kind->option_names[i]; i++) {
            if (i == KIND_OPTIONS_MAX)
                return rtn_fail(RTN_ERR_INTERNAL, "model kind '%s' has more than %d options",
                                kind->name, KIND_OPTIONS_MAX);
            opts[n++] = (struct option){kind->option_names[i], required_argument, 0,
                                        KIND_OPTION_BASE + (int)(k * KIND_OPTIONS_MAX + i)};
        }
    }
    opts[n] = (struct option){0, 0, 0, 0};
    optind = 1;
    opterr = 0;
    int c;
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
        case 'P': o->checkpoint = optarg; break;
        case 'E': {
            uint64_t u;
            st = rtn_parse_u64("--checkpoint-every", optarg, 1, 1000000, &u);
            o->checkpoint_every = (int)u;
            break;
        }
        default:
            if (c >= KIND_OPTION_BASE) {
                st = kind_option(o, c);
                break;
            }
            return rtn_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
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

/* The options record (bundle, summary, checkpoint key): the general options and every
 * kind's, whether it is trained or not. */
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
    for (size_t k = 0; k < rtn_n_model_kinds; k++)
        if (rtn_model_kinds[k]->options_json)
            rtn_model_kinds[k]->options_json(o->kind_opts[k], j);
    json_object_set_new(j, "warm_start", o->warm ? json_string(o->warm) : json_null());
    return j;
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
    RTN_TRY(rtn_checkpoint_read(ts->comm, ts->path, &exists, key, ts->slot, rtn_n_model_kinds));
    if (!exists) return RTN_OK;
    if (strcmp(key, ts->key) != 0) {
        rtn_warn("train: checkpoint '%s' was written for other features or options; ignored "
                 "(training starts from the beginning and replaces it)", ts->path);
        for (size_t k = 0; k < rtn_n_model_kinds; k++) rtn_solver_state_free(&ts->slot[k]);
        return RTN_OK;
    }
    char states[512] = "";
    for (size_t k = 0; k < rtn_n_model_kinds; k++) {
        if (ts->slot[k].solver == RTN_SOLVER_NONE) continue;
        char one[160];
        rtn_solver_state_describe(&ts->slot[k], one, sizeof one);
        snprintf(states + strlen(states), sizeof states - strlen(states), "%s%s %s",
                 states[0] ? "; " : "", rtn_model_kinds[k]->name, one);
    }
    rtn_info("train: resuming from checkpoint '%s': %s", ts->path, states);
    rtn_summary_set_int("train", "resumed", 1);
    return RTN_OK;
}

/* The bundle's description of the features and its provenance. */
static rtn_status describe(MPI_Comm comm, const train_opts *o, const rtn_features_data *fd,
                           rtn_model *m)
{
    rtn_info("train: %llu customers, %zu features, cutoff %s", (unsigned long long)fd->n_total,
             fd->d, fd->cutoff_iso);
    m->d = fd->d;
    m->feature_names = rtn_calloc(fd->d, sizeof(char *), "names");
    if (!m->feature_names) return RTN_ERR_NOMEM;
    for (size_t j = 0; j < fd->d; j++)
        if (!(m->feature_names[j] = strdup(fd->feature_names[j]))) return RTN_ERR_NOMEM;
    m->cutoff = fd->cutoff;
    m->horizon_days = fd->horizon_days;
    m->lookback_days = fd->lookback_days;
    m->n_customers = fd->n_total;
    snprintf(m->cutoff_iso, sizeof m->cutoff_iso, "%s", fd->cutoff_iso);
    snprintf(m->currency, sizeof m->currency, "%s", fd->currency);
    snprintf(m->store_digest, sizeof m->store_digest, "%s", fd->store_digest);
    snprintf(m->features_path, sizeof m->features_path, "%s", o->features);
    snprintf(m->created_by, sizeof m->created_by, "%s", rtn_command_line());
    snprintf(m->creator_version, sizeof m->creator_version, "%s", RTN_VERSION_STRING);
    rtn_h5_timestamp(comm, m->created_at, sizeof m->created_at);
    json_t *oj = options_json(o);
    m->options_json = json_dumps(oj, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(oj);
    json_t *job = json_object_get(rtn_summary_section("run"), "config");
    m->job_json = job ? json_dumps(job, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    rtn_summary_set_int("train", "customers", (int64_t)fd->n_total);
    return m->options_json ? RTN_OK : RTN_ERR_NOMEM;
}

rtn_status rtn_cmd_train(MPI_Comm comm, int argc, char **argv)
{
    train_opts o;
    rtn_status st = parse_opts(&o, argc, argv);
    if (st) {
        opts_free(&o);
        return st;
    }
    rtn_features_data fd;
    rtn_phase_begin("train:load");
    st = rtn_features_load(comm, o.features, &fd);
    rtn_phase_end("train:load");
    if (st) {
        opts_free(&o);
        return st;
    }
    rtn_model m;
    memset(&m, 0, sizeof m);
    m.ari_truth = NAN;
    train_state ts;
    memset(&ts, 0, sizeof ts);
    ts.comm = comm;
    ts.path = o.checkpoint;
    ts.every = o.checkpoint_every;
    char groups[RTN_MODEL_KINDS_MAX][72]; /* a kind's checkpoint group is "/NAME" */
    for (size_t k = 0; k < rtn_n_model_kinds; k++) {
        snprintf(groups[k], sizeof groups[k], "/%s", rtn_model_kinds[k]->name);
        ts.slot[k].solver = rtn_model_kinds[k]->solver;
        ts.slot[k].group = groups[k];
    }
    rtn_model old;
    memset(&old, 0, sizeof old);
    int have_old = 0;
    rtn_truth tj;
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
    if (st == RTN_OK) st = describe(comm, &o, &fd, &m);
    st = rtn_agree(comm, st);
    if (st == RTN_OK && ts.path) {
        checkpoint_key(&m, have_old ? &old : NULL, ts.key);
        st = checkpoint_load(&ts);
    }
    for (size_t k = 0; k < rtn_n_model_kinds; k++) {
        const rtn_model_kind *kind = rtn_model_kinds[k];
        const rtn_fit_input in = {
            .comm = comm, .fd = &fd, .features_path = o.features, .part = part, .seed = o.seed,
            .warm = have_old ? &old : NULL, .truth = o.truth ? &tj : NULL,
            .options = o.kind_opts[k], .state = &ts.slot[k], .position = (int)k,
            .boundary = checkpoint_boundary, .run = &ts};
        if (st == RTN_OK && o.enabled[k])
            st = kind->fit ? kind->fit(&in, &m)
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
    for (size_t k = 0; k < rtn_n_model_kinds; k++) rtn_solver_state_free(&ts.slot[k]);
    free(part);
    free(tj.archetype);
    free(tj.oracle_p);
    if (have_old) rtn_model_free(&old);
    rtn_model_free(&m);
    rtn_features_data_free(&fd);
    opts_free(&o);
    return st;
}
