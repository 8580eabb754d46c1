/* Loads a features file with rtn_features_load at any rank count and dumps each rank's
 * share to PREFIX.rankR (raw little-endian arrays) for tests/features_e2e.py to compare
 * with the file: rows, bucket ranges and the bucketed-rows view. */
#include <stdio.h>
#include <string.h>

#include "retain/features.h"
#include "rtn_test.h"

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    REQUIRE(argc == 4); /* FEATURES PREFIX FOREIGN_HDF5 */
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    rtn_features_data d;
    rtn_status st = rtn_features_load(MPI_COMM_WORLD, argv[1], &d);
    if (st) {
        fprintf(stderr, "load failed: %s\n", rtn_errmsg());
        MPI_Finalize();
        return st;
    }
    CHECK_EQ_INT(d.d, RTN_FEATURES_D);
    for (int j = 0; j < RTN_FEATURES_D; j++) CHECK(strcmp(d.feature_names[j], rtn_feature_names[j]) == 0);
    CHECK_EQ_INT(d.n_segments, RTN_SEG_N);
    CHECK(d.rows.X == d.X && d.rows.n == d.n && d.rows.boff[0] == 0 &&
          d.rows.boff[d.b1 - d.b0] == d.n && d.rows.nbuckets == d.nbuckets);
    char path[4096];
    snprintf(path, sizeof path, "%s.rank%d", argv[2], rank);
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    uint64_t hdr[5] = {d.row0, d.n, d.b0, d.b1, (uint64_t)d.labels_known};
    fwrite(hdr, 8, 5, f);
    fwrite(d.boff, 8, d.b1 - d.b0 + 1, f);
    fwrite(d.customer, 8, d.n, f);
    fwrite(d.X, 8, d.n * d.d, f);
    fwrite(d.label, 1, d.n, f);
    fwrite(d.rfm_segment, 1, d.n, f);
    for (int j = 0; j < RTN_CLV_N; j++) fwrite(d.clv[j], 8, d.n, f);
    fwrite(d.preferred_category, 4, d.n, f);
    for (size_t i = 0; i < d.n; i++)
        CHECK(d.preferred_category[i] >= -1 && d.preferred_category[i] < (int32_t)d.n_category_names);
    fclose(f);
    rtn_features_data_free(&d);
    /* a foreign file is refused with a format error */
    st = rtn_features_load(MPI_COMM_WORLD, argv[3], &d);
    CHECK(st == RTN_ERR_FORMAT);
    CHECK(d.X == NULL && d.n == 0);
    rtn_features_data_free(&d);
    int fails = rtn_test_failures, tot = 0;
    MPI_Allreduce(&fails, &tot, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rc = rtn_test_finish("features.load");
    MPI_Finalize();
    return tot ? 1 : rc;
}
