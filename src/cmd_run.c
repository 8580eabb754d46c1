/* retain run JOBFILE: the whole pipeline from one job file, stage by stage, in one MPI
 * job. A stage whose outputs exist and whose command line and input fingerprints match its
 * stamp is skipped, so a failed or interrupted run resumes where it stopped. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "retain/cli.h"
#include "retain/commands.h"
#include "retain/h5.h"
#include "retain/job.h"
#include "retain/log.h"
#include "retain/signals.h"
#include "retain/version.h"

const char rtn_usage_run[] =
    "usage: retain run JOBFILE [--set SECTION.KEY=VALUE ...] [--from STAGE] [--to STAGE]\n"
    "                  [--dry-run]\n"
    "\n"
    "Runs the pipeline described by JOBFILE (INI; every key is documented in docs/jobs.md;\n"
    "jobs/quarterly.job is a commented example): data (generate, ingest or an existing\n"
    "store) -> features -> and the later stages the job file names. Outputs go to\n"
    "[job] output_dir. A stage whose outputs exist and whose inputs and settings are\n"
    "unchanged (its stamp in OUTPUT_DIR/.retain/) is skipped, so re-running a failed job\n"
    "resumes where it stopped.\n"
    "\n"
    "  --set S.K=V    override a job-file key (repeatable)\n"
    "  --from STAGE   re-run STAGE and every later stage even if up to date\n"
    "  --to STAGE     stop after STAGE\n"
    "  --dry-run      print the stage commands and whether each would run, run nothing\n"
    "\n"
    "Under Slurm the MPI size must equal SLURM_NTASKS (an MPI without PMI support would\n"
    "start N single-rank copies); the run stops with exit 8 otherwise.\n";

#define MAX_ARGS 64
#define MAX_IO 8

typedef struct {
    const char *name;
    const char *command;  /* NULL: nothing to run (an existing store) */
    int argc;
    char *argv[MAX_ARGS];
    int n_in, n_out;
    char *in[MAX_IO], *out[MAX_IO];
} stage_plan;

static const char *const stage_order[] = {"data", "features", "train", "score", "export",
                                          "report"};
enum { N_STAGES = sizeof stage_order / sizeof stage_order[0] };

static void plan_arg(stage_plan *p, const char *a)
{
    if (p->argc < MAX_ARGS - 1) p->argv[p->argc++] = strdup(a);
}

static void plan_opt(stage_plan *p, const char *opt, const char *val)
{
    if (!val) return;
    plan_arg(p, opt);
    plan_arg(p, val);
}

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

/* Forwards every present key of [section] as "--key value"; the values of the keys named in
 * `files` (NULL-terminated, may be NULL) are also inputs of the stage (fingerprinted). */
static void plan_keys(stage_plan *p, rtn_job *job, const char *section, const char *const *keys,
                      size_t n, const char *const *files)
{
    for (size_t i = 0; i < n; i++) {
        char opt[64];
        snprintf(opt, sizeof opt, "--%s", keys[i]);
        const char *v = rtn_job_get(job, section, keys[i]);
        plan_opt(p, opt, v);
        for (size_t f = 0; v && files && files[f]; f++)
            if (strcmp(keys[i], files[f]) == 0 && p->n_in < MAX_IO) p->in[p->n_in++] = strdup(v);
    }
}

static char *join_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static void plan_free(stage_plan *p)
{
    for (int i = 0; i < p->argc; i++) free(p->argv[i]);
    for (int i = 0; i < p->n_in; i++) free(p->in[i]);
    for (int i = 0; i < p->n_out; i++) free(p->out[i]);
    memset(p, 0, sizeof *p);
}

static int stage_index(const char *name)
{
    for (int i = 0; i < N_STAGES; i++)
        if (strcmp(stage_order[i], name) == 0) return i;
    return -1;
}

/* true/yes/1 -> 1, false/no/0 -> 0, anything else -1 */
static int parse_bool(const char *v)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) return 1;
    if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) return 0;
    return -1;
}

