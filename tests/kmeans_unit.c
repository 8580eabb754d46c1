/* Unit tests without MPI: transforms, Hungarian assignment (against brute force), stable
 * ids, naming rule, ARI and silhouette hand cases. */
#include <stdio.h>
#include <string.h>

#include "kmeans_common.h"
#include "retain/kmeans.h"
#include "retain/segments.h"
#include "rtn_test.h"

static void test_transforms(void)
{
    rtn_xform t;
    CHECK_EQ_INT(rtn_xform_parse("log1p", &t), 0);
    CHECK_EQ_INT(t, RTN_XFORM_LOG1P);
    CHECK_EQ_INT(rtn_xform_parse("identity", &t), 0);
    CHECK_EQ_INT(t, RTN_XFORM_IDENTITY);
    CHECK_EQ_INT(rtn_xform_parse("sqrt", &t), -1);
    double X[6] = {0, 5, -3, 99, 2.5, 1e6};
    rtn_xform xf[2] = {RTN_XFORM_LOG1P, RTN_XFORM_IDENTITY};
    rtn_xform_apply(xf, 2, X, 3);
    CHECK_NEAR(X[0], 0, 0);
    CHECK_NEAR(X[1], 5, 0);
    CHECK_NEAR(X[2], -log(4.0), 1e-15);
    CHECK_NEAR(X[4], log(3.5), 1e-15);
    CHECK_NEAR(X[5], 1e6, 0);
    CHECK_NEAR(rtn_xform_inverse(RTN_XFORM_LOG1P, X[2]), -3, 1e-12);
    CHECK_NEAR(rtn_xform_inverse(RTN_XFORM_LOG1P, X[4]), 2.5, 1e-12);
}

static double brute(const double *cost, int n, int m, int row, int *used, double acc)
{
    if (row == n) return acc;
    double best = INFINITY;
    for (int j = 0; j < m; j++) {
        if (used[j]) continue;
        used[j] = 1;
        double v = brute(cost, n, m, row + 1, used, acc + cost[row * m + j]);
        used[j] = 0;
        if (v < best) best = v;
    }
    return best;
}

static void test_hungarian(void)
{
    for (int trial = 0; trial < 60; trial++) {
        int n = 1 + trial % 6, m = n + (trial / 6) % 3;
        double cost[8 * 8];
        for (int i = 0; i < n * m; i++) {
            uint64_t h = rtn_mix64((uint64_t)trial * 1000 + (uint64_t)i);
            cost[i] = trial % 4 == 0 ? (double)(h % 5) : (double)(h >> 11) * 0x1p-53 * 10;
        }
        int as[8], used[8] = {0};
        double tot = -1;
        CHECK_EQ_INT(rtn_hungarian(cost, n, m, as, &tot), RTN_OK);
        double want = brute(cost, n, m, 0, used, 0);
        CHECK_NEAR(tot, want, 1e-9);
        int seen[8] = {0}, ok = 1;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            if (as[i] < 0 || as[i] >= m || seen[as[i]]) ok = 0;
            else seen[as[i]] = 1, sum += cost[i * m + as[i]];
        }
        CHECK(ok);
        CHECK_NEAR(sum, tot, 1e-12);
    }
    int as[2];
    CHECK(rtn_hungarian((double[]){1, 2, 3, 4}, 2, 1, as, NULL) != RTN_OK);
    rtn_clear_error();
}

static void test_match_ids(void)
{
    enum { K = 6, DD = 3 };
    double old[K * DD], neu[K * DD];
    int32_t old_ids[K] = {3, 1, 7, 2, 5, 4}, ids[K + 2];
    int perm[K] = {4, 0, 5, 2, 1, 3}; /* new cluster c is old cluster perm[c] */
    for (int c = 0; c < K; c++)
        for (int j = 0; j < DD; j++) old[c * DD + j] = 5.0 * km_normal(c, j);
    for (int c = 0; c < K; c++)
        for (int j = 0; j < DD; j++) neu[c * DD + j] = old[perm[c] * DD + j] + 0.1 * km_normal(99 + c, j);
    CHECK_EQ_INT(rtn_segment_match_ids(old, old_ids, K, neu, K, DD, ids), RTN_OK);
    for (int c = 0; c < K; c++) CHECK_EQ_INT(ids[c], old_ids[perm[c]]);
    /* two extra clusters get fresh ids after the largest old id, in cluster order */
    double more[(K + 2) * DD];
    memcpy(more, neu, sizeof neu);
    for (int j = 0; j < DD; j++) {
        more[K * DD + j] = 100 + j;
        more[(K + 1) * DD + j] = -100 - j;
    }
    CHECK_EQ_INT(rtn_segment_match_ids(old, old_ids, K, more, K + 2, DD, ids), RTN_OK);
    for (int c = 0; c < K; c++) CHECK_EQ_INT(ids[c], old_ids[perm[c]]);
    CHECK_EQ_INT(ids[K], 8);
    CHECK_EQ_INT(ids[K + 1], 9);
    /* fewer clusters: each keeps the id of its nearest match, the rest retire */
    CHECK_EQ_INT(rtn_segment_match_ids(old, old_ids, K, neu + 2 * DD, 3, DD, ids), RTN_OK);
    for (int c = 0; c < 3; c++) CHECK_EQ_INT(ids[c], old_ids[perm[c + 2]]);
    /* first model: no previous centroids */
    CHECK_EQ_INT(rtn_segment_match_ids(NULL, NULL, 0, neu, 2, DD, ids), RTN_OK);
    CHECK_EQ_INT(ids[0], 1);
    CHECK_EQ_INT(ids[1], 2);
    /* rescaling between standardized spaces */
    double mean1[DD] = {1, 2, 3}, sc1[DD] = {2, 2, 2}, mean2[DD] = {0, 0, 0}, sc2[DD] = {1, 4, 1};
    rtn_scaler s1 = {DD, mean1, sc1}, s2 = {DD, mean2, sc2};
    double c[DD] = {1, 1, 1}, out[DD];
    rtn_segment_rescale_centroids(c, 1, &s1, &s2, out);
    CHECK_NEAR(out[0], 3, 1e-15);
    CHECK_NEAR(out[1], 1, 1e-15);
    CHECK_NEAR(out[2], 5, 1e-15);
}

