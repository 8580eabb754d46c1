/* The stage table of `retain run` and the planning loop over it. A new stage is one row of
 * `stages` below (plus, when its fixed paths need it, a head and a tail function) and its
 * section in docs/jobs.md. */
#include "retain/stages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "retain/model_kind.h"
#include "retain/version.h"

/* --- building a plan ------------------------------------------------------------------ */

static void plan_arg(rtn_stage_plan *p, const char *a)
{
    if (p->argc < RTN_STAGE_MAX_ARGS - 1) p->argv[p->argc++] = strdup(a);
}

static void plan_opt(rtn_stage_plan *p, const char *opt, const char *val)
{
    if (!val) return;
    plan_arg(p, opt);
    plan_arg(p, val);
}

/* Files are handed over: the plan frees them. */
static void plan_in(rtn_stage_plan *p, char *path)
{
    if (p->n_in < RTN_STAGE_MAX_IO) p->in[p->n_in++] = path;
    else free(path);
}

static void plan_out(rtn_stage_plan *p, char *path)
{
    if (p->n_out < RTN_STAGE_MAX_IO) p->out[p->n_out++] = path;
    else free(path);
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static char *out_path(const rtn_stage_ctx *ctx, const char *name)
{
    return join_path(ctx->outdir, name);
}

/* "OPT OUTPUT_DIR/NAME" on the command line, and the file among the stage's inputs or
 * outputs (their order does not matter: stamps keep them sorted by path). */
static void plan_input(rtn_stage_ctx *ctx, rtn_stage_plan *p, const char *opt, const char *name)
{
    char *path = out_path(ctx, name);
    plan_opt(p, opt, path);
    plan_in(p, path);
}

static void plan_output(rtn_stage_ctx *ctx, rtn_stage_plan *p, const char *opt, const char *name)
{
    char *path = out_path(ctx, name);
    plan_opt(p, opt, path);
    plan_out(p, path);
}

/* Forwards every present key of [section] as "--key value"; the values of file_keys are
 * also inputs of the stage (fingerprinted). */
static void plan_keys(rtn_stage_plan *p, rtn_job *job, const char *section,
                      const char *const *keys, const char *const *file_keys)
{
    for (size_t i = 0; keys && keys[i]; i++) {
        char opt[64];
        snprintf(opt, sizeof opt, "--%s", keys[i]);
        const char *v = rtn_job_get(job, section, keys[i]);
        plan_opt(p, opt, v);
        for (size_t f = 0; v && file_keys && file_keys[f]; f++)
            if (strcmp(keys[i], file_keys[f]) == 0) plan_in(p, strdup(v));
    }
}

void rtn_stage_plan_free(rtn_stage_plan *p)
{
    for (int i = 0; i < p->argc; i++) free(p->argv[i]);
    for (int i = 0; i < p->n_in; i++) free(p->in[i]);
    for (int i = 0; i < p->n_out; i++) free(p->out[i]);
    memset(p, 0, sizeof *p);
}

/* true/yes/1 -> 1, false/no/0 -> 0, anything else -1 */
static int parse_bool(const char *v)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) return 1;
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) return 0;
    return -1;
}

/* --- the stages' fixed paths ---------------------------------------------------------- */

static rtn_status generate_head(rtn_stage_ctx *ctx, rtn_stage_plan *p)
{
    ctx->store = out_path(ctx, "store.h5");
    plan_opt(p, "--out", ctx->store);
    plan_out(p, strdup(ctx->store));
    plan_output(ctx, p, "--truth", "truth.h5");
    return RTN_OK;
}

static rtn_status generate_tail(rtn_stage_ctx *ctx, rtn_stage_plan *p)
{
    plan_opt(p, "--seed", rtn_job_get_or(ctx->job, "generate", "seed", ctx->seed));
    return RTN_OK;
}

static rtn_status ingest_head(rtn_stage_ctx *ctx, rtn_stage_plan *p)
{
    ctx->store = out_path(ctx, "store.h5");
    plan_opt(p, "--out", ctx->store);
    return RTN_OK;
}

