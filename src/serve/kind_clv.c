/* The lifetime-value kind: a purchase model (BG/NBD, or NBD when BG/NBD's maximum lies on
 * its no-dropout boundary) and Gamma-Gamma spend, time unit weeks; its bundle group /clv
 * (docs/serving.md), the CLV, P(alive) and expected purchases of a score, its part of the
 * JSON export and of `retain model show/diff`, and its fit (src/models/clv.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retain/cli.h"
#include "retain/clv.h"
#include "retain/log.h"
#include "retain/model_kind.h"

static const char *const bg_names[] = {"r", "alpha", "a", "b"};
static const char *const nbd_names[] = {"r", "alpha"};
static const char *const gg_names[] = {"p", "q", "gamma"};

static int present(const rtn_model *m) { return m->has_clv; }

static void save(rtn_bundle_writer *w, const rtn_model *m)
{
    hid_t g = rtn_bundle_group(w, "/clv");
    if (g >= 0) {
        rtn_bundle_attr_str(w, g, "time_unit", "weeks");
        if (m->purchase_kind == RTN_PURCHASE_NBD) {
            /* BG/NBD bundles carry no purchase_model attribute, so their bytes and
             * content id are what they were before the NBD fallback existed. */
            rtn_bundle_attr_str(w, g, "purchase_model", "nbd");
            double nb[2] = {m->nbd.r, m->nbd.alpha};
            double nbse[2] = {m->nbd_se.r, m->nbd_se.alpha};
            rtn_bundle_put_f64(w, "/clv/nbd_params", nb, 2);
            rtn_bundle_put_f64(w, "/clv/nbd_stderr", nbse, 2);
            rtn_bundle_attr_f64(w, g, "nbd_loglik", m->nbd_loglik);
            rtn_bundle_attr_i64(w, g, "nbd_converged", m->nbd_converged);
        } else {
            double bg[4] = {m->bgnbd.r, m->bgnbd.alpha, m->bgnbd.a, m->bgnbd.b};
            double bgse[4] = {m->bgnbd_se.r, m->bgnbd_se.alpha, m->bgnbd_se.a,
                              m->bgnbd_se.b};
            rtn_bundle_put_f64(w, "/clv/bgnbd_params", bg, 4);
            rtn_bundle_put_f64(w, "/clv/bgnbd_stderr", bgse, 4);
        }
        rtn_bundle_attr_f64(w, g, "bgnbd_loglik", m->bgnbd_loglik);
        rtn_bundle_attr_i64(w, g, "bgnbd_converged", m->bgnbd_converged);
        rtn_bundle_attr_i64(w, g, "bgnbd_customers", (int64_t)m->bgnbd_n);
        rtn_bundle_attr_i64(w, g, "has_gamma_gamma", m->has_gg);
        if (m->has_gg) {
            double gg[3] = {m->gg.p, m->gg.q, m->gg.gamma};
            double ggse[3] = {m->gg_se.p, m->gg_se.q, m->gg_se.gamma};
            rtn_bundle_put_f64(w, "/clv/gg_params", gg, 3);
            rtn_bundle_put_f64(w, "/clv/gg_stderr", ggse, 3);
            rtn_bundle_attr_f64(w, g, "gg_loglik", m->gg_loglik);
            rtn_bundle_attr_i64(w, g, "gg_converged", m->gg_converged);
            rtn_bundle_attr_i64(w, g, "gg_customers", (int64_t)m->gg_n);
        }
        rtn_bundle_attr_f64(w, g, "horizon_months", m->clv_opt.horizon_months);
        rtn_bundle_attr_f64(w, g, "periods_per_month", m->clv_opt.periods_per_month);
        rtn_bundle_attr_f64(w, g, "discount_rate_monthly", m->clv_opt.monthly_discount);
        rtn_bundle_attr_f64(w, g, "margin", m->clv_opt.margin);
        rtn_bundle_close_group(w, g);
    }
}

