#include "retain/score.h"

#include <math.h>
#include <string.h>

#include "retain/model_kind.h"

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
    for (size_t k = 0; k < rtn_n_model_kinds; k++) {
        const rtn_model_kind *kind = rtn_model_kinds[k];
        if (kind->score && kind->present(m)) kind->score(m, x, clv, work, out);
    }
    out->value = isfinite(out->clv) ? out->clv : (value_col >= 0 ? x[value_col] : 0.0);
    return RTN_OK;
}

static size_t n_columns(const rtn_model_kind *kind)
{
    size_t n = 0;
    while (kind->score_columns && kind->score_columns[n]) n++;
    return n;
}

size_t rtn_score_extra_columns(const rtn_model *m, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t k = 0; k < rtn_n_model_kinds; k++) {
        const rtn_model_kind *kind = rtn_model_kinds[k];
        if (!kind->score_values || !kind->present(m)) continue;
        for (size_t c = 0; c < n_columns(kind); c++, n++)
            if (n < max) names[n] = kind->score_columns[c];
    }
    return n;
}

void rtn_score_extra(const rtn_model *m, const double *x, const double *clv, double *out)
{
    for (size_t k = 0; k < rtn_n_model_kinds; k++) {
        const rtn_model_kind *kind = rtn_model_kinds[k];
        if (!kind->score_values || !kind->present(m)) continue;
        kind->score_values(m, x, clv, out);
        out += n_columns(kind);
    }
}
