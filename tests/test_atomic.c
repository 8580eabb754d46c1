/* Atomic outputs: the final name appears only complete; failures leave nothing behind. */
#define _GNU_SOURCE /* SEEK_HOLE */
#include <dirent.h>
#include <fcntl.h>
#include <mpi.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "retain/atomic.h"
#include "retain/cli.h"
#include "rtn_test.h"

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

int main(void)
{
    char dir[] = "/tmp/rtn-atomic-XXXXXX";
    REQUIRE(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/out.txt", dir);

    CHECK(rtn_atomic_write_file(path, "hello\n", 6) == RTN_OK);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size == 6);
    CHECK_EQ_INT(count_entries(dir), 1);

    /* an aborted write leaves the old content and no temporary file */
    rtn_atomic_file af;
    CHECK(rtn_atomic_open(&af, path) == RTN_OK);
    CHECK(strncmp(af.tmp, dir, strlen(dir)) == 0); /* same directory: rename is atomic */
    fputs("partial", af.fp);
    CHECK_EQ_INT(count_entries(dir), 2);
    rtn_atomic_abort(&af);
    CHECK_EQ_INT(count_entries(dir), 1);
    CHECK(stat(path, &sb) == 0 && sb.st_size == 6);

    /* a directory that does not exist: clear error, nothing created */
    CHECK(rtn_atomic_write_file("/nonexistent-dir/x.txt", "x", 1) == RTN_ERR_IO);
    CHECK(strstr(rtn_errmsg(), "/nonexistent-dir/x.txt") != NULL);

    /* a file written through MPI-IO takes its final name only when it is whole */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s/.sized.tmp", dir);
    int fd = open(tmp, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    CHECK(pwrite(fd, "abcdef", 6, 0) == 6);
    close(fd);
    CHECK(rtn_atomic_commit_sized(tmp, path, 10) == RTN_ERR_IO); /* a lost tail */
    CHECK(strstr(rtn_errmsg(), "only 6 of its 10 bytes") != NULL);
    CHECK(access(tmp, F_OK) != 0);                     /* removed */
    CHECK(stat(path, &sb) == 0 && sb.st_size == 6);    /* the previous file stays */
    /* a lost write in the middle leaves a hole where the file system keeps holes */
    const off_t big = 4 << 20;
    fd = open(tmp, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    CHECK(pwrite(fd, "x", 1, big - 1) == 1);
    off_t hole = lseek(fd, 0, SEEK_HOLE);
    close(fd);
    if (hole >= 0 && hole < big) {
        CHECK(rtn_atomic_commit_sized(tmp, path, (uint64_t)big) == RTN_ERR_IO);
        CHECK(strstr(rtn_errmsg(), "never reached the disk") != NULL);
        CHECK(stat(path, &sb) == 0 && sb.st_size == 6);
    } else {
        unlink(tmp); /* this file system keeps no holes: nothing to detect */
    }
    fd = open(tmp, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    CHECK(pwrite(fd, "0123456789", 10, 0) == 10);
    close(fd);
    CHECK(rtn_atomic_commit_sized(tmp, path, 10) == RTN_OK);
    CHECK(stat(path, &sb) == 0 && sb.st_size == 10);

    /* date parsing used everywhere */
    int64_t t;
    CHECK(rtn_parse_date("--cutoff", "1970-01-02", &t) == RTN_OK && t == 86400);
    CHECK(rtn_parse_date("--cutoff", "2000-02-29T12:00:00Z", &t) == RTN_OK && t == 951825600);
    CHECK(rtn_parse_date("--cutoff", "2001-02-29", &t) == RTN_ERR_USAGE);
    CHECK(rtn_parse_date("--cutoff", "2001-13-01", &t) == RTN_ERR_USAGE);
    CHECK(rtn_parse_date("--cutoff", "yesterday", &t) == RTN_ERR_USAGE);
    char buf[32];
    rtn_format_time(951825600, buf, sizeof buf);
    CHECK(strcmp(buf, "2000-02-29T12:00:00Z") == 0);
    uint64_t u;
    CHECK(rtn_parse_u64("--n", "1e6", 0, UINT64_MAX, &u) == RTN_OK && u == 1000000);
    CHECK(rtn_parse_u64("--n", "12x", 0, UINT64_MAX, &u) == RTN_ERR_USAGE);
    CHECK(rtn_parse_u64("--n", "-3", 0, UINT64_MAX, &u) == RTN_ERR_USAGE);
    CHECK(rtn_parse_u64("--n", "5", 10, 20, &u) == RTN_ERR_USAGE);

    unlink(path);
    rmdir(dir);
    return rtn_test_finish("test_atomic");
}
