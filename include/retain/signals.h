/* Graceful stop for checkpoint/restart. SIGUSR1 and SIGTERM only set a flag; iterative
 * stages call rtn_stop_check() at iteration boundaries, where all ranks agree (one
 * allreduce) to stop together, write a checkpoint and return RTN_INTERRUPTED (exit 75).
 * Slurm sends the early-warning signal (--signal=B:USR1@120) or SIGTERM on preemption. */
#ifndef RETAIN_SIGNALS_H
#define RETAIN_SIGNALS_H

#include <mpi.h>

/* Installs the handlers (idempotent). */
void rtn_signals_install(void);
/* Non-zero when this rank received a stop signal. */
int rtn_stop_requested_local(void);
/* Marks a stop request as if a signal had arrived (tests). */
void rtn_stop_request(void);
/* Collective: 1 on every rank when any rank got a stop signal, or when the testing aid
 * RETAIN_INJECT_STOP="PHASE:ITERATION" names this phase and iteration; else 0. */
int rtn_stop_check(MPI_Comm comm, const char *phase, long iteration);

#endif
