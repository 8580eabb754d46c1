#define _GNU_SOURCE /* memfd_create, SEEK_HOLE */
#include "retain/atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
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

static void (*notice_fn)(const char *msg);

/* The temporary names this process knows of (its own, and those a collective output
 * shares), so that a job ended from one rank can remove them all (rtn_atomic_abandon_all).
 * Old entries are overwritten: by then they were renamed or removed, and their unique
 * names can no longer exist. */
#define KNOWN_TMP 64
static char known_tmp[KNOWN_TMP][RTN_PATH_MAX];
static unsigned known_next;

static void remember(const char *tmp)
{
    snprintf(known_tmp[known_next++ % KNOWN_TMP], RTN_PATH_MAX, "%s", tmp);
}

static void forget(const char *tmp)
{
    for (int i = 0; i < KNOWN_TMP; i++)
        if (strcmp(known_tmp[i], tmp) == 0) known_tmp[i][0] = '\0';
}

void rtn_atomic_set_notice(void (*fn)(const char *msg)) { notice_fn = fn; }

static const char *this_host(void)
{
    static char host[256];
    if (!host[0] && (gethostname(host, sizeof host - 1) != 0 || !host[0]))
        snprintf(host, sizeof host, "localhost");
    return host;
}

/* Removes DIR/.BASE.tmp-PID-N@HOST[.partR] files whose process no longer exists: what a
 * killed run (SIGKILL, a node lost) leaves behind. Only files of this host are judged,
 * since a PID means nothing on another node sharing the directory; a PID that is alive,
 * or that belongs to another user, is left alone. */
static void remove_stale(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    if (!d) return;
    char prefix[RTN_PATH_MAX];
    int plen = snprintf(prefix, sizeof prefix, ".%s.tmp-", base);
    if (plen < 0 || (size_t)plen >= sizeof prefix) {
        closedir(d);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0) continue;
        char *end;
        long pid = strtol(e->d_name + plen, &end, 10);
        if (end == e->d_name + plen || *end != '-' || pid <= 0) continue;
        const char *at = strchr(end, '@');
        if (at) {
            const char *host = this_host();
            size_t hl = strlen(host);
            if (strncmp(at + 1, host, hl) != 0 || (at[1 + hl] != '\0' && at[1 + hl] != '.'))
                continue;
        }
        if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char path[2 * RTN_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0 && notice_fn) {
            char msg[2 * RTN_PATH_MAX + 128];
            snprintf(msg, sizeof msg, "removed stale temporary file '%s' (its process %ld no "
                     "longer exists)", path, pid);
            notice_fn(msg);
        }
    }
    closedir(d);
}

rtn_status rtn_atomic_tmpname(const char *final_path, char *tmp, size_t tmp_size)
{
    char dir[RTN_PATH_MAX];
    const char *base;
    split_dir(final_path, dir, sizeof dir, &base);
    if (!*base) return rtn_fail(RTN_ERR_USAGE, "output path '%s' names a directory", final_path);
    remove_stale(dir, base);
    static unsigned counter;
    int n = snprintf(tmp, tmp_size, "%s/.%s.tmp-%ld-%u@%s", dir, base, (long)getpid(),
                     counter++, this_host());
    if (n < 0 || (size_t)n >= tmp_size)
        return rtn_fail(RTN_ERR_USAGE, "output path '%s' is too long", final_path);
    remember(tmp);
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
    if (rank != 0) remember(tmp);
    return RTN_OK;
}

/* 0, or the errno of a failed fsync (a file system that cannot sync, EINVAL, counts as
 * synced: there is nothing more to do for it). */
static int fsync_path(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0) return 0;
    int e = fsync(fd) != 0 && errno != EINVAL ? errno : 0;
    close(fd);
    return e;
}