static rtn_status ingest_tail(rtn_stage_ctx *ctx, rtn_stage_plan *p)
{
    char *rejects = out_path(ctx, "rejects.csv");
    plan_opt(p, "--rejects", rejects);
    const char *files = rtn_job_get(ctx->job, "ingest", "files");
    if (!files) {
        free(rejects);
        return rtn_fail(RTN_ERR_CONFIG, "%s: [ingest] needs files = CSV ...", ctx->job->path);
    }
    char *copy = strdup(files), *save = NULL;
    for (char *tok = strtok_r(copy, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
        plan_arg(p, tok);
        plan_in(p, strdup(tok));
    }
    free(copy);
    plan_out(p, strdup(ctx->store));
    plan_out(p, rejects);
    return RTN_OK;
}

static rtn_status store_head(rtn_stage_ctx *ctx, rtn_stage_plan *p)
{
    const char *path = rtn_job_get(ctx->job, "data", "store");
    if (!path)
        return rtn_fail(RTN_ERR_CONFIG, "%s: [data] source = store needs store = PATH",
                        ctx->job->path);
    ctx->store = strdup(path);
    plan_in(p, strdup(path));
    return RTN_OK;
}

static rtn_status features_head(rtn_stage_ctx *ctx, rtn_stage_plan *p)
{
    plan_opt(p, "--store", ctx->store);
    plan_in(p, strdup(ctx->store));
    plan_output(ctx, p, "--out", "features.h5");
    return RTN_OK;
}

static rtn_status train_head(rtn_stage_ctx *ctx, rtn_stage_plan *p)
{
    plan_input(ctx, p, "--features", "features.h5");
    plan_output(ctx, p, "--out", "model.h5");
    plan_opt(p, "--seed", rtn_job_get_or(ctx->job, "train", "seed", ctx->seed));
    /* a stopped training resumes from here when the run is restarted */
    char *ckpt = out_path(ctx, ".retain/train.ckpt");
    plan_opt(p, "--checkpoint", ckpt);
    free(ckpt);
    return RTN_OK;
}

static rtn_status train_tail(rtn_stage_ctx *ctx, rtn_stage_plan *p)
{
    /* every model kind's options are keys of [train] (retain/model_kind.h) */
    for (size_t k = 0; k < rtn_n_model_kinds; k++)
        plan_keys(p, ctx->job, "train", rtn_model_kinds[k]->option_names, NULL);
    static const char *const general[] = {"warm-start", "checkpoint-every", NULL};
    static const char *const files[] = {"warm-start", NULL};
    plan_keys(p, ctx->job, "train", general, files);
    /* generated data comes with ground truth: report the oracle AUC and the ARI */
    if (strcmp(ctx->source, "generate") == 0) plan_input(ctx, p, "--truth", "truth.h5");
    return RTN_OK;
}

static rtn_status score_head(rtn_stage_ctx *ctx, rtn_stage_plan *p)
{
    plan_input(ctx, p, "--model", "model.h5");
    plan_input(ctx, p, "--features", "features.h5");
    plan_output(ctx, p, "--out", "scores.h5");
    const char *want_csv = rtn_job_get_or(ctx->job, "score", "csv", "true");
    if (strcmp(want_csv, "false") != 0 && strcmp(want_csv, "no") != 0)
        plan_output(ctx, p, "--csv", "scores.csv");
    plan_opt(p, "--top", rtn_job_get_or(ctx->job, "score", "top", "1000"));
    plan_output(ctx, p, "--warning-list", "warning-list.csv");
    return RTN_OK;
}

static rtn_status export_head(rtn_stage_ctx *ctx, rtn_stage_plan *p)
{
    static const char *const formats[2] = {"onnx", "json"};
    static const char *const options[2] = {"--onnx", "--json"};
    static const char *const files[2] = {"model.onnx", "model.json"};
    int want[2];
    for (int i = 0; i < 2; i++) {
        const char *v = rtn_job_get_or(ctx->job, "export", formats[i], "true");
        want[i] = parse_bool(v);
        if (want[i] < 0)
            return rtn_fail(RTN_ERR_CONFIG, "%s: [export] %s must be true or false, not '%s'",
                            ctx->job->path, formats[i], v);
    }
    if (!want[0] && !want[1])
        return rtn_fail(RTN_ERR_CONFIG, "%s: [export] with onnx = false and json = false "
                        "exports nothing (remove the section)", ctx->job->path);
    plan_input(ctx, p, "--model", "model.h5");
    for (int i = 0; i < 2; i++)
        if (want[i]) plan_output(ctx, p, options[i], files[i]);
    return RTN_OK;
}

/* reads every earlier output */
static rtn_status report_head(rtn_stage_ctx *ctx, rtn_stage_plan *p)
{
    plan_opt(p, "--store", ctx->store);
    plan_in(p, strdup(ctx->store));
    plan_input(ctx, p, "--features", "features.h5");
    plan_input(ctx, p, "--model", "model.h5");
    plan_input(ctx, p, "--scores", "scores.h5");
    plan_output(ctx, p, "--out", "report.html");
    char *figs = out_path(ctx, "report");
    plan_opt(p, "--figures", figs);
    plan_out(p, join_path(figs, "report.json"));
    free(figs);
    return RTN_OK;
}

/* --- the table ------------------------------------------------------------------------ */

#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})

static const rtn_stage stages[] = {
    {.name = "data", .variant = "generate", .section = "generate", .always = 1,
     .command = "generate", .keys = KEYS("customers", "days", "start", "buckets"),
     .head = generate_head, .tail = generate_tail},
    {.name = "data", .variant = "ingest", .section = "ingest", .always = 1, .command = "ingest",
     .keys = KEYS("format", "mapping", "key", "buckets", "max-reject-rate", "currency"),
     .file_keys = KEYS("mapping", "key"), .head = ingest_head, .tail = ingest_tail},
    {.name = "data", .variant = "store", .section = "data", .always = 1, .head = store_head},
    {.name = "features", .section = "features", .command = "features", .needs = "data",
     .keys = KEYS("cutoff", "horizon", "lookback", "population"), .head = features_head},
    {.name = "train", .section = "train", .command = "train", .needs = "features",
     .keys = KEYS("models", "split", "split-salt"), .head = train_head, .tail = train_tail},
    {.name = "score", .section = "score", .command = "score", .needs = "train",
     .head = score_head},
    {.name = "export", .section = "export", .command = "export", .needs = "train",
     .head = export_head},
    {.name = "report", .section = "report", .command = "report", .needs = "score",
     .keys = KEYS("k-anon", "period-days"), .head = report_head},
};
enum { N_ROWS = sizeof stages / sizeof stages[0] };

/* Stage i's first row; stages are the distinct names in table order. */
static const rtn_stage *stage_row(int i)
{
    int k = -1;
    for (int r = 0; r < N_ROWS; r++) {
        if (r == 0 || strcmp(stages[r].name, stages[r - 1].name) != 0) k++;
        if (k == i) return &stages[r];
    }
    return NULL;
}

int rtn_stage_count(void)
{
    int n = 0;
    while (stage_row(n)) n++;
    return n;
}

const char *rtn_stage_name(int i)
{
    const rtn_stage *s = stage_row(i);
    return s ? s->name : NULL;
}

int rtn_stage_index(const char *name)
{
    for (int i = 0; rtn_stage_name(i); i++)
        if (strcmp(rtn_stage_name(i), name) == 0) return i;
    return -1;
}

const char *rtn_stage_list(void)
{
    static char list[256];
    if (!list[0])
        for (int i = 0; rtn_stage_name(i); i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     rtn_stage_name(i));
    return list;
}

/* The row of stage i this job uses: the variant named by the data source, or the only one. */
static const rtn_stage *chosen_row(int i, const char *source, const char *path,
                                   rtn_status *st)
{
    const rtn_stage *first = stage_row(i);
    if (!first->variant) return first;
    for (const rtn_stage *s = first; s < stages + N_ROWS && !strcmp(s->name, first->name); s++)
        if (strcmp(s->variant, source) == 0) return s;
    char variants[128] = "";
    for (const rtn_stage *s = first; s < stages + N_ROWS && !strcmp(s->name, first->name); s++)
        snprintf(variants + strlen(variants), sizeof variants - strlen(variants), "%s%s",
                 s == first ? "" : s + 1 < stages + N_ROWS && !strcmp(s[1].name, first->name) ? ", " : " or ",
                 s->variant);
    *st = rtn_fail(RTN_ERR_CONFIG, "%s: [%s] source must be %s, not '%s'", path, first->name,
                   variants, source);
    return NULL;
}

rtn_status rtn_stages_plan(rtn_job *job, const char *outdir, rtn_stage_plan *plans, int *present)
{
    int n = rtn_stage_count();
    memset(present, 0, sizeof(int) * (size_t)n);
    rtn_stage_ctx ctx = {.job = job, .outdir = outdir};
    ctx.source = rtn_job_get_or(job, "data", "source", NULL);
    if (!ctx.source) ctx.source = rtn_job_has_section(job, "ingest") ? "ingest" : "generate";
    ctx.seed = rtn_job_get(job, "job", "seed");
    rtn_status st = RTN_OK;
    for (int i = 0; i < n && st == RTN_OK; i++) {
        const rtn_stage *s = chosen_row(i, ctx.source, job->path, &st);
        if (!s) break;
        if (!s->always && !rtn_job_has_section(job, s->section)) continue;
        if (s->needs) {
            int need = rtn_stage_index(s->needs);
            if (!present[need]) {
                const rtn_stage *needed = stage_row(need);
                st = rtn_fail(RTN_ERR_CONFIG, "%s: [%s] needs a [%s] section", job->path,
                              s->section, needed->variant ? needed->name : needed->section);
                break;
            }
        }
        rtn_stage_plan *p = &plans[i];
        p->name = s->name;
        p->command = s->command;
        if (s->command) plan_arg(p, s->command);
        if (s->head) st = s->head(&ctx, p);
        if (st == RTN_OK) plan_keys(p, job, s->section, s->keys, s->file_keys);
        if (st == RTN_OK && s->tail) st = s->tail(&ctx, p);
        if (st == RTN_OK) present[i] = 1;
    }
    free(ctx.store);
    return st;
}

/* --- stamps --------------------------------------------------------------------------- */

/* size and modification time: cheap, and enough to notice a replaced file */
static void fingerprint(const char *path, char *buf, size_t n)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(buf, n, "missing");
        return;
    }
    snprintf(buf, n, "%lld:%lld.%09ld", (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
             (long)sb.st_mtim.tv_nsec);
}

