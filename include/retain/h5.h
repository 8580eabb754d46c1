/* Thin helpers over parallel HDF5 used by every file format (store, truth, features,
 * scores, model bundle). Files are created under a temporary name and renamed when
 * complete (rtn_h5_out). Data writes of big columns are collective; small datasets are
 * written by one rank. HDF5's own error printing is turned off; failures come back as
 * rtn_status with the file and dataset named. */
#ifndef RETAIN_H5_H
#define RETAIN_H5_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "retain/atomic.h"
#include "retain/status.h"

/* Default rows per chunk of 1-D columns (2 MiB for 8-byte columns). */
#define RTN_H5_CHUNK_ROWS (1u << 18)

/* Silences HDF5's automatic error stack printing (idempotent). */
void rtn_h5_quiet(void);

/* A parallel output file written under a temporary name. */
typedef struct {
    MPI_Comm comm;
    hid_t file;
    char tmp[RTN_PATH_MAX];
    char final_path[RTN_PATH_MAX];
} rtn_h5_out;

/* Collective: creates the temporary file with the tuned MPI-IO access properties. */
rtn_status rtn_h5_out_create(rtn_h5_out *o, MPI_Comm comm, const char *final_path);
/* Collective: the temporary file starts as a byte copy of the existing file `base`
 * (made by rank 0), opened for writing, so objects can be added to a copy of an input
 * that itself is never modified. */
rtn_status rtn_h5_out_copy_of(rtn_h5_out *o, MPI_Comm comm, const char *final_path,
                              const char *base);
/* Collective: agrees on st, closes, and renames on success (discards on failure).
 * Returns the agreed status. While the file is open, every collective helper below
 * (dataset creation, collective row writes, small datasets, attributes) makes all ranks
 * agree on its outcome before returning, so a write error on one rank is every rank's
 * error before anyone enters the next collective call. */
rtn_status rtn_h5_out_finish(rtn_h5_out *o, rtn_status st);

/* Flushes (if st is RTN_OK) and closes a file written under the temporary name tmp; on
 * failure the file's descriptors are diverted first (rtn_atomic_divert) so HDF5 can
 * finish closing it. comm: agree between the steps (parallel file), or MPI_COMM_NULL for
 * a file written by one process. Does not rename or discard tmp. */
rtn_status rtn_h5_close_output(hid_t file, const char *tmp, const char *final_path,
                               rtn_status st, MPI_Comm comm);

/* 1 after an H5Fclose failed on this process. HDF5 1.10 then keeps a dangling file
 * identifier and crashes when the library shuts down inside MPI_Finalize, so the program
 * must end through MPI_Abort instead (src/cmd/main.c). */
int rtn_h5_library_damaged(void);

/* Collective open for reading with the MPI-IO driver (independent data reads). */
rtn_status rtn_h5_open_read(MPI_Comm comm, const char *path, hid_t *file);
/* Local (serial) open for reading, e.g. from a single process or a test. */
rtn_status rtn_h5_open_read_local(const char *path, hid_t *file);

/* Dataset creation (collective in parallel files). Intermediate groups are created.
 * chunk_rows == 0 selects RTN_H5_CHUNK_ROWS; empty datasets are contiguous. */
rtn_status rtn_h5_create_1d(hid_t loc, const char *name, hid_t type, uint64_t n,
                            uint64_t chunk_rows, hid_t *dset);
rtn_status rtn_h5_create_2d(hid_t loc, const char *name, hid_t type, uint64_t n, uint64_t d,
                            uint64_t chunk_rows, hid_t *dset);

/* Writes rows [row0, row0+nrows) of a 1-D or 2-D dataset (ncols = 1 for 1-D).
 * collective=1: every rank of the file must call (nrows may be 0). */
rtn_status rtn_h5_write_rows(hid_t dset, hid_t memtype, uint64_t row0, uint64_t nrows,
                             const void *buf, int collective);
/* Independent read of rows [row0, row0+nrows). */
rtn_status rtn_h5_read_rows(hid_t dset, hid_t memtype, uint64_t row0, uint64_t nrows, void *buf);

/* Whole small dataset: created collectively, data written by `writer` rank only. */
rtn_status rtn_h5_write_small(MPI_Comm comm, int writer, hid_t loc, const char *name,
                              hid_t type, int rank, const uint64_t *dims, const void *buf);

/* Number of rows (first dimension) and, for 2-D, columns; -1 dims when absent. */
rtn_status rtn_h5_dims(hid_t loc, const char *name, int *rank, uint64_t dims[2]);
int rtn_h5_exists(hid_t loc, const char *path);

/* String lists as fixed-length UTF-8 datasets (h5py reads them as bytes; .asstr()). */
rtn_status rtn_h5_write_strings(MPI_Comm comm, int writer, hid_t loc, const char *name,
                                const char *const *s, size_t n);
/* Reads a string list; *out is an array of n malloc'ed strings (free with rtn_strings_free). */
rtn_status rtn_h5_read_strings(hid_t loc, const char *name, char ***out, size_t *n);
void rtn_strings_free(char **s, size_t n);

/* Attributes (collective in parallel files: every rank passes the same value). */
rtn_status rtn_h5_attr_str(hid_t obj, const char *name, const char *value);
rtn_status rtn_h5_attr_i64(hid_t obj, const char *name, int64_t value);
rtn_status rtn_h5_attr_u64(hid_t obj, const char *name, uint64_t value);
rtn_status rtn_h5_attr_f64(hid_t obj, const char *name, double value);
rtn_status rtn_h5_attr_f64_array(hid_t obj, const char *name, const double *v, size_t n);
rtn_status rtn_h5_attr_strings(hid_t obj, const char *name, const char *const *s, size_t n);

rtn_status rtn_h5_read_attr_str(hid_t obj, const char *name, char *buf, size_t n);
/* Malloc'ed copy of a string attribute of any length. */
rtn_status rtn_h5_read_attr_str_alloc(hid_t obj, const char *name, char **out);
rtn_status rtn_h5_read_attr_i64(hid_t obj, const char *name, int64_t *value);
rtn_status rtn_h5_read_attr_u64(hid_t obj, const char *name, uint64_t *value);
rtn_status rtn_h5_read_attr_f64(hid_t obj, const char *name, double *value);

/* Creation time as an ISO-8601 UTC string, identical on all ranks (rank 0's clock). */
void rtn_h5_timestamp(MPI_Comm comm, char *buf, size_t n);

#endif
