/* Fits on one rank: k-means|| recovers planted blobs, k selection finds their number,
 * degenerate data is rejected. */
#include <stdio.h>
#include <string.h>

#include "kmeans_common.h"
#include "retain/kmeans.h"
#include "retain/log.h"
#include "rtn_test.h"

static void test_recovery(void)
{
    enum { NN = 4000, DD = 8, KK = 4 };
    double *X = malloc(sizeof(double) * NN * DD);
    int32_t truth[NN], lab[NN];
    uint64_t keys[NN];
    km_blobs(NN, DD, KK, 4.0, 5, X, truth);
    for (int i = 0; i < NN; i++) keys[i] = (uint64_t)i * 2654435761u + 1;
    km_layout L;
    km_layout_make(MPI_COMM_SELF, X, keys, NN, DD, 16, &L);
    rtn_kmeans_options o;
    rtn_kmeans_options_default(&o, KK);
    rtn_kmeans_model m;
    CHECK_EQ_INT(rtn_kmeans_fit(MPI_COMM_SELF, &L.rows, L.keys, &o, NULL, &m, lab), RTN_OK);
    int32_t t2[NN];
    for (size_t t = 0; t < L.rows.n; t++) t2[t] = truth[L.orig[t]];
    double ari = 0;
    CHECK_EQ_INT(rtn_adjusted_rand_index(t2, lab, NN, &ari), RTN_OK);
    printf("planted blobs: ARI %.6f, inertia %.6g, %d iterations\n", ari, m.inertia, m.n_iter);
    CHECK(ari > 0.999);
    double s = 0;
    for (int c = 0; c < KK; c++) s += m.sizes[c];
    CHECK_NEAR(s, NN, 0);
    CHECK(m.converged > 0);
    rtn_kmeans_model_free(&m);

    /* k selection picks the planted k */
    rtn_kmeans_k_score sc[5];
    int best = 0;
    o.n_init = 1;
    CHECK_EQ_INT(
        rtn_kmeans_select_k(MPI_COMM_SELF, &L.rows, L.keys, &o, 2, 6, 800, sc, &best), RTN_OK);
    for (int i = 0; i < 5; i++)
        printf("k=%d inertia %.6g silhouette %.4f\n", sc[i].k, sc[i].inertia, sc[i].silhouette);
    CHECK_EQ_INT(best, KK);
    CHECK(sc[0].inertia > sc[2].inertia);

    /* too few distinct points */
    for (size_t i = 0; i < L.rows.n * DD; i++) L.X[i] = (double)((i / DD) % 2);
    o.k = 3;
    CHECK_EQ_INT(rtn_kmeans_fit(MPI_COMM_SELF, &L.rows, L.keys, &o, NULL, &m, NULL), RTN_ERR_DATA);
    printf("expected failure: %s\n", rtn_errmsg());
    rtn_clear_error();
    km_layout_free(&L);
    free(X);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    rtn_log_init(MPI_COMM_WORLD, RTN_LOG_WARN);
    test_recovery();
    int rc = rtn_test_finish("kmeans.fit");
    rtn_summary_reset();
    MPI_Finalize();
    return rc;
}
