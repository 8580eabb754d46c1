/* Deterministic train / validation / test split by a keyed hash of the customer key.
 *
 * u(key) = (mix64(mix64(key) ^ mix64(salt ^ 0x73706c6974)) >> 11) * 2^-53, uniform in [0,1)
 * (mix64 = rtn_mix64, SplitMix64's finalizer). A customer is in train when u < f_train,
 * in validation when u < f_train + f_valid, else in test. The split depends only on the
 * key, the salt and the fractions: never on the rank count, the bucket count or the row
 * order, so a customer stays in the same part across runs (docs/churn-model.md). */
#ifndef RETAIN_SPLIT_H
#define RETAIN_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "retain/status.h"

enum { RTN_SPLIT_TRAIN = 0, RTN_SPLIT_VALID = 1, RTN_SPLIT_TEST = 2 };

typedef struct {
    double train, valid, test; /* fractions, >= 0, summing to 1 */
    uint64_t salt;             /* changes the assignment; 0 by default */
} rtn_split_options;

void rtn_split_defaults(rtn_split_options *o); /* 0.70 / 0.15 / 0.15, salt 0 */
/* Checks the fractions (each in [0,1], sum 1 within 1e-9). */
rtn_status rtn_split_check(const rtn_split_options *o);
/* The uniform value u(key) in [0,1). */
double rtn_split_u(uint64_t key, uint64_t salt);
/* RTN_SPLIT_TRAIN, RTN_SPLIT_VALID or RTN_SPLIT_TEST. */
int rtn_split_of(uint64_t key, const rtn_split_options *o);
/* part[i] = rtn_split_of(keys[i]). */
void rtn_split_assign(const uint64_t *keys, size_t n, const rtn_split_options *o, uint8_t *part);
/* mask[i] = (part[i] == which). */
void rtn_split_mask(const uint8_t *part, size_t n, int which, uint8_t *mask);

#endif
