/* Test driver for the churn model modules, used by the Python oracle scripts.
 *
 *   logreg_tool fit X.bin y.bin W.bin|- N D LAMBDA L1_RATIO BALANCED TOL NBUCKETS OUT [WARM]
 *       X: N*D float64 row-major, y: N int8, W: N float64 (raw little-endian files).
 *       Rows are spread over NBUCKETS contiguous buckets; under mpiexec each rank takes its
 *       bucket range. Rank 0 writes OUT (key value lines) and OUT.prob (float64 P(y=1) of
 *       all rows, gathered in order).
 *   logreg_tool metrics P.bin y.bin W.bin|- N BUDGET OUT
 *   logreg_tool split NKEYS KEYS.bin SALT FTRAIN FVALID OUT.bin   (uint64 keys -> uint8 part)
 */
#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/logreg.h"
#include "retain/metrics.h"
#include "retain/split.h"

static void *read_all(const char *path, size_t bytes)
{
    if (strcmp(path, "-") == 0) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    void *p = malloc(bytes + 1);
    if (!p || fread(p, 1, bytes, f) != bytes) {
        fprintf(stderr, "cannot read %zu bytes from %s\n", bytes, path);
        exit(2);
    }
    fclose(f);
    return p;
}

static void put(FILE *f, const char *key, double v)
{
    fprintf(f, "%s %.17g\n", key, v);
}

static int cmd_fit(int argc, char **argv)
{
    if (argc < 13) return 2;
    size_t n = strtoull(argv[5], NULL, 10), d = strtoull(argv[6], NULL, 10);
    rtn_logreg_options o;
    rtn_logreg_defaults(&o);
    o.lambda = strtod(argv[7], NULL);
    o.l1_ratio = strtod(argv[8], NULL);
    o.class_weight_balanced = atoi(argv[9]);
    o.tol = strtod(argv[10], NULL);
    o.max_iter = 10000;
    uint32_t B = (uint32_t)strtoul(argv[11], NULL, 10);
    const char *outp = argv[12];
    double *X = read_all(argv[2], n * d * sizeof(double));
    int8_t *y = read_all(argv[3], n);
    double *w = read_all(argv[4], n * sizeof(double));
    double *warm = argc > 13 ? read_all(argv[13], (d + 1) * sizeof(double)) : NULL;
    uint64_t *off = malloc((B + 1) * sizeof *off);
    for (uint32_t b = 0; b <= B; b++) off[b] = (uint64_t)((unsigned __int128)n * b / B);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    uint32_t b0, b1;
    rtn_partition_buckets(off, B, size, rank, &b0, &b1);
    uint64_t *boff = malloc((b1 - b0 + 1) * sizeof *boff);
    for (uint32_t b = b0; b <= b1; b++) boff[b - b0] = off[b] - off[b0];
    size_t r0 = off[b0], nl = off[b1] - off[b0];
    rtn_bucketed_rows rows = {nl, d, X + r0 * d, B, b0, b1, boff};
    rtn_logreg_model m;
    rtn_status st = rtn_logreg_fit(MPI_COMM_WORLD, &rows, y + r0, w ? w + r0 : NULL, NULL, &o,
                                   warm, &m);
    if (st) {
        fprintf(stderr, "fit failed: %s\n", rtn_errmsg());
        return 1;
    }
    double *prob = malloc((nl + 1) * sizeof(double)), *all = malloc((n + 1) * sizeof(double));
    rtn_logreg_predict(&m, X + r0 * d, nl, prob);
    int *cnt = malloc(size * sizeof(int)), *dis = malloc(size * sizeof(int));
    int nli = (int)nl;
    MPI_Allgather(&nli, 1, MPI_INT, cnt, 1, MPI_INT, MPI_COMM_WORLD);
    for (int r = 0, acc = 0; r < size; r++) {
        dis[r] = acc;
        acc += cnt[r];
    }
    MPI_Gatherv(prob, nli, MPI_DOUBLE, all, cnt, dis, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        FILE *f = fopen(outp, "w");
        put(f, "objective", m.objective);
        put(f, "grad_norm", m.grad_norm);
        put(f, "iterations", m.iterations);
        put(f, "evaluations", m.evaluations);
        put(f, "converged", m.converged);
        put(f, "weight_sum", m.weight_sum);
        put(f, "class_weight0", m.class_weight[0]);
        put(f, "class_weight1", m.class_weight[1]);
        put(f, "intercept_std", m.intercept_std);
        put(f, "intercept", m.intercept);
        for (size_t j = 0; j < d; j++) {
            char k[64];
            snprintf(k, sizeof k, "coef_std%zu", j);
            put(f, k, m.coef_std[j]);
            snprintf(k, sizeof k, "coef%zu", j);
            put(f, k, m.coef[j]);
            snprintf(k, sizeof k, "mean%zu", j);
            put(f, k, m.scaler.mean[j]);
            snprintf(k, sizeof k, "scale%zu", j);
            put(f, k, m.scaler.scale[j]);
        }
        fprintf(f, "stop_reason_ok 1\n");
        fclose(f);
        char pp[4096];
        snprintf(pp, sizeof pp, "%s.prob", outp);
        f = fopen(pp, "wb");
        fwrite(all, sizeof(double), n, f);
        fclose(f);
    }
    rtn_logreg_model_free(&m);
    free(X);
    free(y);
    free(w);
    free(warm);
    free(off);
    free(boff);
    free(prob);
    free(all);
    free(cnt);
    free(dis);
    return 0;
}

