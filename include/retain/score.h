/* Scoring customers with a model bundle: churn probability, risk tier, segment, value
 * (CLV when the bundle has it), the reasons behind the risk and the recommended retention
 * action (docs/scoring.md). Per-customer and local: the same customer gets the same bits
 * on any rank. */
#ifndef RETAIN_SCORE_H
#define RETAIN_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "retain/model.h"
#include "retain/status.h"

#define RTN_SCORE_REASONS 3
#define RTN_VALUE_TIERS 3 /* low, medium, high */

typedef enum {
    RTN_ACTION_NONE = 0,       /* low risk, ordinary value: nothing to spend */
    RTN_ACTION_VIP_THANKS,     /* low risk, high value: recognition without a discount */
    RTN_ACTION_REMINDER,       /* medium risk, low value: low-cost reminder (email/app) */
    RTN_ACTION_COUPON,         /* coupon for a category the customer buys */
    RTN_ACTION_LOYALTY_REWARD, /* loyalty points or a reward */
    RTN_ACTION_PERSONAL_CALL,  /* a person calls: at-risk high-value customers */
    RTN_ACTION_WINBACK,        /* critical risk, low value: automated win-back offer */
    RTN_N_ACTIONS
} rtn_action;
extern const char *const rtn_action_names[RTN_N_ACTIONS];
extern const char *const rtn_value_tier_names[RTN_VALUE_TIERS];

/* The playbook: action for a risk tier (0..3) and value tier (0..2). docs/scoring.md. */
rtn_action rtn_playbook(int risk_tier, int value_tier);

typedef struct {
    double churn_probability;
    int risk_tier;                      /* 0..3, rtn_risk_tier_names */
    int segment;                        /* cluster index (-1 without segments) */
    double clv;                         /* NAN without a CLV model */
    double p_alive;                     /* NAN without a CLV model */
    double expected_purchases;          /* over the CLV horizon; NAN without a CLV model */
    double value;                       /* clv when available, else monetary_total */
    int16_t reason[RTN_SCORE_REASONS];  /* feature indices raising the risk most; -1 none */
    double reason_contribution[RTN_SCORE_REASONS]; /* coef_std * standardized value (log-odds) */
} rtn_score;

/* Column of monetary_total in the bundle's feature spec (-1 when absent): the value used
 * when the bundle has no CLV model. Look it up once, outside the per-customer loop. */
int rtn_score_value_column(const rtn_model *m);

/* Scores one customer: x = d features (original units, the bundle's order), clv = the five
 * CLV summary columns (RTN_CLV_*; NULL to skip CLV), value_col from rtn_score_value_column.
 * work: at least 2*d doubles. */
rtn_status rtn_score_customer(const rtn_model *m, const double *x, const double *clv,
                              int value_col, double *work, rtn_score *out);

/* The model kinds' own score columns (rtn_model_kind.score_columns) of the kinds the bundle
 * holds, in table order: up to max names into names; returns how many there are. */
#define RTN_SCORE_EXTRA_MAX 32
size_t rtn_score_extra_columns(const rtn_model *m, const char **names, size_t max);
/* Their values for one customer, in the same order (x, clv as for rtn_score_customer). */
void rtn_score_extra(const rtn_model *m, const double *x, const double *clv, double *out);

/* Value tier from the two cut points (medium from cut[0], high from cut[1]). */
int rtn_value_tier(const double cut[2], double value);

#endif
