/* Feature transforms applied before standardization (declared in retain/kmeans.h). A file
 * of its own so that libretain (the scoring library) needs none of the k-means code. */
#include <math.h>
#include <string.h>

#include "retain/kmeans.h"

int rtn_xform_parse(const char *name, rtn_xform *out)
{
    if (!strcmp(name, "identity") || !strcmp(name, "none")) *out = RTN_XFORM_IDENTITY;
    else if (!strcmp(name, "log1p") || !strcmp(name, "log")) *out = RTN_XFORM_LOG1P;
    else return -1;
    return 0;
}

const char *rtn_xform_name(rtn_xform t)
{
    return t == RTN_XFORM_LOG1P ? "log1p" : "identity";
}

double rtn_xform_value(rtn_xform t, double x)
{
    if (t != RTN_XFORM_LOG1P) return x;
    /* odd extension so that net refunds (negative monetary values) stay finite */
    return x >= 0 ? log1p(x) : -log1p(-x);
}

double rtn_xform_inverse(rtn_xform t, double y)
{
    if (t != RTN_XFORM_LOG1P) return y;
    return y >= 0 ? expm1(y) : -expm1(-y);
}

void rtn_xform_apply(const rtn_xform *xform, size_t d, double *X, size_t n)
{
    /* rows outer: one pass over the (row-major) matrix, not one strided pass per column */
    for (size_t i = 0; i < n; i++) {
        double *x = X + i * d;
        for (size_t j = 0; j < d; j++)
            if (xform[j] != RTN_XFORM_IDENTITY) x[j] = rtn_xform_value(xform[j], x[j]);
    }
}
