/* Driver for tests/kmeans_oracle.py (scikit-learn oracle):
 *   kmeans_tool fit DIR K MAX_ITER TOL KERNEL(auto|fused|blas) [init|kmeans||]
 *       reads DIR/X.bin (int64 n, int64 d, n*d doubles) and DIR/init.bin (k*d doubles),
 *       spreads the rows over the ranks by key = row index + 1, fits, and writes on rank 0
 *       DIR/centroids.bin, DIR/labels.bin (int32, original row order), DIR/info.txt.
 *   kmeans_tool ari FILE   (int64 n, n int32 a, n int32 b)  -> prints the ARI
 *   kmeans_tool sil FILE   (int64 n, int64 d, n*d doubles, n int32 labels) -> silhouette */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmeans_common.h"
#include "retain/kmeans.h"

static void *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)sz + 1);
    if (fread(buf, 1, (size_t)sz, f) != (size_t)sz) exit(2);
    fclose(f);
    *len = (size_t)sz;
    return buf;
}

static void spit(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len) exit(2);
    fclose(f);
}

static int do_fit(int argc, char **argv)
{
    if (argc < 7) return 2;
    const char *dir = argv[2];
    int k = atoi(argv[3]);
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/X.bin", dir);
    char *raw = slurp(path, &len);
    int64_t n, d;
    memcpy(&n, raw, 8);
    memcpy(&d, raw + 8, 8);
    double *X = malloc(sizeof(double) * (size_t)(n * d));
    memcpy(X, raw + 16, sizeof(double) * (size_t)(n * d));
    free(raw);
    double *init = NULL;
    if (argc < 8 || strcmp(argv[7], "kmeans||") != 0) {
        snprintf(path, sizeof path, "%s/init.bin", dir);
        init = slurp(path, &len);
    }
    uint64_t *keys = malloc(sizeof(uint64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) keys[i] = (uint64_t)i + 1;
    km_layout L;
    km_layout_make(MPI_COMM_WORLD, X, keys, (size_t)n, (size_t)d, 32, &L);
    rtn_kmeans_options o;
    rtn_kmeans_options_default(&o, k);
    o.max_iter = atoi(argv[4]);
    o.tol = atof(argv[5]);
    o.kernel = !strcmp(argv[6], "blas")    ? RTN_KMEANS_KERNEL_BLAS
               : !strcmp(argv[6], "fused") ? RTN_KMEANS_KERNEL_FUSED
                                           : RTN_KMEANS_KERNEL_AUTO;
    rtn_kmeans_model m;
    int32_t *lab = malloc(sizeof(int32_t) * (L.rows.n + 1));
    rtn_status st = rtn_kmeans_fit(MPI_COMM_WORLD, &L.rows, L.keys, &o, init, &m, lab);
    if (st) {
        fprintf(stderr, "fit failed: %s\n", rtn_errmsg());
        return 1;
    }
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* labels back to the original order on rank 0 */
    int nl = (int)L.rows.n;
    int *counts = malloc(sizeof(int) * (size_t)size), *displs = malloc(sizeof(int) * (size_t)size);
    MPI_Gather(&nl, 1, MPI_INT, counts, 1, MPI_INT, 0, MPI_COMM_WORLD);
    int tot = 0;
    if (rank == 0)
        for (int r = 0; r < size; r++) {
            displs[r] = tot;
            tot += counts[r];
        }
    int32_t *alab = malloc(sizeof(int32_t) * (size_t)(n + 1));
    int64_t *aidx = malloc(sizeof(int64_t) * (size_t)(n + 1));
    int64_t *lidx = malloc(sizeof(int64_t) * (L.rows.n + 1));
    for (size_t t = 0; t < L.rows.n; t++) lidx[t] = (int64_t)L.orig[t];
    MPI_Gatherv(lab, nl, MPI_INT32_T, alab, counts, displs, MPI_INT32_T, 0, MPI_COMM_WORLD);
    MPI_Gatherv(lidx, nl, MPI_INT64_T, aidx, counts, displs, MPI_INT64_T, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        int32_t *ordered = malloc(sizeof(int32_t) * (size_t)(n + 1));
        for (int64_t t = 0; t < n; t++) ordered[aidx[t]] = alab[t];
        snprintf(path, sizeof path, "%s/labels.bin", dir);
        spit(path, ordered, sizeof(int32_t) * (size_t)n);
        snprintf(path, sizeof path, "%s/centroids.bin", dir);
        spit(path, m.centroids, sizeof(double) * (size_t)k * (size_t)d);
        snprintf(path, sizeof path, "%s/info.txt", dir);
        FILE *f = fopen(path, "w");
        fprintf(f, "%.17g %d %d\n", m.inertia, m.n_iter, m.converged);
        fclose(f);
        free(ordered);
    }
    free(counts);
    free(displs);
    free(alab);
    free(aidx);
    free(lidx);
    free(lab);
    free(X);
    free(init);
    free(keys);
    km_layout_free(&L);
    rtn_kmeans_model_free(&m);
    return 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rc = 2;
    if (argc >= 2 && !strcmp(argv[1], "fit")) rc = do_fit(argc, argv);
    else if (argc >= 3 && !strcmp(argv[1], "ari")) {
        size_t len;
        char *raw = slurp(argv[2], &len);
        int64_t n;
        memcpy(&n, raw, 8);
        int32_t *a = malloc(sizeof(int32_t) * (size_t)(n + 1)), *b = malloc(sizeof(int32_t) * (size_t)(n + 1));
        memcpy(a, raw + 8, 4 * (size_t)n);
        memcpy(b, raw + 8 + 4 * (size_t)n, 4 * (size_t)n);
        double v;
        rc = rtn_adjusted_rand_index(a, b, (size_t)n, &v) ? 1 : 0;
        printf("%.17g\n", v);
        free(raw);
        free(a);
        free(b);
    } else if (argc >= 3 && !strcmp(argv[1], "sil")) {
        size_t len;
        char *raw = slurp(argv[2], &len);
        int64_t n, d;
        memcpy(&n, raw, 8);
        memcpy(&d, raw + 8, 8);
        double *X = malloc(sizeof(double) * (size_t)(n * d));
        int32_t *l = malloc(sizeof(int32_t) * (size_t)(n + 1));
        memcpy(X, raw + 16, 8 * (size_t)(n * d));
        memcpy(l, raw + 16 + 8 * (size_t)(n * d), 4 * (size_t)n);
        double v = 0;
        rc = rtn_silhouette(X, (size_t)n, (size_t)d, l, &v) ? 1 : 0;
        printf("%.17g\n", v);
        free(raw);
        free(X);
        free(l);
    }
    MPI_Finalize();
    return rc;
}
