/* Partition and deterministic bucket reduction: at any rank count the reduced vector must
 * equal, bit for bit, the single-process reduction over all buckets. */
#include <mpi.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/log.h"
#include "rtn_test.h"

static double partial_value(uint32_t b, size_t j)
{
    /* values of wildly different magnitude so the summation order shows in the bits */
    uint64_t h = rtn_mix64(((uint64_t)b << 20) ^ j);
    double mant = (double)(h >> 11) / 9007199254740992.0;
    int e = (int)(h % 40) - 20;
    return (h & 1 ? -1 : 1) * mant * ldexp(1.0, e);
}

static void check_partition(const uint64_t *off, uint32_t B, int P)
{
    uint32_t prev_end = 0;
    uint64_t N = off[B], maxb = 0;
    for (uint32_t b = 0; b < B; b++)
        if (off[b + 1] - off[b] > maxb) maxb = off[b + 1] - off[b];
    for (int r = 0; r < P; r++) {
        uint32_t b0, b1;
        rtn_partition_buckets(off, B, P, r, &b0, &b1);
        CHECK_EQ_INT(b0, prev_end);
        CHECK(b1 >= b0);
        uint64_t rows = off[b1] - off[b0];
        /* balanced: within one bucket's rows of the ideal share */
        double ideal = (double)N / P;
        CHECK(fabs((double)rows - ideal) <= (double)maxb + 1.0);
        prev_end = b1;
    }
    CHECK_EQ_INT(prev_end, B);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm comm = MPI_COMM_WORLD;
    rtn_log_init(comm, RTN_LOG_WARN);
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);

    /* bucket function: uniform and in range */
    uint32_t hist[16] = {0};
    for (uint64_t k = 0; k < 160000; k++) {
        uint32_t b = rtn_bucket_of(k, 16);
        REQUIRE(b < 16);
        hist[b]++;
    }
    for (int b = 0; b < 16; b++) CHECK(hist[b] > 9000 && hist[b] < 11000);

    /* partitions on skewed counts, including empty buckets and P > B */
    static const uint32_t Bs[] = {1, 5, 64, 1000};
    for (size_t t = 0; t < sizeof Bs / sizeof Bs[0]; t++) {
        uint32_t B = Bs[t];
        uint64_t off[1001];
        off[0] = 0;
        for (uint32_t b = 0; b < B; b++) off[b + 1] = off[b] + (rtn_mix64(b) % 7 == 0 ? 0 : rtn_mix64(b) % 1000);
        for (int P = 1; P <= 9; P++) check_partition(off, B, P);
        uint64_t zero[1001] = {0};
        for (int P = 1; P <= 9; P++) check_partition(zero, B, P);
    }

    /* reduction: equal to the 1-process reduction, bit for bit */
    static const uint32_t RB[] = {1, 2, 3, 7, 64, 100, 1024};
    for (size_t t = 0; t < sizeof RB / sizeof RB[0]; t++) {
        uint32_t B = RB[t];
        size_t m = 5;
        uint64_t *off = calloc(B + 1, sizeof *off);
        for (uint32_t b = 0; b < B; b++) off[b + 1] = off[b] + 1 + rtn_mix64(b * 3) % 50;
        uint32_t b0, b1;
        rtn_partition_buckets(off, B, size, rank, &b0, &b1);
        double *parts = calloc((size_t)(b1 - b0 + 1) * m, sizeof *parts);
        for (uint32_t b = b0; b < b1; b++)
            for (size_t j = 0; j < m; j++) parts[(b - b0) * m + j] = partial_value(b, j);
        double got[5], want[5], naive[5] = {0};
        REQUIRE(rtn_bucket_sum(comm, B, b0, b1, m, parts, got) == RTN_OK);
        /* reference on one process */
        double *all = calloc((size_t)B * m, sizeof *all);
        for (uint32_t b = 0; b < B; b++)
            for (size_t j = 0; j < m; j++) {
                all[b * m + j] = partial_value(b, j);
                naive[j] += all[b * m + j];
            }
        REQUIRE(rtn_bucket_sum(MPI_COMM_SELF, B, 0, B, m, all, want) == RTN_OK);
        CHECK(memcmp(got, want, sizeof got) == 0);
        for (size_t j = 0; j < m; j++) CHECK_NEAR(got[j], naive[j], 1e-9 * (1 + fabs(naive[j])));
        /* the same through the streaming interface, twice (finish resets) */
        rtn_breduce *r;
        REQUIRE(rtn_breduce_create(&r, comm, B, b0, b1, m) == RTN_OK);
        for (int round = 0; round < 2; round++) {
            for (uint32_t b = b0; b < b1; b++) REQUIRE(rtn_breduce_push(r, b, parts + (b - b0) * m) == RTN_OK);
            double again[5];
            REQUIRE(rtn_breduce_finish(r, again) == RTN_OK);
            CHECK(memcmp(again, want, sizeof again) == 0);
        }
        /* pushing out of order is an error, not a wrong answer */
        if (b1 - b0 >= 2) {
            rtn_status st = rtn_breduce_push(r, b0 + 1, parts);
            CHECK(st == RTN_ERR_INTERNAL);
        }
        rtn_breduce_free(r);
        free(all);
        free(parts);
        free(off);
    }

    int failed = rtn_test_failures, anyfail = 0;
    MPI_Allreduce(&failed, &anyfail, 1, MPI_INT, MPI_MAX, comm);
    int code = rank == 0 ? rtn_test_finish("test_buckets") : (anyfail != 0);
    if (anyfail) code = 1;
    MPI_Finalize();
    return code;
}
