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
#include "retain/stages.h"

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
    const int n_stages = rtn_stage_count();
    int from = -1, to = n_stages - 1;
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
            int i = rtn_stage_index(optarg);
            if (i < 0)
                return rtn_usage_error(self, "unknown stage '%s' (stages: %s)", optarg,
                                       rtn_stage_list());
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
    rtn_stage_plan *plans = calloc((size_t)n_stages, sizeof *plans);
    int *present = calloc((size_t)n_stages, sizeof *present);
    if ((!plans || !present) && st == RTN_OK) st = rtn_fail(RTN_ERR_NOMEM, "stage plans");
    const char *outdir = NULL;
    if (st == RTN_OK) {
        outdir = rtn_job_get_or(&job, "job", "output_dir", "retain-out");
        rtn_job_get(&job, "job", "name");
        st = rtn_stages_plan(&job, outdir, plans, present);
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
    for (int i = 0; i < n_stages && st == RTN_OK && i <= to; i++) {
        if (!present[i]) continue;
        rtn_stage_plan *p = &plans[i];
        if (from >= 0 && i >= from) forced = 1;
        char stamp_path[4200];
        snprintf(stamp_path, sizeof stamp_path, "%s/%s.json", stampdir, p->name);
        int skip = 0;
        if (rank == 0) skip = !p->command || (!forced && rtn_stage_up_to_date(p, stamp_path));
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
        char *args[RTN_STAGE_MAX_ARGS];
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
            json_t *stamp = rtn_stage_stamp_json(p);
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
    for (int i = 0; plans && i < n_stages; i++) rtn_stage_plan_free(&plans[i]);
    free(plans);
    free(present);
    rtn_job_free(&job);
    return st;
}
