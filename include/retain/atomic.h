/* Atomic output files: data goes to a temporary name in the destination directory and
 * is renamed over the final name only when complete, so a failed or killed run never
 * leaves a half-written file under the final name. Temporary names look like
 * "DIR/.NAME.tmp-PID-N@HOST" and are removed on failure; those of a process that no
 * longer exists on this host (a killed run) are removed by the next run that writes
 * NAME. */
#ifndef RETAIN_ATOMIC_H
#define RETAIN_ATOMIC_H

#include <mpi.h>
#include <stdio.h>
#include <stdint.h>

#include "retain/status.h"

#define RTN_PATH_MAX 4096

/* Builds a temporary name next to final_path (unique per process), after removing the
 * stale temporary files of final_path (each removal is passed to the notice function). */
rtn_status rtn_atomic_tmpname(const char *final_path, char *tmp, size_t tmp_size);

/* Where notices about removed stale files go (the log sets it; NULL: nowhere). */
void rtn_atomic_set_notice(void (*fn)(const char *msg));

/* Collective: rank 0 chooses the temporary name and broadcasts it (for files that
 * all ranks write together, such as parallel HDF5). */
rtn_status rtn_atomic_tmpname_collective(MPI_Comm comm, const char *final_path, char *tmp,
                                         size_t tmp_size);

/* fsync(tmp), rename(tmp, final), fsync(directory). */
rtn_status rtn_atomic_commit(const char *tmp, const char *final_path);

/* rtn_atomic_commit for a file written through MPI-IO whose length is known: first checks
 * that it holds exactly `expected` bytes with no hole (a lost write), else removes it and
 * fails naming final_path. */
rtn_status rtn_atomic_commit_sized(const char *tmp, const char *final_path, uint64_t expected);

/* Points every descriptor this process holds on the file `tmp` at an anonymous in-memory
 * file. For a doomed temporary file only: a library that still has to flush and close it
 * (HDF5, MPI-IO) then finishes without further I/O errors, and its last writes vanish. */
void rtn_atomic_divert(const char *tmp);

/* Why an MPI-IO call failed: the errno of the system call underneath when there is one
 * (clear errno before the call), else MPI's error string for mpi_err. */
const char *rtn_mpi_io_cause(int mpi_err, int saved_errno, char *buf, size_t n);

/* Why a file at path could not be created, as the system puts it: the directory's problem
 * (missing, not a directory, not writable, read-only file system) when it has one, else
 * strerror(saved_errno), else NULL. For libraries that do not keep errno (HDF5). */
const char *rtn_atomic_create_problem(const char *path, int saved_errno);

/* Removes the temporary file; never fails loudly (cleanup path). */
void rtn_atomic_discard(const char *tmp);

/* Diverts and removes every temporary file this process knows of, its own and those of
 * the collective outputs it takes part in (with their per-rank ".partR" files): the
 * cleanup before a job is ended from one rank (the cleanup of rtn_agree_bounded). */
void rtn_atomic_abandon_all(void *unused);

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
