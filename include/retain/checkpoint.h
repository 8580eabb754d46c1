/* Training checkpoint (docs/formats.md, "Training checkpoint"): the solver states of the
 * churn model and of the segmentation at an iteration boundary, in one small HDF5 file
 * written atomically by rank 0. The file carries a key (SHA-256 of the features digest
 * and the training options): `retain train` resumes only from a checkpoint with its own
 * key. */
#ifndef RETAIN_CHECKPOINT_H
#define RETAIN_CHECKPOINT_H

#include <mpi.h>

#include "retain/kmeans.h"
#include "retain/logreg.h"
#include "retain/status.h"

#define RTN_CHECKPOINT_FORMAT "retain-train-checkpoint"
#define RTN_CHECKPOINT_FORMAT_VERSION 1

/* Collective: rank 0 writes `path` atomically with the valid states (either may be NULL
 * or not valid); every rank gets the agreed status. */
rtn_status rtn_checkpoint_write(MPI_Comm comm, const char *path, const char *key,
                                const rtn_logreg_state *churn, const rtn_kmeans_state *segments);

/* Collective: *exists = 0 when there is no file at `path` (nothing else is touched).
 * Otherwise every rank reads it: key (65 bytes) and the states present in the file
 * (churn->valid / segments->valid say which). A damaged, foreign or newer-version file
 * is RTN_ERR_FORMAT with a message naming the file. */
rtn_status rtn_checkpoint_read(MPI_Comm comm, const char *path, int *exists, char *key,
                               rtn_logreg_state *churn, rtn_kmeans_state *segments);

/* Collective: rank 0 removes the file (after a successful training); missing is fine. */
void rtn_checkpoint_remove(MPI_Comm comm, const char *path);

#endif