json_t *rtn_stage_stamp_json(const rtn_stage_plan *p)
{
    json_t *o = json_object();
    json_t *argv = json_array();
    for (int i = 0; i < p->argc; i++) json_array_append_new(argv, json_string(p->argv[i]));
    json_object_set_new(o, "argv", argv);
    json_object_set_new(o, "retain_version", json_string(RTN_VERSION_STRING));
    json_t *in = json_object(), *out = json_object();
    char fp[128];
    for (int i = 0; i < p->n_in; i++) {
        fingerprint(p->in[i], fp, sizeof fp);
        json_object_set_new(in, p->in[i], json_string(fp));
    }
    for (int i = 0; i < p->n_out; i++) {
        fingerprint(p->out[i], fp, sizeof fp);
        json_object_set_new(out, p->out[i], json_string(fp));
    }
    json_object_set_new(o, "inputs", in);
    json_object_set_new(o, "outputs", out);
    return o;
}

/* Up to date when the stamp's argv and input fingerprints equal the current ones and every
 * output still has the fingerprint recorded when the stage finished. */
int rtn_stage_up_to_date(const rtn_stage_plan *p, const char *stamp_path)
{
    json_error_t err;
    json_t *old = json_load_file(stamp_path, 0, &err);
    if (!old) return 0;
    json_t *now = rtn_stage_stamp_json(p);
    int same = json_equal(json_object_get(old, "argv"), json_object_get(now, "argv")) &&
               json_equal(json_object_get(old, "inputs"), json_object_get(now, "inputs")) &&
               json_equal(json_object_get(old, "outputs"), json_object_get(now, "outputs")) &&
               json_equal(json_object_get(old, "retain_version"),
                          json_object_get(now, "retain_version"));
    for (int i = 0; i < p->n_out; i++) {
        struct stat sb;
        if (stat(p->out[i], &sb) != 0) same = 0;
    }
    json_decref(old);
    json_decref(now);
    return same;
}
