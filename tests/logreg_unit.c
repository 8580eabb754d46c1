/* Unit tests without MPI (leak-checked under the sanitizers): exp/log kernels against
 * libm, metrics on hand-computed fixtures, the split. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/logreg.h"
#include "retain/metrics.h"
#include "retain/split.h"
#include "rtn_test.h"

static uint64_t rng_state = 12345;
static double urand(void)
{
    rng_state = rtn_mix64(rng_state);
    return (double)(rng_state >> 11) * 0x1p-53;
}

static void test_kernels(void)
{
    double maxe = 0, maxl = 0;
    for (int i = 0; i <= 200000; i++) {
        double a = 745.0 * i / 200000.0;
        if (a > 708) break;
        double e = rtn_logreg_expm(a), ref = exp(-a);
        double rel = fabs(e - ref) / ref;
        if (rel > maxe) maxe = rel;
    }
    for (int i = 0; i <= 200000; i++) {
        double e = i / 200000.0;
        if (i % 7 == 0) e = pow(2.0, -60.0 * urand()); /* small arguments too */
        double l = rtn_logreg_log1p01(e), ref = log1p(e);
        double rel = ref > 0 ? fabs(l - ref) / ref : fabs(l);
        if (rel > maxl) maxl = rel;
    }
    printf("kernels: max rel error exp %.3g, log1p %.3g\n", maxe, maxl);
    CHECK(maxe < 4 * DBL_EPSILON);
    CHECK(maxl < 4 * DBL_EPSILON);
    CHECK(rtn_logreg_expm(0) == 1.0);
    CHECK(rtn_logreg_log1p01(0) == 0.0);
    CHECK(rtn_logreg_expm(1e6) > 0); /* clamped, no underflow to garbage */
}

static void test_metrics_fixture(void)
{
    /* Hand-computed: P = 3, N = 4. Pairs won: 4 + 3.5 + 2 = 9.5 of 12. Average precision
     * (1 + 2/3 + 1/2) / 3 = 13/18. Max F1 = 2/3 first reached at threshold 0.8. */
    const double p[7] = {0.6, 0.9, 0.8, 0.2, 0.8, 0.6, 0.6};
    const int8_t y[7] = {0, 1, 1, 0, 0, 1, 0};
    rtn_metrics m;
    REQUIRE(rtn_metrics_compute(7, p, y, NULL, 0.3, &m) == RTN_OK);
    CHECK_NEAR(m.roc_auc, 9.5 / 12, 1e-15);
    CHECK_NEAR(m.pr_auc, 13.0 / 18, 1e-15);
    CHECK_NEAR(m.brier, 1.61 / 7, 1e-15);
    CHECK_NEAR(m.log_loss,
               -(log(0.4) + log(0.9) + log(0.8) + log(0.8) + log(0.2) + log(0.6) + log(0.4)) / 7,
               1e-15);
    CHECK_NEAR(m.at_max_f1.threshold, 0.8, 0);
    CHECK_NEAR(m.at_max_f1.f1, 2.0 / 3, 1e-15);
    CHECK_NEAR(m.at_max_f1.tp, 2, 0);
    CHECK_NEAR(m.at_max_f1.fp, 1, 0);
    CHECK_NEAR(m.at_max_f1.tn, 3, 0);
    CHECK_NEAR(m.at_max_f1.fn, 1, 0);
    CHECK_EQ_INT(m.at_budget.n_flagged, 3); /* ceil(0.3*7) = 3 rows */
    CHECK_NEAR(m.at_budget.threshold, 0.8, 0);
    /* deciles of 7 rows: positions 0..6 -> bins 0,1,2,4,5,7,8 */
    const uint64_t bn[10] = {1, 1, 1, 0, 1, 1, 0, 1, 1, 0};
    for (int b = 0; b < 10; b++) CHECK_EQ_INT(m.bin_n[b], bn[b]);
    CHECK(isnan(m.bin_rate[3]));
    CHECK_NEAR(m.cum_gain[9], 1.0, 0);
    CHECK_NEAR(m.cum_gain[0], 1.0 / 3, 1e-15);
    CHECK_NEAR(m.lift[0], 1.0 / (3.0 / 7), 1e-14);
    /* Budget reaching into a tie flags the whole tie: ceil(0.5*7) = 4 -> threshold 0.6. */
    REQUIRE(rtn_metrics_compute(7, p, y, NULL, 0.5, &m) == RTN_OK);
    CHECK_EQ_INT(m.at_budget.n_flagged, 6);
    CHECK_NEAR(m.at_budget.tp, 3, 0);
    /* Weights: doubling every weight changes nothing; all ties -> AUC 0.5. */
    double w2[7] = {2, 2, 2, 2, 2, 2, 2}, flat[7] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    rtn_metrics m2;
    REQUIRE(rtn_metrics_compute(7, p, y, w2, 0.3, &m2) == RTN_OK);
    CHECK_NEAR(m2.roc_auc, 9.5 / 12, 1e-15);
    CHECK_NEAR(m2.pr_auc, 13.0 / 18, 1e-15);
    REQUIRE(rtn_metrics_compute(7, flat, y, NULL, 0, &m2) == RTN_OK);
    CHECK_NEAR(m2.roc_auc, 0.5, 0);
    CHECK_NEAR(m2.pr_auc, 3.0 / 7, 1e-15);
    /* One class only: AUC undefined. Bad input rejected. */
    const int8_t y0[7] = {0, 0, 0, 0, 0, 0, 0};
    REQUIRE(rtn_metrics_compute(7, p, y0, NULL, 0, &m2) == RTN_OK);
    CHECK(isnan(m2.roc_auc));
    const double bad[2] = {0.5, 1.5};
    CHECK_EQ_INT(rtn_metrics_compute(2, bad, y, NULL, 0, &m2), RTN_ERR_DATA);
    rtn_clear_error();
}

