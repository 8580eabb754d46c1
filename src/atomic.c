#include "retain/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void split_dir(const char *path, char *dir, size_t n, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, n, ".");
        *base = path;
    } else if (slash == path) {
        snprintf(dir, n, "/");
        *base = slash + 1;
    } else {
        snprintf(dir, n, "%.*s", (int)(slash - path), path);
        *base = slash + 1;
    }
}

rtn_status rtn_atomic_tmpname(const char *final_path, char *tmp, size_t tmp_size)
{
    char dir[RTN_PATH_MAX];
    const char *base;
    split_dir(final_path, dir, sizeof dir, &base);
    if (!*base) return rtn_fail(RTN_ERR_USAGE, "output path '%s' names a directory", final_path);
    static unsigned counter;
    int n = snprintf(tmp, tmp_size, "%s/.%s.tmp-%ld-%u", dir, base, (long)getpid(), counter++);
    if (n < 0 || (size_t)n >= tmp_size)
        return rtn_fail(RTN_ERR_USAGE, "output path '%s' is too long", final_path);
    return RTN_OK;
}

rtn_status rtn_atomic_tmpname_collective(MPI_Comm comm, const char *final_path, char *tmp,
                                         size_t tmp_size)
{
    int rank;
    MPI_Comm_rank(comm, &rank);
    rtn_status st = RTN_OK;
    if (rank == 0) st = rtn_atomic_tmpname(final_path, tmp, tmp_size);
    st = rtn_agree(comm, st);
    if (st) return st;
    MPI_Bcast(tmp, (int)tmp_size, MPI_CHAR, 0, comm);
    return RTN_OK;
}

static void fsync_path(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

rtn_status rtn_atomic_commit(const char *tmp, const char *final_path)
{
    fsync_path(tmp, O_RDONLY);
    if (rename(tmp, final_path) != 0) {
        int e = errno;
        unlink(tmp);
        return rtn_fail(RTN_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, final_path,
                        strerror(e));
    }
    char dir[RTN_PATH_MAX];
    const char *base;
    split_dir(final_path, dir, sizeof dir, &base);
    fsync_path(dir, O_RDONLY | O_DIRECTORY);
    return RTN_OK;
}

void rtn_atomic_discard(const char *tmp)
{
    if (tmp && *tmp) unlink(tmp);
}

rtn_status rtn_atomic_open(rtn_atomic_file *af, const char *final_path)
{
    memset(af, 0, sizeof *af);
    if (strlen(final_path) >= sizeof af->final_path)
        return rtn_fail(RTN_ERR_USAGE, "output path '%s' is too long", final_path);
    snprintf(af->final_path, sizeof af->final_path, "%s", final_path);
    RTN_TRY(rtn_atomic_tmpname(final_path, af->tmp, sizeof af->tmp));
    af->fp = fopen(af->tmp, "wb");
    if (!af->fp)
        return rtn_fail(RTN_ERR_IO, "cannot create '%s' (for '%s'): %s", af->tmp, final_path,
                        strerror(errno));
    return RTN_OK;
}

rtn_status rtn_atomic_close(rtn_atomic_file *af)
{
    if (!af->fp) return rtn_fail(RTN_ERR_INTERNAL, "atomic file '%s' not open", af->final_path);
    int bad = ferror(af->fp);
    int e = errno;
    if (fflush(af->fp) != 0) {
        bad = 1;
        e = errno;
    }
    if (fsync(fileno(af->fp)) != 0 && errno != EINVAL) {
        bad = 1;
        e = errno;
    }
    if (fclose(af->fp) != 0) {
        bad = 1;
        e = errno;
    }
    af->fp = NULL;
    if (bad) {
        unlink(af->tmp);
        return rtn_fail(RTN_ERR_IO, "writing '%s' failed: %s", af->final_path, strerror(e));
    }
    return rtn_atomic_commit(af->tmp, af->final_path);
}

void rtn_atomic_abort(rtn_atomic_file *af)
{
    if (af->fp) fclose(af->fp);
    af->fp = NULL;
    rtn_atomic_discard(af->tmp);
}

rtn_status rtn_atomic_write_file(const char *final_path, const void *data, size_t len)
{
    rtn_atomic_file af;
    RTN_TRY(rtn_atomic_open(&af, final_path));
    if (len && fwrite(data, 1, len, af.fp) != len) {
        int e = errno;
        rtn_atomic_abort(&af);
        return rtn_fail(RTN_ERR_IO, "writing '%s' failed: %s", final_path, strerror(e));
    }
    return rtn_atomic_close(&af);
}
