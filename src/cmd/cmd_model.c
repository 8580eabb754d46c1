/* retain model show BUNDLE | retain model diff OLD NEW: the model bundle for people. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/cli.h"
#include "retain/commands.h"
#include "retain/model.h"

const char rtn_usage_model[] =
    "usage: retain model show BUNDLE\n"
    "       retain model diff OLD NEW\n"
    "\n"
    "show: provenance, churn-model quality (validation and test), the coefficient table in\n"
    "standardized and original units (largest effects first), segments with their profiles,\n"
    "and the lifetime-value parameters.\n"
    "diff: the quarterly review of two bundles side by side: metrics, coefficients, segments\n"
    "matched by their stable ids, lifetime-value parameters.\n";

static const rtn_model *sort_model;
static int cmp_coef(const void *a, const void *b)
{
    double x = fabs(sort_model->coef_std[*(const int *)a]), y = fabs(sort_model->coef_std[*(const int *)b]);
    if (x != y) return x > y ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

static void show(const char *path, const rtn_model *m)
{
    printf("model bundle     %s\n", path);
    printf("content id       %s\n", m->content_id);
    printf("created          %s by retain %s\n", m->created_at, m->creator_version);
    printf("training data    cutoff %s, horizon %lld days, %llu customers, %s\n", m->cutoff_iso,
           (long long)m->horizon_days, (unsigned long long)m->n_customers, m->currency);
    printf("features digest  %s\n", m->features_digest);
    printf("store digest     %s\n", m->store_digest);
    if (m->has_churn) {
        printf("\nchurn model      logistic regression, %d iterations (%s), lambda %.3g, l1 %.2g%s\n",
               m->iterations, m->converged ? "converged" : "NOT converged", m->lambda, m->l1_ratio,
               m->class_weight_balanced ? ", balanced classes" : "");
        printf("                 threshold %.4f (max F1, validation); risk tiers at %.3f / %.3f / %.3f\n",
               m->threshold, m->risk_cut[0], m->risk_cut[1], m->risk_cut[2]);
        const rtn_model_eval *ev[2] = {&m->valid, &m->test};
        const char *nm[2] = {"validation", "test"};
        printf("  %-10s %8s %7s %7s %8s %7s %9s %9s\n", "split", "n", "AUC", "PR-AUC", "log-loss",
               "Brier", "top-10%", "oracle");
        for (int i = 0; i < 2; i++) {
            if (!ev[i]->present) continue;
            const rtn_metrics *x = &ev[i]->m;
            printf("  %-10s %8llu %7.4f %7.4f %8.4f %7.4f %9.2f", nm[i], (unsigned long long)x->n,
                   x->roc_auc, x->pr_auc, x->log_loss, x->brier, x->lift[0]);
            if (isnan(ev[i]->oracle_roc_auc)) printf(" %9s\n", "-");
            else printf(" %9.4f\n", ev[i]->oracle_roc_auc);
        }
        int *idx = malloc(sizeof(int) * m->d);
        for (size_t j = 0; idx && j < m->d; j++) idx[j] = (int)j;
        sort_model = m;
        if (idx) qsort(idx, m->d, sizeof *idx, cmp_coef);
        printf("  %-24s %10s %12s %9s\n", "coefficient", "standard", "original", "transform");
        printf("  %-24s %10.4f %12.4g\n", "(intercept)", m->intercept_std, m->intercept);
        for (size_t t = 0; idx && t < m->d; t++) {
            int j = idx[t];
            printf("  %-24s %10.4f %12.4g %9s\n", m->feature_names[j], m->coef_std[j], m->coef[j],
                   m->churn_transform[j] ? "log1p" : "");
        }
        free(idx);
    }
    if (m->has_segments) {
        printf("\nsegments         k = %d (%s), inertia %.6g", m->k, m->k_rule, m->inertia);
        if (!isnan(m->ari_truth)) printf(", ARI vs truth %.3f", m->ari_truth);
        printf("\n  %3s %-28s %9s %8s %7s\n", "id", "name", "customers", "revenue", "churn");
        for (int c = 0; c < m->k; c++)
            printf("  %3d %-28s %9.0f %7.1f%% %6.1f%%\n", m->segment_id[c], m->segment_name[c],
                   m->seg_size[c], 100 * m->seg_revenue_share[c], 100 * m->seg_churn_rate[c]);
    }
    if (m->has_clv && m->purchase_kind == RTN_PURCHASE_NBD) {
        printf("\nlifetime value   NBD r %.4g (%.2g)  alpha %.4g (%.2g)  LL %.2f (BG/NBD's maximum is on the "
               "no-dropout boundary; best BG/NBD LL reached %.2f)\n",
               m->nbd.r, m->nbd_se.r, m->nbd.alpha, m->nbd_se.alpha, m->nbd_loglik, m->bgnbd_loglik);
    } else if (m->has_clv) {
        printf("\nlifetime value   BG/NBD r %.4g (%.2g)  alpha %.4g (%.2g)  a %.4g (%.2g)  b %.4g (%.2g)  LL %.2f\n",
               m->bgnbd.r, m->bgnbd_se.r, m->bgnbd.alpha, m->bgnbd_se.alpha, m->bgnbd.a, m->bgnbd_se.a,
               m->bgnbd.b, m->bgnbd_se.b, m->bgnbd_loglik);
    }
    if (m->has_clv) {
        if (m->has_gg)
            printf("                 Gamma-Gamma p %.4g  q %.4g  gamma %.4g  LL %.2f; CLV over %d months, %.2g%%/month\n",
                   m->gg.p, m->gg.q, m->gg.gamma, m->gg_loglik, m->clv_opt.horizon_months,
                   100 * m->clv_opt.monthly_discount);
    }
}

static void diff(const rtn_model *a, const rtn_model *b)
{
    printf("%-28s %-20s %-20s\n", "", "OLD", "NEW");
    printf("%-28s %-20.16s %-20.16s\n", "content id", a->content_id, b->content_id);
    printf("%-28s %-20s %-20s\n", "cutoff", a->cutoff_iso, b->cutoff_iso);
    printf("%-28s %-20llu %-20llu\n", "customers", (unsigned long long)a->n_customers,
           (unsigned long long)b->n_customers);
    if (a->has_churn && b->has_churn) {
        printf("\nchurn model\n");
        printf("  %-26s %-20.4f %-20.4f\n", "test AUC", a->test.m.roc_auc, b->test.m.roc_auc);
        printf("  %-26s %-20.4f %-20.4f\n", "test PR-AUC", a->test.m.pr_auc, b->test.m.pr_auc);
        printf("  %-26s %-20.4f %-20.4f\n", "test log-loss", a->test.m.log_loss, b->test.m.log_loss);
        printf("  %-26s %-20.4f %-20.4f\n", "test base rate", a->test.m.base_rate, b->test.m.base_rate);
        printf("  %-26s %-20.4f %-20.4f\n", "threshold", a->threshold, b->threshold);
        printf("  %-26s %-20s %-20s %s\n", "standardized coefficient", "", "", "change");
        for (size_t j = 0; j < b->d; j++) {
            int ja = -1;
            for (size_t i = 0; i < a->d; i++)
                if (strcmp(a->feature_names[i], b->feature_names[j]) == 0) ja = (int)i;
            if (ja < 0) printf("  %-26s %-20s %-20.4f new\n", b->feature_names[j], "-", b->coef_std[j]);
            else
                printf("  %-26s %-20.4f %-20.4f %+.4f\n", b->feature_names[j], a->coef_std[ja],
                       b->coef_std[j], b->coef_std[j] - a->coef_std[ja]);
        }
    }
    if (a->has_segments && b->has_segments) {
        printf("\nsegments (matched by stable id)\n");
        printf("  %3s %-26s %-10s %-10s %-8s %-8s\n", "id", "name (new)", "size old", "size new",
               "churn old", "churn new");
        for (int c = 0; c < b->k; c++) {
            int ca = -1;
            for (int i = 0; i < a->k; i++)
                if (a->segment_id[i] == b->segment_id[c]) ca = i;
            if (ca >= 0)
                printf("  %3d %-26s %-10.0f %-10.0f %-8.1f %-8.1f%s\n", b->segment_id[c], b->segment_name[c],
                       a->seg_size[ca], b->seg_size[c], 100 * a->seg_churn_rate[ca], 100 * b->seg_churn_rate[c],
                       strcmp(a->segment_name[ca], b->segment_name[c]) ? "  (renamed)" : "");
            else
                printf("  %3d %-26s %-10s %-10.0f %-8s %-8.1f  new\n", b->segment_id[c], b->segment_name[c],
                       "-", b->seg_size[c], "-", 100 * b->seg_churn_rate[c]);
        }
        for (int i = 0; i < a->k; i++) {
            int found = 0;
            for (int c = 0; c < b->k; c++) found |= a->segment_id[i] == b->segment_id[c];
            if (!found) printf("  %3d %-26s retired\n", a->segment_id[i], a->segment_name[i]);
        }
    }
    if (a->has_clv && b->has_clv) {
        printf("\nlifetime value\n");
        const rtn_model *ab[2] = {a, b};
        char v[4][2][24];
        for (int i = 0; i < 2; i++) {
            /* an NBD model is BG/NBD's no-dropout limit: a -> 0 ("-"), alpha and r as fitted */
            int nbd = ab[i]->purchase_kind == RTN_PURCHASE_NBD;
            double p[4] = {nbd ? ab[i]->nbd.r : ab[i]->bgnbd.r,
                           nbd ? ab[i]->nbd.alpha : ab[i]->bgnbd.alpha, ab[i]->bgnbd.a,
                           ab[i]->bgnbd.b};
            for (int j = 0; j < 4; j++) {
                if (nbd && j >= 2) snprintf(v[j][i], sizeof v[j][i], "-");
                else snprintf(v[j][i], sizeof v[j][i], "%.4g", p[j]);
            }
        }
        printf("  %-26s %-20s %-20s\n", "purchase model",
               a->purchase_kind == RTN_PURCHASE_NBD ? "NBD" : "BG/NBD",
               b->purchase_kind == RTN_PURCHASE_NBD ? "NBD" : "BG/NBD");
        const char *nm[4] = {"r", "alpha", "a", "b"};
        for (int j = 0; j < 4; j++) printf("  %-26s %-20s %-20s\n", nm[j], v[j][0], v[j][1]);
    }
}

rtn_status rtn_cmd_model(MPI_Comm comm, int argc, char **argv)
{
    const rtn_command *self = rtn_find_command("model");
    if (argc < 2) return rtn_usage_error(self, "expected show or diff");
    int rank;
    MPI_Comm_rank(comm, &rank);
    int is_show = strcmp(argv[1], "show") == 0, is_diff = strcmp(argv[1], "diff") == 0;
    if (!is_show && !is_diff) return rtn_usage_error(self, "unknown subcommand '%s'", argv[1]);
    if ((is_show && argc != 3) || (is_diff && argc != 4))
        return rtn_usage_error(self, is_show ? "show takes one BUNDLE" : "diff takes OLD and NEW");
    rtn_model a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    rtn_status st = rtn_model_load(argv[2], &a);
    if (st == RTN_OK && is_diff) st = rtn_model_load(argv[3], &b);
    st = rtn_agree(comm, st);
    if (st == RTN_OK && rank == 0) {
        if (is_show) show(argv[2], &a);
        else diff(&a, &b);
        fflush(stdout);
    }
    rtn_model_free(&a);
    rtn_model_free(&b);
    return st;
}
