/* The stages of `retain run`, described once in a table (src/pipeline/stages.c): each row
 * names the stage, the job-file section that asks for it, the command it runs, the stage
 * it reads from, the keys of its section forwarded as options, and two small functions
 * that add the fixed paths (inputs and outputs under [job] output_dir) before and after
 * those keys. Planning a run is a loop over the table; so is the stamp check that lets a
 * re-run skip what is up to date (docs/jobs.md). */
#ifndef RETAIN_STAGES_H
#define RETAIN_STAGES_H

#include <jansson.h>

#include "retain/job.h"
#include "retain/status.h"

#define RTN_STAGE_MAX_ARGS 64
#define RTN_STAGE_MAX_IO 8

/* What one stage will run: argv for its command, and the files it reads and writes (their
 * fingerprints make its stamp). */
typedef struct {
    const char *name;
    const char *command;  /* NULL: nothing to run (the data stage over an existing store) */
    int argc;
    char *argv[RTN_STAGE_MAX_ARGS];
    int n_in, n_out;
    char *in[RTN_STAGE_MAX_IO], *out[RTN_STAGE_MAX_IO];
} rtn_stage_plan;

/* What the planning functions share: the job, the output folder, the data source, the
 * job-wide seed and the store path the data stage settles. */
typedef struct {
    rtn_job *job;
    const char *outdir;
    const char *source;  /* generate, ingest or store */
    const char *seed;    /* [job] seed, NULL when absent */
    char *store;
} rtn_stage_ctx;

typedef rtn_status (*rtn_stage_plan_fn)(rtn_stage_ctx *ctx, rtn_stage_plan *p);

typedef struct {
    const char *name;      /* --from/--to value, stamp name (OUTPUT_DIR/.retain/NAME.json) */
    const char *variant;   /* data stage only: the [data] source this row serves */
    const char *section;   /* the job-file section of its keys; its presence asks for the stage */
    int always;            /* part of every run, whether or not the section is there */
    const char *command;   /* the retain command run; NULL: none */
    const char *needs;     /* the earlier stage whose outputs it reads; NULL: none */
    const char *const *keys;       /* keys of section forwarded as --KEY VALUE (NULL-ended) */
    const char *const *file_keys;  /* those of keys whose value is an input file */
    rtn_stage_plan_fn head;        /* options and files before the keys; may be NULL */
    rtn_stage_plan_fn tail;        /* after the keys; may be NULL */
} rtn_stage;

/* Stages in run order (a stage with variants is one stage, several rows). */
int rtn_stage_count(void);
const char *rtn_stage_name(int i);
/* Index of the stage NAME, -1 when there is none. */
int rtn_stage_index(const char *name);
/* "data, features, ..." for messages. */
const char *rtn_stage_list(void);

/* Plans every stage the job asks for into plans[rtn_stage_count()]; present[i] is set for
 * each. Errors name the job file and the section. */
rtn_status rtn_stages_plan(rtn_job *job, const char *outdir, rtn_stage_plan *plans, int *present);
void rtn_stage_plan_free(rtn_stage_plan *p);

/* The stamp of a finished stage: argv, retain version and the fingerprints (size, mtime)
 * of its inputs and outputs. */
json_t *rtn_stage_stamp_json(const rtn_stage_plan *p);
/* 1 when the stamp at STAMP_PATH matches the plan now and every output is still there. */
int rtn_stage_up_to_date(const rtn_stage_plan *p, const char *stamp_path);

#endif
