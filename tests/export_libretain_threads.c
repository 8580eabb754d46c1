/* libretain from several threads: one open bundle scored concurrently by 4 threads gives
 * exactly the single-threaded results, without CLV input and with it (docs/embedding.md,
 * "Threads"). With CLV, GSL's process-wide error handler is switched off while a thread is
 * inside GSL: the host's own handler must be back in place afterwards, and must not have
 * been called.
 * usage: export_libretain_threads BUNDLE FEATURES.f64 FEATURES.shape CLV.f64 */
#include <gsl/gsl_errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/retain.h"

#define N_THREADS 4

typedef struct {
    const rtn_bundle *b;
    const double *X, *clv; /* clv: n x RTN_CLV_IN_N, or NULL */
    size_t n, d;
    double *out; /* n x 4: churn probability, p_alive, expected purchases, clv */
    int *seg;
    int failed;
} job;

static void *score_all(void *arg)
{
    job *j = arg;
    char err[256];
    for (int rep = 0; rep < 3; rep++)
        for (size_t i = 0; i < j->n; i++) {
            rtn_customer_score s;
            if (rtn_bundle_score(j->b, j->X + i * j->d, j->clv ? j->clv + i * RTN_CLV_IN_N : NULL,
                                 &s, err, sizeof err) != 0) {
                j->failed = 1;
                return NULL;
            }
            double *o = j->out + i * 4;
            o[0] = s.churn_probability;
            o[1] = s.p_alive;
            o[2] = s.expected_purchases;
            o[3] = s.clv;
            j->seg[i] = s.segment_id;
        }
    return NULL;
}

static int host_handler_calls;
static void host_handler(const char *reason, const char *file, int line, int gsl_errno)
{
    (void)reason, (void)file, (void)line, (void)gsl_errno;
    host_handler_calls++;
}

/* Scores every customer on one thread, then on N_THREADS at once; 0 when every thread got
 * the same bits as the single thread. */
static int compare_threads(const rtn_bundle *b, const double *X, const double *clv, size_t n,
                           size_t d, const char *what)
{
    job ref = {b, X, clv, n, d, malloc(n * 4 * sizeof(double)), malloc(n * sizeof(int)), 0};
    job jobs[N_THREADS];
    pthread_t t[N_THREADS];
    score_all(&ref);
    for (int k = 0; k < N_THREADS; k++) {
        jobs[k] = (job){b, X, clv, n, d, malloc(n * 4 * sizeof(double)), malloc(n * sizeof(int)), 0};
        pthread_create(&t[k], NULL, score_all, &jobs[k]);
    }
    int bad = ref.failed;
    for (int k = 0; k < N_THREADS; k++) {
        pthread_join(t[k], NULL);
        bad |= jobs[k].failed || memcmp(jobs[k].out, ref.out, n * 4 * sizeof(double)) != 0 ||
               memcmp(jobs[k].seg, ref.seg, n * sizeof(int)) != 0;
        free(jobs[k].out);
        free(jobs[k].seg);
    }
    /* with CLV input every customer must have a lifetime value (the test would otherwise
     * compare NaNs and prove nothing about the GSL calls) */
    size_t finite_clv = 0;
    for (size_t i = 0; i < n; i++) finite_clv += isfinite(ref.out[i * 4 + 3]) != 0;
    if (clv && finite_clv != n) {
        printf("FAIL %s: %zu of %zu customers without a finite CLV\n", what, n - finite_clv, n);
        bad = 1;
    }
    printf("%s %s: %d threads x %zu customers x 3 rounds: results identical to one thread\n",
           bad ? "FAIL" : "ok  ", what, N_THREADS, n);
    free(ref.out);
    free(ref.seg);
    return bad;
}

static void *slurp(const char *path, size_t *bytes)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *bytes = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: export_libretain_threads BUNDLE FEATURES.f64 FEATURES.shape CLV.f64\n");
        return 2;
    }
    char err[1024];
    rtn_bundle *b = rtn_bundle_open(argv[1], err, sizeof err);
    if (!b) {
        fprintf(stderr, "FAIL open: %s\n", err);
        return 1;
    }
    size_t xb, sb, cb;
    double *X = slurp(argv[2], &xb);
    int64_t *shape = slurp(argv[3], &sb);
    double *clv = slurp(argv[4], &cb);
    if (!X || !shape || !clv || sb != 16 || (size_t)shape[1] != rtn_bundle_n_features(b) ||
        xb != (size_t)(shape[0] * shape[1]) * sizeof(double) ||
        cb != (size_t)shape[0] * RTN_CLV_IN_N * sizeof(double)) {
        fprintf(stderr, "FAIL: cannot read the features\n");
        return 1;
    }
    if (!rtn_bundle_has_clv(b)) {
        fprintf(stderr, "FAIL: the bundle has no CLV model\n");
        return 1;
    }
    size_t n = (size_t)shape[0], d = (size_t)shape[1];
    gsl_set_error_handler(host_handler);
    int bad = compare_threads(b, X, NULL, n, d, "without CLV");
    bad |= compare_threads(b, X, clv, n, d, "with CLV");
    gsl_error_handler_t *after = gsl_set_error_handler(NULL);
    if (after != host_handler || host_handler_calls != 0) {
        printf("FAIL: GSL error handler %s afterwards; the host's handler was called %d times\n",
               after == host_handler ? "is the host's" : "is not the host's", host_handler_calls);
        bad = 1;
    } else
        printf("ok   the host's GSL error handler is in place and was never called\n");
    free(X);
    free(shape);
    free(clv);
    rtn_bundle_close(b);
    return bad;
}