/* Builds the plan of every stage the job file asks for. */
static rtn_status make_plans(rtn_job *job, const char *outdir, stage_plan *plans, int *present)
{
    memset(present, 0, sizeof(int) * N_STAGES);
    char *store = NULL;
    /* data */
    stage_plan *p = &plans[0];
    p->name = "data";
    const char *source = rtn_job_get_or(job, "data", "source", NULL);
    if (!source) source = rtn_job_has_section(job, "ingest") ? "ingest" : "generate";
    const char *seed = rtn_job_get(job, "job", "seed");
    if (strcmp(source, "generate") == 0) {
        p->command = "generate";
        plan_arg(p, "generate");
        store = join_path(outdir, "store.h5");
        plan_opt(p, "--out", store);
        char *truth = join_path(outdir, "truth.h5");
        plan_opt(p, "--truth", truth);
        static const char *const keys[] = {"customers", "days", "start", "buckets"};
        plan_keys(p, job, "generate", keys, NKEYS(keys), NULL);
        plan_opt(p, "--seed", rtn_job_get_or(job, "generate", "seed", seed));
        p->out[p->n_out++] = strdup(store);
        p->out[p->n_out++] = truth;
    } else if (strcmp(source, "ingest") == 0) {
        p->command = "ingest";
        plan_arg(p, "ingest");
        store = join_path(outdir, "store.h5");
        plan_opt(p, "--out", store);
        static const char *const keys[] = {"format", "mapping", "key", "buckets",
                                           "max-reject-rate", "currency"};
        static const char *const file_keys[] = {"mapping", "key", NULL};
        plan_keys(p, job, "ingest", keys, NKEYS(keys), file_keys);
        char *rej = join_path(outdir, "rejects.csv");
        plan_opt(p, "--rejects", rej);
        const char *files = rtn_job_get(job, "ingest", "files");
        if (!files) return rtn_fail(RTN_ERR_CONFIG, "%s: [ingest] needs files = CSV ...", job->path);
        char *copy = strdup(files), *save = NULL;
        for (char *tok = strtok_r(copy, " \t,", &save); tok; tok = strtok_r(NULL, " \t,", &save)) {
            plan_arg(p, tok);
            if (p->n_in < MAX_IO) p->in[p->n_in++] = strdup(tok);
        }
        free(copy);
        p->out[p->n_out++] = strdup(store);
        p->out[p->n_out++] = rej;
    } else if (strcmp(source, "store") == 0) {
        const char *path = rtn_job_get(job, "data", "store");
        if (!path) return rtn_fail(RTN_ERR_CONFIG, "%s: [data] source = store needs store = PATH", job->path);
        store = strdup(path);
        p->command = NULL;
    } else {
        return rtn_fail(RTN_ERR_CONFIG, "%s: [data] source must be generate, ingest or store, not '%s'",
                        job->path, source);
    }
    present[0] = 1;

    /* features */
    if (rtn_job_has_section(job, "features")) {
        p = &plans[1];
        p->name = "features";
        p->command = "features";
        plan_arg(p, "features");
        plan_opt(p, "--store", store);
        char *feat = join_path(outdir, "features.h5");
        plan_opt(p, "--out", feat);
        static const char *const keys[] = {"cutoff", "horizon", "lookback", "population"};
        plan_keys(p, job, "features", keys, NKEYS(keys), NULL);
        p->in[p->n_in++] = strdup(store);
        p->out[p->n_out++] = feat;
        present[1] = 1;
    }

    /* train */
    if (rtn_job_has_section(job, "train")) {
        if (!present[1]) {
            free(store);
            return rtn_fail(RTN_ERR_CONFIG, "%s: [train] needs a [features] section", job->path);
        }
        p = &plans[2];
        p->name = "train";
        p->command = "train";
        plan_arg(p, "train");
        char *feat = join_path(outdir, "features.h5");
        char *model = join_path(outdir, "model.h5");
        plan_opt(p, "--features", feat);
        plan_opt(p, "--out", model);
        plan_opt(p, "--seed", rtn_job_get_or(job, "train", "seed", seed));
        /* a stopped training resumes from here when the run is restarted */
        char *ckpt = join_path(outdir, ".retain/train.ckpt");
        plan_opt(p, "--checkpoint", ckpt);
        free(ckpt);
        static const char *const keys[] = {"models", "split", "split-salt", "C", "lambda",
                                           "l1-ratio", "class-weight", "max-iter", "tol",
                                           "budget", "churn-transforms", "k",
                                           "segment-features", "n-init", "clv-months",
                                           "discount", "margin", "warm-start",
                                           "checkpoint-every"};
        static const char *const files[] = {"warm-start", NULL};
        plan_keys(p, job, "train", keys, NKEYS(keys), files);
        /* generated data comes with ground truth: report the oracle AUC and the ARI */
        if (strcmp(source, "generate") == 0) {
            char *truth = join_path(outdir, "truth.h5");
            plan_opt(p, "--truth", truth);
            p->in[p->n_in++] = truth;
        }
        p->in[p->n_in++] = feat;
        p->out[p->n_out++] = model;
        present[2] = 1;
    }

    /* score */
    if (rtn_job_has_section(job, "score")) {
        if (!present[2]) {
            free(store);
            return rtn_fail(RTN_ERR_CONFIG, "%s: [score] needs a [train] section", job->path);
        }
        p = &plans[3];
        p->name = "score";
        p->command = "score";
        plan_arg(p, "score");
        char *feat = join_path(outdir, "features.h5"), *model = join_path(outdir, "model.h5");
        char *scores = join_path(outdir, "scores.h5"), *csv = join_path(outdir, "scores.csv");
        char *wl = join_path(outdir, "warning-list.csv");
        plan_opt(p, "--model", model);
        plan_opt(p, "--features", feat);
        plan_opt(p, "--out", scores);
        const char *want_csv = rtn_job_get_or(job, "score", "csv", "true");
        int with_csv = strcmp(want_csv, "false") != 0 && strcmp(want_csv, "no") != 0;
        if (with_csv) plan_opt(p, "--csv", csv);
        const char *top = rtn_job_get_or(job, "score", "top", "1000");
        plan_opt(p, "--top", top);
        plan_opt(p, "--warning-list", wl);
        p->in[p->n_in++] = feat;
        p->in[p->n_in++] = model;
        p->out[p->n_out++] = scores;
        if (with_csv) p->out[p->n_out++] = csv;
        else free(csv);
        p->out[p->n_out++] = wl;
        present[3] = 1;
    }

    /* export */
    if (rtn_job_has_section(job, "export")) {
        if (!present[2]) {
            free(store);
            return rtn_fail(RTN_ERR_CONFIG, "%s: [export] needs a [train] section", job->path);
        }
        const char *keys[2] = {"onnx", "json"};
        int want[2];
        for (int i = 0; i < 2; i++) {
            const char *v = rtn_job_get_or(job, "export", keys[i], "true");
            want[i] = parse_bool(v);
            if (want[i] < 0) {
                free(store);
                return rtn_fail(RTN_ERR_CONFIG, "%s: [export] %s must be true or false, not '%s'",
                                job->path, keys[i], v);
            }
        }
        if (!want[0] && !want[1]) {
            free(store);
            return rtn_fail(RTN_ERR_CONFIG, "%s: [export] with onnx = false and json = false "
                            "exports nothing (remove the section)", job->path);
        }
        p = &plans[4];
        p->name = "export";
        p->command = "export";
        plan_arg(p, "export");
        char *model = join_path(outdir, "model.h5");
        plan_opt(p, "--model", model);
        p->in[p->n_in++] = model;
        if (want[0]) {
            char *onnx = join_path(outdir, "model.onnx");
            plan_opt(p, "--onnx", onnx);
            p->out[p->n_out++] = onnx;
        }
        if (want[1]) {
            char *json = join_path(outdir, "model.json");
            plan_opt(p, "--json", json);
            p->out[p->n_out++] = json;
        }
        present[4] = 1;
    }

    /* report: reads every earlier output */
    if (rtn_job_has_section(job, "report")) {
        if (!present[3]) {
            free(store);
            return rtn_fail(RTN_ERR_CONFIG, "%s: [report] needs a [score] section", job->path);
        }
        p = &plans[5];
        p->name = "report";
        p->command = "report";
        plan_arg(p, "report");
        char *feat = join_path(outdir, "features.h5"), *model = join_path(outdir, "model.h5");
        char *scores = join_path(outdir, "scores.h5"), *html = join_path(outdir, "report.html");
        char *figs = join_path(outdir, "report");
        plan_opt(p, "--store", store);
        plan_opt(p, "--features", feat);
        plan_opt(p, "--model", model);
        plan_opt(p, "--scores", scores);
        plan_opt(p, "--out", html);
        plan_opt(p, "--figures", figs);
        static const char *const keys[] = {"k-anon", "period-days"};
        plan_keys(p, job, "report", keys, NKEYS(keys), NULL);
        p->in[p->n_in++] = strdup(store);
        p->in[p->n_in++] = feat;
        p->in[p->n_in++] = model;
        p->in[p->n_in++] = scores;
        p->out[p->n_out++] = html;
        p->out[p->n_out++] = join_path(figs, "report.json");
        free(figs);
        present[5] = 1;
    }
    free(store);
    return RTN_OK;
}

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

