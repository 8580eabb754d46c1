/* The synthetic mall generator: a generative model of customers (latent archetypes,
 * BG/NBD-style purchase process, Gamma-Gamma spend, preferences, seasonality, returns and
 * pre-dropout decay) that produces one customer's transactions from (seed, customer index)
 * alone, so any rank can generate any customer and the output never depends on the rank
 * count or the generation order. The model and its parameter tables: docs/generator.md.
 *
 * Two random streams per customer: stream A draws the purchase process (everything that
 * decides how many rows there are and when), stream B the basket contents (store, items,
 * quantities, prices). Counting rows needs stream A only, which is what makes the
 * counting pass of `retain generate` cheap. */
#ifndef RETAIN_GENERATE_H
#define RETAIN_GENERATE_H

#include <jansson.h>
#include <stdint.h>

#include "retain/status.h"
#include "retain/store.h"

#define RTN_GEN_MODEL_VERSION 1
#define RTN_GEN_N_ARCHETYPES 5
#define RTN_GEN_N_CATEGORIES 12
#define RTN_GEN_N_STORES 7           /* six physical stores + the online shop */
#define RTN_GEN_ITEMS_PER_CATEGORY 50
#define RTN_GEN_MAX_DAYS 36600

typedef struct {
    uint64_t seed;
    uint64_t n_customers;
    int64_t start;                   /* seconds since the epoch, UTC (start of day) */
    int32_t days;                    /* observation window [start, start + days*86400) */
} rtn_gen_params;

/* Ground truth of one customer (what the generator knows and the models must recover). */
typedef struct {
    uint64_t key;                    /* pseudonymous customer key (store's customer column) */
    uint64_t index;                  /* generator index in [0, n_customers) */
    int8_t archetype;                /* 0 .. RTN_GEN_N_ARCHETYPES-1 */
    int8_t alive_at_end;             /* 1 when the customer has not dropped out by the end */
    double lambda;                   /* long-run purchase rate, purchases per day */
    double p_dropout;                /* dropout probability after each repeat purchase */
    double mean_basket;              /* expected basket value p/nu, major currency units */
    int64_t acquisition_time;        /* time of the first purchase */
    int64_t dropout_time;            /* time of the last purchase before dropout, or -1 */
    uint32_t n_baskets;              /* sale baskets in the window */
    uint32_t n_returns;              /* return rows in the window */
    uint64_t n_rows;                 /* all rows (sale lines + returns) */
    int64_t time_min, time_max;      /* first and last row time */
} rtn_gen_truth;

typedef struct rtn_gen_model rtn_gen_model;
typedef struct rtn_gen_work rtn_gen_work;

/* Validates params (RTN_ERR_USAGE with a message) and precomputes the seasonality tables. */
rtn_status rtn_gen_model_create(rtn_gen_model **m, const rtn_gen_params *p);
void rtn_gen_model_free(rtn_gen_model *m);
const rtn_gen_params *rtn_gen_model_params(const rtn_gen_model *m);

/* Customer key of generator index i: a bijection of i (distinct for all i < 2^63), never 0. */
uint64_t rtn_gen_customer_key(uint64_t seed, uint64_t index);

/* Per-thread scratch (random generators and buffers), reused across customers. */
rtn_status rtn_gen_work_create(rtn_gen_work **w, const rtn_gen_model *m);
void rtn_gen_work_free(rtn_gen_work *w);

/* Runs stream A only: fills the truth record (including n_rows and the time range). */
rtn_status rtn_gen_count(rtn_gen_work *w, uint64_t index, rtn_gen_truth *t);
/* Full generation: appends the customer's rows, ordered by time, to blk (which must hold
 * all columns; it grows as needed) and fills the truth record (same as rtn_gen_count). */
rtn_status rtn_gen_customer(rtn_gen_work *w, uint64_t index, rtn_txn_block *blk,
                            rtn_gen_truth *t);

/* Names and dictionaries. */
const char *rtn_gen_archetype_name(int a);
const char *rtn_gen_category_name(int c);
const char *rtn_gen_store_name(int s);
/* Builds the store dictionaries (item, category, store); free with rtn_strdict_free. */
rtn_status rtn_gen_dicts(rtn_strdict *item, rtn_strdict *category, rtn_strdict *store);

/* The full parameter set (params + archetype tables) as a JSON object (new reference). */
json_t *rtn_gen_describe(const rtn_gen_model *m);

#endif
