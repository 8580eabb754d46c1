#include "retain/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "retain/atomic.h"

static int log_rank;
static int log_size = 1;
static rtn_log_level log_level = RTN_LOG_INFO;
static double t0;

#define MAX_PHASES 64
typedef struct {
    char name[48];
    double start;
    double total;
    int running;
} phase_timer;
static phase_timer phases[MAX_PHASES];
static int n_phases;
static json_t *summary;
/* I/O counters at start-up: a process that replaced a shell (exec) inherits the counts of
 * the children that shell had reaped, so only the difference is this run's. */
static unsigned long long io_at_start[2];
static void read_io_counters(unsigned long long io[2]);

double rtn_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double rtn_elapsed(void) { return rtn_now() - t0; }

static void atomic_notice(const char *msg) { rtn_info("%s", msg); }

void rtn_log_init(MPI_Comm comm, rtn_log_level level)
{
    rtn_atomic_set_notice(atomic_notice);
    MPI_Comm_rank(comm, &log_rank);
    MPI_Comm_size(comm, &log_size);
    log_level = level;
    const char *env = getenv("RETAIN_LOG_LEVEL");
    if (env) {
        int l = rtn_log_parse_level(env);
        if (l >= 0) log_level = (rtn_log_level)l;
    }
    t0 = rtn_now();
    read_io_counters(io_at_start);
}

void rtn_log_set_level(rtn_log_level level) { log_level = level; }
rtn_log_level rtn_log_get_level(void) { return log_level; }

int rtn_log_parse_level(const char *s)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

void rtn_log(rtn_log_level level, const char *fmt, ...)
{
    if (log_rank != 0 || level > log_level) return;
    static const char *tags[] = {"error", "warn", "info", "debug"};
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (level == RTN_LOG_INFO)
        fprintf(stderr, "[%8.2fs] %s\n", rtn_elapsed(), line);
    else
        fprintf(stderr, "[%8.2fs] %s: %s\n", rtn_elapsed(), tags[level], line);
    fflush(stderr);
}

void rtn_progress_begin(rtn_progress *p, const char *what, const char *unit, double total_local)
{
    p->what = what;
    p->unit = unit;
    p->total = total_local;
    p->start = rtn_now();
    p->last_print = p->start;
    const char *iv = getenv("RETAIN_PROGRESS_INTERVAL");
    p->interval = iv ? atof(iv) : 5.0;
}

static void human_rate(double per_s, char *buf, size_t n)
{
    if (per_s >= 1e9) snprintf(buf, n, "%.2f G", per_s / 1e9);
    else if (per_s >= 1e6) snprintf(buf, n, "%.2f M", per_s / 1e6);
    else if (per_s >= 1e3) snprintf(buf, n, "%.1f k", per_s / 1e3);
    else snprintf(buf, n, "%.1f ", per_s);
}

void rtn_progress_update(rtn_progress *p, double done_local)
{
    if (log_rank != 0 || log_level < RTN_LOG_INFO) return;
    double now = rtn_now();
    if (now - p->last_print < p->interval) return;
    p->last_print = now;
    double el = now - p->start;
    double rate = el > 0 ? done_local / el : 0;
    double frac = p->total > 0 ? done_local / p->total : 0;
    double eta = rate > 0 ? (p->total - done_local) / rate : 0;
    char r[32];
    human_rate(rate * log_size, r, sizeof r);
    rtn_log(RTN_LOG_INFO, "%s: %5.1f%%  %s%s/s  ETA %.0fs", p->what, 100.0 * frac, r, p->unit,
            eta);
}

void rtn_progress_end(rtn_progress *p, double done_local)
{
    double el = rtn_now() - p->start;
    char r[32];
    human_rate(el > 0 ? done_local * log_size / el : 0, r, sizeof r);
    rtn_debug("%s: done in %.2fs (%s%s/s)", p->what, el, r, p->unit);
}

static phase_timer *find_phase(const char *name, int create)
{
    for (int i = 0; i < n_phases; i++)
        if (strcmp(phases[i].name, name) == 0) return &phases[i];
    if (!create || n_phases == MAX_PHASES) return NULL;
    phase_timer *t = &phases[n_phases++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->total = 0;
    t->running = 0;
    return t;
}

void rtn_phase_begin(const char *name)
{
    phase_timer *t = find_phase(name, 1);
    if (!t) return;
    t->start = rtn_now();
    t->running = 1;
}

void rtn_phase_end(const char *name)
{
    phase_timer *t = find_phase(name, 0);
    if (!t || !t->running) return;
    t->total += rtn_now() - t->start;
    t->running = 0;
}

json_t *rtn_summary_root(void)
{
    if (!summary) summary = json_object();
    return summary;
}

json_t *rtn_summary_section(const char *name)
{
    json_t *root = rtn_summary_root();
    json_t *s = json_object_get(root, name);
    if (!s) {
        s = json_object();
        json_object_set_new(root, name, s);
    }
    return s;
}

void rtn_summary_set_int(const char *section, const char *key, int64_t v)
{
    json_object_set_new(rtn_summary_section(section), key, json_integer((json_int_t)v));
}

void rtn_summary_set_real(const char *section, const char *key, double v)
{
    json_object_set_new(rtn_summary_section(section), key, json_real(v));
}

void rtn_summary_set_str(const char *section, const char *key, const char *v)
{
    json_object_set_new(rtn_summary_section(section), key, json_string(v ? v : ""));
}

/* Bytes this process moved through read/write system calls (rchar, wchar of /proc/self/io;
 * page-cache hits included, memory-mapped access not). Zero where the file is missing. */
static void read_io_counters(unsigned long long io[2])
{
    io[0] = io[1] = 0;
    FILE *f = fopen("/proc/self/io", "r");
    if (!f) return;
    char line[128];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "rchar:", 6) == 0) io[0] = strtoull(line + 6, NULL, 10);
        else if (strncmp(line, "wchar:", 6) == 0) io[1] = strtoull(line + 6, NULL, 10);
    }
    fclose(f);
}

