/* k-means benchmark (run by bench/kmeans.sh):
 *   kmeans_bench X.bin INIT.bin K ITERS
 * X.bin: int64 n, int64 d, n*d float64; INIT.bin: K*d float64.
 * Each rank reads a contiguous share of 1024 buckets (row blocks), then measures
 *   - memory read bandwidth on its own rows (best of 5 passes, slowest rank),
 *   - rtn_kmeans_fit from the given centroids with tol = 0 and max_iter = ITERS,
 *     once per distance kernel (fused, BLAS): time per Lloyd iteration and whole fit.
 * Prints JSON lines on rank 0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/kmeans.h"
#include "retain/log.h"

static double read_pass(const double *x, size_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 += x[i];
        s1 += x[i + 1];
        s2 += x[i + 2];
        s3 += x[i + 3];
        s4 += x[i + 4];
        s5 += x[i + 5];
        s6 += x[i + 6];
        s7 += x[i + 7];
    }
    for (; i < n; i++) s0 += x[i];
    return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    rtn_log_init(MPI_COMM_WORLD, RTN_LOG_WARN);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 5) {
        if (rank == 0) fprintf(stderr, "usage: kmeans_bench X.bin INIT.bin K ITERS\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    int k = atoi(argv[3]), iters = atoi(argv[4]);
    FILE *f = fopen(argv[1], "rb");
    int64_t hdr[2];
    if (!f || fread(hdr, 8, 2, f) != 2) MPI_Abort(MPI_COMM_WORLD, 3);
    size_t n = (size_t)hdr[0], d = (size_t)hdr[1];
    uint32_t B = 1024;
    uint64_t *off = malloc(sizeof(uint64_t) * (B + 1));
    for (uint32_t b = 0; b <= B; b++) off[b] = (uint64_t)((unsigned __int128)n * b / B);
    uint32_t b0, b1;
    rtn_partition_buckets(off, B, size, rank, &b0, &b1);
    size_t r0 = off[b0], nl = off[b1] - off[b0];
    /* 64-byte aligned rows: the kernel's 512-bit loads then never straddle cache lines */
    double *X = NULL;
    if (posix_memalign((void **)&X, 64, sizeof(double) * (nl * d + 8))) MPI_Abort(MPI_COMM_WORLD, 7);
    fseek(f, 16 + (long)(r0 * d * sizeof(double)), SEEK_SET);
    if (fread(X, sizeof(double), nl * d, f) != nl * d) MPI_Abort(MPI_COMM_WORLD, 3);
    fclose(f);
    uint64_t *boff = malloc(sizeof(uint64_t) * (b1 - b0 + 1));
    for (uint32_t b = b0; b <= b1; b++) boff[b - b0] = off[b] - r0;
    rtn_bucketed_rows R = {nl, d, X, B, b0, b1, boff};
    double *init = malloc(sizeof(double) * (size_t)k * d);
    f = fopen(argv[2], "rb");
    if (!f || fread(init, sizeof(double), (size_t)k * d, f) != (size_t)k * d)
        MPI_Abort(MPI_COMM_WORLD, 3);
    fclose(f);

    /* bandwidth: every rank reads its rows at the same time */
    double best = 1e30, sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        sink += read_pass(X, nl * d);
        double t = MPI_Wtime() - t0, tmax;
        MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (tmax < best) best = tmax;
    }
    double bytes = (double)n * (double)d * 8.0;
    double gbs = bytes / best / 1e9;
    if (rank == 0)
        printf("{\"what\":\"bandwidth\",\"ranks\":%d,\"gb_per_s\":%.3f,\"bound_ms\":%.2f,"
               "\"check\":%d}\n",
               size, gbs, 1e3 * best, sink != 0);

    const char *names[2] = {"fused", "blas"};
    rtn_kmeans_kernel kern[2] = {RTN_KMEANS_KERNEL_FUSED, RTN_KMEANS_KERNEL_BLAS};
    for (int v = 0; v < 2; v++) {
        rtn_kmeans_options o;
        rtn_kmeans_options_default(&o, k);
        o.max_iter = iters;
        o.tol = 0;
        o.kernel = kern[v];
        rtn_kmeans_model m;
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        rtn_status st = rtn_kmeans_fit(MPI_COMM_WORLD, &R, NULL, &o, init, &m, NULL);
        double t = MPI_Wtime() - t0, tmax, lmax;
        if (st) {
            if (rank == 0) fprintf(stderr, "fit failed: %s\n", rtn_errmsg());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        MPI_Allreduce(&m.lloyd_seconds, &lmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        double per = lmax / m.n_iter;
        if (rank == 0)
            printf("{\"what\":\"fit\",\"kernel\":\"%s\",\"ranks\":%d,\"n\":%zu,\"d\":%zu,\"k\":%d,"
                   "\"n_iter\":%d,\"fit_s\":%.4f,\"iter_ms\":%.2f,\"iter_over_bound\":%.2f,"
                   "\"inertia\":%.10g}\n",
                   names[v], size, n, d, k, m.n_iter, tmax, 1e3 * per, per / best, m.inertia);
        rtn_kmeans_model_free(&m);
    }
    free(X);
    free(off);
    free(boff);
    free(init);
    rtn_summary_reset();
    MPI_Finalize();
    return 0;
}
