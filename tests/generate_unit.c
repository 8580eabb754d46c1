/* The generative model without files or MPI: keys are distinct and never 0, a customer's
 * rows depend only on (seed, index) (not on what was generated before), the counting pass
 * agrees with full generation, rows are time-ordered, amounts are quantity x unit price,
 * every return row reverses an earlier sale line of the same customer, and bad parameters
 * are refused. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "retain/buckets.h"
#include "retain/cli.h"
#include "retain/generate.h"
#include "rtn_test.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int same_rows(const rtn_txn_block *a, size_t i0, const rtn_txn_block *b, size_t j0,
                     size_t n)
{
    for (size_t k = 0; k < n; k++) {
        size_t i = i0 + k, j = j0 + k;
        if (a->customer[i] != b->customer[j] || a->time[i] != b->time[j] ||
            a->amount[i] != b->amount[j] || a->quantity[i] != b->quantity[j] ||
            a->item[i] != b->item[j] || a->category[i] != b->category[j] ||
            a->store[i] != b->store[j] || a->channel[i] != b->channel[j] ||
            a->basket[i] != b->basket[j])
            return 0;
    }
    return 1;
}

int main(void)
{
    /* keys: distinct, non-zero */
    enum { NK = 200000 };
    uint64_t *keys = malloc(sizeof *keys * NK);
    REQUIRE(keys);
    for (uint64_t i = 0; i < NK; i++) keys[i] = rtn_gen_customer_key(7, i);
    qsort(keys, NK, sizeof *keys, cmp_u64);
    int dup = 0, zero = 0;
    for (size_t i = 0; i < NK; i++) {
        if (keys[i] == 0) zero++;
        if (i && keys[i] == keys[i - 1]) dup++;
    }
    CHECK_EQ_INT(dup, 0);
    CHECK_EQ_INT(zero, 0);
    CHECK(rtn_gen_customer_key(7, 5) != rtn_gen_customer_key(8, 5));
    free(keys);

    rtn_gen_params p = {.seed = 42, .n_customers = 400, .days = 730};
    REQUIRE(rtn_parse_date("x", "2023-01-01", &p.start) == RTN_OK);
    rtn_gen_model *m;
    REQUIRE(rtn_gen_model_create(&m, &p) == RTN_OK);
    rtn_gen_work *w1, *w2;
    REQUIRE(rtn_gen_work_create(&w1, m) == RTN_OK);
    REQUIRE(rtn_gen_work_create(&w2, m) == RTN_OK);
    const int64_t end = p.start + (int64_t)p.days * 86400;

    /* forward generation into one block */
    rtn_txn_block fwd = {0};
    size_t *first = calloc(p.n_customers + 1, sizeof *first);
    REQUIRE(first);
    uint64_t rows = 0, returns = 0, baskets = 0;
    int arch_seen[RTN_GEN_N_ARCHETYPES] = {0};
    for (uint64_t i = 0; i < p.n_customers; i++) {
        rtn_gen_truth t, c;
        first[i] = fwd.n;
        REQUIRE(rtn_gen_customer(w1, i, &fwd, &t) == RTN_OK);
        REQUIRE(rtn_gen_count(w2, i, &c) == RTN_OK);
        CHECK(t.key == c.key && t.archetype == c.archetype && t.lambda == c.lambda &&
              t.p_dropout == c.p_dropout && t.mean_basket == c.mean_basket &&
              t.acquisition_time == c.acquisition_time && t.dropout_time == c.dropout_time &&
              t.alive_at_end == c.alive_at_end && t.n_baskets == c.n_baskets &&
              t.n_returns == c.n_returns && t.n_rows == c.n_rows && t.time_min == c.time_min &&
              t.time_max == c.time_max);
        CHECK_EQ_INT(fwd.n - first[i], t.n_rows);
        CHECK(t.n_rows >= 1);
        CHECK(t.key == rtn_gen_customer_key(p.seed, i));
        CHECK(t.archetype >= 0 && t.archetype < RTN_GEN_N_ARCHETYPES);
        arch_seen[t.archetype]++;
        CHECK(t.lambda > 0 && t.p_dropout > 0 && t.p_dropout <= 1 && t.mean_basket > 0);
        CHECK(t.acquisition_time >= p.start && t.acquisition_time < end);
        CHECK(t.alive_at_end == 1 || (t.dropout_time >= t.acquisition_time && t.dropout_time < end));
        rows += t.n_rows;
        returns += t.n_returns;
        baskets += t.n_baskets;
        /* per-customer invariants */
        int64_t last_sale = INT64_MIN;
        uint32_t neg = 0;
        for (size_t r = first[i]; r < fwd.n; r++) {
            CHECK(fwd.customer[r] == t.key);
            if (r > first[i]) CHECK(fwd.time[r] >= fwd.time[r - 1]);
            CHECK(fwd.time[r] >= p.start && fwd.time[r] < end);
            CHECK(fwd.quantity[r] != 0);
            CHECK(fwd.amount[r] % fwd.quantity[r] == 0 && fwd.amount[r] / fwd.quantity[r] >= 50);
            CHECK(fwd.category[r] >= 0 && fwd.category[r] < RTN_GEN_N_CATEGORIES);
            CHECK(fwd.item[r] / RTN_GEN_ITEMS_PER_CATEGORY == fwd.category[r]);
            CHECK(fwd.store[r] >= 0 && fwd.store[r] < RTN_GEN_N_STORES);
            CHECK(fwd.channel[r] >= 0 && fwd.channel[r] <= 2);
            CHECK((fwd.channel[r] == 0) == (fwd.store[r] != RTN_GEN_N_STORES - 1));
            if (fwd.amount[r] > 0) {
                CHECK((fwd.basket[r] >> 63) == 0);
                if (fwd.time[r] > last_sale) last_sale = fwd.time[r];
            } else {
                neg++;
                CHECK((fwd.basket[r] >> 63) == 1);
                /* the sale it reverses: same basket without the top bit, earlier */
                int found = 0;
                for (size_t s = first[i]; s < fwd.n && !found; s++)
                    found = fwd.basket[s] == (fwd.basket[r] & ~(1ULL << 63)) &&
                            fwd.item[s] == fwd.item[r] && fwd.amount[s] == -fwd.amount[r] &&
                            fwd.quantity[s] == -fwd.quantity[r] && fwd.time[s] < fwd.time[r];
                CHECK(found);
            }
        }
        CHECK_EQ_INT(neg, t.n_returns);
        CHECK(fwd.time[first[i]] == t.time_min && fwd.time[fwd.n - 1] == t.time_max);
        CHECK(first[i] < fwd.n && fwd.time[first[i]] == t.acquisition_time);
        if (!t.alive_at_end) CHECK(last_sale == t.dropout_time);
    }
    first[p.n_customers] = fwd.n;
    for (int a = 0; a < RTN_GEN_N_ARCHETYPES; a++) CHECK(arch_seen[a] > 0);
    CHECK(returns > 0 && returns < rows / 5);
    CHECK(baskets > p.n_customers);

    /* backward order, fresh work: identical rows per customer */
    rtn_gen_work *w3;
    REQUIRE(rtn_gen_work_create(&w3, m) == RTN_OK);
    rtn_txn_block one = {0};
    int mism = 0;
    for (uint64_t i = p.n_customers; i-- > 0;) {
        rtn_gen_truth t;
        one.n = 0;
        REQUIRE(rtn_gen_customer(w3, i, &one, &t) == RTN_OK);
        if (one.n != first[i + 1] - first[i] || !same_rows(&one, 0, &fwd, first[i], one.n)) mism++;
    }
    CHECK_EQ_INT(mism, 0);

    /* another seed gives other data */
    rtn_gen_params p2 = p;
    p2.seed = 43;
    rtn_gen_model *m2;
    REQUIRE(rtn_gen_model_create(&m2, &p2) == RTN_OK);
    rtn_gen_work *w4;
    REQUIRE(rtn_gen_work_create(&w4, m2) == RTN_OK);
    rtn_gen_truth t2;
    one.n = 0;
    REQUIRE(rtn_gen_customer(w4, 0, &one, &t2) == RTN_OK);
    CHECK(!(one.n == first[1] && same_rows(&one, 0, &fwd, 0, one.n)));

    /* dictionaries */
    rtn_strdict di, dc, ds;
    REQUIRE(rtn_gen_dicts(&di, &dc, &ds) == RTN_OK);
    CHECK_EQ_INT(di.n, RTN_GEN_N_CATEGORIES * RTN_GEN_ITEMS_PER_CATEGORY);
    CHECK_EQ_INT(dc.n, RTN_GEN_N_CATEGORIES);
    CHECK_EQ_INT(ds.n, RTN_GEN_N_STORES);
    CHECK(strcmp(ds.s[RTN_GEN_N_STORES - 1], "Online Shop") == 0);
    rtn_strdict_free(&di);
    rtn_strdict_free(&dc);
    rtn_strdict_free(&ds);

    /* bad parameters */
    rtn_gen_model *bad;
    rtn_gen_params q = p;
    q.days = 0;
    CHECK(rtn_gen_model_create(&bad, &q) == RTN_ERR_USAGE);
    q = p;
    q.n_customers = 0;
    CHECK(rtn_gen_model_create(&bad, &q) == RTN_ERR_USAGE);
    q = p;
    q.start += 3600;
    CHECK(rtn_gen_model_create(&bad, &q) == RTN_ERR_USAGE);

    json_t *d = rtn_gen_describe(m);
    CHECK(json_array_size(json_object_get(d, "archetypes")) == RTN_GEN_N_ARCHETYPES);
    json_decref(d);

    rtn_txn_block_free(&fwd);
    rtn_txn_block_free(&one);
    free(first);
    rtn_gen_work_free(w1);
    rtn_gen_work_free(w2);
    rtn_gen_work_free(w3);
    rtn_gen_work_free(w4);
    rtn_gen_model_free(m);
    rtn_gen_model_free(m2);
    return rtn_test_finish("generate.unit");
}
