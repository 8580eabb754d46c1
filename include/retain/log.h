/* Rank-0 logging, progress reporting, per-phase timers and the JSON run summary.
 *
 * Only rank 0 prints. Timers are kept per rank and reduced (max over ranks) when the
 * summary is finalized, since the slowest rank is what the user waits for. */
#ifndef RETAIN_LOG_H
#define RETAIN_LOG_H

#include <jansson.h>
#include <mpi.h>
#include <stdint.h>

#include "retain/status.h"

typedef enum { RTN_LOG_ERROR = 0, RTN_LOG_WARN, RTN_LOG_INFO, RTN_LOG_DEBUG } rtn_log_level;

/* Must be called after MPI_Init. */
void rtn_log_init(MPI_Comm comm, rtn_log_level level);
void rtn_log_set_level(rtn_log_level level);
rtn_log_level rtn_log_get_level(void);
/* Parses "error|warn|info|debug"; returns -1 when unknown. */
int rtn_log_parse_level(const char *s);

void rtn_log(rtn_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define rtn_info(...) rtn_log(RTN_LOG_INFO, __VA_ARGS__)
#define rtn_warn(...) rtn_log(RTN_LOG_WARN, __VA_ARGS__)
#define rtn_debug(...) rtn_log(RTN_LOG_DEBUG, __VA_ARGS__)

/* Seconds since rtn_log_init (monotonic clock). */
double rtn_elapsed(void);
double rtn_now(void);

/* Progress of a long phase, as seen from rank 0's share of the work (ranks are balanced
 * by construction, so rank 0's fraction is a fair estimate of the whole). */
typedef struct {
    const char *what;
    const char *unit;
    double total;     /* rank 0's amount of work, in units */
    double start;
    double last_print;
    double interval;  /* seconds between lines */
} rtn_progress;

void rtn_progress_begin(rtn_progress *p, const char *what, const char *unit, double total_local);
void rtn_progress_update(rtn_progress *p, double done_local);
void rtn_progress_end(rtn_progress *p, double done_local);

/* Phase timers: begin/end pairs, nested phases are not supported (use distinct names). */
void rtn_phase_begin(const char *name);
void rtn_phase_end(const char *name);

/* Run summary (a JSON object built on every rank; only rank 0's copy is written).
 * Modules add their counts under a section: rtn_summary_section("ingest"). */
json_t *rtn_summary_root(void);
json_t *rtn_summary_section(const char *name);
void rtn_summary_set_int(const char *section, const char *key, int64_t v);
void rtn_summary_set_real(const char *section, const char *key, double v);
void rtn_summary_set_str(const char *section, const char *key, const char *v);

/* Collective: reduces the phase timers (max over ranks) into the summary under
 * "phases", records the exit status and message, and writes FILE atomically on rank 0
 * when path is non-NULL. Also prints the per-phase timing table at info level. */
rtn_status rtn_summary_finish(MPI_Comm comm, rtn_status st, const char *path);

/* Releases the summary and timers (tests and repeated runs). */
void rtn_summary_reset(void);

#endif
