#include "retain/job.h"

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rtn_status add(rtn_job *job, const char *section, const char *key, const char *value,
                      int line)
{
    for (size_t i = 0; i < job->n; i++)
        if (strcmp(job->e[i].section, section) == 0 && strcmp(job->e[i].key, key) == 0) {
            char *v = strdup(value);
            if (!v) return rtn_fail(RTN_ERR_NOMEM, "out of memory reading the job file");
            free(job->e[i].value);
            job->e[i].value = v;
            job->e[i].line = line;
            return RTN_OK;
        }
    if (job->n == job->cap) {
        size_t cap = job->cap ? job->cap * 2 : 32;
        rtn_job_entry *e = realloc(job->e, cap * sizeof *e);
        if (!e) return rtn_fail(RTN_ERR_NOMEM, "out of memory reading the job file");
        job->e = e;
        job->cap = cap;
    }
    rtn_job_entry *x = &job->e[job->n];
    x->section = strdup(section);
    x->key = strdup(key);
    x->value = strdup(value);
    x->line = line;
    x->used = 0;
    if (!x->section || !x->key || !x->value) return rtn_fail(RTN_ERR_NOMEM, "out of memory");
    job->n++;
    return RTN_OK;
}

/* Debian's libinih is built without line numbers in the handler; the reader callback
 * counts lines instead (inih calls the handler right after reading the line). */
typedef struct {
    rtn_job *job;
    rtn_status st;
    FILE *f;
    int line;
} parse_ctx;

static char *read_line(char *str, int num, void *stream)
{
    parse_ctx *c = stream;
    char *r = fgets(str, num, c->f);
    if (r) c->line++;
    return r;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *c = user;
    int lineno = c->line;
    if (!*section) {
        c->st = rtn_fail(RTN_ERR_CONFIG, "%s:%d: key '%s' is outside any [section]",
                         c->job->path, lineno, name);
        return 0;
    }
    c->st = add(c->job, section, name, value, lineno);
    return c->st == RTN_OK;
}

rtn_status rtn_job_load(rtn_job *job, const char *path)
{
    memset(job, 0, sizeof *job);
    snprintf(job->path, sizeof job->path, "%s", path);
    FILE *f = fopen(path, "r");
    if (!f) return rtn_fail(RTN_ERR_IO, "cannot open job file '%s'", path);
    parse_ctx c = {job, RTN_OK, f, 0};
    int line = ini_parse_stream(read_line, &c, on_entry, &c);
    fclose(f);
    if (c.st) return c.st;
    if (line > 0)
        return rtn_fail(RTN_ERR_CONFIG, "%s:%d: syntax error (expected [section] or key = value)",
                        path, line);
    if (line < 0) return rtn_fail(RTN_ERR_IO, "cannot read job file '%s'", path);
    return RTN_OK;
}

rtn_status rtn_job_set(rtn_job *job, const char *assignment)
{
    const char *dot = strchr(assignment, '.');
    const char *eq = strchr(assignment, '=');
    if (!dot || !eq || dot > eq || dot == assignment || eq == dot + 1)
        return rtn_fail(RTN_ERR_USAGE, "--set '%s': expected section.key=value", assignment);
    char section[256], key[256];
    snprintf(section, sizeof section, "%.*s", (int)(dot - assignment), assignment);
    snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
    return add(job, section, key, eq + 1, 0);
}

void rtn_job_free(rtn_job *job)
{
    for (size_t i = 0; i < job->n; i++) {
        free(job->e[i].section);
        free(job->e[i].key);
        free(job->e[i].value);
    }
    free(job->e);
    job->e = NULL;
    job->n = job->cap = 0;
}

const char *rtn_job_get(rtn_job *job, const char *section, const char *key)
{
    for (size_t i = 0; i < job->n; i++)
        if (strcmp(job->e[i].section, section) == 0 && strcmp(job->e[i].key, key) == 0) {
            job->e[i].used = 1;
            return job->e[i].value;
        }
    return NULL;
}

const char *rtn_job_get_or(rtn_job *job, const char *section, const char *key, const char *dflt)
{
    const char *v = rtn_job_get(job, section, key);
    return v ? v : dflt;
}

int rtn_job_has_section(const rtn_job *job, const char *section)
{
    for (size_t i = 0; i < job->n; i++)
        if (strcmp(job->e[i].section, section) == 0) return 1;
    return 0;
}

json_t *rtn_job_to_json(const rtn_job *job)
{
    json_t *o = json_object();
    for (size_t i = 0; i < job->n; i++) {
        json_t *s = json_object_get(o, job->e[i].section);
        if (!s) {
            s = json_object();
            json_object_set_new(o, job->e[i].section, s);
        }
        json_object_set_new(s, job->e[i].key, json_string(job->e[i].value));
    }
    return o;
}

char *rtn_job_unused(const rtn_job *job)
{
    size_t len = 0;
    for (size_t i = 0; i < job->n; i++)
        if (!job->e[i].used) len += strlen(job->e[i].section) + strlen(job->e[i].key) + 32;
    if (!len) return NULL;
    char *s = calloc(len + 1, 1);
    if (!s) return NULL;
    for (size_t i = 0; i < job->n; i++) {
        if (job->e[i].used) continue;
        char part[600];
        if (job->e[i].line)
            snprintf(part, sizeof part, "%s%s.%s (line %d)", *s ? ", " : "", job->e[i].section,
                     job->e[i].key, job->e[i].line);
        else
            snprintf(part, sizeof part, "%s%s.%s (--set)", *s ? ", " : "", job->e[i].section,
                     job->e[i].key);
        strncat(s, part, len - strlen(s));
    }
    return s;
}
