/* The report's store pass on a hand-made block whose KPIs, lifecycle states and cohort
 * cells are worked out by hand from the definitions in docs/report.md. No MPI, no files. */
#include <string.h>

#include "retain/report.h"
#include "rtn_test.h"

#define DAY 86400LL
static const int64_t C = 1719792000LL; /* 2024-07-01T00:00:00Z */

static void row(rtn_txn_block *b, uint64_t cust, int64_t t, int64_t amount, uint64_t basket)
{
    size_t i = b->n++;
    b->customer[i] = cust;
    b->time[i] = t;
    b->amount[i] = amount;
    b->basket[i] = basket;
    b->category[i] = 0;
    b->store[i] = i % 3 == 0 ? -1 : 0;
}

int main(void)
{
    CHECK_EQ_INT(rtn_report_month(0), 0);
    CHECK_EQ_INT(rtn_report_month(-1), -1);
    CHECK_EQ_INT(rtn_report_month(C - 1), 54 * 12 + 5);       /* 2024-06 */
    CHECK_EQ_INT(rtn_report_month(1709251199LL), 54 * 12 + 1); /* 2024-02-29T23:59:59Z */

    rtn_report_params p = {.cutoff = C, .period_days = 30};
    rtn_report_params_months(&p, C - 400 * DAY); /* 2023-05-28 */
    CHECK_EQ_INT(p.month0, 53 * 12 + 4);         /* 2023-05 */
    CHECK_EQ_INT(p.n_months, 14);                /* 2023-05 .. 2024-06 */
    rtn_report_params far = p;
    rtn_report_params_months(&far, 0);
    CHECK_EQ_INT(far.n_months, RTN_REPORT_MAX_MONTHS);

    rtn_txn_block b = {0};
    REQUIRE(rtn_txn_block_reserve(&b, 64, RTN_REPORT_STORE_COLS) == RTN_OK);
    /* A: a customer since C-400d, buying in each of the three periods: loyal -> loyal */
    row(&b, 1, C - 400 * DAY, 10, 40);
    row(&b, 1, C - 70 * DAY, 20, 30);
    row(&b, 1, C - 40 * DAY, 100, 20);
    row(&b, 1, C - 10 * DAY, 50, 10);
    row(&b, 1, C - 10 * DAY + 5, 30, 10);   /* the same basket: one purchase of 80 */
    row(&b, 1, C - 5 * DAY, -30, 50);       /* a return: not a purchase */
    row(&b, 1, C + DAY, 99, 60);            /* after the cutoff */
    /* B: first purchases in the last period, two of them: (none) -> new, a repeat buyer */
    row(&b, 2, C - 20 * DAY, 10, 1);
    row(&b, 2, C - 15 * DAY, 5, 2);
    /* C: first purchase in the previous period only: new -> at risk */
    row(&b, 3, C - 45 * DAY, 25, 1);
    /* D: one purchase long ago: lapsed -> lapsed */
    row(&b, 4, C - 200 * DAY, 60, 1);
    /* E: C-100d, then back in the last period: lapsed -> repeat */
    row(&b, 5, C - 100 * DAY, 70, 1);
    row(&b, 5, C - 5 * DAY, 40, 2);
    /* F: only a return; G: a basket that nets to zero */
    row(&b, 6, C - 3 * DAY, -15, 1);
    row(&b, 7, C - 3 * DAY, 10, 1);
    row(&b, 7, C - 3 * DAY, -10, 1);

    rtn_report_store_counts c;
    REQUIRE(rtn_report_store_counts_init(&c, p.n_months) == RTN_OK);
    REQUIRE(rtn_report_store_add(&p, &b, 0, b.n, &c) == RTN_OK);
    CHECK_EQ_INT(c.rows, 16);
    CHECK_EQ_INT(c.rows_before_cutoff, 15);
    CHECK_EQ_INT(c.customers, 7);
    CHECK_EQ_INT(c.customers_purchase, 5);
    CHECK_EQ_INT(c.return_rows, 3);
    CHECK_EQ_INT(c.unknown_store_rows, 6);
    CHECK_EQ_INT(c.baskets, 13);
    CHECK_EQ_INT(c.purchase_baskets, 10);
    CHECK_EQ_INT(c.active[RTN_RP_LAST], 3);
    CHECK_EQ_INT(c.active[RTN_RP_PREV], 2);
    CHECK_EQ_INT(c.active[RTN_RP_BEFORE], 1);
    CHECK_EQ_INT(c.new_customers[RTN_RP_LAST], 1);
    CHECK_EQ_INT(c.new_customers[RTN_RP_PREV], 1);
    CHECK_EQ_INT(c.repeat_buyers[RTN_RP_LAST], 1);
    CHECK_EQ_INT(c.retained[RTN_RP_LAST], 1);
    CHECK_EQ_INT(c.retained[RTN_RP_PREV], 1);
    CHECK_EQ_INT(c.purchases[RTN_RP_LAST], 4);
    CHECK_EQ_INT(c.revenue[RTN_RP_LAST], 80 + 10 + 5 + 40);
    CHECK_EQ_INT(c.revenue[RTN_RP_PREV], 100 + 25);
    CHECK_EQ_INT(c.flow[RTN_LC_LOYAL][RTN_LC_LOYAL], 1);
    CHECK_EQ_INT(c.flow[RTN_LC_NONE][RTN_LC_NEW], 1);
    CHECK_EQ_INT(c.flow[RTN_LC_NEW][RTN_LC_AT_RISK], 1);
    CHECK_EQ_INT(c.flow[RTN_LC_LAPSED][RTN_LC_LAPSED], 1);
    CHECK_EQ_INT(c.flow[RTN_LC_LAPSED][RTN_LC_REPEAT], 1);
    int64_t total = 0;
    for (int a = 0; a <= RTN_LC_N; a++)
        for (int s = 0; s < RTN_LC_N; s++) total += c.flow[a][s];
    CHECK_EQ_INT(total, 5);
    CHECK_EQ_INT(c.state_prev[RTN_LC_NEW] + c.state_prev[RTN_LC_LOYAL] + c.state_prev[RTN_LC_LAPSED], 4);
    /* cohorts: A from 2023-05 (month 0) active again in 2024-04 (C-70d), 2024-05 (C-40d),
     * 2024-06 (C-10d); E from 2024-03 back in 2024-06; B in 2024-06 only */
    int nm = p.n_months;
    CHECK_EQ_INT(c.cohort[0], 1);
    CHECK_EQ_INT(c.cohort[0 * nm + 11], 1);
    CHECK_EQ_INT(c.cohort[0 * nm + 12], 1);
    CHECK_EQ_INT(c.cohort[0 * nm + 13], 1);
    CHECK_EQ_INT(c.cohort[0 * nm + 10], 0);
    CHECK_EQ_INT(c.cohort[10 * nm + 0], 1); /* E: 2024-03 */
    CHECK_EQ_INT(c.cohort[10 * nm + 3], 1);
    CHECK_EQ_INT(c.cohort[13 * nm + 0], 1); /* B: 2024-06 */
    CHECK_EQ_INT(c.cohort[12 * nm + 0], 1); /* C: 2024-05 */

    /* zero-value purchases count G */
    rtn_report_store_counts z;
    p.zero_value_purchases = 1;
    REQUIRE(rtn_report_store_counts_init(&z, p.n_months) == RTN_OK);
    REQUIRE(rtn_report_store_add(&p, &b, 0, b.n, &z) == RTN_OK);
    CHECK_EQ_INT(z.customers_purchase, 6);
    CHECK_EQ_INT(z.new_customers[RTN_RP_LAST], 2);
    rtn_report_store_counts_free(&z);

    p.period_days = 0;
    CHECK(rtn_report_store_add(&p, &b, 0, b.n, &c) == RTN_ERR_USAGE);
    rtn_report_store_counts_free(&c);
    rtn_txn_block_free(&b);
    printf("report_unit: %d checks, %d failures\n", rtn_test_checks, rtn_test_failures);
    return rtn_test_failures != 0;
}