static void load(rtn_bundle_reader *r, rtn_model *m)
{
    m->has_clv = 1;
    hid_t g = rtn_bundle_open_group(r, "/clv");
    char kind[16] = "bgnbd"; /* bundles without the attribute are BG/NBD */
    if (rtn_bundle_has_attr(r, g, "purchase_model")) rtn_bundle_get_attr_str(r, g, "purchase_model", kind, sizeof kind);
    if (strcmp(kind, "nbd") == 0) {
        m->purchase_kind = RTN_PURCHASE_NBD;
        double *nb = rtn_bundle_get(r, "/clv/nbd_params", H5T_NATIVE_DOUBLE, 2, NULL);
        double *nbse = rtn_bundle_get(r, "/clv/nbd_stderr", H5T_NATIVE_DOUBLE, 2, NULL);
        if (nb && nbse) {
            m->nbd = (rtn_nbd_params){nb[0], nb[1]};
            m->nbd_se = (rtn_nbd_params){nbse[0], nbse[1]};
        }
        free(nb);
        free(nbse);
        m->nbd_loglik = rtn_bundle_get_attr_f64(r, g, "nbd_loglik");
        m->nbd_converged = (int)rtn_bundle_get_attr_i64(r, g, "nbd_converged");
    } else if (strcmp(kind, "bgnbd") == 0) {
        m->purchase_kind = RTN_PURCHASE_BGNBD;
        double *bg = rtn_bundle_get(r, "/clv/bgnbd_params", H5T_NATIVE_DOUBLE, 4, NULL);
        double *bgse = rtn_bundle_get(r, "/clv/bgnbd_stderr", H5T_NATIVE_DOUBLE, 4, NULL);
        if (bg && bgse) {
            m->bgnbd = (rtn_bgnbd_params){bg[0], bg[1], bg[2], bg[3]};
            m->bgnbd_se = (rtn_bgnbd_params){bgse[0], bgse[1], bgse[2], bgse[3]};
        }
        free(bg);
        free(bgse);
    } else {
        rtn_bundle_fail(r, "/clv@purchase_model is '%s', expected bgnbd or nbd", kind);
    }
    m->bgnbd_loglik = rtn_bundle_get_attr_f64(r, g, "bgnbd_loglik");
    m->bgnbd_converged = (int)rtn_bundle_get_attr_i64(r, g, "bgnbd_converged");
    m->bgnbd_n = (uint64_t)rtn_bundle_get_attr_i64(r, g, "bgnbd_customers");
    m->has_gg = (int)rtn_bundle_get_attr_i64(r, g, "has_gamma_gamma");
    if (m->has_gg) {
        double *gg = rtn_bundle_get(r, "/clv/gg_params", H5T_NATIVE_DOUBLE, 3, NULL);
        double *ggse = rtn_bundle_get(r, "/clv/gg_stderr", H5T_NATIVE_DOUBLE, 3, NULL);
        if (gg && ggse) {
            m->gg = (rtn_gg_params){gg[0], gg[1], gg[2]};
            m->gg_se = (rtn_gg_params){ggse[0], ggse[1], ggse[2]};
        }
        free(gg);
        free(ggse);
        m->gg_loglik = rtn_bundle_get_attr_f64(r, g, "gg_loglik");
        m->gg_converged = (int)rtn_bundle_get_attr_i64(r, g, "gg_converged");
        m->gg_n = (uint64_t)rtn_bundle_get_attr_i64(r, g, "gg_customers");
    }
    m->clv_opt.horizon_months = (int)rtn_bundle_get_attr_f64(r, g, "horizon_months");
    m->clv_opt.periods_per_month = rtn_bundle_get_attr_f64(r, g, "periods_per_month");
    m->clv_opt.monthly_discount = rtn_bundle_get_attr_f64(r, g, "discount_rate_monthly");
    m->clv_opt.margin = rtn_bundle_get_attr_f64(r, g, "margin");
    if (g >= 0) H5Gclose(g);
}

static void release(rtn_model *m) { (void)m; /* the parameters live in m itself */ }

static void score(const rtn_model *m, const double *x, const double *clv, double *work,
                  rtn_score *out)
{
    (void)x;
    (void)work;
    if (!clv) return;
    double xx = clv[RTN_CLV_X], tx = clv[RTN_CLV_T_X], TT = clv[RTN_CLV_T],
           mx = clv[RTN_CLV_MEAN_REPEAT_SPEND];
    double t = m->clv_opt.horizon_months * m->clv_opt.periods_per_month;
    rtn_purchase_model pm = {m->purchase_kind, m->bgnbd, m->nbd};
    out->p_alive = rtn_purchase_p_alive(&pm, xx, tx, TT);
    out->expected_purchases = rtn_purchase_expected_purchases(&pm, t, xx, tx, TT);
    if (m->has_gg) out->clv = rtn_purchase_clv_value(&pm, &m->gg, &m->clv_opt, xx, tx, TT, mx);
}

