/* Job files: INI (parsed with libinih) describing a whole pipeline run, with
 * command-line overrides (--set section.key=value). docs/jobs.md lists every key. */
#ifndef RETAIN_JOB_H
#define RETAIN_JOB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/status.h"

typedef struct {
    char *section, *key, *value;
    int line;      /* line in the job file, 0 for an override */
    int used;      /* looked up by a stage (unused keys are reported as typos) */
} rtn_job_entry;

typedef struct {
    char path[4096];
    rtn_job_entry *e;
    size_t n, cap;
} rtn_job;

/* Parses FILE; errors name the file and line. */
rtn_status rtn_job_load(rtn_job *job, const char *path);
/* "section.key=value"; replaces or adds. */
rtn_status rtn_job_set(rtn_job *job, const char *assignment);
void rtn_job_free(rtn_job *job);

/* Lookups (mark the entry used). get returns NULL when absent. */
const char *rtn_job_get(rtn_job *job, const char *section, const char *key);
const char *rtn_job_get_or(rtn_job *job, const char *section, const char *key, const char *dflt);
int rtn_job_has_section(const rtn_job *job, const char *section);

/* The resolved configuration as JSON {section: {key: value}} (for summaries, provenance). */
json_t *rtn_job_to_json(const rtn_job *job);
/* Entries never looked up, as "section.key (line N)" joined by ", "; NULL when none. */
char *rtn_job_unused(const rtn_job *job);

#endif
