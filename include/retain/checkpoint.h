/* Training checkpoint (docs/formats.md, "Training checkpoint"): the solver states of the
 * model kinds being trained (the churn model's L-BFGS, the segmentation's k-means) at an
 * iteration boundary, one group per kind, in one small HDF5 file written atomically by
 * rank 0. The file carries a key (SHA-256 of the features digest
 * and the training options): `retain train` resumes only from a checkpoint with its own
 * key. */
#ifndef RETAIN_CHECKPOINT_H
#define RETAIN_CHECKPOINT_H

#include <mpi.h>
#include <stddef.h>

#include "retain/kmeans.h"
#include "retain/logreg.h"
#include "retain/status.h"

#define RTN_CHECKPOINT_FORMAT "retain-train-checkpoint"
#define RTN_CHECKPOINT_FORMAT_VERSION 1

/* The iterative solvers whose state a checkpoint can hold. A model kind declares the one it
 * uses (retain/model_kind.h); its state goes to the group "/KIND" of the file, so two kinds
 * may use the same solver. A new solver adds its value here and its reader and writer in
 * src/models/checkpoint.c. */
typedef enum { RTN_SOLVER_NONE = 0, RTN_SOLVER_LOGREG, RTN_SOLVER_KMEANS } rtn_solver;

/* One kind's slot: which solver, the group it goes to, and the state (the member of that
 * solver; .valid says whether there is one). */
typedef struct {
    rtn_solver solver;
    const char *group; /* "/churn", "/segments", ... */
    rtn_logreg_state logreg;
    rtn_kmeans_state kmeans;
} rtn_solver_state;

int rtn_solver_state_valid(const rtn_solver_state *s);
/* "at iteration 7", "fit 2 (k=6) run 1, Lloyd iteration 12", "done (40 iterations)" */
void rtn_solver_state_describe(const rtn_solver_state *s, char *buf, size_t n);
void rtn_solver_state_free(rtn_solver_state *s);

/* Collective: rank 0 writes `path` atomically with the valid states of the n slots; every
 * rank gets the agreed status. */
rtn_status rtn_checkpoint_write(MPI_Comm comm, const char *path, const char *key,
                                const rtn_solver_state *slots, size_t n);

/* Collective: *exists = 0 when there is no file at `path` (nothing else is touched).
 * Otherwise every rank reads it: key (65 bytes) and, for each slot whose group the file
 * holds, its state (valid). A damaged, foreign or newer-version file is RTN_ERR_FORMAT
 * with a message naming the file. */
rtn_status rtn_checkpoint_read(MPI_Comm comm, const char *path, int *exists, char *key,
                               rtn_solver_state *slots, size_t n);

/* Collective: rank 0 removes the file (after a successful training); missing is fine. */
void rtn_checkpoint_remove(MPI_Comm comm, const char *path);

#endif
