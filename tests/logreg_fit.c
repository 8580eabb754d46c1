/* Solver tests on one rank: gradient and Hessian-vector product against finite
 * differences and a long-double objective, warm start, L1 optimality (KKT), input errors.
 * Run through mpiexec -n 1 (Open MPI's own allocations defeat leak checking). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/logreg.h"
#include "rtn_test.h"

static uint64_t rng_state = 12345;
static double urand(void)
{
    rng_state = rtn_mix64(rng_state);
    return (double)(rng_state >> 11) * 0x1p-53;
}
static double nrand(void)
{
    double u = urand(), v = urand();
    return sqrt(-2 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

typedef struct {
    size_t n, d;
    uint32_t B;
    double *X;
    int8_t *y;
    double *w;
    uint64_t *boff;
    rtn_bucketed_rows rows;
} dataset;

static void make_data(dataset *s, size_t n, size_t d, uint32_t B, double noise_shift)
{
    s->n = n;
    s->d = d;
    s->B = B;
    s->X = malloc(n * d * sizeof(double));
    s->y = malloc(n);
    s->w = malloc(n * sizeof(double));
    s->boff = malloc((B + 1) * sizeof(uint64_t));
    for (uint32_t b = 0; b <= B; b++) s->boff[b] = (uint64_t)n * b / B;
    for (size_t i = 0; i < n; i++) {
        double z = -0.5, common = nrand();
        for (size_t j = 0; j < d; j++) {
            double v = 0.6 * nrand() + 0.4 * common;
            s->X[i * d + j] = 10.0 * (double)j + (1.0 + (double)j) * v + noise_shift * nrand();
            z += (j % 3 == 2 ? 0.0 : (j % 2 ? 0.7 : -0.5)) * v;
        }
        s->y[i] = urand() < 1 / (1 + exp(-z));
        s->w[i] = 0.5 + urand();
    }
    s->rows = (rtn_bucketed_rows){n, d, s->X, B, 0, B, s->boff};
}

static void free_data(dataset *s)
{
    free(s->X);
    free(s->y);
    free(s->w);
    free(s->boff);
}

static void test_derivatives(void)
{
    dataset s;
    make_data(&s, 3000, 5, 7, 0);
    rtn_logreg_options o;
    rtn_logreg_defaults(&o);
    o.lambda = 0.01;
    rtn_scaler sc;
    REQUIRE(rtn_scaler_fit(&sc, MPI_COMM_WORLD, &s.rows, NULL, NULL) == RTN_OK);
    rtn_logreg_problem *p;
    REQUIRE(rtn_logreg_problem_create(&p, MPI_COMM_WORLD, &s.rows, s.y, s.w, NULL, &sc, &o) ==
            RTN_OK);
    size_t n = s.d + 1;
    double x[6] = {0.2, -0.3, 0.5, 0.1, -0.7, 0.4}, g[6], gp[6], gm[6], v[6], hv[6], xp[6];
    double f, fp, fm;
    /* Direct objective in long double for comparison. */
    uint64_t nn, npos;
    double W, cw[2];
    rtn_logreg_problem_info(p, &nn, &npos, &W, cw);
    long double ref = 0;
    for (size_t i = 0; i < s.n; i++) {
        long double z = x[0];
        for (size_t j = 0; j < s.d; j++)
            z += x[1 + j] * ((s.X[i * s.d + j] - sc.mean[j]) / sc.scale[j]);
        ref += s.w[i] * (log1pl(expl(z)) - s.y[i] * z);
    }
    ref /= W;
    for (size_t j = 1; j < n; j++) ref += 0.5 * o.lambda * x[j] * x[j];
    REQUIRE(rtn_logreg_problem_eval(p, x, &f, g) == RTN_OK);
    CHECK_NEAR(f, (double)ref, 1e-14);
    CHECK_EQ_INT(nn, 3000);
    const double h = 1e-6;
    for (size_t k = 0; k < n; k++) {
        memcpy(xp, x, sizeof x);
        xp[k] += h;
        rtn_logreg_problem_eval(p, xp, &fp, gp);
        xp[k] -= 2 * h;
        rtn_logreg_problem_eval(p, xp, &fm, gm);
        CHECK_NEAR(g[k], (fp - fm) / (2 * h), 1e-8);
    }
    /* Hv at x against the central difference of the gradient along v. */
    for (size_t k = 0; k < n; k++) v[k] = 0.3 * (double)k - 0.5;
    REQUIRE(rtn_logreg_problem_eval(p, x, &f, g) == RTN_OK);
    REQUIRE(rtn_logreg_problem_hv(p, v, hv) == RTN_OK);
    for (size_t k = 0; k < n; k++) xp[k] = x[k] + h * v[k];
    rtn_logreg_problem_eval(p, xp, &fp, gp);
    for (size_t k = 0; k < n; k++) xp[k] = x[k] - h * v[k];
    rtn_logreg_problem_eval(p, xp, &fm, gm);
    for (size_t k = 0; k < n; k++) CHECK_NEAR(hv[k], (gp[k] - gm[k]) / (2 * h), 1e-7);
    rtn_logreg_problem_free(p);
    rtn_scaler_free(&sc);
    free_data(&s);
}

