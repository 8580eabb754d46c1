/* libretain from several threads: one open bundle scored concurrently by 4 threads (clv
 * NULL, as docs/embedding.md allows) gives exactly the single-threaded results.
 * usage: export_libretain_threads BUNDLE FEATURES.f64 FEATURES.shape */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/retain.h"

#define N_THREADS 4

typedef struct {
    const rtn_bundle *b;
    const double *X;
    size_t n, d;
    double *p;
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
            if (rtn_bundle_score(j->b, j->X + i * j->d, NULL, &s, err, sizeof err) != 0) {
                j->failed = 1;
                return NULL;
            }
            j->p[i] = s.churn_probability;
            j->seg[i] = s.segment_id;
        }
    return NULL;
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
    if (argc != 4) {
        fprintf(stderr, "usage: export_libretain_threads BUNDLE FEATURES.f64 FEATURES.shape\n");
        return 2;
    }
    char err[1024];
    rtn_bundle *b = rtn_bundle_open(argv[1], err, sizeof err);
    if (!b) {
        fprintf(stderr, "FAIL open: %s\n", err);
        return 1;
    }
    size_t xb, sb;
    double *X = slurp(argv[2], &xb);
    int64_t *shape = slurp(argv[3], &sb);
    if (!X || !shape || sb != 16 || (size_t)shape[1] != rtn_bundle_n_features(b) ||
        xb != (size_t)(shape[0] * shape[1]) * sizeof(double)) {
        fprintf(stderr, "FAIL: cannot read the features\n");
        return 1;
    }
    size_t n = (size_t)shape[0], d = (size_t)shape[1];
    job ref = {b, X, n, d, malloc(n * sizeof(double)), malloc(n * sizeof(int)), 0};
    job jobs[N_THREADS];
    pthread_t t[N_THREADS];
    score_all(&ref);
    for (int k = 0; k < N_THREADS; k++) {
        jobs[k] = (job){b, X, n, d, malloc(n * sizeof(double)), malloc(n * sizeof(int)), 0};
        pthread_create(&t[k], NULL, score_all, &jobs[k]);
    }
    int bad = ref.failed;
    for (int k = 0; k < N_THREADS; k++) {
        pthread_join(t[k], NULL);
        bad |= jobs[k].failed || memcmp(jobs[k].p, ref.p, n * sizeof(double)) != 0 ||
               memcmp(jobs[k].seg, ref.seg, n * sizeof(int)) != 0;
        free(jobs[k].p);
        free(jobs[k].seg);
    }
    printf("%s %d threads x %zu customers x 3 rounds: results identical to one thread\n",
           bad ? "FAIL" : "ok  ", N_THREADS, n);
    free(ref.p);
    free(ref.seg);
    free(X);
    free(shape);
    rtn_bundle_close(b);
    return bad;
}
