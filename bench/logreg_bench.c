/* Logistic regression benchmark (bench/logreg.sh).
 *
 *   logreg_bench passes N D REPS   time per data pass (objective + gradient) and a plain
 *                                  read pass over the same rows, max over ranks
 *   logreg_bench fit N D LAMBDA TOL whole fit (standardization, copy, solve)
 *   logreg_bench write N D DIR      (1 rank) writes DIR/X.bin (N*D float64) and DIR/y.bin
 *
 * Rows are synthetic and a function of the global row index only (correlated features,
 * labels from a logistic model), spread over 1024 buckets of consecutive rows; each rank
 * generates its own bucket range. Prints one JSON line per measurement on rank 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "retain/buckets.h"
#include "retain/logreg.h"

#define NB 1024

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double u01(uint64_t g, uint64_t j)
{
    return (double)(rtn_mix64(g * 0x9e3779b97f4a7c15ULL + j * 0xd1b54a32d192ed03ULL) >> 11) *
           0x1p-53;
}

static void gen_row(uint64_t g, size_t d, double *x, int8_t *y)
{
    double common = u01(g, 1001) - 0.5, z = -0.8;
    for (size_t j = 0; j < d; j++) {
        double v = (u01(g, j) - 0.5) + 0.6 * common;
        x[j] = v * (double)(1 + j % 5) + (double)j;
        z += (j % 2 ? 1.0 : -1.0) * (0.5 + 0.25 * (double)(j % 4)) * v * 1.5;
    }
    *y = u01(g, 1002) < 1.0 / (1.0 + exp(-z));
}

typedef struct {
    double *X;
    int8_t *y;
    uint64_t *boff;
    rtn_bucketed_rows rows;
} data;

static int make(data *s, size_t N, size_t d, int rank, int size)
{
    uint64_t *off = malloc((NB + 1) * sizeof *off);
    for (uint32_t b = 0; b <= NB; b++) off[b] = (uint64_t)((unsigned __int128)N * b / NB);
    uint32_t b0, b1;
    rtn_partition_buckets(off, NB, size, rank, &b0, &b1);
    size_t g0 = off[b0], n = off[b1] - off[b0];
    s->X = malloc((n * d + 1) * sizeof(double));
    s->y = malloc(n + 1);
    s->boff = malloc((b1 - b0 + 1) * sizeof(uint64_t));
    if (!s->X || !s->y || !s->boff) return 1;
    for (uint32_t b = b0; b <= b1; b++) s->boff[b - b0] = off[b] - g0;
    for (size_t i = 0; i < n; i++) gen_row(g0 + i, d, s->X + i * d, s->y + i);
    s->rows = (rtn_bucketed_rows){n, d, s->X, NB, b0, b1, s->boff};
    free(off);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc < 4) {
        if (rank == 0) fprintf(stderr, "usage: see bench/logreg_bench.c\n");
        MPI_Finalize();
        return 2;
    }
    const char *mode = argv[1];
    size_t N = strtoull(argv[2], NULL, 10), d = strtoull(argv[3], NULL, 10);
    int rc = 0;
    data s;
    if (strcmp(mode, "write") == 0) {
        if (size != 1 || argc < 5 || make(&s, N, d, 0, 1)) MPI_Abort(MPI_COMM_WORLD, 2);
        char p[4096];
        snprintf(p, sizeof p, "%s/X.bin", argv[4]);
        FILE *f = fopen(p, "wb");
        if (!f || fwrite(s.X, sizeof(double), N * d, f) != N * d) MPI_Abort(MPI_COMM_WORLD, 3);
        fclose(f);
        snprintf(p, sizeof p, "%s/y.bin", argv[4]);
        f = fopen(p, "wb");
        if (!f || fwrite(s.y, 1, N, f) != N) MPI_Abort(MPI_COMM_WORLD, 3);
        fclose(f);
    } else if (strcmp(mode, "passes") == 0) {
        int reps = argc > 4 ? atoi(argv[4]) : 10;
        if (make(&s, N, d, rank, size)) MPI_Abort(MPI_COMM_WORLD, 7);
        rtn_logreg_options o;
        rtn_logreg_defaults(&o);
        rtn_scaler sc;
        rtn_logreg_problem *p;
        if (rtn_scaler_fit(&sc, MPI_COMM_WORLD, &s.rows, NULL, NULL) ||
            rtn_logreg_problem_create(&p, MPI_COMM_WORLD, &s.rows, s.y, NULL, NULL, &sc, &o))
            MPI_Abort(MPI_COMM_WORLD, 8);
        free(s.X); /* only the problem's copy is read from here on */
        s.X = NULL;
        double *x = calloc(d + 1, sizeof(double)), *g = calloc(d + 1, sizeof(double)), f;
        for (size_t j = 0; j <= d; j++) x[j] = 0.01 * (double)j - 0.1;
        double *t = malloc(reps * sizeof(double)), *tr = malloc(reps * sizeof(double));
        rtn_logreg_problem_eval(p, x, &f, g); /* warm-up */
        /* Read pass over the same rows (the problem's own storage), 8 partial sums. Data
         * passes and read passes alternate so that a change in the machine's load during
         * the run affects both alike. */
        const double *xp;
        size_t nvals;
        rtn_logreg_problem_data(p, &xp, &nvals);
        double sink = 0;
        for (int r = 0; r < reps; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = now();
            rtn_logreg_problem_eval(p, x, &f, g);
            double dt = now() - t0;
            MPI_Allreduce(&dt, &t[r], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = now();
            double a[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (size_t i = 0; i + 8 <= nvals; i += 8)
                for (int k = 0; k < 8; k++) a[k] += xp[i + k];
            sink += a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
            dt = now() - t0;
            MPI_Allreduce(&dt, &tr[r], 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        }
        qsort(t, reps, sizeof *t, cmp_double);
        qsort(tr, reps, sizeof *tr, cmp_double);
        if (rank == 0)
            printf("{\"what\":\"pass\",\"ranks\":%d,\"rows\":%zu,\"cols\":%zu,\"x_bytes\":%zu,"
                   "\"pass_min_s\":%.6f,\"pass_median_s\":%.6f,\"read_min_s\":%.6f,"
                   "\"read_median_s\":%.6f,\"objective\":%.17g,\"check\":%d}\n",
                   size, N, d, N * d * sizeof(double), t[0], t[reps / 2], tr[0], tr[reps / 2],
                   f, sink != 0);
        rtn_logreg_problem_free(p);
        rtn_scaler_free(&sc);
        free(x);
        free(g);
        free(t);
        free(tr);
    } else if (strcmp(mode, "fit") == 0) {
        if (argc < 6 || make(&s, N, d, rank, size)) MPI_Abort(MPI_COMM_WORLD, 7);
        rtn_logreg_options o;
        rtn_logreg_defaults(&o);
        o.lambda = strtod(argv[4], NULL);
        o.tol = strtod(argv[5], NULL);
        rtn_logreg_model m;
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now();
        rtn_status st = rtn_logreg_fit(MPI_COMM_WORLD, &s.rows, s.y, NULL, NULL, &o, NULL, &m);
        double dt = now() - t0, tmax;
        MPI_Allreduce(&dt, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (st) {
            if (rank == 0) fprintf(stderr, "fit failed: %s\n", rtn_errmsg());
            rc = 1;
        } else {
            if (rank == 0)
                printf("{\"what\":\"fit\",\"ranks\":%d,\"rows\":%zu,\"cols\":%zu,\"seconds\":%.4f,"
                       "\"iterations\":%d,\"evaluations\":%d,\"objective\":%.17g,"
                       "\"grad_norm\":%.3e}\n",
                       size, N, d, tmax, m.iterations, m.evaluations, m.objective, m.grad_norm);
            rtn_logreg_model_free(&m);
        }
    } else {
        rc = 2;
    }
    if (strcmp(mode, "passes") != 0 && rc != 2) {
        free(s.X);
    }
    if (rc != 2) {
        free(s.y);
        free(s.boff);
    }
    MPI_Finalize();
    return rc;
}