static void test_fit_warm_l1(void)
{
    dataset a, b;
    rng_state = 777;
    make_data(&a, 20000, 10, 16, 0);
    /* "Next quarter": the same customers with drifted features and 1% changed labels. */
    rng_state = 778;
    make_data(&b, 20000, 10, 16, 0);
    for (size_t i = 0; i < b.n; i++) {
        for (size_t j = 0; j < b.d; j++) b.X[i * b.d + j] = a.X[i * b.d + j] + 0.05 * nrand();
        b.y[i] = urand() < 0.01 ? !a.y[i] : a.y[i];
    }
    rtn_logreg_options o;
    rtn_logreg_defaults(&o);
    o.lambda = 1e-3;
    o.tol = 1e-8;
    rtn_logreg_model m0, m1, mw;
    REQUIRE(rtn_logreg_fit(MPI_COMM_WORLD, &a.rows, a.y, NULL, NULL, &o, NULL, &m0) == RTN_OK);
    REQUIRE(rtn_logreg_fit(MPI_COMM_WORLD, &b.rows, b.y, NULL, NULL, &o, NULL, &m1) == RTN_OK);
    CHECK(m0.converged && m1.converged);
    double warm[11];
    warm[0] = m0.intercept;
    memcpy(warm + 1, m0.coef, 10 * sizeof(double));
    /* Warm start from the same data's own solution: already converged. */
    rtn_logreg_model ms;
    REQUIRE(rtn_logreg_fit(MPI_COMM_WORLD, &a.rows, a.y, NULL, NULL, &o, warm, &ms) == RTN_OK);
    CHECK(ms.iterations <= 2);
    rtn_logreg_model_free(&ms);
    REQUIRE(rtn_logreg_fit(MPI_COMM_WORLD, &b.rows, b.y, NULL, NULL, &o, warm, &mw) == RTN_OK);
    printf("warm start: cold %d iterations (%d passes), warm %d iterations (%d passes)\n",
           m1.iterations, m1.evaluations, mw.iterations, mw.evaluations);
    CHECK(mw.converged);
    CHECK(mw.iterations < m1.iterations);
    CHECK(mw.evaluations <= m1.evaluations / 2 + 1);
    CHECK(mw.history[0] < m1.history[0]); /* starts closer to the optimum */
    for (size_t j = 0; j < 10; j++)
        CHECK_NEAR(mw.coef_std[j], m1.coef_std[j], 1e-6 * (1 + fabs(m1.coef_std[j])));
    /* Objective history is non-increasing. */
    for (int k = 1; k < m1.n_history; k++) CHECK(m1.history[k] <= m1.history[k - 1]);
    /* Original-unit coefficients give the same decision function. */
    double z1, z2;
    rtn_logreg_decision(&m1, b.X, 1, &z1);
    z2 = m1.intercept;
    for (size_t j = 0; j < 10; j++) z2 += m1.coef[j] * b.X[j];
    CHECK_NEAR(z1, z2, 1e-9 * (1 + fabs(z1)));

    /* L1: some exact zeros; KKT through the problem's gradient. */
    rtn_logreg_options o1 = o;
    o1.lambda = 0.02;
    o1.l1_ratio = 1.0;
    o1.tol = 1e-9;
    rtn_logreg_model ml;
    REQUIRE(rtn_logreg_fit(MPI_COMM_WORLD, &a.rows, a.y, NULL, NULL, &o1, NULL, &ml) == RTN_OK);
    rtn_logreg_problem *p;
    REQUIRE(rtn_logreg_problem_create(&p, MPI_COMM_WORLD, &a.rows, a.y, NULL, NULL, &ml.scaler,
                                      &o1) == RTN_OK);
    double x[11], g[11], f;
    x[0] = ml.intercept_std;
    memcpy(x + 1, ml.coef_std, 10 * sizeof(double));
    REQUIRE(rtn_logreg_problem_eval(p, x, &f, g) == RTN_OK);
    int zeros = 0;
    CHECK(fabs(g[0]) <= 1e-8);
    for (size_t j = 1; j <= 10; j++) {
        if (x[j] == 0) {
            zeros++;
            CHECK(fabs(g[j]) <= o1.lambda + 1e-8);
        } else {
            CHECK_NEAR(g[j] + o1.lambda * (x[j] > 0 ? 1 : -1), 0, 1e-8);
        }
    }
    printf("l1: %d of 10 coefficients zero, %d iterations\n", zeros, ml.iterations);
    CHECK(zeros >= 1 && zeros < 10);
    rtn_logreg_problem_free(p);
    rtn_logreg_model_free(&ml);

    /* Input errors are reported, not crashed on. */
    a.y[5] = 2;
    rtn_logreg_model me;
    CHECK_EQ_INT(rtn_logreg_fit(MPI_COMM_WORLD, &a.rows, a.y, NULL, NULL, &o, NULL, &me),
                 RTN_ERR_DATA);
    CHECK(strstr(rtn_errmsg(), "label 2") != NULL);
    a.y[5] = 1;
    double keep = a.X[7 * a.d + 3];
    a.X[7 * a.d + 3] = NAN;
    CHECK_EQ_INT(rtn_logreg_fit(MPI_COMM_WORLD, &a.rows, a.y, NULL, NULL, &o, NULL, &me),
                 RTN_ERR_DATA);
    CHECK(strstr(rtn_errmsg(), "feature 3 of local row 7") != NULL);
    a.X[7 * a.d + 3] = keep;
    memset(a.y, 0, a.n);
    CHECK_EQ_INT(rtn_logreg_fit(MPI_COMM_WORLD, &a.rows, a.y, NULL, NULL, &o, NULL, &me),
                 RTN_ERR_DATA);
    rtn_logreg_options bad = o;
    bad.l1_ratio = 2;
    CHECK_EQ_INT(rtn_logreg_fit(MPI_COMM_WORLD, &a.rows, a.y, NULL, NULL, &bad, NULL, &me),
                 RTN_ERR_USAGE);
    rtn_clear_error();
    rtn_logreg_model_free(&m0);
    rtn_logreg_model_free(&m1);
    rtn_logreg_model_free(&mw);
    free_data(&a);
    free_data(&b);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    test_derivatives();
    test_fit_warm_l1();
    int rc = rtn_test_finish("logreg.fit");
    MPI_Finalize();
    return rc;
}
