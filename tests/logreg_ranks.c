/* Determinism across rank counts: the fit (L2 with weights and a split mask, and balanced
 * elastic net), the predictions and the distributed metrics must be bitwise identical to
 * a single-process computation over all buckets, whatever the number of ranks.
 *
 * usage (under mpiexec): logreg_ranks */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/logreg.h"
#include "retain/metrics.h"
#include "retain/split.h"
#include "rtn_test.h"

enum { NKEYS = 30000, D = 9, B = 53 };

typedef struct {
    uint64_t key;
    uint32_t bucket;
} keyrow;

static int cmp_keyrow(const void *a, const void *b)
{
    const keyrow *x = a, *y = b;
    if (x->bucket != y->bucket) return x->bucket < y->bucket ? -1 : 1;
    return (x->key > y->key) - (x->key < y->key);
}

/* Features and label are functions of the customer key only. */
static void row_of(uint64_t key, double *x, int8_t *y, double *w)
{
    uint64_t h = key;
    double z = 0.4, common;
    h = rtn_mix64(h);
    common = (double)(h >> 11) * 0x1p-53 - 0.5;
    for (int j = 0; j < D; j++) {
        h = rtn_mix64(h);
        double u = (double)(h >> 11) * 0x1p-53 - 0.5;
        x[j] = (j + 1) * (u + 0.5 * common) + 3.0 * j;
        z += (j % 3 == 0 ? 2.0 : -1.5) * (u + 0.5 * common);
    }
    h = rtn_mix64(h);
    *y = (double)(h >> 11) * 0x1p-53 < 1 / (1 + exp(-z));
    h = rtn_mix64(h);
    *w = 0.25 + (double)(h >> 11) * 0x1p-53;
}

typedef struct {
    size_t n;
    double *X, *w, *prob;
    int8_t *y;
    uint8_t *train, *valid;
    uint64_t *boff;
    rtn_bucketed_rows rows;
} part;

/* Rows of buckets [b0,b1): every 7th bucket is empty to exercise empty ranges. */
static void build(part *p, const keyrow *all, const uint64_t *off, uint32_t b0, uint32_t b1)
{
    size_t n = off[b1] - off[b0];
    p->n = n;
    p->X = malloc((n * D + 1) * sizeof(double));
    p->w = malloc((n + 1) * sizeof(double));
    p->prob = malloc((n + 1) * sizeof(double));
    p->y = malloc(n + 1);
    p->train = malloc(n + 1);
    p->valid = malloc(n + 1);
    p->boff = malloc((b1 - b0 + 1) * sizeof(uint64_t));
    rtn_split_options so;
    rtn_split_defaults(&so);
    for (uint32_t b = b0; b <= b1; b++) p->boff[b - b0] = off[b] - off[b0];
    for (size_t i = 0; i < n; i++) {
        uint64_t key = all[off[b0] + i].key;
        row_of(key, p->X + i * D, p->y + i, p->w + i);
        int s = rtn_split_of(key, &so);
        p->train[i] = s == RTN_SPLIT_TRAIN;
        p->valid[i] = s == RTN_SPLIT_VALID;
    }
    p->rows = (rtn_bucketed_rows){n, D, p->X, B, b0, b1, p->boff};
}

static void free_part(part *p)
{
    free(p->X);
    free(p->w);
    free(p->prob);
    free(p->y);
    free(p->train);
    free(p->valid);
    free(p->boff);
}

static int same_bits(const double *a, const double *b, size_t n)
{
    return memcmp(a, b, n * sizeof(double)) == 0;
}

