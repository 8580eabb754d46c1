/* Status codes and the error convention shared by every module.
 *
 * Every fallible function returns rtn_status. On failure it records a message with
 * context (file, dataset, line, rank ...) through rtn_fail() and returns the code.
 * Local errors stay local until an agreement point: rtn_agree() makes every rank see
 * the same status and the message of the lowest failing rank, so all ranks leave the
 * program together with one clear message (never a hang in a later collective).
 * Status values double as process exit codes (docs/cli.md). */
#ifndef RETAIN_STATUS_H
#define RETAIN_STATUS_H

#include <mpi.h>

typedef enum {
    RTN_OK = 0,
    RTN_ERR_RUNTIME = 1,     /* generic failure */
    RTN_ERR_USAGE = 2,       /* bad command line */
    RTN_ERR_IO = 3,          /* file cannot be opened, read or written */
    RTN_ERR_FORMAT = 4,      /* file exists but is damaged, truncated or foreign */
    RTN_ERR_DATA = 5,        /* input data violates a rule (reject rate, empty input ...) */
    RTN_ERR_CONFIG = 6,      /* job file or mapping file problem */
    RTN_ERR_NOMEM = 7,       /* allocation failed */
    RTN_ERR_MPI = 8,         /* MPI environment problem (size mismatch ...) */
    RTN_ERR_NUMERIC = 9,     /* optimizer diverged, singular matrix ... */
    RTN_ERR_INTERNAL = 10,   /* a bug: invariant broken */
    RTN_INTERRUPTED = 75     /* stopped at a checkpoint on request (SIGTERM/SIGUSR1) */
} rtn_status;

/* Records a formatted message for the current rank and returns code. */
rtn_status rtn_fail(rtn_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefixes the current message with more context ("reading X: <old message>"). */
rtn_status rtn_fail_context(rtn_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The last recorded message on this rank ("" when none). */
const char *rtn_errmsg(void);
void rtn_clear_error(void);

/* Collective agreement point: every rank passes its local status; every rank gets the
 * first failing rank's status (lowest rank number) and its message becomes the current
 * message on every rank. A local error (some ranks failed) is prefixed with "rank R: ";
 * a collective one (every rank failed) is not. Returns RTN_OK when all succeeded. */
rtn_status rtn_agree(MPI_Comm comm, rtn_status local);

/* rtn_agree for the agreement right after a collective I/O call (parallel HDF5, MPI-IO).
 * A rank that failed inside such a call cannot know whether the others came out of it:
 * HDF5 skips its remaining collective steps on the failing rank while the others wait in
 * them. So a failed rank waits at most RETAIN_FAILURE_GRACE seconds (default 10) for the
 * others; then it calls cleanup(arg) (removing its temporary files), prints its message
 * and ends the job with MPI_Abort, its status being the exit code of every rank. Ranks
 * that succeeded wait as in rtn_agree. Every rank must call it at the same point. */
rtn_status rtn_agree_bounded(MPI_Comm comm, rtn_status local, void (*cleanup)(void *),
                             void *arg);

/* The "retain COMMAND" prefix of a message printed by rtn_agree_bounded. */
void rtn_set_program_name(const char *name);

/* Name of a status code ("io error", ...). */
const char *rtn_status_name(rtn_status st);

/* Short-hands for the common patterns. */
#define RTN_TRY(expr)                                                              \
    do {                                                                           \
        rtn_status rtn_try_st_ = (expr);                                           \
        if (rtn_try_st_ != RTN_OK) return rtn_try_st_;                             \
    } while (0)

/* Allocation helpers that record an error with the requested size. */
void *rtn_malloc(size_t n, const char *what);
void *rtn_calloc(size_t count, size_t size, const char *what);

/* Test hook: when RETAIN_INJECT_FAILURE="PHASE:RANK" names this phase and rank,
 * returns a failure status (used to prove that one failing rank ends all ranks). */
rtn_status rtn_inject_failure(const char *phase, int rank);

#endif
