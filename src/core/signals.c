#include "retain/signals.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

void rtn_signals_install(void)
{
    /* installed again after MPI_Init in case the MPI library replaced a handler */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int rtn_stop_requested_local(void) { return stop_flag != 0; }

void rtn_stop_request(void) { stop_flag = 1; }

static int injected(const char *phase, long iteration)
{
    const char *spec = getenv("RETAIN_INJECT_STOP");
    if (!spec || !*spec) return 0;
    const char *colon = strrchr(spec, ':');
    if (!colon) return 0;
    size_t plen = (size_t)(colon - spec);
    if (plen != strlen(phase) || strncmp(spec, phase, plen) != 0) return 0;
    return atol(colon + 1) == iteration;
}

int rtn_stop_check(MPI_Comm comm, const char *phase, long iteration)
{
    int mine = stop_flag != 0 || injected(phase, iteration);
    int any = 0;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);
    return any;
}
