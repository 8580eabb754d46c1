#include "retain/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char command_line[8192];

void rtn_command_usage(const rtn_command *cmd, FILE *out)
{
    fputs(cmd->usage, out);
    if (cmd->usage_rest) cmd->usage_rest(out);
}

rtn_status rtn_usage_error(const rtn_command *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int rank = 0, inited = 0;
    MPI_Initialized(&inited);
    if (inited) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) {
        fprintf(stderr, "retain %s: %s\n", cmd ? cmd->name : "", msg);
        if (cmd) {
            fputc('\n', stderr);
            rtn_command_usage(cmd, stderr);
        }
        else fprintf(stderr, "Run 'retain help' for the list of commands.\n");
    }
    rtn_fail(RTN_ERR_USAGE, "%s", msg);
    return RTN_ERR_USAGE;
}

rtn_status rtn_parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return rtn_fail(RTN_ERR_USAGE, "%s: '%s' is not a non-negative whole number", opt,
                        s ? s : "");
    unsigned long long v = strtoull(s, &end, 10);
    /* Accept 1e6 / 2.5e7 style counts too, when they are whole. */
    if (*end == 'e' || *end == 'E' || *end == '.') {
        double d = strtod(s, &end);
        if (*end || d != (double)(unsigned long long)d)
            return rtn_fail(RTN_ERR_USAGE, "%s: '%s' is not a whole number", opt, s);
        v = (unsigned long long)d;
    } else if (*end || errno) {
        return rtn_fail(RTN_ERR_USAGE, "%s: '%s' is not a whole number", opt, s);
    }
    if (v < lo || v > hi)
        return rtn_fail(RTN_ERR_USAGE, "%s: %llu is outside [%" PRIu64 ", %" PRIu64 "]", opt, v,
                        lo, hi);
    *out = v;
    return RTN_OK;
}

rtn_status rtn_parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || errno)
        return rtn_fail(RTN_ERR_USAGE, "%s: '%s' is not a whole number", opt, s ? s : "");
    if (v < lo || v > hi)
        return rtn_fail(RTN_ERR_USAGE, "%s: %lld is outside [%" PRId64 ", %" PRId64 "]", opt, v,
                        lo, hi);
    *out = v;
    return RTN_OK;
}

rtn_status rtn_parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || errno || v != v)
        return rtn_fail(RTN_ERR_USAGE, "%s: '%s' is not a number", opt, s ? s : "");
    if (v < lo || v > hi)
        return rtn_fail(RTN_ERR_USAGE, "%s: %g is outside [%g, %g]", opt, v, lo, hi);
    *out = v;
    return RTN_OK;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dm[m - 1];
}

rtn_status rtn_parse_date(const char *opt, const char *s, int64_t *out)
{
    int y, mo, d, h = 0, mi = 0, se = 0, n = 0;
    if (!s) return rtn_fail(RTN_ERR_USAGE, "%s: missing date", opt);
    size_t len = strlen(s);
    int ok = sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && n == 10;
    if (ok && len > 10) {
        int n2 = 0;
        ok = (s[10] == 'T' || s[10] == ' ') &&
             sscanf(s + 11, "%2d:%2d:%2d%n", &h, &mi, &se, &n2) == 3 && n2 == 8 &&
             (len == 19 || (len == 20 && s[19] == 'Z'));
    }
    if (!ok || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        se > 59 || h < 0 || mi < 0 || se < 0)
        return rtn_fail(RTN_ERR_USAGE,
                        "%s: '%s' is not a date (expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, UTC)",
                        opt, s);
    *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
    return RTN_OK;
}

const char *rtn_command_line(void) { return command_line; }

void rtn_set_command_line(int argc, char **argv)
{
    size_t used = 0;
    command_line[0] = '\0';
    for (int i = 0; i < argc && used + 4 < sizeof command_line; i++) {
        int w = snprintf(command_line + used, sizeof command_line - used, "%s%s", i ? " " : "",
                         argv[i]);
        if (w < 0) break;
        used += (size_t)w;
        if (used >= sizeof command_line) used = sizeof command_line - 1;
    }
}

const rtn_command *rtn_find_command(const char *name)
{
    for (int i = 0; i < rtn_n_commands; i++)
        if (strcmp(rtn_commands[i].name, name) == 0) return &rtn_commands[i];
    return NULL;
}
