/* Re-stamps a model bundle edited on purpose by a test (a parameter swapped with h5py):
 * loads it without the content-id check and saves it again, which records the content id
 * of what it now holds. usage: bundle_restamp IN OUT */
#include <mpi.h>
#include <stdio.h>

#include "retain/model.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: bundle_restamp IN OUT\n");
        return 2;
    }
    MPI_Init(&argc, &argv);
    rtn_model m;
    rtn_status st = rtn_model_load_unverified(argv[1], &m);
    if (st == RTN_OK) {
        st = rtn_model_save(MPI_COMM_WORLD, argv[2], &m);
        rtn_model_free(&m);
    }
    if (st) fprintf(stderr, "bundle_restamp: %s\n", rtn_errmsg());
    MPI_Finalize();
    return (int)st;
}
