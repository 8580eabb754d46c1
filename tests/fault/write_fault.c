/* Write-fault injection for the test suite, loaded with LD_PRELOAD.
 *
 * Counts the write calls a process makes to regular files below one directory and makes
 * the Nth one, and every later one, fail with an errno (a full disk stays full). Calls
 * to other files (stdout, pipes, sockets, MPI's shared-memory segments) pass untouched,
 * so only the outputs of the command under test see the fault.
 *
 *   RETAIN_FAULT_DIR    absolute directory; only regular files below it are counted
 *   RETAIN_FAULT_AT     N >= 1: the Nth counted call and all later ones fail (unset or 0:
 *                       count only)
 *   RETAIN_FAULT_RANK   fail only in this MPI rank (OMPI_COMM_WORLD_RANK; default: all)
 *   RETAIN_FAULT_ERRNO  ENOSPC (default), EDQUOT, EIO or EROFS
 *   RETAIN_FAULT_COUNT  file to which "RANK CALLS" is appended at exit (counting runs)
 *   RETAIN_FAULT_TRACE  1: print each counted call (rank, number, file) to stderr
 *
 * ENOSPC and EDQUOT behave as a full disk does: once tripped, every write that needs new
 * blocks (it extends the file or fills a hole) fails, and rewriting bytes that are already
 * on disk still works. EIO and EROFS fail every write.
 *
 * glibc's stdio writes through an internal entry point that LD_PRELOAD cannot replace, so
 * streams opened for writing below the directory are re-created here as cookie streams
 * over a plain descriptor; their writes then pass through write() above and are counted.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static int configured;
static char fault_dir[PATH_MAX];
static size_t fault_dir_len;
static long fault_at;
static int fault_errno = ENOSPC;
static long calls;
static int tripped;
static const char *count_file;
static int my_rank = -1;
static int trace;

static void report_count(void)
{
    if (!count_file) return;
    FILE *f = fopen(count_file, "a");
    if (!f) return;
    fprintf(f, "%d %ld\n", my_rank < 0 ? 0 : my_rank, calls);
    fclose(f);
}

static void configure(void)
{
    if (configured) return;
    configured = 1;
    const char *d = getenv("RETAIN_FAULT_DIR");
    if (!d || d[0] != '/') return;
    if (!realpath(d, fault_dir)) return;
    fault_dir_len = strlen(fault_dir);
    const char *at = getenv("RETAIN_FAULT_AT");
    fault_at = at ? atol(at) : 0;
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    my_rank = r ? atoi(r) : 0;
    const char *only = getenv("RETAIN_FAULT_RANK");
    if (only && *only && atoi(only) != my_rank) fault_at = 0;
    const char *e = getenv("RETAIN_FAULT_ERRNO");
    if (e && !strcmp(e, "EDQUOT")) fault_errno = EDQUOT;
    else if (e && !strcmp(e, "EIO")) fault_errno = EIO;
    else if (e && !strcmp(e, "EROFS")) fault_errno = EROFS;
    const char *t = getenv("RETAIN_FAULT_TRACE");
    trace = t && *t == '1';
    count_file = getenv("RETAIN_FAULT_COUNT");
    if (count_file && *count_file) atexit(report_count);
    else count_file = NULL;
}

/* Is fd a regular file below the fault directory? */
static int watched(int fd)
{
    configure();
    if (!fault_dir_len) return 0;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) return 0;
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0) return 0;
    target[n] = '\0';
    return strncmp(target, fault_dir, fault_dir_len) == 0 && target[fault_dir_len] == '/';
}

/* Would writing n bytes at off (-1: at the descriptor's position) need new blocks? */
static int needs_space(int fd, off_t off, size_t n)
{
    if (fault_errno != ENOSPC && fault_errno != EDQUOT) return 1;
    int saved = errno;
    off_t cur = lseek(fd, 0, SEEK_CUR);
    int append = (fcntl(fd, F_GETFL) & O_APPEND) != 0;
    if (off < 0) off = cur;
    struct stat sb;
    int need = 1;
    if (!append && off >= 0 && fstat(fd, &sb) == 0 && off + (off_t)n <= sb.st_size) {
        off_t hole = lseek(fd, off, SEEK_HOLE);
        need = hole < 0 || hole < off + (off_t)n;
        lseek(fd, cur, SEEK_SET);
    }
    errno = saved;
    return need;
}

