/* Keyed pseudonyms (include/retain/pseudonym.h). HMAC-SHA256 is computed from two SHA-256
 * states precomputed over key^ipad and key^opad (RFC 2104), so a pseudonym costs two
 * state copies and two short digests. */
#include "retain/pseudonym.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct rtn_pseudonymizer {
    EVP_MD_CTX *inner, *outer, *work;
};

void rtn_key_free(unsigned char *key, size_t len)
{
    if (!key) return;
    OPENSSL_cleanse(key, len);
    free(key);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

rtn_status rtn_key_load(const char *path, unsigned char **key, size_t *len)
{
    *key = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rtn_fail(RTN_ERR_IO, "cannot open key file '%s': %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return rtn_fail(RTN_ERR_IO, "cannot stat key file '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return rtn_fail(RTN_ERR_CONFIG, "key file '%s' is not a regular file", path);
    }
    if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        return rtn_fail(RTN_ERR_CONFIG,
                        "key file '%s' has mode %04o: a pseudonymization key must not be "
                        "accessible by group or others (run: chmod 600 '%s')",
                        path, (unsigned)(sb.st_mode & 07777), path);
    }
    if (sb.st_size > RTN_KEY_MAX_FILE) {
        close(fd);
        return rtn_fail(RTN_ERR_CONFIG, "key file '%s' is %lld bytes; a key file holds at most "
                        "%d bytes", path, (long long)sb.st_size, RTN_KEY_MAX_FILE);
    }
    unsigned char buf[RTN_KEY_MAX_FILE + 1];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            OPENSSL_cleanse(buf, sizeof buf);
            return rtn_fail(RTN_ERR_IO, "cannot read key file '%s': %s", path, strerror(e));
        }
        if (r == 0 || n + (size_t)r >= sizeof buf) {
            n += (size_t)r;
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    if (n > RTN_KEY_MAX_FILE) {
        OPENSSL_cleanse(buf, sizeof buf);
        return rtn_fail(RTN_ERR_CONFIG, "key file '%s' is larger than %d bytes", path,
                        RTN_KEY_MAX_FILE);
    }
    /* hex text? digits, then only trailing blanks */
    size_t h = 0;
    while (h < n && hexval(buf[h]) >= 0) h++;
    size_t t = h;
    while (t < n && (buf[t] == '\n' || buf[t] == '\r' || buf[t] == ' ' || buf[t] == '\t')) t++;
    int is_hex = h > 0 && t == n && h % 2 == 0;
    size_t klen = is_hex ? h / 2 : n;
    if (klen < RTN_KEY_MIN_BYTES) {
        OPENSSL_cleanse(buf, sizeof buf);
        return rtn_fail(RTN_ERR_CONFIG,
                        "key file '%s' holds %zu key bytes; at least %d are required (e.g. "
                        "64 hex digits from: openssl rand -hex 32)",
                        path, klen, RTN_KEY_MIN_BYTES);
    }
    unsigned char *k = malloc(klen);
    if (!k) {
        OPENSSL_cleanse(buf, sizeof buf);
        return rtn_fail(RTN_ERR_NOMEM, "out of memory reading the key");
    }
    if (is_hex)
        for (size_t i = 0; i < klen; i++)
            k[i] = (unsigned char)(hexval(buf[2 * i]) << 4 | hexval(buf[2 * i + 1]));
    else
        memcpy(k, buf, klen);
    OPENSSL_cleanse(buf, sizeof buf);
    *key = k;
    *len = klen;
    return RTN_OK;
}

rtn_status rtn_pseudo_new(rtn_pseudonymizer **out, const unsigned char *key, size_t len)
{
    *out = NULL;
    rtn_pseudonymizer *p = calloc(1, sizeof *p);
    if (!p) return rtn_fail(RTN_ERR_NOMEM, "out of memory creating the pseudonymizer");
    unsigned char k0[64] = {0}, pad[64];
    const EVP_MD *md = EVP_sha256();
    rtn_status st = RTN_OK;
    p->inner = EVP_MD_CTX_new();
    p->outer = EVP_MD_CTX_new();
    p->work = EVP_MD_CTX_new();
    if (!p->inner || !p->outer || !p->work) st = rtn_fail(RTN_ERR_NOMEM, "out of memory (HMAC)");
    if (st == RTN_OK && len > 64) {
        /* RFC 2104: keys longer than the block are hashed first */
        unsigned int hl = 32;
        if (!EVP_Digest(key, len, k0, &hl, md, NULL))
            st = rtn_fail(RTN_ERR_RUNTIME, "SHA-256 of the key failed");
    } else if (st == RTN_OK) {
        memcpy(k0, key, len);
    }
    if (st == RTN_OK) {
        for (int i = 0; i < 64; i++) pad[i] = (unsigned char)(k0[i] ^ 0x36);
        if (!EVP_DigestInit_ex(p->inner, md, NULL) || !EVP_DigestUpdate(p->inner, pad, 64))
            st = rtn_fail(RTN_ERR_RUNTIME, "HMAC setup failed");
        for (int i = 0; i < 64; i++) pad[i] = (unsigned char)(k0[i] ^ 0x5c);
        if (st == RTN_OK &&
            (!EVP_DigestInit_ex(p->outer, md, NULL) || !EVP_DigestUpdate(p->outer, pad, 64)))
            st = rtn_fail(RTN_ERR_RUNTIME, "HMAC setup failed");
    }
    OPENSSL_cleanse(k0, sizeof k0);
    OPENSSL_cleanse(pad, sizeof pad);
    if (st) {
        rtn_pseudo_free(p);
        return st;
    }
    *out = p;
    return RTN_OK;
}

void rtn_pseudo_free(rtn_pseudonymizer *p)
{
    if (!p) return;
    EVP_MD_CTX_free(p->inner);
    EVP_MD_CTX_free(p->outer);
    EVP_MD_CTX_free(p->work);
    free(p);
}

void rtn_pseudo_hmac(rtn_pseudonymizer *p, const void *msg, size_t n, unsigned char out[32])
{
    unsigned char ih[32];
    unsigned int l = 32;
    EVP_MD_CTX_copy_ex(p->work, p->inner);
    EVP_DigestUpdate(p->work, msg, n);
    EVP_DigestFinal_ex(p->work, ih, &l);
    EVP_MD_CTX_copy_ex(p->work, p->outer);
    EVP_DigestUpdate(p->work, ih, 32);
    EVP_DigestFinal_ex(p->work, out, &l);
}

uint64_t rtn_pseudo_of(rtn_pseudonymizer *p, const char *id, size_t n)
{
    unsigned char mac[32];
    rtn_pseudo_hmac(p, id, n, mac);
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | mac[i];
    return v;
}

void rtn_pseudo_fingerprint(rtn_pseudonymizer *p, char hex[17])
{
    static const char msg[] = "retain key fingerprint v1";
    unsigned char mac[32];
    rtn_pseudo_hmac(p, msg, sizeof msg - 1, mac);
    for (int i = 0; i < 8; i++) {
        static const char digits[] = "0123456789abcdef";
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 15];
    }
    hex[16] = 0;
}

const char *rtn_customer_id_normalize(const char *s, size_t n, size_t *out_len)
{
    while (n && (*s == ' ' || *s == '\t')) s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    size_t d = 0;
    while (d < n && s[d] >= '0' && s[d] <= '9') d++;
    if (d > 0 && d + 1 < n && s[d] == '.') {
        size_t z = d + 1;
        while (z < n && s[z] == '0') z++;
        if (z == n) n = d;
    }
    *out_len = n;
    return s;
}
