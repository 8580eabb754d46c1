/* Determinism across rank counts: the CDNOW customers are spread over synthetic buckets
 * (customer i in bucket rtn_bucket_of(i+1, B)), each rank fits on its bucket range, and
 * rank 0 repeats the fit alone on MPI_COMM_SELF over all buckets. Parameters, standard
 * errors, covariances and log-likelihoods must agree bit for bit. Also: a bad row on one
 * rank ends the fit on every rank with the same error. */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/clv.h"
#include "retain/log.h"
#include "rtn_test.h"

char *clv_cdnow_path(const char *name);
long clv_read_csv(const char *path, int ncols, double **cols);

typedef struct {
    double *x, *tx, *T, *mx;
    uint64_t *goff; /* B+1 global offsets */
    uint32_t B;
    size_t n;
} spread;

static void spread_make(spread *s, double **cols, size_t n, uint32_t B)
{
    s->B = B;
    s->n = n;
    s->goff = calloc(B + 1, sizeof(uint64_t));
    for (size_t i = 0; i < n; i++) s->goff[rtn_bucket_of(i + 1, B) + 1]++;
    for (uint32_t b = 0; b < B; b++) s->goff[b + 1] += s->goff[b];
    uint64_t *fill = malloc(B * sizeof(uint64_t));
    memcpy(fill, s->goff, B * sizeof(uint64_t));
    s->x = malloc(n * sizeof(double));
    s->tx = malloc(n * sizeof(double));
    s->T = malloc(n * sizeof(double));
    s->mx = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) { /* rows in customer order inside each bucket */
        uint64_t k = fill[rtn_bucket_of(i + 1, B)]++;
        s->x[k] = cols[1][i];
        s->tx[k] = cols[2][i];
        s->T[k] = cols[3][i];
        s->mx[k] = cols[4][i];
    }
    free(fill);
}

static void spread_free(spread *s)
{
    free(s->x);
    free(s->tx);
    free(s->T);
    free(s->mx);
    free(s->goff);
}

/* View of buckets [b0, b1); boff must hold b1-b0+1 entries. */
static rtn_clv_data view(const spread *s, uint32_t b0, uint32_t b1, uint64_t *boff)
{
    uint64_t o = s->goff[b0];
    for (uint32_t b = b0; b <= b1; b++) boff[b - b0] = s->goff[b] - o;
    rtn_clv_data d = {(size_t)(s->goff[b1] - o), s->x + o, s->tx + o, s->T + o, s->mx + o,
                      s->B, b0, b1, boff};
    return d;
}

static void print_bits(const char *what, const double *v, int n)
{
    printf("%s:", what);
    for (int i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &v[i], 8);
        printf(" %016llx", (unsigned long long)u);
    }
    printf("\n");
}

