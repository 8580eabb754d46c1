/* Keyed customer pseudonyms: HMAC-SHA256 (OpenSSL libcrypto) of the normalized raw
 * identifier under a secret key; the pseudonym is the first 8 bytes of the MAC read as a
 * little-endian uint64. The same key gives the same pseudonym in every ingest, so stores
 * built in different quarters line up; without the key the raw identifier cannot be
 * recovered or tested. Key handling and rotation: docs/privacy.md. */
#ifndef RETAIN_PSEUDONYM_H
#define RETAIN_PSEUDONYM_H

#include <stddef.h>
#include <stdint.h>

#include "retain/status.h"

#define RTN_KEY_MIN_BYTES 32
#define RTN_KEY_MAX_FILE 4096

/* Reads a key file: hex text (only hex digits, optional trailing whitespace) is decoded,
 * anything else is taken as raw bytes. Refuses a file that is not a regular file, is
 * accessible by group or others (mode & 077), is larger than RTN_KEY_MAX_FILE or yields
 * fewer than RTN_KEY_MIN_BYTES bytes. *key is malloc'ed; wipe and free it with
 * rtn_key_free. */
rtn_status rtn_key_load(const char *path, unsigned char **key, size_t *len);
void rtn_key_free(unsigned char *key, size_t len);

typedef struct rtn_pseudonymizer rtn_pseudonymizer;

/* The key bytes are copied into precomputed HMAC pad states; the caller may free them. */
rtn_status rtn_pseudo_new(rtn_pseudonymizer **p, const unsigned char *key, size_t len);
void rtn_pseudo_free(rtn_pseudonymizer *p);

/* Pseudonym of an identifier that is already normalized. */
uint64_t rtn_pseudo_of(rtn_pseudonymizer *p, const char *id, size_t n);

/* Full HMAC-SHA256 of a message (tests compare it with other implementations). */
void rtn_pseudo_hmac(rtn_pseudonymizer *p, const void *msg, size_t n, unsigned char out[32]);

/* Key fingerprint: hex of the first 8 bytes of HMAC(key, "retain key fingerprint v1").
 * Recorded in store provenance so appends can check that the same key is used; it does
 * not reveal the key. */
void rtn_pseudo_fingerprint(rtn_pseudonymizer *p, char hex[17]);

/* Customer identifier normalization (docs/privacy.md): ASCII blanks are trimmed at both
 * ends, and an all-digit identifier written as a float with a zero fraction
 * ("17850.0", "17850.00") loses the fraction. Leading zeros are kept ("00042" stays).
 * Returns the normalized identifier as a view into s (length in *out_len). */
const char *rtn_customer_id_normalize(const char *s, size_t n, size_t *out_len);

#endif
