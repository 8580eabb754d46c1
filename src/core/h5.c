#define _GNU_SOURCE /* copy_file_range */
#include "retain/h5.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "retain/cli.h"

void rtn_h5_quiet(void)
{
    static int done;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

/* Parallel outputs being written, so the collective helpers below can find a file's
 * communicator from any object in it and make every rank agree on each call's outcome.
 * One rank failing inside a collective HDF5 call while the others go on to the next one
 * would leave them waiting for it forever (docs/architecture.md, "Write failures"). */
#define MAX_OPEN_OUTPUTS 16
static rtn_h5_out *open_outputs[MAX_OPEN_OUTPUTS];

static rtn_h5_out *output_of(hid_t loc)
{
    char name[RTN_PATH_MAX];
    ssize_t n = H5Fget_name(loc, name, sizeof name);
    if (n <= 0 || (size_t)n >= sizeof name) return NULL;
    for (int i = 0; i < MAX_OPEN_OUTPUTS; i++)
        if (open_outputs[i] && strcmp(open_outputs[i]->tmp, name) == 0) return open_outputs[i];
    return NULL;
}

static void track_output(rtn_h5_out *o, int on)
{
    for (int i = 0; i < MAX_OPEN_OUTPUTS; i++) {
        if (on && !open_outputs[i]) {
            open_outputs[i] = o;
            return;
        }
        if (!on && open_outputs[i] == o) open_outputs[i] = NULL;
    }
}

static herr_t innermost_error(unsigned n, const H5E_error2_t *e, void *out)
{
    if (n == 0 && e->desc) snprintf((char *)out, 256, "%s", e->desc);
    return 0;
}

/* Why the HDF5 call just made failed: the errno of the system call underneath when there
 * is one (errno is cleared before the call), else HDF5's innermost description. */
static const char *failure_cause(int saved_errno, char *buf, size_t n)
{
    if (saved_errno) return strerror(saved_errno);
    buf[0] = '\0';
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_error, buf);
    if (!buf[0]) snprintf(buf, n, "HDF5 error");
    return buf;
}

/* Local outcome of one call on a file, made common: for a parallel output every rank
 * learns whether any rank failed (and the message names the output file); for other
 * files the outcome stays local. */
static rtn_status settle(hid_t loc, rtn_status st)
{
    rtn_h5_out *o = output_of(loc);
    if (!o) return st;
    if (st) rtn_fail_context(st, "writing '%s' failed", o->final_path);
    return rtn_agree_bounded(o->comm, st, rtn_atomic_abandon_all, NULL);
}

/* Tuned as the HDF Group advises for parallel I/O: collective metadata reads and writes
 * (no metadata storms at many ranks) and large objects aligned to 1 MiB stripes. */
static hid_t parallel_fapl(MPI_Comm comm)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    MPI_Info info = MPI_INFO_NULL;
    H5Pset_fapl_mpio(fapl, comm, info);
    H5Pset_all_coll_metadata_ops(fapl, 1);
    H5Pset_coll_metadata_write(fapl, 1);
    H5Pset_alignment(fapl, 1 << 20, 1 << 20);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    return fapl;
}