static void run(MPI_Comm comm, uint32_t B, double **cols, size_t n)
{
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    spread s;
    spread_make(&s, cols, n, B);
    uint32_t b0, b1;
    rtn_partition_buckets(s.goff, B, size, rank, &b0, &b1);
    uint64_t *boff = malloc((B + 1) * sizeof(uint64_t));
    rtn_clv_data d = view(&s, b0, b1, boff);

    rtn_bgnbd_fit_result bg;
    rtn_gg_fit_result gg;
    rtn_status st = rtn_bgnbd_fit(comm, &d, NULL, &bg);
    if (st) fprintf(stderr, "rank %d: %s\n", rank, rtn_errmsg());
    REQUIRE(st == RTN_OK);
    st = rtn_gg_fit(comm, &d, NULL, &gg);
    if (st) fprintf(stderr, "rank %d: %s\n", rank, rtn_errmsg());
    REQUIRE(st == RTN_OK);
    /* the NBD model (the no-dropout fallback) goes through the same reductions */
    rtn_nbd_fit_result nb;
    st = rtn_nbd_fit(comm, &d, NULL, &nb);
    if (st) fprintf(stderr, "rank %d: %s\n", rank, rtn_errmsg());
    REQUIRE(st == RTN_OK);
    double ll_at;
    rtn_bgnbd_params pub = {0.2426, 4.4136, 0.7929, 2.4259};
    REQUIRE(rtn_bgnbd_loglik(comm, &d, &pub, &ll_at) == RTN_OK);
    CHECK_NEAR(bg.params.r, 0.2426, 5e-5);
    CHECK_NEAR(gg.params.p, 6.25, 5e-3);

    /* every rank holds the same bits */
    double mine[3] = {bg.loglik, gg.loglik, nb.loglik}, mn[3], mxv[3];
    MPI_Allreduce(mine, mn, 3, MPI_DOUBLE, MPI_MIN, comm);
    MPI_Allreduce(mine, mxv, 3, MPI_DOUBLE, MPI_MAX, comm);
    CHECK(memcmp(mn, mxv, sizeof mn) == 0);

    if (rank == 0) {
        uint64_t *boff1 = malloc((B + 1) * sizeof(uint64_t));
        rtn_clv_data d1 = view(&s, 0, B, boff1);
        rtn_bgnbd_fit_result bg1;
        rtn_gg_fit_result gg1;
        REQUIRE(rtn_bgnbd_fit(MPI_COMM_SELF, &d1, NULL, &bg1) == RTN_OK);
        REQUIRE(rtn_gg_fit(MPI_COMM_SELF, &d1, NULL, &gg1) == RTN_OK);
        rtn_nbd_fit_result nb1;
        REQUIRE(rtn_nbd_fit(MPI_COMM_SELF, &d1, NULL, &nb1) == RTN_OK);
        double ll1;
        REQUIRE(rtn_bgnbd_loglik(MPI_COMM_SELF, &d1, &pub, &ll1) == RTN_OK);
        char tag[64];
        snprintf(tag, sizeof tag, "B=%u np=%d bgnbd", B, size);
        print_bits(tag, &bg.params.r, 4);
        snprintf(tag, sizeof tag, "B=%u np=1 bgnbd", B);
        print_bits(tag, &bg1.params.r, 4);
        snprintf(tag, sizeof tag, "B=%u np=%d gg", B, size);
        print_bits(tag, &gg.params.p, 3);
        CHECK(memcmp(&bg.params, &bg1.params, sizeof bg.params) == 0);
        CHECK(memcmp(&bg.se, &bg1.se, sizeof bg.se) == 0);
        CHECK(memcmp(bg.cov, bg1.cov, sizeof bg.cov) == 0);
        CHECK(memcmp(&bg.loglik, &bg1.loglik, sizeof(double)) == 0);
        CHECK_EQ_INT(bg.iterations, bg1.iterations);
        CHECK(memcmp(&gg.params, &gg1.params, sizeof gg.params) == 0);
        CHECK(memcmp(&gg.se, &gg1.se, sizeof gg.se) == 0);
        CHECK(memcmp(gg.cov, gg1.cov, sizeof gg.cov) == 0);
        CHECK(memcmp(&gg.loglik, &gg1.loglik, sizeof(double)) == 0);
        CHECK(memcmp(&ll_at, &ll1, sizeof(double)) == 0);
        snprintf(tag, sizeof tag, "B=%u np=%d nbd", B, size);
        print_bits(tag, &nb.params.r, 2);
        CHECK(memcmp(&nb.params, &nb1.params, sizeof nb.params) == 0);
        CHECK(memcmp(&nb.se, &nb1.se, sizeof nb.se) == 0);
        CHECK(memcmp(nb.cov, nb1.cov, sizeof nb.cov) == 0);
        CHECK(memcmp(&nb.loglik, &nb1.loglik, sizeof(double)) == 0);
        CHECK_EQ_INT(nb.iterations, nb1.iterations);
        free(boff1);
    }

    /* a bad row on the last rank with rows: every rank fails with the same status */
    int has = d.n > 0, last = -1;
    int cand = has ? rank : -1;
    MPI_Allreduce(&cand, &last, 1, MPI_INT, MPI_MAX, comm);
    double saved = 0;
    if (rank == last) {
        saved = s.x[s.goff[b0] + d.n - 1];
        s.x[s.goff[b0] + d.n - 1] = 1.5;
    }
    st = rtn_bgnbd_fit(comm, &d, NULL, &bg);
    CHECK_EQ_INT(st, RTN_ERR_DATA);
    CHECK(strstr(rtn_errmsg(), "not a whole number") != NULL);
    rtn_clear_error();
    if (rank == last) s.x[s.goff[b0] + d.n - 1] = saved;

    free(boff);
    spread_free(&s);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    rtn_log_init(MPI_COMM_WORLD, RTN_LOG_WARN);
    char *path = clv_cdnow_path("cdnow_customers_summary_with_transactions.csv");
    double *cols[5];
    long n = clv_read_csv(path, 5, cols);
    REQUIRE(n == 2357);
    run(MPI_COMM_WORLD, 64, cols, (size_t)n);
    run(MPI_COMM_WORLD, 3, cols, (size_t)n); /* fewer buckets than ranks at np=4 */
    for (int j = 0; j < 5; j++) free(cols[j]);
    free(path);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int rc = rtn_test_finish("clv.mpi");
    MPI_Finalize();
    return rc;
}
