#include "retain/status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RTN_ERRMSG_MAX 2048

static char errmsg[RTN_ERRMSG_MAX];

rtn_status rtn_fail(rtn_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg, sizeof errmsg, fmt, ap);
    va_end(ap);
    return code;
}

rtn_status rtn_fail_context(rtn_status code, const char *fmt, ...)
{
    char prefix[RTN_ERRMSG_MAX];
    char old[RTN_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errmsg, sizeof old);
    if (old[0])
        snprintf(errmsg, sizeof errmsg, "%.1000s: %.1000s", prefix, old);
    else
        snprintf(errmsg, sizeof errmsg, "%s", prefix);
    return code;
}

const char *rtn_errmsg(void) { return errmsg; }

void rtn_clear_error(void) { errmsg[0] = '\0'; }

static char program_name[128] = "retain";

void rtn_set_program_name(const char *name) { snprintf(program_name, sizeof program_name, "%s", name); }

/* After the reduction red = {lowest failing rank (size when none), every rank failed}:
 * spreads the first failing rank's status and message to every rank. */
static rtn_status spread(MPI_Comm comm, rtn_status local, const int red[2])
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int first = red[0];
    if (first == size) return RTN_OK;

    int code = (int)local;
    char msg[RTN_ERRMSG_MAX];
    if (rank == first) {
        const char *text = errmsg[0] ? errmsg : rtn_status_name(local);
        /* Keep an already prefixed message (from an earlier agreement) as it is. */
        if (strncmp(errmsg, "rank ", 5) == 0 || size == 1 || red[1])
            snprintf(msg, sizeof msg, "%s", text);
        else
            snprintf(msg, sizeof msg, "rank %d: %.2000s", rank, text);
    }
    MPI_Bcast(&code, 1, MPI_INT, first, comm);
    MPI_Bcast(msg, sizeof msg, MPI_CHAR, first, comm);
    memcpy(errmsg, msg, sizeof errmsg);
    return (rtn_status)code;
}

rtn_status rtn_agree(MPI_Comm comm, rtn_status local)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    /* [0]: lowest failing rank; [1]: 1 when every rank failed (a collective error, such as
     * a bad job file that every rank reads, is reported without a rank prefix). */
    int mine[2] = {local != RTN_OK ? rank : size, local != RTN_OK};
    int red[2];
    MPI_Allreduce(mine, red, 2, MPI_INT, MPI_MIN, comm);
    return spread(comm, local, red);
}

rtn_status rtn_agree_bounded(MPI_Comm comm, rtn_status local, void (*cleanup)(void *),
                             void *arg)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int mine[2] = {local != RTN_OK ? rank : size, local != RTN_OK};
    int red[2];
    MPI_Request req;
    MPI_Iallreduce(mine, red, 2, MPI_INT, MPI_MIN, comm, &req);
    if (local == RTN_OK || size == 1) {
        MPI_Wait(&req, MPI_STATUS_IGNORE);
        return spread(comm, local, red);
    }
    const char *env = getenv("RETAIN_FAILURE_GRACE");
    double grace = env && atof(env) > 0 ? atof(env) : 10.0;
    double deadline = MPI_Wtime() + grace;
    int done = 0;
    while (!done) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (done) break;
        if (MPI_Wtime() > deadline) {
            /* The others are still inside the collective call this rank failed in, and
             * will never come out of it: end the job from here. */
            if (cleanup) cleanup(arg);
            fprintf(stderr, "%s: error: rank %d: %s (the other ranks did not leave the "
                    "failed collective call within %.0f s; ending the job)\n", program_name,
                    rank, errmsg[0] ? errmsg : rtn_status_name(local), grace);
            fflush(stderr);
            MPI_Abort(MPI_COMM_WORLD, (int)local);
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return spread(comm, local, red);
}

const char *rtn_status_name(rtn_status st)
{
    switch (st) {
    case RTN_OK: return "ok";
    case RTN_ERR_RUNTIME: return "runtime error";
    case RTN_ERR_USAGE: return "usage error";
    case RTN_ERR_IO: return "i/o error";
    case RTN_ERR_FORMAT: return "file format error";
    case RTN_ERR_DATA: return "data error";
    case RTN_ERR_CONFIG: return "configuration error";
    case RTN_ERR_NOMEM: return "out of memory";
    case RTN_ERR_MPI: return "MPI error";
    case RTN_ERR_NUMERIC: return "numerical error";
    case RTN_ERR_INTERNAL: return "internal error";
    case RTN_INTERRUPTED: return "interrupted (checkpoint written)";
    }
    return "unknown error";
}

void *rtn_malloc(size_t n, const char *what)
{
    void *p = malloc(n ? n : 1);
    if (!p) rtn_fail(RTN_ERR_NOMEM, "out of memory allocating %zu bytes for %s", n, what);
    return p;
}

void *rtn_calloc(size_t count, size_t size, const char *what)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        rtn_fail(RTN_ERR_NOMEM, "out of memory allocating %zu x %zu bytes for %s", count, size,
                 what);
    return p;
}

rtn_status rtn_inject_failure(const char *phase, int rank)
{
    const char *spec = getenv("RETAIN_INJECT_FAILURE");
    if (!spec || !*spec) return RTN_OK;
    const char *colon = strrchr(spec, ':');
    if (!colon) return RTN_OK;
    size_t plen = (size_t)(colon - spec);
    if (plen != strlen(phase) || strncmp(spec, phase, plen) != 0) return RTN_OK;
    if (atoi(colon + 1) != rank) return RTN_OK;
    return rtn_fail(RTN_ERR_RUNTIME, "injected failure in phase '%s' (RETAIN_INJECT_FAILURE)",
                    phase);
}