static void run_case(MPI_Comm comm, const part *mine, const part *whole, int rank,
                     const rtn_logreg_options *o, const double *w_mine, const double *w_whole,
                     const char *name)
{
    rtn_logreg_model m, ref;
    REQUIRE(rtn_logreg_fit(comm, &mine->rows, mine->y, w_mine, mine->train, o, NULL, &m) ==
            RTN_OK);
    rtn_logreg_predict(&m, mine->X, mine->n, mine->prob);
    rtn_metrics met, metref;
    REQUIRE(rtn_metrics_gather(comm, mine->n, mine->prob, mine->y, w_mine, mine->valid, 0.1,
                               &met) == RTN_OK);
    /* Every rank got the same model: compare with rank 0's bits. */
    double buf[D + 2];
    buf[0] = m.intercept_std;
    memcpy(buf + 1, m.coef_std, D * sizeof(double));
    buf[D + 1] = m.objective;
    double buf0[D + 2];
    memcpy(buf0, buf, sizeof buf);
    MPI_Bcast(buf0, D + 2, MPI_DOUBLE, 0, comm);
    CHECK(same_bits(buf, buf0, D + 2));
    if (rank == 0) {
        REQUIRE(rtn_logreg_fit(MPI_COMM_SELF, &whole->rows, whole->y, w_whole, whole->train, o,
                               NULL, &ref) == RTN_OK);
        rtn_logreg_predict(&ref, whole->X, whole->n, whole->prob);
        REQUIRE(rtn_metrics_gather(MPI_COMM_SELF, whole->n, whole->prob, whole->y, w_whole,
                                   whole->valid, 0.1, &metref) == RTN_OK);
        CHECK(same_bits(&m.intercept_std, &ref.intercept_std, 1));
        CHECK(same_bits(m.coef_std, ref.coef_std, D));
        CHECK(same_bits(m.coef, ref.coef, D));
        CHECK(same_bits(&m.intercept, &ref.intercept, 1));
        CHECK(same_bits(m.scaler.mean, ref.scaler.mean, D));
        CHECK(same_bits(m.scaler.scale, ref.scaler.scale, D));
        CHECK(same_bits(&m.objective, &ref.objective, 1));
        CHECK_EQ_INT(m.iterations, ref.iterations);
        CHECK_EQ_INT(m.n_history, ref.n_history);
        if (m.n_history == ref.n_history) CHECK(same_bits(m.history, ref.history, m.n_history));
        CHECK(memcmp(&met, &metref, sizeof met) == 0);
        CHECK(met.roc_auc > 0.6 && met.roc_auc < 1);
        printf("%s: %d iterations, objective %a, coef_std[0] %a, valid AUC %.6f (%llu rows)\n",
               name, m.iterations, m.objective, m.coef_std[0], met.roc_auc,
               (unsigned long long)met.n);
        rtn_logreg_model_free(&ref);
    }
    rtn_logreg_model_free(&m);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    keyrow *all = malloc(NKEYS * sizeof *all);
    size_t n = 0;
    for (uint64_t k = 0; k < NKEYS; k++) {
        uint64_t key = rtn_mix64(k * 7919 + 13);
        uint32_t b = rtn_bucket_of(key, B);
        if (b % 7 == 3) continue; /* empty buckets */
        all[n++] = (keyrow){key, b};
    }
    qsort(all, n, sizeof *all, cmp_keyrow);
    uint64_t off[B + 1] = {0};
    for (size_t i = 0; i < n; i++) off[all[i].bucket + 1]++;
    for (int b = 0; b < B; b++) off[b + 1] += off[b];
    uint32_t b0, b1;
    rtn_partition_buckets(off, B, size, rank, &b0, &b1);
    part mine, whole;
    build(&mine, all, off, b0, b1);
    if (rank == 0) build(&whole, all, off, 0, B);

    rtn_logreg_options o;
    rtn_logreg_defaults(&o);
    o.lambda = 1e-3;
    o.tol = 1e-9;
    run_case(MPI_COMM_WORLD, &mine, &whole, rank, &o, mine.w, rank == 0 ? whole.w : NULL,
             "l2+weights");
    o.lambda = 5e-3;
    o.l1_ratio = 0.5;
    o.class_weight_balanced = 1;
    run_case(MPI_COMM_WORLD, &mine, &whole, rank, &o, NULL, NULL, "enet+balanced");

    free_part(&mine);
    if (rank == 0) free_part(&whole);
    free(all);
    int rc = rtn_test_finish("logreg.ranks");
    MPI_Allreduce(MPI_IN_PLACE, &rc, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return rc;
}