/* 1 when this call must fail (errno is set). */
static int inject(int fd, off_t off, size_t n)
{
    if (!watched(fd)) return 0;
    calls++;
    if (trace) {
        char link[64], target[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, target, sizeof target - 1);
        target[len > 0 ? len : 0] = '\0';
        fprintf(stderr, "write_fault: rank %d call %ld: %zu bytes to %s\n", my_rank, calls, n,
                target);
    }
    if (fault_at > 0 && calls >= fault_at) tripped = 1;
    if (tripped && needs_space(fd, off, n)) {
        errno = fault_errno;
        return 1;
    }
    return 0;
}

static size_t iov_bytes(const struct iovec *iov, int cnt)
{
    size_t t = 0;
    for (int i = 0; i < cnt; i++) t += iov[i].iov_len;
    return t;
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t write(int fd, const void *buf, size_t n)
{
    if (inject(fd, -1, n)) return -1;
    return REAL(write)(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (inject(fd, off, n)) return -1;
    return REAL(pwrite)(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    if (inject(fd, off, n)) return -1;
    return REAL(pwrite64)(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    if (inject(fd, -1, iov_bytes(iov, cnt))) return -1;
    return REAL(writev)(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    if (inject(fd, off, iov_bytes(iov, cnt))) return -1;
    return REAL(pwritev)(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    if (inject(fd, off, iov_bytes(iov, cnt))) return -1;
    return REAL(pwritev64)(fd, iov, cnt, off);
}

/* After an EIO or EROFS fault, flushing to disk fails too, as on a failing device (a full
 * disk syncs what it already holds). */
static int sync_fails(int fd)
{
    return tripped && fault_errno != ENOSPC && fault_errno != EDQUOT && watched(fd);
}

int fsync(int fd)
{
    if (sync_fails(fd)) {
        errno = fault_errno;
        return -1;
    }
    return REAL(fsync)(fd);
}

int fdatasync(int fd)
{
    if (sync_fails(fd)) {
        errno = fault_errno;
        return -1;
    }
    return REAL(fdatasync)(fd);
}

/* ---- stdio streams below the fault directory */

#define MAX_STREAMS 256
static struct {
    FILE *fp;
    int fd;
} streams[MAX_STREAMS];

static ssize_t cookie_read(void *c, char *buf, size_t n) { return read((int)(intptr_t)c, buf, n); }

static ssize_t cookie_write(void *c, const char *buf, size_t n)
{
    ssize_t r = write((int)(intptr_t)c, buf, n);
    return r < 0 ? 0 : r; /* a cookie stream reports an error as 0 bytes, errno set */
}

static int cookie_seek(void *c, off64_t *off, int whence)
{
    off64_t r = lseek((int)(intptr_t)c, *off, whence);
    if (r < 0) return -1;
    *off = r;
    return 0;
}

static int cookie_close(void *c)
{
    int fd = (int)(intptr_t)c;
    for (int i = 0; i < MAX_STREAMS; i++)
        if (streams[i].fp && streams[i].fd == fd) streams[i].fp = NULL;
    return close(fd);
}

/* Is path (which may not exist yet) below the fault directory? */
static int watched_path(const char *path)
{
    configure();
    if (!fault_dir_len) return 0;
    char copy[PATH_MAX], dir[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    if (!realpath(dirname(copy), dir)) return 0;
    return strncmp(dir, fault_dir, fault_dir_len) == 0 &&
           (dir[fault_dir_len] == '/' || dir[fault_dir_len] == '\0');
}

static FILE *open_stream(const char *path, const char *mode, FILE *(*real)(const char *, const char *))
{
    if (!strpbrk(mode, "wa") || !watched_path(path)) return real(path, mode);
    int flags = strchr(mode, '+') ? O_RDWR : O_WRONLY;
    flags |= O_CREAT | (mode[0] == 'a' ? O_APPEND : O_TRUNC);
    if (strchr(mode, 'x')) flags |= O_EXCL;
    if (strchr(mode, 'e')) flags |= O_CLOEXEC;
    int fd = open(path, flags, 0666);
    if (fd < 0) return NULL;
    cookie_io_functions_t io = {cookie_read, cookie_write, cookie_seek, cookie_close};
    FILE *fp = fopencookie((void *)(intptr_t)fd, mode, io);
    if (!fp) {
        close(fd);
        return NULL;
    }
    for (int i = 0; i < MAX_STREAMS; i++)
        if (!streams[i].fp) {
            streams[i].fp = fp;
            streams[i].fd = fd;
            break;
        }
    return fp;
}

FILE *fopen(const char *path, const char *mode) { return open_stream(path, mode, REAL(fopen)); }

FILE *fopen64(const char *path, const char *mode) { return open_stream(path, mode, REAL(fopen64)); }

int fileno(FILE *fp)
{
    for (int i = 0; i < MAX_STREAMS; i++)
        if (streams[i].fp && streams[i].fp == fp) return streams[i].fd;
    return REAL(fileno)(fp);
}