static json_t *stamp_json(const stage_plan *p)
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
static int up_to_date(const stage_plan *p, const char *stamp_path)
{
    json_error_t err;
    json_t *old = json_load_file(stamp_path, 0, &err);
    if (!old) return 0;
    json_t *now = stamp_json(p);
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

static rtn_status check_slurm(MPI_Comm comm)
{
    int size;
    MPI_Comm_size(comm, &size);
    const char *ntasks = getenv("SLURM_NTASKS");
    const char *step = getenv("SLURM_STEP_NUM_TASKS");
    if (!ntasks || !getenv("SLURM_JOB_ID")) return RTN_OK;
    long nt = atol(ntasks), st = step ? atol(step) : -1;
    if (nt == size || st == size) return RTN_OK;
    return rtn_fail(RTN_ERR_MPI,
                    "MPI reports %d rank%s but Slurm allocated SLURM_NTASKS=%ld: this MPI does "
                    "not talk to Slurm's process manager (use srun --mpi=pmix with an Open MPI "
                    "built with PMIx, or mpirun inside the allocation)", size, size == 1 ? "" : "s",
                    nt);
}

static rtn_status mkdir_p(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return rtn_fail(RTN_ERR_IO, "cannot create directory '%s'", buf);
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return rtn_fail(RTN_ERR_IO, "cannot create directory '%s'", buf);
    return RTN_OK;
}

rtn_status rtn_cmd_run(MPI_Comm comm, int argc, char **argv)
{
    const rtn_command *self = rtn_find_command("run");
    static const struct option opts[] = {{"set", required_argument, 0, 's'},
                                         {"from", required_argument, 0, 'f'},
                                         {"to", required_argument, 0, 't'},
                                         {"dry-run", no_argument, 0, 'n'},
                                         {0, 0, 0, 0}};
    const char *sets[128];
    int nsets = 0, dry = 0;
    int from = -1, to = N_STAGES - 1;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (nsets == 128) return rtn_usage_error(self, "too many --set options");
            sets[nsets++] = optarg;
            break;
        case 'f':
        case 't': {
            int i = stage_index(optarg);
            if (i < 0)
                return rtn_usage_error(self, "unknown stage '%s' (stages: data, features, "
                                       "train, score, export, report)", optarg);
            if (c == 'f') from = i;
            else to = i;
            break;
        }
        case 'n': dry = 1; break;
        default: return rtn_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1) return rtn_usage_error(self, "expected exactly one JOBFILE");
    int rank;
    MPI_Comm_rank(comm, &rank);

    rtn_status st = check_slurm(comm);
    st = rtn_agree(comm, st);
    if (st) return st;

    rtn_job job;
    st = rtn_job_load(&job, argv[optind]);
    for (int i = 0; i < nsets && st == RTN_OK; i++) st = rtn_job_set(&job, sets[i]);
    stage_plan plans[N_STAGES];
    memset(plans, 0, sizeof plans);
    int present[N_STAGES] = {0};
    const char *outdir = NULL;
    if (st == RTN_OK) {
        outdir = rtn_job_get_or(&job, "job", "output_dir", "retain-out");
        rtn_job_get(&job, "job", "name");
        st = make_plans(&job, outdir, plans, present);
    }
    if (st == RTN_OK) {
        char *unused = rtn_job_unused(&job);
        if (unused) {
            st = rtn_fail(RTN_ERR_CONFIG, "%s: unknown keys (typos?): %s", job.path, unused);
            free(unused);
        }
    }
    st = rtn_agree(comm, st);
    if (st) goto done;
    json_object_set_new(rtn_summary_section("run"), "config", rtn_job_to_json(&job));
    rtn_summary_set_str("run", "job_file", job.path);

    char stampdir[4096];
    snprintf(stampdir, sizeof stampdir, "%s/.retain", outdir);
    if (rank == 0 && !dry) st = mkdir_p(stampdir);
    st = rtn_agree(comm, st);
    if (st) goto done;

    json_t *stages_json = json_object();
    json_object_set_new(rtn_summary_section("run"), "stages", stages_json);
    int forced = 0;
    for (int i = 0; i < N_STAGES && st == RTN_OK && i <= to; i++) {
        if (!present[i]) continue;
        stage_plan *p = &plans[i];
        if (from >= 0 && i >= from) forced = 1;
        char stamp_path[4200];
        snprintf(stamp_path, sizeof stamp_path, "%s/%s.json", stampdir, p->name);
        int skip = 0;
        if (rank == 0) skip = !p->command || (!forced && up_to_date(p, stamp_path));
        MPI_Bcast(&skip, 1, MPI_INT, 0, comm);
        if (p->command && !rtn_find_command(p->command)) {
            st = rtn_fail(RTN_ERR_CONFIG, "stage %s needs 'retain %s', which this build lacks",
                          p->name, p->command);
            break;
        }
        if (rank == 0) {
            char line[2048] = "";
            for (int a = 0; a < p->argc; a++) {
                strncat(line, a ? " " : "", sizeof line - strlen(line) - 1);
                strncat(line, p->argv[a], sizeof line - strlen(line) - 1);
            }
            if (!p->command) rtn_info("stage %-9s uses the existing store %s", p->name,
                                      p->n_in ? p->in[0] : "");
            else rtn_info("stage %-9s %s: retain %s", p->name,
                          dry ? (skip ? "up to date" : "would run") : (skip ? "up to date, skipped" : "running"),
                          line);
        }
        json_object_set_new(stages_json, p->name,
                            json_string(!p->command ? "input" : skip ? "skipped" : dry ? "planned" : "ran"));
        if (skip || dry) continue;
        const rtn_command *cmd = rtn_find_command(p->command);
        char phase[64];
        snprintf(phase, sizeof phase, "stage:%s", p->name);
        rtn_phase_begin(phase);
        /* commands may permute argv (getopt): hand them a copy */
        char *args[MAX_ARGS];
        memcpy(args, p->argv, sizeof(char *) * (size_t)p->argc);
        args[p->argc] = NULL;
        st = cmd->run(comm, p->argc, args);
        st = rtn_agree(comm, st);
        rtn_phase_end(phase);
        if (st) {
            rtn_fail_context(st, "stage %s", p->name);
            json_object_set_new(stages_json, p->name, json_string("failed"));
            break;
        }
        if (rank == 0) {
            json_t *stamp = stamp_json(p);
            char *txt = json_dumps(stamp, JSON_INDENT(2) | JSON_SORT_KEYS);
            st = txt ? rtn_atomic_write_file(stamp_path, txt, strlen(txt))
                     : rtn_fail(RTN_ERR_NOMEM, "stamp");
            free(txt);
            json_decref(stamp);
        }
        st = rtn_agree(comm, st);
        /* a stop request (Slurm's early warning, preemption) ends the run at this stage
         * boundary; the stamps make the next run resume with the following stage */
        if (st == RTN_OK && rtn_stop_check(comm, "run", i)) {
            st = rtn_fail(RTN_INTERRUPTED, "stopped on request after stage %s; run the same "
                          "command again to resume", p->name);
            st = rtn_agree(comm, st);
        }
    }
done:
    for (int i = 0; i < N_STAGES; i++) plan_free(&plans[i]);
    rtn_job_free(&job);
    return st;
}