rtn_status rtn_h5_out_create(rtn_h5_out *o, MPI_Comm comm, const char *final_path)
{
    rtn_h5_quiet();
    memset(o, 0, sizeof *o);
    o->comm = comm;
    o->file = H5I_INVALID_HID;
    if (strlen(final_path) >= sizeof o->final_path)
        return rtn_agree(comm, rtn_fail(RTN_ERR_USAGE, "path '%s' is too long", final_path));
    snprintf(o->final_path, sizeof o->final_path, "%s", final_path);
    RTN_TRY(rtn_atomic_tmpname_collective(comm, final_path, o->tmp, sizeof o->tmp));
    hid_t fapl = parallel_fapl(comm);
    errno = 0;
    o->file = H5Fcreate(o->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    int create_errno = errno;
    H5Pclose(fapl);
    rtn_status st = RTN_OK;
    char why[256];
    if (o->file < 0) {
        const char *problem = rtn_atomic_create_problem(o->tmp, 0);
        st = rtn_fail(RTN_ERR_IO, "cannot create '%s' (temporary file for '%s'): %s", o->tmp,
                      final_path, problem ? problem : failure_cause(create_errno, why, sizeof why));
    }
    st = rtn_agree(comm, st);
    if (st == RTN_OK) track_output(o, 1);
    if (st && o->file >= 0) {
        rtn_atomic_divert(o->tmp);
        H5Fclose(o->file);
        o->file = H5I_INVALID_HID;
    }
    if (st) {
        int rank;
        MPI_Comm_rank(comm, &rank);
        if (rank == 0) rtn_atomic_discard(o->tmp);
    }
    return st;
}

/* Byte copy of base to dst (rank 0 only); copy_file_range shares extents where the file
 * system can. */
static rtn_status copy_bytes(const char *base, const char *dst)
{
    int in = open(base, O_RDONLY);
    if (in < 0) return rtn_fail(RTN_ERR_IO, "cannot open '%s': %s", base, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    rtn_status st = RTN_OK;
    if (out < 0) st = rtn_fail(RTN_ERR_IO, "cannot open '%s': %s", dst, strerror(errno));
    char buf[1 << 16];
    while (st == RTN_OK) {
        ssize_t k = copy_file_range(in, NULL, out, NULL, (size_t)1 << 30, 0);
        if (k == 0) break;
        if (k > 0) continue;
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) {
            st = rtn_fail(RTN_ERR_IO, "copying '%s' to '%s': %s", base, dst, strerror(errno));
            break;
        }
        /* no copy_file_range here: plain reads and writes from where it stopped */
        for (;;) {
            ssize_t r = read(in, buf, sizeof buf);
            if (r == 0) break;
            if (r < 0 || write(out, buf, (size_t)r) != r) {
                st = rtn_fail(RTN_ERR_IO, "copying '%s' to '%s': %s", base, dst, strerror(errno));
                break;
            }
        }
        break;
    }
    if (out >= 0 && close(out) != 0 && st == RTN_OK)
        st = rtn_fail(RTN_ERR_IO, "writing '%s': %s", dst, strerror(errno));
    close(in);
    return st;
}

rtn_status rtn_h5_out_copy_of(rtn_h5_out *o, MPI_Comm comm, const char *final_path,
                              const char *base)
{
    rtn_h5_quiet();
    memset(o, 0, sizeof *o);
    o->comm = comm;
    o->file = H5I_INVALID_HID;
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (strlen(final_path) >= sizeof o->final_path)
        return rtn_agree(comm, rtn_fail(RTN_ERR_USAGE, "path '%s' is too long", final_path));
    snprintf(o->final_path, sizeof o->final_path, "%s", final_path);
    RTN_TRY(rtn_atomic_tmpname_collective(comm, final_path, o->tmp, sizeof o->tmp));
    rtn_status st = rank == 0 ? copy_bytes(base, o->tmp) : RTN_OK;
    st = rtn_agree(comm, st);
    if (st == RTN_OK) {
        hid_t fapl = parallel_fapl(comm);
        o->file = H5Fopen(o->tmp, H5F_ACC_RDWR, fapl);
        H5Pclose(fapl);
        if (o->file < 0)
            st = rtn_fail(RTN_ERR_FORMAT, "cannot open the copy '%s' of '%s' for writing (not an "
                          "HDF5 file?)", o->tmp, base);
        st = rtn_agree(comm, st);
    }
    if (st == RTN_OK) {
        track_output(o, 1);
        return RTN_OK;
    }
    if (o->file >= 0) {
        rtn_atomic_divert(o->tmp);
        H5Fclose(o->file);
        o->file = H5I_INVALID_HID;
    }
    if (rank == 0) rtn_atomic_discard(o->tmp);
    return st;
}

static int library_damaged;

int rtn_h5_library_damaged(void) { return library_damaged; }

rtn_status rtn_h5_close_output(hid_t file, const char *tmp, const char *final_path,
                               rtn_status st, MPI_Comm comm)
{
    char why[256];
    if (st == RTN_OK) {
        /* Flushing first lets a write error surface while the file can still be closed
         * cleanly; what H5Fclose has left to write after a good flush is tiny. */
        errno = 0;
        if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0)
            st = rtn_fail(RTN_ERR_IO, "writing '%s' failed: %s", final_path,
                          failure_cause(errno, why, sizeof why));
    }
    if (comm != MPI_COMM_NULL) st = rtn_agree_bounded(comm, st, rtn_atomic_abandon_all, NULL);
    /* HDF5 1.10 frees a file whose close failed but keeps its identifier, and then crashes
     * when the library shuts down: so a doomed file's last writes go to a sink instead. */
    if (st) rtn_atomic_divert(tmp);
    errno = 0;
    herr_t e = H5Fclose(file);
    if (e < 0) library_damaged = 1;
    if (st == RTN_OK && e < 0)
        st = rtn_fail(RTN_ERR_IO, "writing '%s' failed: closing: %s", final_path,
                      failure_cause(errno, why, sizeof why));
    return comm != MPI_COMM_NULL ? rtn_agree_bounded(comm, st, rtn_atomic_abandon_all, NULL) : st;
}

