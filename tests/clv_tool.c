/* Test driver for the scipy/mpmath oracle (clv_oracle.py):
 *   clv_tool fit FILE       FILE = CSV "ID,x,t_x,T,zbar": prints the BG/NBD, NBD and
 *                           Gamma-Gamma fits as key=value lines
 *   clv_tool predict FILE   FILE = CSV rows r,alpha,a,b,p,q,gamma,t,x,t_x,T,mx,H,k,d,margin:
 *                           prints p_alive,E[Y(t)|..],E[X(t)],E[M],CLV per row, then the NBD
 *                           model's (r, alpha of the row) P(alive),E[Y(t)|..],CLV */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "retain/clv.h"
#include "retain/log.h"

long clv_read_csv(const char *path, int ncols, double **cols);

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    rtn_log_init(MPI_COMM_WORLD, RTN_LOG_WARN);
    int rc = 0;
    if (argc == 3 && strcmp(argv[1], "fit") == 0) {
        double *c[5];
        long n = clv_read_csv(argv[2], 5, c);
        if (n <= 0) {
            fprintf(stderr, "cannot read %s\n", argv[2]);
            MPI_Finalize();
            return 1;
        }
        uint64_t boff[2] = {0, (uint64_t)n};
        rtn_clv_data d = {(size_t)n, c[1], c[2], c[3], c[4], 1, 0, 1, boff};
        rtn_bgnbd_fit_result bg;
        rtn_gg_fit_result gg;
        rtn_nbd_fit_result nb;
        if (rtn_bgnbd_fit(MPI_COMM_SELF, &d, NULL, &bg) || rtn_gg_fit(MPI_COMM_SELF, &d, NULL, &gg) ||
            rtn_nbd_fit(MPI_COMM_SELF, &d, NULL, &nb)) {
            fprintf(stderr, "fit failed: %s\n", rtn_errmsg());
            rc = 1;
        } else {
            printf("bg_params=%.17g,%.17g,%.17g,%.17g\n", bg.params.r, bg.params.alpha,
                   bg.params.a, bg.params.b);
            printf("bg_se=%.17g,%.17g,%.17g,%.17g\n", bg.se.r, bg.se.alpha, bg.se.a, bg.se.b);
            printf("bg_ll=%.17g\n", bg.loglik);
            printf("gg_params=%.17g,%.17g,%.17g\n", gg.params.p, gg.params.q, gg.params.gamma);
            printf("gg_se=%.17g,%.17g,%.17g\n", gg.se.p, gg.se.q, gg.se.gamma);
            printf("gg_ll=%.17g\n", gg.loglik);
            printf("nbd_params=%.17g,%.17g\n", nb.params.r, nb.params.alpha);
            printf("nbd_se=%.17g,%.17g\n", nb.se.r, nb.se.alpha);
            printf("nbd_ll=%.17g\n", nb.loglik);
        }
        for (int j = 0; j < 5; j++) free(c[j]);
    } else if (argc == 3 && strcmp(argv[1], "predict") == 0) {
        double *c[16];
        long n = clv_read_csv(argv[2], 16, c);
        if (n <= 0) {
            fprintf(stderr, "cannot read %s\n", argv[2]);
            MPI_Finalize();
            return 1;
        }
        for (long i = 0; i < n; i++) {
            rtn_bgnbd_params bp = {c[0][i], c[1][i], c[2][i], c[3][i]};
            rtn_gg_params gp = {c[4][i], c[5][i], c[6][i]};
            double t = c[7][i], x = c[8][i], tx = c[9][i], T = c[10][i], mx = c[11][i];
            rtn_clv_options o = {(int)c[12][i], c[13][i], c[14][i], c[15][i]};
            rtn_purchase_model nm = {RTN_PURCHASE_NBD, {0, 0, 0, 0}, {bp.r, bp.alpha}};
            printf("%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n",
                   rtn_bgnbd_p_alive(&bp, x, tx, T), rtn_bgnbd_expected_purchases(&bp, t, x, tx, T),
                   rtn_bgnbd_expected_purchases_uncond(&bp, t), rtn_gg_expected_spend(&gp, x, mx),
                   rtn_clv_value(&bp, &gp, &o, x, tx, T, mx), rtn_purchase_p_alive(&nm, x, tx, T),
                   rtn_purchase_expected_purchases(&nm, t, x, tx, T),
                   rtn_purchase_clv_value(&nm, &gp, &o, x, tx, T, mx));
        }
        for (int j = 0; j < 16; j++) free(c[j]);
    } else {
        fprintf(stderr, "usage: clv_tool fit FILE | predict FILE\n");
        rc = 2;
    }
    MPI_Finalize();
    return rc;
}