rtn_status rtn_atomic_commit(const char *tmp, const char *final_path)
{
    /* data that cannot reach the disk (a delayed write error) must not be renamed into
     * place as if it had */
    int e = fsync_path(tmp, O_RDONLY);
    if (e) {
        unlink(tmp);
        return rtn_fail(RTN_ERR_IO, "writing '%s' failed: %s", final_path, strerror(e));
    }
    forget(tmp);
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

rtn_status rtn_atomic_commit_sized(const char *tmp, const char *final_path, uint64_t expected)
{
    /* MPI-IO layers have been seen to report a write that never reached the disk as a
     * success (Open MPI 4.1's collective buffering on a full disk): the file's extent is
     * checked before it may take the final name. */
    struct stat sb;
    int fd = open(tmp, O_RDONLY);
    rtn_status st = RTN_OK;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        st = rtn_fail(RTN_ERR_IO, "writing '%s' failed: '%s': %s", final_path, tmp,
                      strerror(errno));
    } else {
        if ((uint64_t)sb.st_size > expected && ftruncate(fd, (off_t)expected) != 0) {
            /* cannot happen on a new temporary file; refuse rather than guess */
            st = rtn_fail(RTN_ERR_IO, "writing '%s' failed: cannot size it: %s", final_path,
                          strerror(errno));
        }
        off_t hole = expected ? lseek(fd, 0, SEEK_HOLE) : 0;
        if (st == RTN_OK && (uint64_t)sb.st_size < expected)
            st = rtn_fail(RTN_ERR_IO,
                          "writing '%s' failed: only %llu of its %llu bytes reached the disk "
                          "(the MPI-IO layer reported no error; is the disk full?)",
                          final_path, (unsigned long long)sb.st_size,
                          (unsigned long long)expected);
        else if (st == RTN_OK && hole >= 0 && (uint64_t)hole < expected)
            st = rtn_fail(RTN_ERR_IO,
                          "writing '%s' failed: bytes from offset %llu never reached the disk "
                          "(the MPI-IO layer reported no error; is the disk full?)",
                          final_path, (unsigned long long)hole);
    }
    if (fd >= 0) close(fd);
    if (st) {
        rtn_atomic_discard(tmp);
        return st;
    }
    return rtn_atomic_commit(tmp, final_path);
}

void rtn_atomic_divert(const char *tmp)
{
    struct stat target;
    if (!tmp || !*tmp || stat(tmp, &target) != 0) return;
    int sink = memfd_create("retain-discarded-output", MFD_CLOEXEC);
    if (sink < 0) return;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            int fd = atoi(e->d_name);
            struct stat sb;
            if (fd == sink || fd == dirfd(d) || fstat(fd, &sb) != 0) continue;
            if (S_ISREG(sb.st_mode) && sb.st_dev == target.st_dev && sb.st_ino == target.st_ino)
                dup2(sink, fd);
        }
        closedir(d);
    }
    close(sink);
}

const char *rtn_mpi_io_cause(int mpi_err, int saved_errno, char *buf, size_t n)
{
    if (saved_errno) return strerror(saved_errno);
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(mpi_err, text, &len) != MPI_SUCCESS) len = 0;
    text[len] = '\0';
    snprintf(buf, n, "%s", len ? text : "MPI-IO error");
    return buf;
}

const char *rtn_atomic_create_problem(const char *path, int saved_errno)
{
    char dir[RTN_PATH_MAX];
    const char *base;
    split_dir(path, dir, sizeof dir, &base);
    struct stat sb;
    if (stat(dir, &sb) != 0) return strerror(errno);
    if (!S_ISDIR(sb.st_mode)) return strerror(ENOTDIR);
    if (access(dir, W_OK) != 0) return strerror(errno);
    return saved_errno ? strerror(saved_errno) : NULL;
}

void rtn_atomic_discard(const char *tmp)
{
    if (tmp && *tmp) {
        forget(tmp);
        unlink(tmp);
    }
}

void rtn_atomic_abandon_all(void *unused)
{
    (void)unused;
    for (int i = 0; i < KNOWN_TMP; i++) {
        const char *tmp = known_tmp[i];
        if (!tmp[0]) continue;
        rtn_atomic_divert(tmp);
        unlink(tmp);
        /* the per-rank parts of a shared output (TMP.partR), whichever rank wrote them */
        char dir[RTN_PATH_MAX];
        const char *base;
        split_dir(tmp, dir, sizeof dir, &base);
        DIR *d = opendir(dir);
        if (!d) continue;
        size_t bl = strlen(base);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, base, bl) != 0 || strncmp(e->d_name + bl, ".part", 5) != 0)
                continue;
            char path[2 * RTN_PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
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