static json_t *export_json(const rtn_model *m)
{
    json_t *c = json_object();
    rtn_json_set(c, "time_unit", json_string("weeks"));
    if (m->purchase_kind == RTN_PURCHASE_NBD) {
        /* like the bundle: the key only for NBD, so BG/NBD exports keep their bytes */
        rtn_json_set(c, "purchase_model", json_string("nbd"));
        rtn_json_set(c, "nbd", rtn_json_named(nbd_names, (double[]){m->nbd.r, m->nbd.alpha}, 2));
        rtn_json_set(c, "nbd_stderr", rtn_json_named(nbd_names, (double[]){m->nbd_se.r, m->nbd_se.alpha}, 2));
        rtn_json_set(c, "nbd_loglik", rtn_json_real(m->nbd_loglik));
        rtn_json_set(c, "nbd_converged", json_boolean(m->nbd_converged));
        rtn_json_set(c, "bgnbd", json_null());
        rtn_json_set(c, "bgnbd_stderr", json_null());
    } else {
        const rtn_bgnbd_params *p = &m->bgnbd, *e = &m->bgnbd_se;
        rtn_json_set(c, "bgnbd", rtn_json_named(bg_names, (double[]){p->r, p->alpha, p->a, p->b}, 4));
        rtn_json_set(c, "bgnbd_stderr", rtn_json_named(bg_names, (double[]){e->r, e->alpha, e->a, e->b}, 4));
    }
    rtn_json_set(c, "bgnbd_loglik", rtn_json_real(m->bgnbd_loglik));
    rtn_json_set(c, "bgnbd_converged", json_boolean(m->bgnbd_converged));
    rtn_json_set(c, "bgnbd_customers", json_integer((json_int_t)m->bgnbd_n));
    if (m->has_gg) {
        const rtn_gg_params *p = &m->gg, *e = &m->gg_se;
        rtn_json_set(c, "gamma_gamma", rtn_json_named(gg_names, (double[]){p->p, p->q, p->gamma}, 3));
        rtn_json_set(c, "gamma_gamma_stderr", rtn_json_named(gg_names, (double[]){e->p, e->q, e->gamma}, 3));
        rtn_json_set(c, "gamma_gamma_loglik", rtn_json_real(m->gg_loglik));
        rtn_json_set(c, "gamma_gamma_converged", json_boolean(m->gg_converged));
        rtn_json_set(c, "gamma_gamma_customers", json_integer((json_int_t)m->gg_n));
    } else {
        rtn_json_set(c, "gamma_gamma", json_null());
    }
    rtn_json_set(c, "horizon_months", json_integer(m->clv_opt.horizon_months));
    rtn_json_set(c, "periods_per_month", rtn_json_real(m->clv_opt.periods_per_month));
    rtn_json_set(c, "discount_rate_monthly", rtn_json_real(m->clv_opt.monthly_discount));
    rtn_json_set(c, "margin", rtn_json_real(m->clv_opt.margin));
    return c;
}

static void show(FILE *out, const rtn_model *m)
{
    if (m->purchase_kind == RTN_PURCHASE_NBD) {
        fprintf(out, "\nlifetime value   NBD r %.4g (%.2g)  alpha %.4g (%.2g)  LL %.2f (BG/NBD's maximum is on the "
               "no-dropout boundary; best BG/NBD LL reached %.2f)\n",
               m->nbd.r, m->nbd_se.r, m->nbd.alpha, m->nbd_se.alpha, m->nbd_loglik, m->bgnbd_loglik);
    } else {
        fprintf(out, "\nlifetime value   BG/NBD r %.4g (%.2g)  alpha %.4g (%.2g)  a %.4g (%.2g)  b %.4g (%.2g)  LL %.2f\n",
               m->bgnbd.r, m->bgnbd_se.r, m->bgnbd.alpha, m->bgnbd_se.alpha, m->bgnbd.a, m->bgnbd_se.a,
               m->bgnbd.b, m->bgnbd_se.b, m->bgnbd_loglik);
    }
    if (m->has_gg)
        fprintf(out, "                 Gamma-Gamma p %.4g  q %.4g  gamma %.4g  LL %.2f; CLV over %d months, %.2g%%/month\n",
               m->gg.p, m->gg.q, m->gg.gamma, m->gg_loglik, m->clv_opt.horizon_months,
               100 * m->clv_opt.monthly_discount);
}