rtn_status rtn_h5_out_finish(rtn_h5_out *o, rtn_status st)
{
    int rank;
    MPI_Comm_rank(o->comm, &rank);
    st = rtn_agree(o->comm, st);
    if (o->file >= 0) {
        /* every object in the file must be closed before the file (parallel HDF5 closes
         * files with H5F_CLOSE_SEMI) */
        st = rtn_h5_close_output(o->file, o->tmp, o->final_path, st, o->comm);
        o->file = H5I_INVALID_HID;
    }
    track_output(o, 0);
    rtn_status cst = RTN_OK;
    if (rank == 0) {
        if (st == RTN_OK)
            cst = rtn_atomic_commit(o->tmp, o->final_path);
        else
            rtn_atomic_discard(o->tmp);
    }
    cst = rtn_agree(o->comm, cst);
    return st ? st : cst;
}

static rtn_status open_error(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return rtn_fail(RTN_ERR_IO, "cannot open '%s': no such file or not readable", path);
    unsigned char sig[8] = {0};
    size_t got = fread(sig, 1, 8, f);
    fclose(f);
    static const unsigned char h5sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (got < 8 || memcmp(sig, h5sig, 8) != 0)
        return rtn_fail(RTN_ERR_FORMAT, "'%s' is not an HDF5 file (no HDF5 signature)", path);
    return rtn_fail(RTN_ERR_FORMAT, "'%s' is a damaged or truncated HDF5 file (HDF5 cannot "
                    "open it)", path);
}

rtn_status rtn_h5_open_read(MPI_Comm comm, const char *path, hid_t *file)
{
    rtn_h5_quiet();
    *file = H5I_INVALID_HID;
    /* Check on every rank before the collective open so a missing file is a clean error. */
    rtn_status st = RTN_OK;
    FILE *f = fopen(path, "rb");
    if (!f) st = open_error(path);
    else fclose(f);
    st = rtn_agree(comm, st);
    if (st) return st;
    hid_t fapl = parallel_fapl(comm);
    hid_t h = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (h < 0) st = open_error(path);
    st = rtn_agree(comm, st);
    if (st) {
        if (h >= 0) H5Fclose(h);
        return st;
    }
    *file = h;
    return RTN_OK;
}

rtn_status rtn_h5_open_read_local(const char *path, hid_t *file)
{
    rtn_h5_quiet();
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*file < 0) return open_error(path);
    return RTN_OK;
}

static hid_t lcpl_with_parents(void)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    return lcpl;
}

static rtn_status create_nd(hid_t loc, const char *name, hid_t type, int rank,
                            const hsize_t *dims, uint64_t chunk_rows, hid_t *dset)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dims[0] > 0) {
        hsize_t chunk[2];
        chunk[0] = chunk_rows ? chunk_rows : RTN_H5_CHUNK_ROWS;
        if (rank == 2 && dims[1] > 0) {
            /* keep a chunk near 2 MiB whatever the width */
            hsize_t rows = ((hsize_t)1 << 21) / (H5Tget_size(type) * dims[1]);
            if (!chunk_rows) chunk[0] = rows ? rows : 1;
            chunk[1] = dims[1];
        } else if (rank == 2) {
            chunk[1] = 1;
        }
        if (chunk[0] > dims[0]) chunk[0] = dims[0];
        if (rank == 1 || dims[1] > 0) H5Pset_chunk(dcpl, rank, chunk);
    }
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t lcpl = lcpl_with_parents();
    errno = 0;
    *dset = H5Dcreate2(loc, name, type, space, lcpl, dcpl, H5P_DEFAULT);
    int create_errno = errno;
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    H5Sclose(space);
    rtn_status st = RTN_OK;
    char why[256];
    if (*dset < 0)
        st = rtn_fail(RTN_ERR_IO, "creating dataset '%s': %s", name,
                      failure_cause(create_errno, why, sizeof why));
    st = settle(loc, st);
    if (st && *dset >= 0) {
        H5Dclose(*dset);
        *dset = H5I_INVALID_HID;
    }
    return st;
}

