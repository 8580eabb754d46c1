/* Atomic output files: data goes to a temporary name in the destination directory and
 * is renamed over the final name only when complete, so a failed or killed run never
 * leaves a half-written file under the final name. Temporary names look like
 * "DIR/.NAME.tmp-PID-XXXX" and are removed on failure. */
#ifndef RETAIN_ATOMIC_H
#define RETAIN_ATOMIC_H

#include <mpi.h>
#include <stdio.h>

#include "retain/status.h"

#define RTN_PATH_MAX 4096

/* Builds a temporary name next to final_path (unique per process). */
rtn_status rtn_atomic_tmpname(const char *final_path, char *tmp, size_t tmp_size);

/* Collective: rank 0 chooses the temporary name and broadcasts it (for files that
 * all ranks write together, such as parallel HDF5). */
rtn_status rtn_atomic_tmpname_collective(MPI_Comm comm, const char *final_path, char *tmp,
                                         size_t tmp_size);

/* fsync(tmp), rename(tmp, final), fsync(directory). */
rtn_status rtn_atomic_commit(const char *tmp, const char *final_path);

/* Removes the temporary file; never fails loudly (cleanup path). */
void rtn_atomic_discard(const char *tmp);

/* Writes a whole buffer atomically (local, non-collective). */
rtn_status rtn_atomic_write_file(const char *final_path, const void *data, size_t len);

/* Stream interface for text outputs written by one rank. */
typedef struct {
    FILE *fp;
    char tmp[RTN_PATH_MAX];
    char final_path[RTN_PATH_MAX];
} rtn_atomic_file;

rtn_status rtn_atomic_open(rtn_atomic_file *af, const char *final_path);
/* Closes and renames; on any earlier write error returns RTN_ERR_IO and discards. */
rtn_status rtn_atomic_close(rtn_atomic_file *af);
void rtn_atomic_abort(rtn_atomic_file *af);

#endif
