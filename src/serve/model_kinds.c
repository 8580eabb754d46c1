/* The table of model kinds (include/retain/model_kind.h), in the order a bundle holds
 * them, the scorer applies them and `retain train` fits them: a new kind is its file and
 * one line here. */
#include <math.h>
#include <string.h>

#include "retain/log.h"
#include "retain/model_kind.h"

extern const rtn_model_kind rtn_churn_kind, rtn_segments_kind, rtn_clv_kind;
#ifdef RETAIN_EXAMPLE_MODEL
/* tests/example_model/: registered only in the test build's retain-example */
extern const rtn_model_kind rtn_constant_churn_kind;
#endif

const rtn_model_kind *const rtn_model_kinds[] = {
    &rtn_churn_kind,
    &rtn_segments_kind,
    &rtn_clv_kind,
#ifdef RETAIN_EXAMPLE_MODEL
    &rtn_constant_churn_kind,
#endif
};
const size_t rtn_n_model_kinds = sizeof rtn_model_kinds / sizeof rtn_model_kinds[0];
_Static_assert(sizeof rtn_model_kinds / sizeof rtn_model_kinds[0] <= RTN_MODEL_KINDS_MAX,
               "raise RTN_MODEL_KINDS_MAX (retain/model.h)");

int rtn_model_kind_index(const char *name)
{
    for (size_t k = 0; k < rtn_n_model_kinds; k++)
        if (strcmp(rtn_model_kinds[k]->name, name) == 0) return (int)k;
    return -1;
}

void **rtn_model_kind_data(rtn_model *m, const char *name)
{
    int k = rtn_model_kind_index(name);
    return k < 0 ? NULL : &m->kind_data[k];
}

void *rtn_model_kind_data_const(const rtn_model *m, const char *name)
{
    int k = rtn_model_kind_index(name);
    return k < 0 ? NULL : m->kind_data[k];
}

rtn_status rtn_kind_check_finite(const char *what, const double *v, size_t n, int nonzero)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]) || (nonzero && v[i] == 0))
            return rtn_fail(RTN_ERR_FORMAT, "%s[%zu] = %g cannot be exported", what, i, v[i]);
    return RTN_OK;
}

rtn_status rtn_fit_done(const rtn_fit_input *in)
{
    return in->boundary(in, "train", in->position + 1L, 1);
}

int rtn_fit_progress_due(double *last_print, long done)
{
    double now = rtn_now();
    if (done != 1 && now - *last_print < 2.0) return 0;
    *last_print = now;
    return 1;
}

int rtn_fit_feature(const rtn_features_data *fd, const char *name)
{
    for (size_t j = 0; j < fd->d; j++)
        if (strcmp(fd->feature_names[j], name) == 0) return (int)j;
    return -1;
}