rtn_status rtn_summary_finish(MPI_Comm comm, rtn_status st, const char *path)
{
    /* Phase lists can differ between ranks when one failed early: reduce by rank 0's
     * names, each rank contributing 0 for a phase it never entered. */
    int n = n_phases;
    MPI_Bcast(&n, 1, MPI_INT, 0, comm);
    char names[MAX_PHASES][48];
    if (log_rank == 0)
        for (int i = 0; i < n; i++) memcpy(names[i], phases[i].name, 48);
    MPI_Bcast(names, n * 48, MPI_CHAR, 0, comm);
    double local[MAX_PHASES], maxv[MAX_PHASES], minv[MAX_PHASES];
    for (int i = 0; i < n; i++) {
        phase_timer *t = find_phase(names[i], 0);
        local[i] = t ? t->total + (t->running ? rtn_now() - t->start : 0) : 0;
    }
    MPI_Reduce(local, maxv, n, MPI_DOUBLE, MPI_MAX, 0, comm);
    MPI_Reduce(local, minv, n, MPI_DOUBLE, MPI_MIN, 0, comm);
    /* peak resident memory of the largest rank (kilobytes on Linux) */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long rss_local = ru.ru_maxrss, rss_max = 0;
    MPI_Reduce(&rss_local, &rss_max, 1, MPI_LONG, MPI_MAX, 0, comm);
    unsigned long long io_local[2], io_sum[2] = {0, 0};
    read_io_counters(io_local);
    for (int i = 0; i < 2; i++) io_local[i] = io_local[i] >= io_at_start[i] ? io_local[i] - io_at_start[i] : 0;
    MPI_Reduce(io_local, io_sum, 2, MPI_UNSIGNED_LONG_LONG, MPI_SUM, 0, comm);

    rtn_status wst = RTN_OK;
    if (log_rank == 0) {
        json_t *root = rtn_summary_root();
        json_t *ph = json_object();
        for (int i = 0; i < n; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "seconds_max", json_real(maxv[i]));
            json_object_set_new(o, "seconds_min", json_real(minv[i]));
            json_object_set_new(ph, names[i], o);
        }
        json_object_set_new(root, "phases", ph);
        json_object_set_new(root, "ranks", json_integer(log_size));
        json_object_set_new(root, "wall_seconds", json_real(rtn_elapsed()));
        json_object_set_new(root, "peak_rss_mb_max_rank", json_real((double)rss_max / 1024.0));
        json_object_set_new(root, "bytes_read", json_integer((json_int_t)io_sum[0]));
        json_object_set_new(root, "bytes_written", json_integer((json_int_t)io_sum[1]));
        json_object_set_new(root, "exit_status", json_integer(st));
        json_object_set_new(root, "status", json_string(rtn_status_name(st)));
        if (st != RTN_OK) json_object_set_new(root, "error", json_string(rtn_errmsg()));
        if (n > 0) {
            rtn_info("phase timings (max over %d rank%s):", log_size, log_size > 1 ? "s" : "");
            for (int i = 0; i < n; i++)
                rtn_info("  %-22s %10.3f s", names[i], maxv[i]);
            rtn_info("  peak memory per rank  %10.1f MB", (double)rss_max / 1024.0);
        }
        if (path) {
            char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
            if (!text) {
                wst = rtn_fail(RTN_ERR_NOMEM, "cannot serialize the run summary");
            } else {
                size_t len = strlen(text);
                char *withnl = rtn_malloc(len + 2, "run summary");
                if (!withnl) {
                    wst = RTN_ERR_NOMEM;
                } else {
                    memcpy(withnl, text, len);
                    withnl[len] = '\n';
                    withnl[len + 1] = '\0';
                    wst = rtn_atomic_write_file(path, withnl, len + 1);
                    free(withnl);
                }
                free(text);
            }
        }
    }
    MPI_Bcast(&wst, 1, MPI_INT, 0, comm);
    return wst;
}

void rtn_summary_reset(void)
{
    if (summary) json_decref(summary);
    summary = NULL;
    n_phases = 0;
}