rtn_status rtn_h5_create_1d(hid_t loc, const char *name, hid_t type, uint64_t n,
                            uint64_t chunk_rows, hid_t *dset)
{
    hsize_t dims[1] = {n};
    return create_nd(loc, name, type, 1, dims, chunk_rows, dset);
}

rtn_status rtn_h5_create_2d(hid_t loc, const char *name, hid_t type, uint64_t n, uint64_t d,
                            uint64_t chunk_rows, hid_t *dset)
{
    hsize_t dims[2] = {n, d};
    return create_nd(loc, name, type, 2, dims, chunk_rows, dset);
}

static char *dset_name(hid_t dset, char *buf, size_t n)
{
    if (H5Iget_name(dset, buf, n) <= 0) snprintf(buf, n, "(unnamed)");
    return buf;
}

static rtn_status rows_io(hid_t dset, hid_t memtype, uint64_t row0, uint64_t nrows, void *buf,
                          int write, int collective)
{
    char nm[256];
    hid_t fspace = H5Dget_space(dset);
    int rank = H5Sget_simple_extent_ndims(fspace);
    hsize_t dims[2] = {0, 1};
    H5Sget_simple_extent_dims(fspace, dims, NULL);
    if (rank < 1 || rank > 2 || row0 + nrows > dims[0]) {
        H5Sclose(fspace);
        return rtn_fail(RTN_ERR_FORMAT, "dataset %s: rows [%llu, %llu) outside its %llu rows",
                        dset_name(dset, nm, sizeof nm), (unsigned long long)row0,
                        (unsigned long long)(row0 + nrows), (unsigned long long)dims[0]);
    }
    hsize_t start[2] = {row0, 0};
    hsize_t count[2] = {nrows, rank == 2 ? dims[1] : 1};
    hid_t mspace;
    if (nrows == 0 || count[1] == 0) {
        H5Sselect_none(fspace);
        hsize_t one = 1;
        mspace = H5Screate_simple(1, &one, NULL);
        H5Sselect_none(mspace);
    } else {
        H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
        mspace = H5Screate_simple(rank, count, NULL);
    }
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    /* Independent transfer is the default. Only a collective one asks for the file's
     * driver: H5Fget_access_plist duplicates the file's communicator (MPI_Comm_dup, a
     * collective call), so an independent read must not call it: ranks reading different
     * numbers of blocks would wait on each other. */
    if (collective) {
        hid_t fid = H5Iget_file_id(dset);
        hid_t fapl = H5Fget_access_plist(fid);
        int is_mpio = H5Pget_driver(fapl) == H5FD_MPIO;
        H5Pclose(fapl);
        H5Fclose(fid);
        if (is_mpio) H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    }
    errno = 0;
    herr_t e = write ? H5Dwrite(dset, memtype, mspace, fspace, dxpl, buf)
                     : H5Dread(dset, memtype, mspace, fspace, dxpl, buf);
    int io_errno = errno;
    H5Pclose(dxpl);
    H5Sclose(mspace);
    H5Sclose(fspace);
    rtn_status st = RTN_OK;
    char why[256];
    if (e < 0 && write)
        st = rtn_fail(RTN_ERR_IO, "dataset %s rows [%llu, %llu): %s",
                      dset_name(dset, nm, sizeof nm), (unsigned long long)row0,
                      (unsigned long long)(row0 + nrows), failure_cause(io_errno, why, sizeof why));
    else if (e < 0)
        st = rtn_fail(RTN_ERR_FORMAT, "reading dataset %s rows [%llu, %llu) failed (damaged or "
                      "truncated file?)", dset_name(dset, nm, sizeof nm),
                      (unsigned long long)row0, (unsigned long long)(row0 + nrows));
    return write && collective ? settle(dset, st) : st;
}

rtn_status rtn_h5_write_rows(hid_t dset, hid_t memtype, uint64_t row0, uint64_t nrows,
                             const void *buf, int collective)
{
    return rows_io(dset, memtype, row0, nrows, (void *)buf, 1, collective);
}

rtn_status rtn_h5_read_rows(hid_t dset, hid_t memtype, uint64_t row0, uint64_t nrows, void *buf)
{
    return rows_io(dset, memtype, row0, nrows, buf, 0, 0);
}