static void test_naming(void)
{
    /* columns: 0 monetary, 1 frequency, 2 recency, 3 tenure, 4 online share, 5 unused */
    rtn_segment_roles r = {0, 1, 2, 3, 4};
    struct {
        double z[6];
        const char *name;
    } cases[] = {
        {{1.2, 0.3, 0.9, 0, 0, 9}, "At-risk big spenders"},
        {{0, 0.8, 0.6, 0, 0, 0}, "At-risk regulars"},
        {{-1, -1, 1.5, 0, 0, 0}, "Lapsing occasional"},
        {{0, -0.2, 0, -1.1, 0, 0}, "New customers"},
        {{1.5, 1.1, -0.8, 0.4, 0, 0}, "High-value loyal"},
        {{0.2, 0.1, 0, 0, 1.3, 0}, "Online-first regulars"},
        {{0.9, -0.4, 0, 0, 0, 0}, "Big-ticket occasional"},
        {{-0.3, 0.7, 0, 0.2, 0, 0}, "Frequent small-basket"},
        {{-0.6, -0.9, 0.2, 0, 0, 0}, "Bargain occasional"},
        {{0, -0.3, 0, 0, 0.7, 0}, "Online browsers"},
        {{0, 0, 0, 0, -0.8, 0}, "In-store regulars"},
        {{0.1, -0.1, 0.2, 0.1, 0.2, 0}, "Steady mid-value"},
    };
    int nc = (int)(sizeof cases / sizeof cases[0]);
    for (int i = 0; i < nc; i++) {
        const char *got = rtn_segment_base_name(cases[i].z, &r);
        if (strcmp(got, cases[i].name)) fprintf(stderr, "case %d: got %s\n", i, got);
        CHECK(!strcmp(got, cases[i].name));
    }
    /* a model without an online-share column */
    rtn_segment_roles r2 = {0, 1, 2, 3, -1};
    CHECK(!strcmp(rtn_segment_base_name((double[]){0, 0, 0, 0, 5, 0}, &r2), "Steady mid-value"));
    /* duplicates: highest monetary z keeps the plain name */
    double C[4 * 6] = {1.0, 1.0, 0, 0, 0, 0, 2.0, 1.0, 0, 0, 0, 0,
                       0.1, 0.0, 0, 0, 0, 0, 1.0, 1.0, 0, 0, 0, 0};
    char names[4][RTN_SEGMENT_NAME_MAX];
    rtn_segment_name(C, 4, 6, &r, names);
    CHECK(!strcmp(names[1], "High-value loyal"));
    CHECK(!strcmp(names[0], "High-value loyal 2"));
    CHECK(!strcmp(names[3], "High-value loyal 3"));
    CHECK(!strcmp(names[2], "Steady mid-value"));
}

static void test_ari_silhouette(void)
{
    double v;
    /* scikit-learn documentation examples */
    int32_t a1[] = {0, 0, 1, 1}, b1[] = {1, 1, 0, 0}, b2[] = {0, 0, 1, 2}, b3[] = {0, 1, 2, 3};
    CHECK_EQ_INT(rtn_adjusted_rand_index(a1, b1, 4, &v), RTN_OK);
    CHECK_NEAR(v, 1.0, 0);
    CHECK_EQ_INT(rtn_adjusted_rand_index(a1, b2, 4, &v), RTN_OK);
    CHECK_NEAR(v, 0.5714285714285714, 1e-15);
    CHECK_EQ_INT(rtn_adjusted_rand_index(a1, b3, 4, &v), RTN_OK);
    CHECK_NEAR(v, 0.0, 1e-15);
    /* silhouette by hand: two points at 0 and 1 (cluster A), one at 5 (cluster B) */
    double X[3] = {0, 1, 5};
    int32_t l[3] = {0, 0, 1};
    CHECK_EQ_INT(rtn_silhouette(X, 3, 1, l, &v), RTN_OK);
    /* s0: a=1, b=5 -> 0.8; s1: a=1, b=4 -> 0.75; s2 singleton -> 0 */
    CHECK_NEAR(v, (0.8 + 0.75) / 3, 1e-15);
    int32_t one[3] = {4, 4, 4};
    CHECK(rtn_silhouette(X, 3, 1, one, &v) != RTN_OK);
    rtn_clear_error();
}

int main(void)
{
    /* no MPI here, so that the sanitizer build keeps leak checking on */
    test_transforms();
    test_hungarian();
    test_match_ids();
    test_naming();
    test_ari_silhouette();
    return rtn_test_finish("kmeans.unit");
}
