/* CLV module checks that need no external data: likelihood terms against the textbook
 * formulas, parameter recovery on simulated BG/NBD and Gamma-Gamma populations (within
 * their standard errors), E[X(t)] against simulation, stationarity of the fitted point,
 * the CLV sum, prediction edge cases and error reporting. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "retain/clv.h"
#include "retain/log.h"
#include "rtn_test.h"

/* Textbook BG/NBD likelihood of one customer (FHL 2005, eq. 6), with libm's lgamma. */
static double bg_ll_direct(const rtn_bgnbd_params *p, double x, double tx, double T)
{
    double r = p->r, al = p->alpha, a = p->a, b = p->b;
    double lA1 = lgamma(r + x) - lgamma(r) + r * log(al);
    double lA2 = lgamma(a + b) + lgamma(b + x) - lgamma(b) - lgamma(a + b + x);
    double A3 = pow(1.0 / (al + T), r + x);
    double A4 = x > 0 ? a / (b + x - 1) * pow(1.0 / (al + tx), r + x) : 0.0;
    return lA1 + lA2 + log(A3 + A4);
}

static double nbd_ll_direct(const rtn_nbd_params *p, double x, double T)
{
    return lgamma(p->r + x) - lgamma(p->r) + p->r * log(p->alpha) - (p->r + x) * log(p->alpha + T);
}

static double gg_ll_direct(const rtn_gg_params *g, double x, double m)
{
    double p = g->p, q = g->q, v = g->gamma;
    return lgamma(p * x + q) - lgamma(p * x) - lgamma(q) + q * log(v) + (p * x - 1) * log(m) +
           p * x * log(x) - (p * x + q) * log(v + x * m);
}

typedef struct {
    size_t n;
    double *x, *tx, *T, *mx;
    uint64_t boff[2];
} sim;

/* n customers with calibration lengths T ~ U(26, 52) (in weeks); bp->a == 0 simulates no
 * dropout at all (the NBD model). */
static void simulate(sim *s, size_t n, const rtn_bgnbd_params *bp, const rtn_gg_params *gp,
                     unsigned long seed)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    s->n = n;
    s->x = malloc(n * sizeof(double));
    s->tx = malloc(n * sizeof(double));
    s->T = malloc(n * sizeof(double));
    s->mx = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        double T = 26 + 26 * gsl_rng_uniform(rng);
        double lam = gsl_ran_gamma(rng, bp->r, 1.0 / bp->alpha);
        double pd = bp->a > 0 ? gsl_ran_beta(rng, bp->a, bp->b) : 0.0;
        double t = 0, tx = 0;
        int x = 0;
        for (;;) { /* repeat purchases at rate lam; dropout after each with prob pd */
            t += gsl_ran_exponential(rng, 1.0 / lam);
            if (t > T) break;
            x++;
            tx = t;
            if (gsl_rng_uniform(rng) < pd) break;
        }
        double nu = gsl_ran_gamma(rng, gp->q, 1.0 / gp->gamma), sum = 0;
        for (int k = 0; k < x; k++) sum += gsl_ran_gamma(rng, gp->p, 1.0 / nu);
        s->x[i] = x;
        s->tx[i] = tx;
        s->T[i] = T;
        s->mx[i] = x > 0 ? sum / x : 0;
    }
    s->boff[0] = 0;
    s->boff[1] = n;
    gsl_rng_free(rng);
}

static void sim_free(sim *s)
{
    free(s->x);
    free(s->tx);
    free(s->T);
    free(s->mx);
}

