/* Rank-count determinism: every k-means result computed on MPI_COMM_WORLD (rows spread
 * over P ranks by bucket) must be bitwise identical to the same computation on
 * MPI_COMM_SELF holding all rows (P = 1). Run at 1, 2, 3 and 4 ranks. */
#include <stdio.h>
#include <string.h>

#include "kmeans_common.h"
#include "retain/kmeans.h"
#include "retain/log.h"
#include "retain/segments.h"
#include "rtn_test.h"

#define N 6000
#define D 10

static double X[N * D];
static uint64_t keys[N];

typedef struct {
    km_layout world, self;
    size_t *selfpos; /* global row -> row in the self layout */
} pair;

static void pair_make(pair *p, uint32_t B)
{
    km_layout_make(MPI_COMM_WORLD, X, keys, N, D, B, &p->world);
    km_layout_make(MPI_COMM_SELF, X, keys, N, D, B, &p->self);
    p->selfpos = malloc(sizeof(size_t) * N);
    for (size_t t = 0; t < p->self.rows.n; t++) p->selfpos[p->self.orig[t]] = t;
}

static void pair_free(pair *p)
{
    km_layout_free(&p->world);
    km_layout_free(&p->self);
    free(p->selfpos);
}

static void compare_fit(const char *what, pair *p, const rtn_kmeans_options *o,
                        const double *init, int use_keys)
{
    rtn_kmeans_model mw, ms;
    int32_t *lw = malloc(sizeof(int32_t) * (p->world.rows.n + 1));
    int32_t *ls = malloc(sizeof(int32_t) * N);
    rtn_status a = rtn_kmeans_fit(MPI_COMM_WORLD, &p->world.rows, use_keys ? p->world.keys : NULL,
                                  o, init, &mw, lw);
    rtn_status b = rtn_kmeans_fit(MPI_COMM_SELF, &p->self.rows, use_keys ? p->self.keys : NULL, o,
                                  init, &ms, ls);
    CHECK_EQ_INT(a, RTN_OK);
    CHECK_EQ_INT(b, RTN_OK);
    if (a || b) {
        fprintf(stderr, "%s: %s\n", what, rtn_errmsg());
        exit(1);
    }
    size_t kd = (size_t)o->k * D;
    int same = !memcmp(mw.centroids, ms.centroids, kd * sizeof(double)) &&
               !memcmp(mw.sizes, ms.sizes, (size_t)o->k * sizeof(double)) &&
               !memcmp(&mw.inertia, &ms.inertia, sizeof(double)) && mw.n_iter == ms.n_iter &&
               mw.best_init == ms.best_init;
    if (!same)
        fprintf(stderr, "%s: world (inertia %.17g, %d it) != self (inertia %.17g, %d it)\n",
                what, mw.inertia, mw.n_iter, ms.inertia, ms.n_iter);
    CHECK(same);
    size_t bad = 0;
    for (size_t t = 0; t < p->world.rows.n; t++)
        bad += lw[t] != ls[p->selfpos[p->world.orig[t]]];
    if (bad) fprintf(stderr, "%s: %zu labels differ\n", what, bad);
    CHECK(bad == 0);
    /* assign() reproduces the fit's labels */
    int32_t *la = malloc(sizeof(int32_t) * (p->world.rows.n + 1));
    CHECK_EQ_INT(rtn_kmeans_assign(&mw, p->world.rows.X, p->world.rows.n, la, NULL), RTN_OK);
    CHECK(!memcmp(la, lw, p->world.rows.n * sizeof(int32_t)));
    free(la);
    printf("%s: inertia %.10g, %d iterations, run %d kept\n", what, mw.inertia, mw.n_iter,
           mw.best_init);
    rtn_kmeans_model_free(&mw);
    rtn_kmeans_model_free(&ms);
    free(lw);
    free(ls);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    rtn_log_init(MPI_COMM_WORLD, RTN_LOG_WARN);
    km_blobs(N, D, 5, 1.2, 11, X, NULL);
    for (size_t i = 0; i < N; i++) keys[i] = rtn_mix64(i + 12345);

    pair p;
    pair_make(&p, 64);
    rtn_kmeans_options o;
    rtn_kmeans_options_default(&o, 5);
    o.n_init = 2;
    compare_fit("k-means|| fused n_init=2", &p, &o, NULL, 1);
    compare_fit("k-means|| without keys", &p, &o, NULL, 0);
    o.kernel = RTN_KMEANS_KERNEL_BLAS;
    o.tol = 0;
    o.max_iter = 25;
    compare_fit("fixed init, BLAS kernel", &p, &o, X, 1);

    /* two far-away initial centres force re-seeding every run */
    rtn_kmeans_options_default(&o, 4);
    double init[4 * D];
    memcpy(init, X, sizeof init);
    for (int j = 0; j < D; j++) {
        init[1 * D + j] = 100;
        init[3 * D + j] = -100;
    }
    o.tol = 0;
    compare_fit("empty clusters re-seeded", &p, &o, init, 1);

    /* k selection */
    rtn_kmeans_options_default(&o, 0);
    o.n_init = 1;
    rtn_kmeans_k_score sw[4], ss[4];
    int kw = 0, ks = 0;
    CHECK_EQ_INT(rtn_kmeans_select_k(MPI_COMM_WORLD, &p.world.rows, p.world.keys, &o, 2, 5, 500,
                                     sw, &kw),
                 RTN_OK);
    CHECK_EQ_INT(
        rtn_kmeans_select_k(MPI_COMM_SELF, &p.self.rows, p.self.keys, &o, 2, 5, 500, ss, &ks),
        RTN_OK);
    CHECK_EQ_INT(kw, ks);
    for (int i = 0; i < 4; i++) { /* field by field: the struct has padding */
        CHECK_EQ_INT(sw[i].k, ss[i].k);
        CHECK_EQ_INT(sw[i].n_iter, ss[i].n_iter);
        CHECK_EQ_INT(sw[i].sample_rows, ss[i].sample_rows);
        CHECK(!memcmp(&sw[i].inertia, &ss[i].inertia, sizeof(double)));
        CHECK(!memcmp(&sw[i].silhouette, &ss[i].silhouette, sizeof(double)));
    }
    for (int i = 0; i < 4; i++)
        printf("k=%d inertia %.8g silhouette %.5f (%zu rows)\n", sw[i].k, sw[i].inertia,
               sw[i].silhouette, sw[i].sample_rows);

    /* segment profiles */
    {
        rtn_kmeans_model m;
        rtn_kmeans_options_default(&o, 5);
        int32_t *lw = malloc(sizeof(int32_t) * (p.world.rows.n + 1));
        int32_t *ls = malloc(sizeof(int32_t) * N);
        CHECK_EQ_INT(rtn_kmeans_fit(MPI_COMM_WORLD, &p.world.rows, p.world.keys, &o, NULL, &m, lw),
                     RTN_OK);
        for (size_t t = 0; t < p.self.rows.n; t++) ls[t] = 0;
        CHECK_EQ_INT(rtn_kmeans_assign(&m, p.self.rows.X, p.self.rows.n, ls, NULL), RTN_OK);
        double *rw = malloc(sizeof(double) * (p.world.rows.n + 1)), *rs = malloc(sizeof(double) * N);
        int8_t *cw = malloc(p.world.rows.n + 1), *cs = malloc(N);
        for (size_t t = 0; t < p.world.rows.n; t++) {
            rw[t] = fabs(p.world.rows.X[t * D]) * 10.3;
            cw[t] = (int8_t)(p.world.orig[t] % 3 == 0 ? 1 : p.world.orig[t] % 7 == 0 ? -1 : 0);
        }
        for (size_t t = 0; t < p.self.rows.n; t++) {
            rs[t] = fabs(p.self.rows.X[t * D]) * 10.3;
            cs[t] = (int8_t)(p.self.orig[t] % 3 == 0 ? 1 : p.self.orig[t] % 7 == 0 ? -1 : 0);
        }
        rtn_segment_profiles pw, ps;
        CHECK_EQ_INT(rtn_segment_profile(MPI_COMM_WORLD, &p.world.rows, lw, 5, rw, cw, &pw),
                     RTN_OK);
        CHECK_EQ_INT(rtn_segment_profile(MPI_COMM_SELF, &p.self.rows, ls, 5, rs, cs, &ps), RTN_OK);
        CHECK(!memcmp(pw.size, ps.size, 5 * sizeof(double)));
        CHECK(!memcmp(pw.revenue_share, ps.revenue_share, 5 * sizeof(double)));
        CHECK(!memcmp(pw.churn_rate, ps.churn_rate, 5 * sizeof(double)));
        CHECK(!memcmp(pw.mean, ps.mean, 5 * D * sizeof(double)));
        double tot = 0;
        for (int c = 0; c < 5; c++) tot += pw.revenue_share[c];
        CHECK_NEAR(tot, 1.0, 1e-12);
        rtn_segment_profiles_free(&pw);
        rtn_segment_profiles_free(&ps);
        rtn_kmeans_model_free(&m);
        free(lw);
        free(ls);
        free(rw);
        free(rs);
        free(cw);
        free(cs);
    }
    pair_free(&p);

    /* fewer buckets than ranks: some ranks hold nothing */
    pair_make(&p, 3);
    rtn_kmeans_options_default(&o, 3);
    compare_fit("3 buckets", &p, &o, NULL, 1);
    pair_free(&p);

    int fails = rtn_test_failures, all = 0;
    MPI_Allreduce(&fails, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    rtn_test_failures = all;
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int rc = rank == 0 ? rtn_test_finish("kmeans.determinism") : (all ? 1 : 0);
    MPI_Finalize();
    return rc;
}
