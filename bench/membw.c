/* Memory-read bandwidth of this machine, measured the way the benchmarks read data:
 * every rank sums its own large float64 array (no writes), best of several passes.
 * Prints one JSON line: {"ranks":P,"bytes_per_rank":...,"gb_per_s":...}. The benchmark
 * scripts divide data volume by this figure to get each stage's bandwidth bound. */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    size_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024; /* per rank, far beyond caches */
    size_t n = mib * (1u << 20) / sizeof(double);
    double *a = malloc(n * sizeof *a);
    if (!a) MPI_Abort(MPI_COMM_WORLD, 7);
    for (size_t i = 0; i < n; i++) a[i] = (double)(i & 1023);
    double best = 1e30, sink = 0;
    for (int rep = 0; rep < 7; rep++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now();
        /* four independent accumulators so the adds do not serialize */
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i + 4 <= n; i += 4) {
            s0 += a[i];
            s1 += a[i + 1];
            s2 += a[i + 2];
            s3 += a[i + 3];
        }
        sink += s0 + s1 + s2 + s3;
        double t = now() - t0, tmax;
        MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (tmax < best) best = tmax;
    }
    if (rank == 0)
        printf("{\"ranks\":%d,\"bytes_per_rank\":%zu,\"seconds\":%.6f,\"gb_per_s\":%.3f,\"check\":%g}\n",
               size, n * sizeof(double), best, (double)n * sizeof(double) * size / best / 1e9,
               sink > 0 ? 1.0 : 0.0);
    free(a);
    MPI_Finalize();
    return 0;
}
