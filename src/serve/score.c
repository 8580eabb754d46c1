#include "retain/score.h"

#include <math.h>
#include <string.h>

#include "retain/clv.h"
#include "retain/features.h"
#include "retain/kmeans.h"

const char *const rtn_action_names[RTN_N_ACTIONS] = {
    "none", "vip_thanks", "reminder", "category_coupon", "loyalty_reward", "personal_call",
    "winback_offer"};
const char *const rtn_value_tier_names[RTN_VALUE_TIERS] = {"low", "medium", "high"};

/*               value:   low                  medium                    high */
static const rtn_action playbook[4][RTN_VALUE_TIERS] = {
    /* low      */ {RTN_ACTION_NONE, RTN_ACTION_NONE, RTN_ACTION_VIP_THANKS},
    /* medium   */ {RTN_ACTION_REMINDER, RTN_ACTION_COUPON, RTN_ACTION_LOYALTY_REWARD},
    /* high     */ {RTN_ACTION_COUPON, RTN_ACTION_LOYALTY_REWARD, RTN_ACTION_PERSONAL_CALL},
    /* critical */ {RTN_ACTION_WINBACK, RTN_ACTION_LOYALTY_REWARD, RTN_ACTION_PERSONAL_CALL}};

rtn_action rtn_playbook(int risk_tier, int value_tier)
{
    if (risk_tier < 0) risk_tier = 0;
    if (risk_tier > 3) risk_tier = 3;
    if (value_tier < 0) value_tier = 0;
    if (value_tier >= RTN_VALUE_TIERS) value_tier = RTN_VALUE_TIERS - 1;
    return playbook[risk_tier][value_tier];
}

int rtn_value_tier(const double cut[2], double value)
{
    /* A customer worth nothing is never medium or high, even when the cut points are 0
     * (data without spend, or a mostly dormant base): no personal calls for zero value. */
    if (!(value > 0)) return 0;
    return value >= cut[1] ? 2 : value >= cut[0] ? 1 : 0;
}

int rtn_score_value_column(const rtn_model *m)
{
    for (size_t j = 0; j < m->d; j++)
        if (strcmp(m->feature_names[j], "monetary_total") == 0) return (int)j;
    return -1;
}

rtn_status rtn_score_customer(const rtn_model *m, const double *x, const double *clv,
                              int value_col, double *work, rtn_score *out)
{
    size_t d = m->d;
    memset(out, 0, sizeof *out);
    for (int r = 0; r < RTN_SCORE_REASONS; r++) out->reason[r] = -1;
    out->segment = -1;
    out->clv = out->p_alive = out->expected_purchases = NAN;
    for (size_t j = 0; j < d; j++)
        if (!isfinite(x[j])) return rtn_fail(RTN_ERR_DATA, "feature %s is not finite", m->feature_names[j]);
    if (m->has_churn) {
        /* decision function on standardized values, so contributions are comparable */
        double z = m->intercept_std;
        double *contrib = work;
        for (size_t j = 0; j < d; j++) {
            double t = rtn_xform_value((rtn_xform)m->churn_transform[j], x[j]);
            double s = (t - m->scaler_mean[j]) / m->scaler_scale[j];
            contrib[j] = m->coef_std[j] * s;
            z += contrib[j];
        }
        out->churn_probability = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
        out->risk_tier = rtn_model_risk_tier(m, out->churn_probability);
        /* reasons: the largest positive contributions, ties to the lower feature index;
         * one pass keeping the best three in order (a later feature displaces a kept one
         * only when strictly larger) */
        int nr = 0;
        for (size_t j = 0; j < d; j++) {
            double v = contrib[j];
            if (!(v > 0)) continue;
            int at = nr;
            while (at > 0 && v > out->reason_contribution[at - 1]) at--;
            if (at >= RTN_SCORE_REASONS) continue;
            if (nr < RTN_SCORE_REASONS) nr++;
            for (int q = nr - 1; q > at; q--) {
                out->reason[q] = out->reason[q - 1];
                out->reason_contribution[q] = out->reason_contribution[q - 1];
            }
            out->reason[at] = (int16_t)j;
            out->reason_contribution[at] = v;
        }
    }
    if (m->has_segments) {
        double *s = work + d;
        for (size_t j = 0; j < m->ds; j++) {
            double t = rtn_xform_value((rtn_xform)m->seg_transform[j], x[m->seg_feature[j]]);
            s[j] = (t - m->seg_mean[j]) / m->seg_scale[j];
        }
        double best = INFINITY;
        for (int c = 0; c < m->k; c++) {
            double dist = 0;
            const double *cc = m->centroids + (size_t)c * m->ds;
            for (size_t j = 0; j < m->ds; j++) {
                double e = s[j] - cc[j];
                dist += e * e;
            }
            if (dist < best) {
                best = dist;
                out->segment = c;
            }
        }
    }
    if (m->has_clv && clv) {
        double xx = clv[RTN_CLV_X], tx = clv[RTN_CLV_T_X], TT = clv[RTN_CLV_T],
               mx = clv[RTN_CLV_MEAN_REPEAT_SPEND];
        double t = m->clv_opt.horizon_months * m->clv_opt.periods_per_month;
        rtn_purchase_model pm = {m->purchase_kind, m->bgnbd, m->nbd};
        out->p_alive = rtn_purchase_p_alive(&pm, xx, tx, TT);
        out->expected_purchases = rtn_purchase_expected_purchases(&pm, t, xx, tx, TT);
        if (m->has_gg) out->clv = rtn_purchase_clv_value(&pm, &m->gg, &m->clv_opt, xx, tx, TT, mx);
    }
    out->value = isfinite(out->clv) ? out->clv : (value_col >= 0 ? x[value_col] : 0.0);
    return RTN_OK;
}
