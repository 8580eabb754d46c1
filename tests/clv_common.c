/* Shared helpers of the CLV tests: read the CDNOW files of data-samples/cdnow, which the build
 * unpacks and verifies into $RETAIN_DATA_DIR.
 * Prototypes are repeated in each test (clv_common_decl below). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Path of a file under $RETAIN_DATA_DIR/cdnow (malloc'ed). */
char *clv_cdnow_path(const char *name)
{
    const char *dir = getenv("RETAIN_DATA_DIR");
    if (!dir || !*dir) {
        fprintf(stderr, "FAIL: RETAIN_DATA_DIR is not set (run the test through ctest)\n");
        exit(1);
    }
    size_t len = strlen(dir) + strlen(name) + 16;
    char *p = malloc(len);
    if (p) snprintf(p, len, "%s/cdnow/%s", dir, name);
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

/* Numeric CSV with one header line; cols[j] receives column j (malloc'ed, n values).
 * Returns the row count, or -1 on error. */
long clv_read_csv(const char *path, int ncols, double **cols)
{
    size_t len;
    char *buf = slurp(path, &len);
    if (!buf) return -1;
    size_t cap = 4096;
    long n = 0;
    for (int j = 0; j < ncols; j++) cols[j] = malloc(cap * sizeof(double));
    char *p = strchr(buf, '\n');
    p = p ? p + 1 : buf + len;
    while (*p) {
        while (*p == '\r' || *p == '\n') p++;
        if (!*p) break;
        if ((size_t)n == cap) {
            cap *= 2;
            for (int j = 0; j < ncols; j++) cols[j] = realloc(cols[j], cap * sizeof(double));
        }
        for (int j = 0; j < ncols; j++) {
            char *end;
            cols[j][n] = strtod(p, &end);
            if (end == p) {
                free(buf);
                return -1;
            }
            p = end;
            if (j + 1 < ncols) {
                if (*p != ',') {
                    free(buf);
                    return -1;
                }
                p++;
            }
        }
        n++;
    }
    free(buf);
    return n;
}

static long day_number(long ymd)
{
    /* days since 1970-01-01 of a proleptic Gregorian date YYYYMMDD */
    long y = ymd / 10000, m = (ymd / 100) % 100, d = ymd % 100;
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Calibration summary of CDNOW_sample.txt computed from the raw purchases: same-day
 * purchases merged, calibration ends on end_ymd (inclusive), times in weeks.
 * Arrays are indexed by sample id - 1 (1..ncust). Returns ncust or -1. */
long clv_raw_summary(const char *path, long end_ymd, double **x, double **t_x, double **T,
                     double **zbar)
{
    size_t len;
    char *buf = slurp(path, &len);
    if (!buf) return -1;
    enum { MAXC = 100000 };
    long *first = malloc(MAXC * sizeof(long)), *last_day = malloc(MAXC * sizeof(long));
    long *lastrep = malloc(MAXC * sizeof(long));
    double *cnt = calloc(MAXC, sizeof(double)), *sum = calloc(MAXC, sizeof(double));
    double *dayval = calloc(MAXC, sizeof(double));
    for (long i = 0; i < MAXC; i++) first[i] = last_day[i] = lastrep[i] = -1;
    long end = day_number(end_ymd), ncust = 0;
    char *p = buf;
    /* Records are sorted by customer and date in the file; same-day records are adjacent. */
    while (*p) {
        char *e;
        long master = strtol(p, &e, 10);
        if (e == p) break;
        (void)master;
        long id = strtol(e, &e, 10);
        long ymd = strtol(e, &e, 10);
        (void)strtol(e, &e, 10);
        double val = strtod(e, &e);
        p = e;
        while (*p == '\r' || *p == '\n' || *p == ' ') p++;
        if (id <= 0 || id >= MAXC) {
            free(buf);
            return -1;
        }
        long c = id - 1, day = day_number(ymd);
        if (c + 1 > ncust) ncust = c + 1;
        if (first[c] < 0) {
            first[c] = day;
            last_day[c] = day;
            continue;
        }
        if (day > end) continue;
        if (day == last_day[c]) {
            if (day != first[c]) dayval[c] += val; /* merge into the current repeat day */
            continue;
        }
        /* a new repeat day: close the previous one */
        if (last_day[c] != first[c]) sum[c] += dayval[c];
        last_day[c] = day;
        dayval[c] = val;
        cnt[c] += 1;
        lastrep[c] = day;
    }
    *x = malloc((size_t)ncust * sizeof(double));
    *t_x = malloc((size_t)ncust * sizeof(double));
    *T = malloc((size_t)ncust * sizeof(double));
    *zbar = malloc((size_t)ncust * sizeof(double));
    for (long c = 0; c < ncust; c++) {
        if (last_day[c] != first[c]) sum[c] += dayval[c];
        (*x)[c] = cnt[c];
        (*t_x)[c] = cnt[c] > 0 ? (double)(lastrep[c] - first[c]) / 7.0 : 0.0;
        (*T)[c] = (double)(end - first[c]) / 7.0;
        (*zbar)[c] = cnt[c] > 0 ? sum[c] / cnt[c] : 0.0;
    }
    free(first);
    free(last_day);
    free(lastrep);
    free(cnt);
    free(sum);
    free(dayval);
    free(buf);
    return ncust;
}
