/* Time formatting (declared in retain/cli.h); a file of its own so that libretain, which
 * has no command line, can use it. */
#include <stdint.h>
#include <time.h>

#include "retain/cli.h"

void rtn_format_time(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