static void test_split(void)
{
    rtn_split_options o;
    rtn_split_defaults(&o);
    CHECK(rtn_split_check(&o) == RTN_OK);
    const size_t n = 1000000;
    size_t cnt[3] = {0, 0, 0}, moved = 0;
    rtn_split_options o2 = o;
    o2.salt = 99;
    for (size_t i = 0; i < n; i++) {
        uint64_t key = rtn_mix64(i) ^ 0xabcdef; /* arbitrary pseudonyms */
        int s = rtn_split_of(key, &o);
        cnt[s]++;
        CHECK_EQ_INT(s, rtn_split_of(key, &o)) ;
        moved += s != rtn_split_of(key, &o2);
    }
    /* Binomial sd for n = 1e6 is about 0.00046: allow 5 sd. */
    CHECK_NEAR((double)cnt[0] / n, 0.70, 0.0023);
    CHECK_NEAR((double)cnt[1] / n, 0.15, 0.0018);
    CHECK_NEAR((double)cnt[2] / n, 0.15, 0.0018);
    /* Another salt reshuffles: P(different) = 1 - (.7^2 + .15^2 + .15^2) = 0.465. */
    CHECK_NEAR((double)moved / n, 0.465, 0.003);
    rtn_split_options bad = o;
    bad.test = 0.2;
    CHECK_EQ_INT(rtn_split_check(&bad), RTN_ERR_USAGE);
    rtn_clear_error();
    rtn_split_options all = {1.0, 0.0, 0.0, 0};
    CHECK_EQ_INT(rtn_split_of(12345, &all), RTN_SPLIT_TRAIN);
    uint64_t keys[4] = {1, 2, 3, 4};
    uint8_t part[4], mask[4];
    rtn_split_assign(keys, 4, &o, part);
    rtn_split_mask(part, 4, RTN_SPLIT_TRAIN, mask);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(mask[i], part[i] == RTN_SPLIT_TRAIN);
}

int main(void)
{
    test_kernels();
    test_metrics_fixture();
    test_split();
    return rtn_test_finish("logreg.unit");
}