rtn_status rtn_h5_write_small(MPI_Comm comm, int writer, hid_t loc, const char *name,
                              hid_t type, int rank, const uint64_t *dims, const void *buf)
{
    int me;
    MPI_Comm_rank(comm, &me);
    hsize_t hd[2] = {dims[0], rank == 2 ? dims[1] : 1};
    hid_t space = H5Screate_simple(rank, hd, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    hid_t lcpl = lcpl_with_parents();
    errno = 0;
    hid_t d = H5Dcreate2(loc, name, type, space, lcpl, dcpl, H5P_DEFAULT);
    int io_errno = errno;
    H5Pclose(lcpl);
    H5Pclose(dcpl);
    rtn_status st = RTN_OK;
    char why[256];
    if (d < 0)
        st = rtn_fail(RTN_ERR_IO, "creating dataset '%s': %s", name,
                      failure_cause(io_errno, why, sizeof why));
    if (st == RTN_OK && me == writer && hd[0] * hd[1] > 0) {
        hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
        errno = 0;
        if (H5Dwrite(d, type, H5S_ALL, H5S_ALL, dxpl, buf) < 0) {
            io_errno = errno;
            st = rtn_fail(RTN_ERR_IO, "dataset '%s': %s", name,
                          failure_cause(io_errno, why, sizeof why));
        }
        H5Pclose(dxpl);
    }
    if (d >= 0) H5Dclose(d);
    H5Sclose(space);
    return settle(loc, st);
}

int rtn_h5_exists(hid_t loc, const char *path)
{
    /* H5Lexists needs every intermediate component to exist: walk the path. */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (H5Lexists(loc, buf, H5P_DEFAULT) <= 0) return 0;
            if (c == '\0') return 1;
            *p = c;
        }
    }
}

rtn_status rtn_h5_dims(hid_t loc, const char *name, int *rank, uint64_t dims[2])
{
    dims[0] = dims[1] = 0;
    if (!rtn_h5_exists(loc, name)) return rtn_fail(RTN_ERR_FORMAT, "dataset '%s' is missing", name);
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return rtn_fail(RTN_ERR_FORMAT, "cannot open dataset '%s'", name);
    hid_t s = H5Dget_space(d);
    hsize_t hd[H5S_MAX_RANK];
    int r = H5Sget_simple_extent_ndims(s);
    if (r > 0 && r <= 2) H5Sget_simple_extent_dims(s, hd, NULL);
    H5Sclose(s);
    H5Dclose(d);
    if (r < 1 || r > 2) return rtn_fail(RTN_ERR_FORMAT, "dataset '%s' has rank %d", name, r);
    *rank = r;
    dims[0] = hd[0];
    dims[1] = r == 2 ? hd[1] : 1;
    return RTN_OK;
}

static hid_t str_type(size_t len)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, len ? len : 1);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

rtn_status rtn_h5_write_strings(MPI_Comm comm, int writer, hid_t loc, const char *name,
                                const char *const *s, size_t n)
{
    size_t maxlen = 1;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(s[i]);
        if (l > maxlen) maxlen = l;
    }
    char *buf = rtn_calloc(n ? n : 1, maxlen, "string dataset");
    /* agreed before the collective create that follows */
    RTN_TRY(settle(loc, buf ? RTN_OK : RTN_ERR_NOMEM));
    for (size_t i = 0; i < n; i++) memcpy(buf + i * maxlen, s[i], strlen(s[i]));
    hid_t t = str_type(maxlen);
    uint64_t dims[1] = {n};
    rtn_status st = rtn_h5_write_small(comm, writer, loc, name, t, 1, dims, buf);
    H5Tclose(t);
    free(buf);
    return st;
}

void rtn_strings_free(char **s, size_t n)
{
    if (!s) return;
    for (size_t i = 0; i < n; i++) free(s[i]);
    free(s);
}