static void put_conf(FILE *f, const char *pre, const rtn_confusion *c)
{
    fprintf(f, "%s_threshold %.17g\n%s_tp %.17g\n%s_fp %.17g\n%s_tn %.17g\n%s_fn %.17g\n", pre,
            c->threshold, pre, c->tp, pre, c->fp, pre, c->tn, pre, c->fn);
    fprintf(f, "%s_f1 %.17g\n%s_flagged %" PRIu64 "\n", pre, c->f1, pre, c->n_flagged);
}

static int cmd_metrics(int argc, char **argv)
{
    if (argc < 8) return 2;
    size_t n = strtoull(argv[5], NULL, 10);
    double *p = read_all(argv[2], n * sizeof(double));
    int8_t *y = read_all(argv[3], n);
    double *w = read_all(argv[4], n * sizeof(double));
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    size_t lo = n * (size_t)rank / (size_t)size, hi = n * (size_t)(rank + 1) / (size_t)size;
    rtn_metrics m;
    rtn_status st = rtn_metrics_gather(MPI_COMM_WORLD, hi - lo, p + lo, y + lo, w ? w + lo : NULL,
                                       NULL, strtod(argv[6], NULL), &m);
    if (st) {
        fprintf(stderr, "metrics failed: %s\n", rtn_errmsg());
        return 1;
    }
    if (rank != 0) {
        free(p);
        free(y);
        free(w);
        return 0;
    }
    FILE *f = fopen(argv[7], "w");
    put(f, "roc_auc", m.roc_auc);
    put(f, "pr_auc", m.pr_auc);
    put(f, "log_loss", m.log_loss);
    put(f, "brier", m.brier);
    put(f, "base_rate", m.base_rate);
    put(f, "calibration_error", m.calibration_error);
    for (int b = 0; b < RTN_METRICS_BINS; b++) {
        fprintf(f, "bin_n%d %" PRIu64 "\n", b, m.bin_n[b]);
        fprintf(f, "bin_mean_pred%d %.17g\nbin_rate%d %.17g\nlift%d %.17g\ncum_gain%d %.17g\n"
                   "cum_lift%d %.17g\n",
                b, m.bin_mean_pred[b], b, m.bin_rate[b], b, m.lift[b], b, m.cum_gain[b], b,
                m.cum_lift[b]);
    }
    put_conf(f, "f1", &m.at_max_f1);
    put_conf(f, "budget", &m.at_budget);
    fclose(f);
    free(p);
    free(y);
    free(w);
    return 0;
}

static int cmd_split(int argc, char **argv)
{
    if (argc < 8) return 2;
    size_t n = strtoull(argv[2], NULL, 10);
    uint64_t *keys = read_all(argv[3], n * sizeof(uint64_t));
    rtn_split_options o;
    rtn_split_defaults(&o);
    o.salt = strtoull(argv[4], NULL, 10);
    o.train = strtod(argv[5], NULL);
    o.valid = strtod(argv[6], NULL);
    o.test = 1.0 - o.train - o.valid;
    if (rtn_split_check(&o)) {
        fprintf(stderr, "%s\n", rtn_errmsg());
        return 1;
    }
    uint8_t *part = malloc(n + 1);
    rtn_split_assign(keys, n, &o, part);
    FILE *f = fopen(argv[7], "wb");
    fwrite(part, 1, n, f);
    fclose(f);
    free(part);
    free(keys);
    return 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rc = 2;
    if (argc > 1 && strcmp(argv[1], "fit") == 0) rc = cmd_fit(argc, argv);
    else if (argc > 1 && strcmp(argv[1], "metrics") == 0) rc = cmd_metrics(argc, argv);
    else if (argc > 1 && strcmp(argv[1], "split") == 0) rc = cmd_split(argc, argv);
    if (rc == 2) fprintf(stderr, "usage: see tests/logreg_tool.c\n");
    MPI_Finalize();
    return rc;
}
