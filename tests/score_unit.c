/* Value tiers and the playbook: hand-checked cases from docs/scoring.md. */
#include "retain/score.h"
#include "rtn_test.h"

int main(void)
{
    const double cut[2] = {50.0, 200.0};
    CHECK_EQ_INT(rtn_value_tier(cut, 10.0), 0);
    CHECK_EQ_INT(rtn_value_tier(cut, 50.0), 1);  /* from the median: medium */
    CHECK_EQ_INT(rtn_value_tier(cut, 199.99), 1);
    CHECK_EQ_INT(rtn_value_tier(cut, 200.0), 2); /* from the 80th percentile: high */
    CHECK_EQ_INT(rtn_value_tier(cut, -5.0), 0);  /* net returns */

    /* no spend recorded (event logs): cut points are 0, and nobody is medium or high */
    const double zero[2] = {0.0, 0.0};
    CHECK_EQ_INT(rtn_value_tier(zero, 0.0), 0);
    CHECK_EQ_INT(rtn_value_tier(zero, 0.01), 2);
    /* a dormant majority: median 0, 80th percentile positive */
    const double dormant[2] = {0.0, 30.0};
    CHECK_EQ_INT(rtn_value_tier(dormant, 0.0), 0);
    CHECK_EQ_INT(rtn_value_tier(dormant, 5.0), 1);
    CHECK_EQ_INT(rtn_value_tier(dormant, 30.0), 2);

    /* playbook corners (risk tier x value tier) */
    CHECK_EQ_INT(rtn_playbook(0, 0), RTN_ACTION_NONE);
    CHECK_EQ_INT(rtn_playbook(0, 2), RTN_ACTION_VIP_THANKS);
    CHECK_EQ_INT(rtn_playbook(3, 0), RTN_ACTION_WINBACK);
    CHECK_EQ_INT(rtn_playbook(3, 2), RTN_ACTION_PERSONAL_CALL);
    CHECK_EQ_INT(rtn_playbook(1, 0), RTN_ACTION_REMINDER);
    /* zero value at critical risk is an automated win-back, never a personal call */
    CHECK_EQ_INT(rtn_playbook(3, rtn_value_tier(zero, 0.0)), RTN_ACTION_WINBACK);
    return rtn_test_finish("score_unit");
}