rtn_status rtn_h5_read_strings(hid_t loc, const char *name, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!rtn_h5_exists(loc, name)) return rtn_fail(RTN_ERR_FORMAT, "dataset '%s' is missing", name);
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return rtn_fail(RTN_ERR_FORMAT, "cannot open dataset '%s'", name);
    hid_t ft = H5Dget_type(d);
    hid_t s = H5Dget_space(d);
    rtn_status st = RTN_OK;
    int vlen = H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0;
    if (H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_ndims(s) != 1) {
        st = rtn_fail(RTN_ERR_FORMAT, "dataset '%s' is not a 1-D string list", name);
    }
    if (st == RTN_OK && vlen) {
        /* variable-length strings (as h5py writes by default) */
        hsize_t cnt = 0;
        H5Sget_simple_extent_dims(s, &cnt, NULL);
        char **tmp = rtn_calloc(cnt ? cnt : 1, sizeof *tmp, "string list");
        char **res = rtn_calloc(cnt ? cnt : 1, sizeof *res, "string list");
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        if (!tmp || !res) st = RTN_ERR_NOMEM;
        else if (cnt && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0)
            st = rtn_fail(RTN_ERR_FORMAT, "reading dataset '%s' failed", name);
        for (hsize_t i = 0; st == RTN_OK && i < cnt; i++) {
            res[i] = strdup(tmp[i] ? tmp[i] : "");
            if (!res[i]) st = rtn_fail(RTN_ERR_NOMEM, "out of memory reading '%s'", name);
        }
        if (tmp && cnt && st != RTN_ERR_FORMAT) {
            hid_t sp = H5Dget_space(d);
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, tmp);
            H5Sclose(sp);
        }
        free(tmp);
        H5Tclose(mt);
        H5Sclose(s);
        H5Tclose(ft);
        H5Dclose(d);
        if (st) {
            rtn_strings_free(res, cnt);
            return st;
        }
        *out = res;
        *n = cnt;
        return RTN_OK;
    }
    hsize_t cnt = 0;
    size_t len = 0;
    char *buf = NULL;
    char **res = NULL;
    if (st == RTN_OK) {
        H5Sget_simple_extent_dims(s, &cnt, NULL);
        len = H5Tget_size(ft);
        buf = rtn_calloc(cnt ? cnt : 1, len, "string dataset");
        res = rtn_calloc(cnt ? cnt : 1, sizeof *res, "string list");
        if (!buf || !res) st = RTN_ERR_NOMEM;
    }
    if (st == RTN_OK && cnt > 0) {
        hid_t mt = str_type(len);
        H5Tset_cset(mt, H5Tget_cset(ft));
        if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            st = rtn_fail(RTN_ERR_FORMAT, "reading dataset '%s' failed", name);
        H5Tclose(mt);
    }
    for (hsize_t i = 0; st == RTN_OK && i < cnt; i++) {
        res[i] = rtn_calloc(len + 1, 1, "string");
        if (!res[i]) {
            st = RTN_ERR_NOMEM;
            break;
        }
        memcpy(res[i], buf + i * len, len);
    }
    free(buf);
    H5Sclose(s);
    H5Tclose(ft);
    H5Dclose(d);
    if (st) {
        rtn_strings_free(res, cnt);
        return st;
    }
    *out = res;
    *n = cnt;
    return RTN_OK;
}

static rtn_status attr_write(hid_t obj, const char *name, hid_t type, hid_t space, const void *v)
{
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    errno = 0;
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    rtn_status st = RTN_OK;
    char why[256];
    if (a < 0 || H5Awrite(a, type, v) < 0)
        st = rtn_fail(RTN_ERR_IO, "attribute '%s': %s", name, failure_cause(errno, why, sizeof why));
    if (a >= 0) H5Aclose(a);
    return settle(obj, st);
}

rtn_status rtn_h5_attr_str(hid_t obj, const char *name, const char *value)
{
    hid_t t = str_type(strlen(value) ? strlen(value) : 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    char empty[1] = {0};
    rtn_status st = attr_write(obj, name, t, sp, *value ? value : empty);
    H5Sclose(sp);
    H5Tclose(t);
    return st;
}

static rtn_status attr_scalar(hid_t obj, const char *name, hid_t type, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    rtn_status st = attr_write(obj, name, type, sp, v);
    H5Sclose(sp);
    return st;
}

rtn_status rtn_h5_attr_i64(hid_t obj, const char *name, int64_t value)
{
    return attr_scalar(obj, name, H5T_NATIVE_INT64, &value);
}
rtn_status rtn_h5_attr_u64(hid_t obj, const char *name, uint64_t value)
{
    return attr_scalar(obj, name, H5T_NATIVE_UINT64, &value);
}
rtn_status rtn_h5_attr_f64(hid_t obj, const char *name, double value)
{
    return attr_scalar(obj, name, H5T_NATIVE_DOUBLE, &value);
}

rtn_status rtn_h5_attr_f64_array(hid_t obj, const char *name, const double *v, size_t n)
{
    hsize_t d = n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    rtn_status st = attr_write(obj, name, H5T_NATIVE_DOUBLE, sp, v);
    H5Sclose(sp);
    return st;
}

rtn_status rtn_h5_attr_strings(hid_t obj, const char *name, const char *const *s, size_t n)
{
    size_t maxlen = 1;
    for (size_t i = 0; i < n; i++)
        if (strlen(s[i]) > maxlen) maxlen = strlen(s[i]);
    char *buf = rtn_calloc(n ? n : 1, maxlen, "string attribute");
    if (!buf) return RTN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) memcpy(buf + i * maxlen, s[i], strlen(s[i]));
    hid_t t = str_type(maxlen);
    hsize_t d = n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    rtn_status st = attr_write(obj, name, t, sp, buf);
    H5Sclose(sp);
    H5Tclose(t);
    free(buf);
    return st;
}

