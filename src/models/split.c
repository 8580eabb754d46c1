/* Keyed-hash split (include/retain/split.h). */
#include "retain/split.h"

#include <math.h>

#include "retain/buckets.h"

void rtn_split_defaults(rtn_split_options *o)
{
    o->train = 0.70;
    o->valid = 0.15;
    o->test = 0.15;
    o->salt = 0;
}

rtn_status rtn_split_check(const rtn_split_options *o)
{
    double f[3] = {o->train, o->valid, o->test};
    for (int i = 0; i < 3; i++)
        if (!(f[i] >= 0 && f[i] <= 1))
            return rtn_fail(RTN_ERR_USAGE, "split: fraction %g is not in [0,1]", f[i]);
    if (fabs(f[0] + f[1] + f[2] - 1.0) > 1e-9)
        return rtn_fail(RTN_ERR_USAGE, "split: fractions %g + %g + %g do not sum to 1", f[0],
                        f[1], f[2]);
    return RTN_OK;
}

double rtn_split_u(uint64_t key, uint64_t salt)
{
    /* Keyed by the salt and independent of the bucket hash mix64(key) (double mixing). */
    uint64_t h = rtn_mix64(rtn_mix64(key) ^ rtn_mix64(salt ^ 0x73706c6974ULL));
    return (double)(h >> 11) * 0x1p-53;
}

int rtn_split_of(uint64_t key, const rtn_split_options *o)
{
    double u = rtn_split_u(key, o->salt);
    if (u < o->train) return RTN_SPLIT_TRAIN;
    if (u < o->train + o->valid) return RTN_SPLIT_VALID;
    return RTN_SPLIT_TEST;
}

void rtn_split_assign(const uint64_t *keys, size_t n, const rtn_split_options *o, uint8_t *part)
{
    for (size_t i = 0; i < n; i++) part[i] = (uint8_t)rtn_split_of(keys[i], o);
}

void rtn_split_mask(const uint8_t *part, size_t n, int which, uint8_t *mask)
{
    for (size_t i = 0; i < n; i++) mask[i] = part[i] == which;
}
