/* libretain's public interface (include/retain/retain.h) over the model and scoring code
 * that `retain score` uses: rtn_model_load and rtn_score_customer. Only the functions
 * declared RTN_API are exported; everything else in the library is hidden. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/features.h"
#include "retain/model.h"
#include "retain/retain.h"
#include "retain/score.h"
#include "retain/version.h"

struct rtn_bundle {
    rtn_model m;
    int value_col;
};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

RTN_API rtn_bundle *rtn_bundle_open(const char *path, char *err, size_t errlen)
{
    set_err(err, errlen, "");
    if (!path) {
        set_err(err, errlen, "no bundle path given");
        return NULL;
    }
    rtn_bundle *b = calloc(1, sizeof *b);
    if (!b) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    rtn_clear_error();
    rtn_status st = rtn_model_load(path, &b->m);
    if (st == RTN_OK && !b->m.has_churn && !b->m.has_segments) {
        rtn_model_free(&b->m);
        st = rtn_fail(RTN_ERR_DATA, "model bundle '%s' has neither a churn model nor segments", path);
    }
    if (st) {
        set_err(err, errlen, rtn_errmsg()[0] ? rtn_errmsg() : rtn_status_name(st));
        free(b);
        return NULL;
    }
    b->value_col = rtn_score_value_column(&b->m);
    return b;
}

RTN_API void rtn_bundle_close(rtn_bundle *b)
{
    if (!b) return;
    rtn_model_free(&b->m);
    free(b);
}

RTN_API size_t rtn_bundle_n_features(const rtn_bundle *b) { return b ? b->m.d : 0; }

RTN_API const char *rtn_bundle_feature_name(const rtn_bundle *b, size_t j)
{
    return b && j < b->m.d ? b->m.feature_names[j] : NULL;
}

RTN_API int rtn_bundle_feature_index(const rtn_bundle *b, const char *name)
{
    for (size_t j = 0; b && name && j < b->m.d; j++)
        if (strcmp(b->m.feature_names[j], name) == 0) return (int)j;
    return -1;
}

RTN_API int rtn_bundle_has_churn(const rtn_bundle *b) { return b && b->m.has_churn; }
RTN_API int rtn_bundle_has_segments(const rtn_bundle *b) { return b && b->m.has_segments; }
RTN_API int rtn_bundle_has_clv(const rtn_bundle *b) { return b && b->m.has_clv; }
RTN_API const char *rtn_bundle_content_id(const rtn_bundle *b) { return b ? b->m.content_id : NULL; }
RTN_API const char *rtn_bundle_cutoff(const rtn_bundle *b) { return b ? b->m.cutoff_iso : NULL; }

RTN_API int rtn_bundle_score(const rtn_bundle *b, const double *x, const double *clv,
                             rtn_customer_score *out, char *err, size_t errlen)
{
    if (!b || !x || !out) {
        set_err(err, errlen, "rtn_bundle_score: bundle, features and output are required");
        return RTN_ERR_USAGE;
    }
    const rtn_model *m = &b->m;
    /* checked here so that scoring never touches the (global) error message */
    for (size_t j = 0; j < m->d; j++)
        if (!isfinite(x[j])) {
            if (err && errlen) snprintf(err, errlen, "feature %s is not finite", m->feature_names[j]);
            return RTN_ERR_DATA;
        }
    double stackwork[128], *work = stackwork;
    if (2 * m->d + 2 > sizeof stackwork / sizeof stackwork[0]) {
        work = malloc(sizeof(double) * (2 * m->d + 2));
        if (!work) {
            set_err(err, errlen, "out of memory");
            return RTN_ERR_NOMEM;
        }
    }
    double c[RTN_CLV_N];
    if (clv) {
        for (int i = 0; i < RTN_CLV_N; i++) c[i] = NAN;
        c[RTN_CLV_X] = clv[RTN_CLV_IN_X];
        c[RTN_CLV_T_X] = clv[RTN_CLV_IN_T_X];
        c[RTN_CLV_T] = clv[RTN_CLV_IN_T];
        c[RTN_CLV_MEAN_REPEAT_SPEND] = clv[RTN_CLV_IN_MEAN_SPEND];
    }
    rtn_score s;
    rtn_status st = rtn_score_customer(m, x, clv ? c : NULL, b->value_col, work, &s);
    if (work != stackwork) free(work);
    if (st) {
        set_err(err, errlen, rtn_errmsg());
        return (int)st;
    }
    memset(out, 0, sizeof *out);
    out->churn_probability = m->has_churn ? s.churn_probability : NAN;
    out->risk_tier = m->has_churn ? s.risk_tier : -1;
    out->risk_tier_name = m->has_churn ? rtn_risk_tier_names[s.risk_tier] : "";
    out->segment_id = s.segment >= 0 ? m->segment_id[s.segment] : -1;
    out->segment_name = s.segment >= 0 ? m->segment_name[s.segment] : "";
    out->p_alive = s.p_alive;
    out->expected_purchases = s.expected_purchases;
    out->clv = s.clv;
    out->value = s.value;
    for (int r = 0; r < RTN_N_REASONS && r < RTN_SCORE_REASONS; r++) {
        out->reason[r] = s.reason[r];
        out->reason_contribution[r] = s.reason_contribution[r];
    }
    set_err(err, errlen, "");
    return 0;
}

RTN_API const char *rtn_library_version(void) { return RTN_VERSION_STRING; }