static rtn_clv_data sim_data(sim *s)
{
    rtn_clv_data d = {s->n, s->x, s->tx, s->T, s->mx, 1, 0, 1, s->boff};
    return d;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    rtn_log_init(MPI_COMM_WORLD, RTN_LOG_WARN);
    MPI_Comm comm = MPI_COMM_SELF;

    /* ---- per-customer likelihoods against the textbook formulas ----------------------- */
    rtn_bgnbd_params bp = {0.5, 6.0, 0.7, 3.0};
    rtn_gg_params gp = {6.0, 4.0, 15.0};
    static const double cust[][3] = {{0, 0, 30},   {1, 5, 30},   {2, 29.9, 30}, {7, 12, 40},
                                     {40, 39, 40}, {3, 0.5, 52}, {0, 0, 0.01}};
    for (size_t i = 0; i < sizeof cust / sizeof cust[0]; i++) {
        double x = cust[i][0], tx = cust[i][1], T = cust[i][2];
        double ref = bg_ll_direct(&bp, x, tx, T);
        CHECK_NEAR(rtn_bgnbd_loglik_one(&bp, x, tx, T), ref, 1e-11 * fmax(1, fabs(ref)));
        if (x > 0) {
            double g = gg_ll_direct(&gp, x, 20 + x);
            CHECK_NEAR(rtn_gg_loglik_one(&gp, x, 20 + x), g, 1e-11 * fmax(1, fabs(g)));
            /* P(alive) = A3 / (A3 + A4) */
            double A3 = pow(1.0 / (bp.alpha + T), bp.r + x);
            double A4 = bp.a / (bp.b + x - 1) * pow(1.0 / (bp.alpha + tx), bp.r + x);
            CHECK_NEAR(rtn_bgnbd_p_alive(&bp, x, tx, T), A3 / (A3 + A4), 1e-13);
        } else {
            CHECK(rtn_bgnbd_p_alive(&bp, x, tx, T) == 1.0);
        }
    }
    CHECK(isnan(rtn_bgnbd_loglik_one(&bp, 1.5, 1, 2)));
    CHECK(isnan(rtn_bgnbd_p_alive(&bp, 1, 3, 2)));
    /* P(alive) falls the longer a customer has been silent */
    CHECK(rtn_bgnbd_p_alive(&bp, 3, 10, 20) > rtn_bgnbd_p_alive(&bp, 3, 10, 40));

    /* ---- parameter recovery on a simulated population --------------------------------- */
    sim s;
    simulate(&s, 20000, &bp, &gp, 12345);
    rtn_clv_data d = sim_data(&s);
    rtn_bgnbd_fit_result bg;
    rtn_status st = rtn_bgnbd_fit(comm, &d, NULL, &bg);
    if (st) fprintf(stderr, "%s\n", rtn_errmsg());
    REQUIRE(st == RTN_OK);
    printf("simulated BG/NBD: r=%.4f(%.4f) alpha=%.4f(%.4f) a=%.4f(%.4f) b=%.4f(%.4f) iter %d\n",
           bg.params.r, bg.se.r, bg.params.alpha, bg.se.alpha, bg.params.a, bg.se.a,
           bg.params.b, bg.se.b, bg.iterations);
    CHECK(bg.converged && bg.hessian_ok);
    CHECK(fabs(bg.params.r - bp.r) < 4 * bg.se.r);
    CHECK(fabs(bg.params.alpha - bp.alpha) < 4 * bg.se.alpha);
    CHECK(fabs(bg.params.a - bp.a) < 4 * bg.se.a);
    CHECK(fabs(bg.params.b - bp.b) < 4 * bg.se.b);
    CHECK(bg.se.r < 0.1 * bp.r); /* 20000 customers pin r down to a few percent */
    /* the log-likelihood is the sum of the per-customer terms */
    double llsum = 0;
    for (size_t i = 0; i < s.n; i++) llsum += rtn_bgnbd_loglik_one(&bg.params, s.x[i], s.tx[i], s.T[i]);
    CHECK_NEAR(bg.loglik, llsum, 1e-9 * fabs(llsum));
    /* stationarity, by central differences of the likelihood alone */
    double *pv = &bg.params.r;
    for (int j = 0; j < 4; j++) {
        rtn_bgnbd_params pp = bg.params, pm = bg.params;
        double h = 1e-5 * pv[j];
        (&pp.r)[j] += h;
        (&pm.r)[j] -= h;
        double lp, lm;
        REQUIRE(rtn_bgnbd_loglik(comm, &d, &pp, &lp) == RTN_OK);
        REQUIRE(rtn_bgnbd_loglik(comm, &d, &pm, &lm) == RTN_OK);
        double dlog = (lp - lm) / (2 * h) * pv[j]; /* d LL / d log(theta_j) */
        CHECK(fabs(dlog) < 1e-3);
        /* and the curvature matches the reported standard error (1-D check) */
        double l0 = bg.loglik;
        double h2 = 1e-3 * pv[j];
        (&pp.r)[j] = pv[j] + h2;
        (&pm.r)[j] = pv[j] - h2;
        REQUIRE(rtn_bgnbd_loglik(comm, &d, &pp, &lp) == RTN_OK);
        REQUIRE(rtn_bgnbd_loglik(comm, &d, &pm, &lm) == RTN_OK);
        double curv = -(lp - 2 * l0 + lm) / (h2 * h2); /* = 1 / conditional variance */
        double cond_se = 1.0 / sqrt(curv);
        CHECK(cond_se <= (&bg.se.r)[j] * 1.01); /* marginal SE >= conditional SE */
    }

    rtn_gg_fit_result gg;
    st = rtn_gg_fit(comm, &d, NULL, &gg);
    if (st) fprintf(stderr, "%s\n", rtn_errmsg());
    REQUIRE(st == RTN_OK);
    printf("simulated Gamma-Gamma: p=%.4f(%.4f) q=%.4f(%.4f) gamma=%.4f(%.4f) on %llu\n",
           gg.params.p, gg.se.p, gg.params.q, gg.se.q, gg.params.gamma, gg.se.gamma,
           (unsigned long long)gg.n_used);
    CHECK(gg.converged && gg.hessian_ok);
    CHECK(fabs(gg.params.p - gp.p) < 4 * gg.se.p);
    CHECK(fabs(gg.params.q - gp.q) < 4 * gg.se.q);
    CHECK(fabs(gg.params.gamma - gp.gamma) < 4 * gg.se.gamma);
    double gsum = 0;
    size_t nrep = 0;
    for (size_t i = 0; i < s.n; i++)
        if (s.x[i] > 0) {
            gsum += rtn_gg_loglik_one(&gg.params, s.x[i], s.mx[i]);
            nrep++;
        }
    CHECK_EQ_INT(gg.n_used, nrep);
    CHECK_NEAR(gg.loglik, gsum, 1e-9 * fabs(gsum));

    /* E[X(t)] against the mean count of simulated new customers over (0, t] */
    {
        gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(rng, 777);
        const int N = 200000;
        const double t = 30;
        double sum = 0, sum2 = 0;
        for (int i = 0; i < N; i++) {
            double lam = gsl_ran_gamma(rng, bp.r, 1.0 / bp.alpha);
            double pd = gsl_ran_beta(rng, bp.a, bp.b), u = 0;
            int x = 0;
            for (;;) {
                u += gsl_ran_exponential(rng, 1.0 / lam);
                if (u > t) break;
                x++;
                if (gsl_rng_uniform(rng) < pd) break;
            }
            sum += x;
            sum2 += (double)x * x;
        }
        double mean = sum / N, sd = sqrt(sum2 / N - mean * mean);
        double ex = rtn_bgnbd_expected_purchases_uncond(&bp, t);
        printf("E[X(30)] = %.5f, simulated %.5f +- %.5f\n", ex, mean, sd / sqrt(N));
        CHECK(fabs(ex - mean) < 4 * sd / sqrt(N));
        gsl_rng_free(rng);
    }

    /* ---- predictions: edge cases --------------------------------------------------- */
    CHECK(rtn_bgnbd_expected_purchases(&bp, 0, 3, 10, 20) == 0.0);
    CHECK(rtn_bgnbd_expected_purchases_uncond(&bp, 0) == 0.0);
    /* a = 1 is a removable singularity of the closed form */
    rtn_bgnbd_params p1 = {0.5, 6.0, 1.0, 3.0}, p1m = {0.5, 6.0, 1.0 - 1e-3, 3.0},
                     p1p = {0.5, 6.0, 1.0 + 1e-3, 3.0};
    double e1 = rtn_bgnbd_expected_purchases(&p1, 52, 4, 20, 30);
    double e1m = rtn_bgnbd_expected_purchases(&p1m, 52, 4, 20, 30);
    double e1p = rtn_bgnbd_expected_purchases(&p1p, 52, 4, 20, 30);
    CHECK(isfinite(e1) && e1 > 0);
    CHECK_NEAR(e1, 0.5 * (e1m + e1p), 1e-6 * e1);
    /* large repeat counts and horizons far beyond alpha + T stay finite and ordered */
    double big = rtn_bgnbd_expected_purchases(&bp, 52, 800, 39.9, 40);
    double big2 = rtn_bgnbd_expected_purchases(&bp, 52, 801, 39.9, 40);
    CHECK(isfinite(big) && big > 100 && big2 > big);
    double far = rtn_bgnbd_expected_purchases(&bp, 1e5, 2, 10, 20);
    CHECK(isfinite(far) && far > rtn_bgnbd_expected_purchases(&bp, 1e4, 2, 10, 20));
    rtn_bgnbd_params pbig = {2.0, 3.0, 15.0, 40.0};
    CHECK(isfinite(rtn_bgnbd_expected_purchases(&pbig, 500, 3, 10, 20)));
    /* expected spend: x = 0 gets the population mean p*gamma/(q-1) */
    CHECK_NEAR(rtn_gg_expected_spend(&gp, 0, 0), 6.0 * 15.0 / 3.0, 1e-12);
    CHECK_NEAR(rtn_gg_expected_spend(&gp, 2, 50), (15.0 + 100.0) * 6.0 / (12 + 3), 1e-12);
    rtn_gg_params gq = {1, 0.9, 1};
    CHECK(isnan(rtn_gg_expected_spend(&gq, 1, 10)));

    /* ---- CLV ----------------------------------------------------------------------- */
    rtn_clv_options co = rtn_clv_options_default();
    CHECK_EQ_INT(co.horizon_months, 12);
    co.monthly_discount = 0;
    /* without discounting the sum telescopes to E[Y(H*k)] */
    double v0 = rtn_clv_value(&bp, &gp, &co, 3, 20, 30, 25);
    double ey = rtn_bgnbd_expected_purchases(&bp, 12 * co.periods_per_month, 3, 20, 30);
    CHECK_NEAR(v0, rtn_gg_expected_spend(&gp, 3, 25) * ey, 1e-12 * v0);
    co.monthly_discount = 0.02;
    co.margin = 0.3;
    co.horizon_months = 24;
    double v1 = rtn_clv_value(&bp, &gp, &co, 3, 20, 30, 25), ref = 0, prev = 0;
    for (int m = 1; m <= 24; m++) {
        double cur = rtn_bgnbd_expected_purchases(&bp, m * co.periods_per_month, 3, 20, 30);
        ref += (cur - prev) / pow(1.02, m);
        prev = cur;
    }
    ref *= 0.3 * rtn_gg_expected_spend(&gp, 3, 25);
    CHECK_NEAR(v1, ref, 1e-12 * ref);
    co.horizon_months = 0;
    CHECK(rtn_clv_value(&bp, &gp, &co, 3, 20, 30, 25) == 0.0);
    co.periods_per_month = 0;
    CHECK(isnan(rtn_clv_value(&bp, &gp, &co, 3, 20, 30, 25)));
    CHECK_NEAR(rtn_clv_value(&bp, &gp, NULL, 3, 20, 30, 25),
               rtn_clv_value(&bp, &gp, (rtn_clv_options[]){rtn_clv_options_default()}, 3, 20,
                             30, 25),
               0);

    /* batch scoring equals the scalar functions */
    {
        double pa[5], ep[5], es[5], cl[5];
        REQUIRE(rtn_clv_predict(&bp, &gp, NULL, 39, 5, s.x, s.tx, s.T, s.mx, pa, ep, es, cl) ==
                RTN_OK);
        for (int i = 0; i < 5; i++) {
            CHECK(pa[i] == rtn_bgnbd_p_alive(&bp, s.x[i], s.tx[i], s.T[i]));
            CHECK(ep[i] == rtn_bgnbd_expected_purchases(&bp, 39, s.x[i], s.tx[i], s.T[i]));
            CHECK(es[i] == rtn_gg_expected_spend(&gp, s.x[i], s.mx[i]));
            CHECK(cl[i] == rtn_clv_value(&bp, &gp, NULL, s.x[i], s.tx[i], s.T[i], s.mx[i]));
        }
        CHECK_EQ_INT(rtn_clv_predict(&bp, &gq, NULL, 39, 5, s.x, s.tx, s.T, s.mx, NULL, NULL,
                                     es, NULL),
                     RTN_ERR_USAGE);
        rtn_clear_error();
    }

    /* ---- the NBD model (BG/NBD without dropout) ---------------------------------------- */
    {
        rtn_nbd_params np = {0.7, 9.0};
        for (double x = 0; x <= 40; x += 3) {
            double ref = nbd_ll_direct(&np, x, 33.5);
            CHECK_NEAR(rtn_nbd_loglik_one(&np, x, 33.5), ref, 1e-11 * fmax(1, fabs(ref)));
        }
        CHECK(isnan(rtn_nbd_loglik_one(&np, 1.5, 3)));
        /* predictions: P(alive) = 1, E[Y(t)] = (r+x)/(alpha+T) t, and the CLV sum of equal
         * monthly expectations (r+x)/(alpha+T) k, discounted */
        rtn_purchase_model nm = {RTN_PURCHASE_NBD, {0, 0, 0, 0}, np};
        CHECK(rtn_purchase_p_alive(&nm, 4, 20, 30) == 1.0);
        CHECK(isnan(rtn_purchase_p_alive(&nm, 4, 31, 30)));
        CHECK_NEAR(rtn_purchase_expected_purchases(&nm, 52, 4, 20, 30), 4.7 / 39.0 * 52,
                   1e-14);
        rtn_clv_options co = rtn_clv_options_default();
        double rate = 4.7 / 39.0 * co.periods_per_month, ref = 0, disc = 1;
        for (int m = 1; m <= co.horizon_months; m++) {
            disc /= 1.01;
            ref += rate * disc;
        }
        ref *= rtn_gg_expected_spend(&gp, 4, 25);
        CHECK_NEAR(rtn_purchase_clv_value(&nm, &gp, &co, 4, 20, 30, 25), ref, 1e-12 * ref);
        /* the BG/NBD kind gives the BG/NBD functions' bits */
        rtn_purchase_model bm = {RTN_PURCHASE_BGNBD, bp, {0, 0}};
        CHECK(rtn_purchase_p_alive(&bm, 3, 10, 20) == rtn_bgnbd_p_alive(&bp, 3, 10, 20));
        CHECK(rtn_purchase_expected_purchases(&bm, 39, 3, 10, 20) ==
              rtn_bgnbd_expected_purchases(&bp, 39, 3, 10, 20));
        CHECK(rtn_purchase_clv_value(&bm, &gp, &co, 3, 10, 20, 25) ==
              rtn_clv_value(&bp, &gp, &co, 3, 10, 20, 25));

        /* recovery on 20,000 simulated customers without dropout, and the fallback:
         * BG/NBD runs to the no-dropout boundary and rtn_purchase_fit returns the NBD fit */
        rtn_bgnbd_params nodrop = {0.7, 9.0, 0.0, 1.0};
        sim sn;
        simulate(&sn, 20000, &nodrop, &gp, 777);
        rtn_clv_data dn = sim_data(&sn);
        rtn_nbd_fit_result nb;
        st = rtn_nbd_fit(comm, &dn, NULL, &nb);
        REQUIRE(st == RTN_OK);
        CHECK(nb.converged && nb.hessian_ok);
        CHECK(fabs(nb.params.r - 0.7) < 4 * nb.se.r);
        CHECK(fabs(nb.params.alpha - 9.0) < 4 * nb.se.alpha);
        double llsum = 0;
        for (size_t i = 0; i < sn.n; i++) llsum += rtn_nbd_loglik_one(&nb.params, sn.x[i], sn.T[i]);
        CHECK_NEAR(nb.loglik, llsum, 1e-9 * fabs(llsum));
        /* stationary: the likelihood falls on either side of each fitted parameter */
        for (int j = 0; j < 2; j++) {
            rtn_nbd_params pp = nb.params, pm = nb.params;
            double *vp = j ? &pp.alpha : &pp.r, *vm = j ? &pm.alpha : &pm.r;
            *vp *= 1 + 1e-4;
            *vm *= 1 - 1e-4;
            double lp, lm;
            REQUIRE(rtn_nbd_loglik(comm, &dn, &pp, &lp) == RTN_OK);
            REQUIRE(rtn_nbd_loglik(comm, &dn, &pm, &lm) == RTN_OK);
            CHECK(lp < nb.loglik && lm < nb.loglik);
        }
        rtn_purchase_fit_result pf;
        st = rtn_purchase_fit(comm, &dn, NULL, &pf);
        if (st) fprintf(stderr, "purchase fit: %s\n", rtn_errmsg());
        REQUIRE(st == RTN_OK);
        CHECK_EQ_INT(pf.kind, RTN_PURCHASE_NBD);
        CHECK(pf.bgnbd.at_boundary && !pf.bgnbd.converged);
        CHECK(pf.nbd.loglik >= pf.bgnbd.loglik);
        CHECK(strstr(pf.bgnbd_message, "heading to 0") != NULL);
        CHECK(memcmp(&pf.nbd.params, &nb.params, sizeof nb.params) == 0);
        CHECK(memcmp(&pf.nbd.loglik, &nb.loglik, sizeof(double)) == 0);
        sim_free(&sn);

        /* data with dropout keep BG/NBD, bit for bit */
        rtn_purchase_fit_result pb;
        REQUIRE(rtn_purchase_fit(comm, &d, NULL, &pb) == RTN_OK);
        CHECK_EQ_INT(pb.kind, RTN_PURCHASE_BGNBD);
        CHECK(memcmp(&pb.bgnbd.params, &bg.params, sizeof bg.params) == 0);
        /* a non-convergence that is not the boundary stays an error */
        rtn_bgnbd_options o1 = {.max_iter = 1};
        st = rtn_purchase_fit(comm, &d, &o1, &pb);
        CHECK_EQ_INT(st, RTN_ERR_NUMERIC);
        CHECK(!pb.bgnbd.at_boundary && pb.kind == RTN_PURCHASE_BGNBD);
        rtn_clear_error();
    }

    /* ---- errors ----------------------------------------------------------------------- */
    {
        double x[3] = {1, 0, 2}, tx[3] = {5, 0, 50}, T[3] = {30, 30, 40}, mx[3] = {10, 0, -3};
        uint64_t boff[2] = {0, 3};
        rtn_clv_data e = {3, x, tx, T, mx, 1, 0, 1, boff};
        st = rtn_bgnbd_fit(comm, &e, NULL, &bg);
        CHECK_EQ_INT(st, RTN_ERR_DATA);
        CHECK(strstr(rtn_errmsg(), "row 2") && strstr(rtn_errmsg(), "recency"));
        rtn_clear_error();
        tx[2] = 20;
        x[0] = x[2] = 0;
        st = rtn_bgnbd_fit(comm, &e, NULL, &bg);
        CHECK_EQ_INT(st, RTN_ERR_DATA);
        CHECK(strstr(rtn_errmsg(), "none with a repeat") != NULL);
        rtn_clear_error();
        x[0] = 1;
        x[2] = 2;
        /* Gamma-Gamma: x > 0 with a non-positive mean spend is excluded, and with one
         * usable customer the model cannot be fitted */
        rtn_gg_fit_result g2;
        st = rtn_gg_fit(comm, &e, NULL, &g2);
        CHECK_EQ_INT(st, RTN_ERR_DATA);
        CHECK_EQ_INT(g2.n_excluded, 1);
        CHECK_EQ_INT(g2.n_used, 1);
        rtn_clear_error();
        e.mx = NULL;
        st = rtn_gg_fit(comm, &e, NULL, &g2);
        CHECK(st != RTN_OK);
        rtn_clear_error();
        x[1] = NAN;
        st = rtn_bgnbd_fit(comm, &e, NULL, &bg);
        CHECK_EQ_INT(st, RTN_ERR_DATA);
        rtn_clear_error();
        /* non-convergence is reported, not hidden */
        x[1] = 0;
        e.mx = mx;
        rtn_bgnbd_options o = {.max_iter = 1};
        st = rtn_bgnbd_fit(comm, &d, &o, &bg);
        CHECK_EQ_INT(st, RTN_ERR_NUMERIC);
        CHECK(!bg.converged);
        rtn_clear_error();
    }

    sim_free(&s);
    int rc = rtn_test_finish("clv.unit");
    MPI_Finalize();
    return rc;
}
