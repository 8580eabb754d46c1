/* Collective agreement: a failure on one rank reaches every rank with the same status and
 * the message of the lowest failing rank. */
#include <mpi.h>
#include <string.h>

#include "retain/log.h"
#include "retain/status.h"
#include "rtn_test.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm comm = MPI_COMM_WORLD;
    rtn_log_init(comm, RTN_LOG_WARN);
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);

    CHECK(rtn_agree(comm, RTN_OK) == RTN_OK);

    /* last rank fails with a data error */
    rtn_status st = RTN_OK;
    if (rank == size - 1) st = rtn_fail(RTN_ERR_DATA, "bad row 17 in part %d", rank);
    st = rtn_agree(comm, st);
    CHECK(st == RTN_ERR_DATA);
    char want[128];
    if (size > 1) snprintf(want, sizeof want, "rank %d: bad row 17 in part %d", size - 1, size - 1);
    else snprintf(want, sizeof want, "bad row 17 in part 0");
    CHECK(strcmp(rtn_errmsg(), want) == 0);
    if (strcmp(rtn_errmsg(), want) != 0) fprintf(stderr, "got '%s' want '%s'\n", rtn_errmsg(), want);

    /* two ranks fail differently: the lowest rank wins on all ranks */
    st = RTN_OK;
    if (rank >= 1 || size == 1) st = rtn_fail(rank == 1 ? RTN_ERR_IO : RTN_ERR_FORMAT, "failure on %d", rank);
    st = rtn_agree(comm, st);
    CHECK(st == (size == 1 ? RTN_ERR_FORMAT : RTN_ERR_IO));

    /* an agreed message is not prefixed twice when agreed again */
    rtn_status again = rtn_agree(comm, st);
    CHECK(again == st);
    CHECK(strncmp(rtn_errmsg(), "rank rank", 9) != 0);

    /* a collective error (every rank failed the same way) carries no rank prefix */
    rtn_clear_error();
    st = rtn_agree(comm, rtn_fail(RTN_ERR_CONFIG, "job.ini:3: bad key"));
    CHECK(st == RTN_ERR_CONFIG);
    CHECK(strcmp(rtn_errmsg(), "job.ini:3: bad key") == 0);

    /* injected failure helper */
    setenv("RETAIN_INJECT_FAILURE", "phase-x:1", 1);
    CHECK(rtn_inject_failure("phase-x", 1) != RTN_OK);
    CHECK(rtn_inject_failure("phase-x", 0) == RTN_OK);
    CHECK(rtn_inject_failure("phase-y", 1) == RTN_OK);
    unsetenv("RETAIN_INJECT_FAILURE");

    int anyfail = 0;
    MPI_Allreduce(&rtn_test_failures, &anyfail, 1, MPI_INT, MPI_MAX, comm);
    int code = rank == 0 ? rtn_test_finish("test_agree") : 0;
    if (anyfail) code = 1;
    MPI_Finalize();
    return code;
}