static void diff(FILE *out, const rtn_model *a, const rtn_model *b)
{
    fprintf(out, "\nlifetime value\n");
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
    fprintf(out, "  %-26s %-20s %-20s\n", "purchase model",
           a->purchase_kind == RTN_PURCHASE_NBD ? "NBD" : "BG/NBD",
           b->purchase_kind == RTN_PURCHASE_NBD ? "NBD" : "BG/NBD");
    const char *nm[4] = {"r", "alpha", "a", "b"};
    for (int j = 0; j < 4; j++) fprintf(out, "  %-26s %-20s %-20s\n", nm[j], v[j][0], v[j][1]);
}

#ifndef RETAIN_SCORING_ONLY
/* ---- training ------------------------------------------------------------------------ */

static const char *const option_names[] = {"clv-months", "discount", "margin", NULL};

static const char options_help[] =
    "lifetime value:\n"
    "  --clv-months M         CLV horizon in months (default 12)\n"
    "  --discount D           monthly discount rate (default 0.01)\n"
    "  --margin M             share of spend that is profit (default 1)\n";

static void *options_new(void)
{
    rtn_clv_options *o = malloc(sizeof *o);
    if (o) *o = rtn_clv_options_default();
    return o;
}

static rtn_status option(void *opts, const char *name, const char *v)
{
    rtn_clv_options *o = opts;
    uint64_t u = 0;
    rtn_status st = RTN_OK;
    if (strcmp(name, "clv-months") == 0) {
        st = rtn_parse_u64("--clv-months", v, 0, 1200, &u);
        o->horizon_months = (int)u;
    } else if (strcmp(name, "discount") == 0) {
        st = rtn_parse_double("--discount", v, 0, 1, &o->monthly_discount);
    } else if (strcmp(name, "margin") == 0) {
        st = rtn_parse_double("--margin", v, 0, 1, &o->margin);
    }
    return st;
}

static void options_json(const void *opts, json_t *j)
{
    const rtn_clv_options *o = opts;
    json_object_set_new(j, "clv_months", json_integer(o->horizon_months));
    json_object_set_new(j, "discount", json_real(o->monthly_discount));
    json_object_set_new(j, "margin", json_real(o->margin));
}

