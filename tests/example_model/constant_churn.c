/* An example model kind, registered only in the test build's retain-example (its line in
 * src/serve/model_kinds.c is under RETAIN_EXAMPLE_MODEL): the constant-rate churn baseline,
 * every customer's churn probability the churn rate of the training split. It shows what
 * adding a model takes — this file and one table line — and is trained, saved, loaded,
 * exported, shown and diffed by the same loops as the built-in kinds (tests/example_model.sh). */
#include <math.h>
#include <stdlib.h>

#include "retain/cli.h"
#include "retain/model_kind.h"
#include "retain/split.h"

typedef struct {
    double rate;             /* churned / labelled rows of the training split */
    uint64_t n_train, n_pos; /* labelled training rows, churned among them */
} constant_churn;

static const char NAME[] = "constant_churn";

static const constant_churn *state(const rtn_model *m) { return rtn_model_kind_data_const(m, NAME); }

static int present(const rtn_model *m) { return state(m) != NULL; }

#ifndef RETAIN_SCORING_ONLY
/* Its one option: additive smoothing of the rate, (churned + A) / (labelled + 2A). */
typedef struct {
    double smoothing;
} constant_churn_options;

static const char *const option_names[] = {"constant-churn-smoothing", NULL};
static const char options_help[] =
    "constant churn baseline:\n"
    "  --constant-churn-smoothing A  additive smoothing of the rate (default 0)\n";

static void *options_new(void) { return calloc(1, sizeof(constant_churn_options)); }

static rtn_status option(void *opts, const char *name, const char *value)
{
    (void)name; /* its only option */
    constant_churn_options *o = opts;
    return rtn_parse_double("--constant-churn-smoothing", value, 0, 1e6, &o->smoothing);
}

static void options_json(const void *opts, json_t *into)
{
    const constant_churn_options *o = opts;
    json_object_set_new(into, "constant_churn_smoothing", json_real(o->smoothing));
}

/* Integer counts summed over ranks: the same bits at any rank count. */
static rtn_status fit(const rtn_fit_input *in, rtn_model *m)
{
    const constant_churn_options *o = in->options;
    uint64_t local[2] = {0, 0}, total[2];
    for (size_t i = 0; i < in->fd->n; i++)
        if (in->part[i] == RTN_SPLIT_TRAIN && in->fd->label[i] >= 0) {
            local[0]++;
            local[1] += in->fd->label[i] == 1;
        }
    if (MPI_Allreduce(local, total, 2, MPI_UINT64_T, MPI_SUM, in->comm) != MPI_SUCCESS)
        return rtn_fail(RTN_ERR_MPI, "constant_churn: reduction failed");
    if (total[0] == 0)
        return rtn_fail(RTN_ERR_DATA, "constant_churn: no labelled customer in the training split");
    constant_churn *c = calloc(1, sizeof *c);
    if (!c) return RTN_ERR_NOMEM;
    c->n_train = total[0];
    c->n_pos = total[1];
    c->rate = ((double)total[1] + o->smoothing) / ((double)total[0] + 2 * o->smoothing);
    *rtn_model_kind_data(m, NAME) = c;
    return RTN_OK;
}
#endif

static void save(rtn_bundle_writer *w, const rtn_model *m)
{
    const constant_churn *c = state(m);
    hid_t g = rtn_bundle_group(w, "/constant_churn");
    if (g < 0) return;
    rtn_bundle_attr_f64(w, g, "rate", c->rate);
    rtn_bundle_attr_i64(w, g, "n_train", (int64_t)c->n_train);
    rtn_bundle_attr_i64(w, g, "n_pos", (int64_t)c->n_pos);
    rtn_bundle_close_group(w, g);
}

static void load(rtn_bundle_reader *r, rtn_model *m)
{
    constant_churn *c = calloc(1, sizeof *c);
    if (!c) {
        rtn_bundle_fail(r, "out of memory");
        return;
    }
    *rtn_model_kind_data(m, NAME) = c;
    hid_t g = rtn_bundle_open_group(r, "/constant_churn");
    c->rate = rtn_bundle_get_attr_f64(r, g, "rate");
    c->n_train = (uint64_t)rtn_bundle_get_attr_i64(r, g, "n_train");
    c->n_pos = (uint64_t)rtn_bundle_get_attr_i64(r, g, "n_pos");
    if (g >= 0) H5Gclose(g);
    if (rtn_bundle_ok(r) && !(c->rate >= 0 && c->rate <= 1))
        rtn_bundle_fail(r, "/constant_churn@rate = %g is not a probability", c->rate);
}

static void release(rtn_model *m)
{
    void **slot = rtn_model_kind_data(m, NAME);
    free(*slot);
    *slot = NULL;
}

/* its own score column: the same probability for every customer */
static const char *const score_columns[] = {"constant_churn_probability", NULL};

static void score_values(const rtn_model *m, const double *x, const double *clv, double *out)
{
    (void)x;
    (void)clv;
    out[0] = state(m)->rate;
}

static json_t *export_json(const rtn_model *m)
{
    const constant_churn *c = state(m);
    json_t *o = json_object();
    rtn_json_set(o, "rate", rtn_json_real(c->rate));
    rtn_json_set(o, "n_train", json_integer((json_int_t)c->n_train));
    rtn_json_set(o, "n_pos", json_integer((json_int_t)c->n_pos));
    return o;
}

static void show(FILE *out, const rtn_model *m)
{
    const constant_churn *c = state(m);
    fprintf(out, "\nconstant churn   baseline rate %.4f (%llu of %llu training customers churned)\n",
            c->rate, (unsigned long long)c->n_pos, (unsigned long long)c->n_train);
}

static void diff(FILE *out, const rtn_model *a, const rtn_model *b)
{
    fprintf(out, "\nconstant churn\n  %-26s %-20.4f %-20.4f\n", "baseline rate", state(a)->rate,
            state(b)->rate);
}

const rtn_model_kind rtn_constant_churn_kind = {
    .name = NAME,
    .summary = "constant-rate churn baseline (the training split's churn rate)",
    .present = present,
    .option_names = RTN_TRAINING(option_names),
    .options_help = RTN_TRAINING(options_help),
    .options_new = RTN_TRAINING(options_new),
    .option = RTN_TRAINING(option),
    .options_json = RTN_TRAINING(options_json),
    .fit = RTN_TRAINING(fit),
    .save = save,
    .load = load,
    .release = release,
    .score = NULL,
    .score_columns = score_columns,
    .score_values = score_values,
    .export_check = NULL,
    .export_json = export_json,
    .onnx_graph = NULL,
    .onnx_meta = NULL,
    .show = show,
    .diff = diff,
};
