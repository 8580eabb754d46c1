/* Exact global order statistics and RFM thresholds across ranks: each rank holds a slice
 * of the same pseudo-random key set; the results must equal a serial sort for any rank
 * count. */
#include <stdlib.h>
#include <string.h>

#include "retain/features.h"
#include "rtn_test.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const size_t N = 10007;
    uint64_t *all = malloc(N * sizeof *all), *sorted = malloc(N * sizeof *sorted);
    REQUIRE(all && sorted);
    uint64_t z = 12345;
    for (size_t i = 0; i < N; i++) {
        z = z * 6364136223846793005ULL + 1442695040888963407ULL;
        /* many ties in the low range, some huge values and both extremes */
        all[i] = i % 3 == 0 ? (z >> 60) : i % 7 == 0 ? z : (z >> 20);
    }
    all[5] = 0;
    all[6] = UINT64_MAX;
    memcpy(sorted, all, N * sizeof *all);
    qsort(sorted, N, sizeof *sorted, cmp_u64);
    size_t lo = N * (size_t)rank / (size_t)size, hi = N * (size_t)(rank + 1) / (size_t)size;
    uint64_t pos[6] = {0, 1, N / 2, 9999, N - 2, N - 1}, got[6];
    CHECK(rtn_global_select_u64(MPI_COMM_WORLD, all + lo, hi - lo, 1, pos, 6, got) == RTN_OK);
    for (int j = 0; j < 6; j++) CHECK(got[j] == sorted[pos[j]]);

    /* keys sharing their high bytes (the passes over them are skipped), and all equal */
    for (int shape = 0; shape < 2; shape++) {
        uint64_t *nar = malloc(N * sizeof *nar), *nsorted = malloc(N * sizeof *nsorted);
        REQUIRE(nar && nsorted);
        for (size_t i = 0; i < N; i++)
            nar[i] = shape == 0 ? 0x1234567800000000ULL + (all[i] & 0x3FFFF) : 0xABCDEF0123456789ULL;
        memcpy(nsorted, nar, N * sizeof *nar);
        qsort(nsorted, N, sizeof *nsorted, cmp_u64);
        CHECK(rtn_global_select_u64(MPI_COMM_WORLD, nar + lo, hi - lo, 1, pos, 6, got) == RTN_OK);
        for (int j = 0; j < 6; j++) CHECK(got[j] == nsorted[pos[j]]);
        free(nar);
        free(nsorted);
    }
    /* one rank holding every key, the others none */
    CHECK(rtn_global_select_u64(MPI_COMM_WORLD, all, rank == size - 1 ? N : 0, 1, pos, 6, got) ==
          RTN_OK);
    for (int j = 0; j < 6; j++) CHECK(got[j] == sorted[pos[j]]);

    /* RFM thresholds on int64 keys (negative values too): position ceil(kN/5) - 1. */
    rtn_features_rows rows = {0};
    rows.n = hi - lo;
    rows.rfm_key = malloc((rows.n ? rows.n : 1) * RTN_RFM_N * sizeof *rows.rfm_key);
    int64_t *col = malloc(N * sizeof *col);
    REQUIRE(rows.rfm_key && col);
    for (size_t i = lo; i < hi; i++) {
        rows.rfm_key[(i - lo) * 3 + 0] = (int64_t)(all[i] >> 1) - (int64_t)(1LL << 62);
        rows.rfm_key[(i - lo) * 3 + 1] = (int64_t)(all[i] % 5);
        rows.rfm_key[(i - lo) * 3 + 2] = -(int64_t)(all[i] % 1000);
    }
    int64_t q[RTN_RFM_N][4];
    CHECK(rtn_features_rfm_thresholds(MPI_COMM_WORLD, &rows, q) == RTN_OK);
    for (int f = 0; f < 3; f++) {
        for (size_t i = 0; i < N; i++)
            col[i] = f == 0 ? (int64_t)(all[i] >> 1) - (int64_t)(1LL << 62)
                   : f == 1 ? (int64_t)(all[i] % 5) : -(int64_t)(all[i] % 1000);
        qsort(col, N, sizeof *col, cmp_i64);
        for (int k = 1; k <= 4; k++) CHECK(q[f][k - 1] == col[(k * N + 4) / 5 - 1]);
        /* the score rule equals 1 + floor(5 * #{less} / N) for every key */
        for (size_t i = 0; i < N; i += 37) {
            size_t less = 0;
            while (less < N && col[less] < col[i]) less++;
            CHECK(rtn_rfm_score(col[i], q[f]) == 1 + (int)(5 * less / N));
        }
    }
    free(rows.rfm_key);
    free(col);
    free(all);
    free(sorted);
    int fails = rtn_test_failures, tot = 0;
    MPI_Allreduce(&fails, &tot, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int rc = rtn_test_finish("features.select");
    MPI_Finalize();
    return tot ? 1 : rc;
}