static rtn_status fit(const rtn_fit_input *in, rtn_model *m)
{
    MPI_Comm comm = in->comm;
    const rtn_clv_options *opt = in->options;
    const rtn_features_data *fd = in->fd;
    rtn_clv_data cd = {fd->n, fd->clv[RTN_CLV_X], fd->clv[RTN_CLV_T_X], fd->clv[RTN_CLV_T],
                       fd->clv[RTN_CLV_MEAN_REPEAT_SPEND], fd->nbuckets, fd->b0, fd->b1, fd->boff};
    rtn_purchase_fit_result pf;
    rtn_phase_begin("train:clv");
    rtn_status st = rtn_purchase_fit(comm, &cd, NULL, &pf);
    rtn_phase_end("train:clv");
    if (st) {
        /* the churn model and segments stay useful without CLV: warn, record, go on */
        rtn_warn("train: BG/NBD fit failed, the bundle has no lifetime-value model: %s", rtn_errmsg());
        rtn_summary_set_str("train.clv", "status", rtn_errmsg());
        rtn_clear_error();
        return RTN_OK;
    }
    const rtn_bgnbd_fit_result *bg = &pf.bgnbd;
    m->has_clv = 1;
    m->purchase_kind = pf.kind;
    m->bgnbd_loglik = bg->loglik;
    m->bgnbd_converged = bg->converged;
    m->bgnbd_n = bg->n_customers;
    m->clv_opt = *opt;
    if (pf.kind == RTN_PURCHASE_NBD) {
        const rtn_nbd_fit_result *nb = &pf.nbd;
        m->nbd = nb->params;
        m->nbd_se = nb->se;
        m->nbd_loglik = nb->loglik;
        m->nbd_converged = nb->converged;
        rtn_warn("train: %s. BG/NBD's maximum is on that no-dropout boundary, so the "
                 "lifetime-value model is its limit, the NBD model: r %.4g alpha %.4g, LL %.6f "
                 "(best BG/NBD LL reached %.6f; %llu customers)",
                 pf.bgnbd_message, nb->params.r, nb->params.alpha, nb->loglik, bg->loglik,
                 (unsigned long long)nb->n_customers);
        rtn_summary_set_str("train.clv", "model", "nbd");
        rtn_summary_set_str("train.clv", "reason", pf.bgnbd_message);
        rtn_summary_set_real("train.clv", "nbd_r", nb->params.r);
        rtn_summary_set_real("train.clv", "nbd_alpha", nb->params.alpha);
        rtn_summary_set_real("train.clv", "nbd_loglik", nb->loglik);
        rtn_summary_set_real("train.clv", "bgnbd_best_loglik", bg->loglik);
    } else {
        m->bgnbd = bg->params;
        m->bgnbd_se = bg->se;
        rtn_info("train: BG/NBD r %.4g alpha %.4g a %.4g b %.4g (LL %.2f, %llu customers)",
                 bg->params.r, bg->params.alpha, bg->params.a, bg->params.b, bg->loglik,
                 (unsigned long long)bg->n_customers);
        rtn_summary_set_str("train.clv", "model", "bgnbd");
        rtn_summary_set_real("train.clv", "bgnbd_r", bg->params.r);
        rtn_summary_set_real("train.clv", "bgnbd_alpha", bg->params.alpha);
        rtn_summary_set_real("train.clv", "bgnbd_a", bg->params.a);
        rtn_summary_set_real("train.clv", "bgnbd_b", bg->params.b);
        rtn_summary_set_real("train.clv", "bgnbd_loglik", bg->loglik);
    }
    rtn_gg_fit_result gg;
    rtn_phase_begin("train:clv");
    st = rtn_gg_fit(comm, &cd, NULL, &gg);
    rtn_phase_end("train:clv");
    if (st == RTN_ERR_DATA && gg.n_used == 0) {
        /* an event log without amounts (or all-zero spend): nothing to fit, not an error */
        rtn_info("train: Gamma-Gamma skipped: no repeat customer has a positive spend, so the "
                 "bundle has BG/NBD only and no spend model");
        rtn_summary_set_str("train.clv", "gamma_gamma_status", "skipped: no recorded spend");
        rtn_clear_error();
        return RTN_OK;
    }
    if (st) {
        rtn_warn("train: Gamma-Gamma fit failed, CLV uses no spend model: %s", rtn_errmsg());
        rtn_summary_set_str("train.clv", "gamma_gamma_status", rtn_errmsg());
        rtn_clear_error();
        return RTN_OK;
    }
    m->has_gg = 1;
    m->gg = gg.params;
    m->gg_se = gg.se;
    m->gg_loglik = gg.loglik;
    m->gg_converged = gg.converged;
    m->gg_n = gg.n_used;
    rtn_info("train: Gamma-Gamma p %.4g q %.4g gamma %.4g (LL %.2f, %llu repeat customers)",
             gg.params.p, gg.params.q, gg.params.gamma, gg.loglik, (unsigned long long)gg.n_used);
    rtn_summary_set_real("train.clv", "gg_p", gg.params.p);
    rtn_summary_set_real("train.clv", "gg_q", gg.params.q);
    rtn_summary_set_real("train.clv", "gg_gamma", gg.params.gamma);
    rtn_summary_set_real("train.clv", "gg_loglik", gg.loglik);
    return RTN_OK;
}

#endif /* RETAIN_SCORING_ONLY */

const rtn_model_kind rtn_clv_kind = {
    .name = "clv",
    .summary = "lifetime value: purchase model (BG/NBD or NBD) and Gamma-Gamma spend",
    .present = present,
    .solver = RTN_SOLVER_NONE,
    .option_names = RTN_TRAINING(option_names),
    .options_help = RTN_TRAINING(options_help),
    .options_new = RTN_TRAINING(options_new),
    .option = RTN_TRAINING(option),
    .options_json = RTN_TRAINING(options_json),
    .fit = RTN_TRAINING(fit),
    .save = save,
    .load = load,
    .release = release,
    .score = score,
    .export_check = NULL,
    .export_json = export_json,
    .onnx_graph = NULL,
    .onnx_meta = NULL,
    .show = show,
    .diff = diff,
};