rtn_status rtn_h5_read_attr_str_alloc(hid_t obj, const char *name, char **out)
{
    *out = NULL;
    if (H5Aexists(obj, name) <= 0) return rtn_fail(RTN_ERR_FORMAT, "attribute '%s' is missing", name);
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = H5Aget_type(a);
    rtn_status st = RTN_OK;
    if (H5Tget_class(ft) != H5T_STRING) {
        st = rtn_fail(RTN_ERR_FORMAT, "attribute '%s' is not a string", name);
    } else if (H5Tis_variable_str(ft) > 0) {
        char *v = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft)); /* h5py writes UTF-8; HDF5 will not convert csets */
        if (H5Aread(a, mt, &v) < 0 || !v) {
            st = rtn_fail(RTN_ERR_FORMAT, "cannot read attribute '%s'", name);
        } else {
            *out = strdup(v);
            H5free_memory(v);
        }
        H5Tclose(mt);
    } else {
        size_t len = H5Tget_size(ft);
        char *buf = rtn_calloc(len + 1, 1, "attribute");
        hid_t mt = str_type(len);
        H5Tset_cset(mt, H5Tget_cset(ft));
        if (!buf) st = RTN_ERR_NOMEM;
        else if (H5Aread(a, mt, buf) < 0) st = rtn_fail(RTN_ERR_FORMAT, "cannot read attribute '%s'", name);
        H5Tclose(mt);
        if (st == RTN_OK) *out = buf;
        else free(buf);
    }
    H5Tclose(ft);
    H5Aclose(a);
    if (st == RTN_OK && !*out) st = rtn_fail(RTN_ERR_NOMEM, "out of memory reading attribute");
    return st;
}

rtn_status rtn_h5_read_attr_str(hid_t obj, const char *name, char *buf, size_t n)
{
    char *v;
    RTN_TRY(rtn_h5_read_attr_str_alloc(obj, name, &v));
    snprintf(buf, n, "%s", v);
    free(v);
    return RTN_OK;
}

static rtn_status attr_read(hid_t obj, const char *name, hid_t type, void *v)
{
    if (H5Aexists(obj, name) <= 0) return rtn_fail(RTN_ERR_FORMAT, "attribute '%s' is missing", name);
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t sp = H5Aget_space(a);
    rtn_status st = RTN_OK;
    if (H5Sget_simple_extent_npoints(sp) != 1 || H5Aread(a, type, v) < 0)
        st = rtn_fail(RTN_ERR_FORMAT, "attribute '%s' is not a readable scalar number", name);
    H5Sclose(sp);
    H5Aclose(a);
    return st;
}

rtn_status rtn_h5_read_attr_i64(hid_t obj, const char *name, int64_t *value)
{
    return attr_read(obj, name, H5T_NATIVE_INT64, value);
}
rtn_status rtn_h5_read_attr_u64(hid_t obj, const char *name, uint64_t *value)
{
    return attr_read(obj, name, H5T_NATIVE_UINT64, value);
}
rtn_status rtn_h5_read_attr_f64(hid_t obj, const char *name, double *value)
{
    return attr_read(obj, name, H5T_NATIVE_DOUBLE, value);
}

void rtn_h5_timestamp(MPI_Comm comm, char *buf, size_t n)
{
    int64_t t = (int64_t)time(NULL);
    MPI_Bcast(&t, 1, MPI_INT64_T, 0, comm);
    rtn_format_time(t, buf, n);
}
