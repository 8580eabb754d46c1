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

/* ------------------------------------------------------------------ customer 360
 * Loyalty members (tier history), a clickstream of sessions and events, and survey /
 * complaint feedback of the same latent customers (docs/generator.md, "Customer 360
 * exports"). Drawn from three further per-customer streams (M: membership, E: events,
 * F: feedback), seeded like streams A and B with their own salts; they read the
 * customer's generated rows and truth but never draw from streams A or B, so the
 * transactions do not depend on whether these exports are made. */
#define RTN_GEN_C360_VERSION 1
#define RTN_GEN_NONE UINT64_MAX      /* no member id / no visitor id */
#define RTN_GEN_N_ACQ 6              /* store_desk app web referral partner campaign */
#define RTN_GEN_N_TIERS 4            /* basic silver gold platinum */
#define RTN_GEN_N_EVENT_TYPES 12
#define RTN_GEN_N_FB_KINDS 5         /* nps csat rating complaint ticket */
#define RTN_GEN_N_TOPICS 8
#define RTN_GEN_COMMENT_MAX 160

enum {
    RTN_EV_VISIT, RTN_EV_PAGE_VIEW, RTN_EV_PRODUCT_VIEW, RTN_EV_SEARCH, RTN_EV_ADD_TO_CART,
    RTN_EV_REMOVE_FROM_CART, RTN_EV_CHECKOUT_START, RTN_EV_PURCHASE, RTN_EV_COUPON_ISSUED,
    RTN_EV_COUPON_REDEEMED, RTN_EV_APP_OPEN, RTN_EV_PUSH_OPEN
};
enum { RTN_FB_NPS, RTN_FB_CSAT, RTN_FB_RATING, RTN_FB_COMPLAINT, RTN_FB_TICKET };

/* One row of members.csv (one per tier state). member is the index printed as C%08u:
 * the customer's generator index, or n_customers + index for a member without purchases. */
typedef struct {
    uint64_t member;
    int64_t registered_at, updated_at;
    int64_t points;
    int32_t birth_day;               /* days since 1970-01-01; INT32_MIN: empty */
    int8_t acq_channel, tier;
    int8_t gender;                   /* 0 female, 1 male, 2 other, 3 empty */
    int8_t opt_in_email, opt_in_sms;
    char postcode[12];
} rtn_gen_member_row;

/* One row of events.csv. */
typedef struct {
    int64_t time;
    uint64_t member;                 /* index for C%08u, or RTN_GEN_NONE */
    uint64_t visitor;                /* 48-bit id for V%012x, or RTN_GEN_NONE */
    uint64_t session;                /* printed as S%016x when has_session */
    uint32_t seq;                    /* generation order (ties in time) */
    int16_t item;                    /* item code, -1: empty */
    int8_t category;                 /* category code, -1: empty */
    int8_t type, channel, has_session;
} rtn_gen_event_row;

/* One row of feedback.csv. */
typedef struct {
    uint64_t member;
    int64_t time;
    int8_t kind, score;              /* score -1: empty */
    uint32_t seq;                    /* generation order (ties in time) */
    int8_t topic, channel;
    char comment[RTN_GEN_COMMENT_MAX];   /* free text, "" when none */
} rtn_gen_feedback_row;

/* Realized counts, summed over customers (every field a uint64_t, so a whole record is
 * reduced with one MPI_Allreduce of RTN_GEN_C360_NSTATS MPI_UINT64_T). Feedback groups:
 * 0 stayers (alive_at_end), 1 droppers within the 90 days before their dropout purchase
 * (up to 14 days after it), 2 droppers outside that window. Funnel: [archetype, or 5 for
 * members without purchases][channel][stage: session, product_view, add_to_cart,
 * checkout_start, purchase]. */
typedef struct {
    uint64_t customers, members, members_nopurchase;
    uint64_t member_rows, event_rows, feedback_rows;
    uint64_t acq_stay[RTN_GEN_N_ACQ], acq_drop[RTN_GEN_N_ACQ];
    uint64_t tier_final[RTN_GEN_N_TIERS], tier_changes;
    uint64_t events_by_type[RTN_GEN_N_EVENT_TYPES];
    uint64_t events_anonymous, sessions, sessions_with_id;
    uint64_t funnel[RTN_GEN_N_ARCHETYPES + 1][3][5];
    uint64_t visitors, visitors_linked;
    uint64_t coupons_issued, coupons_redeemed;
    uint64_t fb_by_kind[RTN_GEN_N_FB_KINDS];
    uint64_t fb_nps_n[3], fb_nps_sum[3], fb_nps_detractors[3], fb_nps_promoters[3];
    uint64_t fb_csat_n[3], fb_csat_sum[3];
    uint64_t fb_complaints[3], fb_tickets[3], fb_exposure_s[3];
    uint64_t last90_members[2], last90_flagged[2]; /* [0] stayers, [1] droppers */
} rtn_gen_c360_stats;
#define RTN_GEN_C360_NSTATS (sizeof(rtn_gen_c360_stats) / sizeof(uint64_t))

/* One customer's customer-360 rows (views into the work area, valid until the next call). */
typedef struct {
    const rtn_gen_member_row *members;
    size_t n_members;
    const rtn_gen_event_row *events;   /* per person in (time, seq) order */
    size_t n_events;
    const rtn_gen_feedback_row *feedback; /* in time order */
    size_t n_feedback;
} rtn_gen_c360;

/* Generates the customer-360 rows of the customer whose rows are blk rows [row0, blk->n)
 * and whose truth is t (both as rtn_gen_customer just produced them, with the same w),
 * and adds its counts to stats. */
rtn_status rtn_gen_c360_customer(rtn_gen_work *w, const rtn_gen_truth *t,
                                 const rtn_txn_block *blk, size_t row0, rtn_gen_c360 *out,
                                 rtn_gen_c360_stats *stats);
const char *rtn_gen_acq_channel_name(int c);
const char *rtn_gen_tier_name(int t);
const char *rtn_gen_event_type_name(int e);
const char *rtn_gen_feedback_kind_name(int k);
const char *rtn_gen_topic_name(int t);
/* The planted parameters and the realized rates (from globally summed stats) as JSON. */
json_t *rtn_gen_c360_describe(const rtn_gen_model *m, const rtn_gen_c360_stats *s);

#endif
