/* The model kinds a bundle can hold, described once: one table (src/serve/model_kinds.c)
 * that the bundle writer and reader, the scorer, the JSON export, `retain model show/diff`
 * and `retain train --models` loop over, in table order. A kind is one file that fills an
 * rtn_model_kind (the built-in ones are src/serve/kind_*.c); adding one is that file and
 * one line of the table. docs/architecture.md shows the table; docs/serving.md the groups.
 *
 * A kind's datasets and attributes live in the bundle group "/NAME". It writes them with
 * the rtn_bundle_put_* / rtn_bundle_attr_* calls below, which also feed the content id,
 * and reads them back with rtn_bundle_get_* (errors are sticky: after the first one every
 * call does nothing and the reader or writer reports it). */
#ifndef RETAIN_MODEL_KIND_H
#define RETAIN_MODEL_KIND_H

#include <hdf5.h>
#include <jansson.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "retain/checkpoint.h"
#include "retain/features.h"
#include "retain/model.h"
#include "retain/score.h"
#include "retain/status.h"

typedef struct rtn_bundle_writer rtn_bundle_writer;
typedef struct rtn_bundle_reader rtn_bundle_reader;

/* The ONNX graph under construction (src/serve/export_onnx.c) and the calls a kind adds its
 * piece with, passed in so that a kind needs neither protobuf-c nor the exporter to link
 * (libretain holds the kinds but not the exporter). Names are the graph's value names; every
 * call returns the name it made (NULL when out of memory, which the exporter reports). */
typedef struct rtn_onnx_graph rtn_onnx_graph;
typedef struct {
    const char *(*init_f64)(rtn_onnx_graph *g, const char *name, int ndims, const int64_t *dims,
                            const double *v);
    const char *(*init_i64)(rtn_onnx_graph *g, const char *name, int ndims, const int64_t *dims,
                            const int64_t *v);
    /* OP(inputs...) -> out (a fresh name when NULL), with up to two integer attributes
     * (attr0/attr1 NULL: none) */
    const char *(*node)(rtn_onnx_graph *g, const char *op, const char *out, const char *attr0,
                        int64_t v0, const char *attr1, int64_t v1, int n_in, ...);
    /* where(xform == log1p, sign(x) * log1p(|x|), x) over the n columns of x */
    const char *(*signed_log1p)(rtn_onnx_graph *g, const char *x, const char *prefix, size_t n,
                                const int8_t *xform);
    /* declares the graph output name, shape [N], double or int64 */
    void (*output)(rtn_onnx_graph *g, const char *name, int is_int64, const char *doc);
    void (*meta)(rtn_onnx_graph *g, const char *key, const char *value); /* metadata_props */
    void *(*alloc)(rtn_onnx_graph *g, size_t bytes); /* freed with the graph */
} rtn_onnx_builder;

/* Generator ground truth joined to this rank's feature rows (retain train --truth). */
typedef struct {
    int8_t *archetype; /* fd->n; -1 when the customer is not in the truth */
    double *oracle_p;  /* truth-based probability of the churn label */
    int n_archetypes;
} rtn_truth;

/* What a kind's fit gets from `retain train` (src/cmd/cmd_train.c). */
typedef struct rtn_fit_input rtn_fit_input;
struct rtn_fit_input {
    MPI_Comm comm;
    const rtn_features_data *fd; /* this rank's block */
    const char *features_path;   /* for messages */
    const uint8_t *part;         /* fd->n: RTN_SPLIT_TRAIN, _VALID or _TEST */
    uint64_t seed;
    const rtn_model *warm;    /* --warm-start bundle, or NULL */
    const rtn_truth *truth;   /* --truth, or NULL */
    const void *options;      /* the kind's options (options_new, then option()), or NULL */
    rtn_solver_state *state;  /* its checkpoint slot (its solver); valid when resuming */
    int position;             /* its table position */
    /* An iteration boundary of its solver: writes the checkpoint when due (force: always)
     * and returns RTN_INTERRUPTED when a stop was requested. A kind with a solver calls it
     * at every iteration and, when its fit is done, rtn_fit_done. */
    rtn_status (*boundary)(const rtn_fit_input *in, const char *phase, long iteration,
                           int force);
    void *run; /* retain train's, for boundary */
};

/* The end of a kind's fit: the forced boundary "train" at iteration position + 1 (what a
 * test's stop request names: train:1 after the first kind, train:2 after the second). */
rtn_status rtn_fit_done(const rtn_fit_input *in);
/* Progress lines of an iterative fit: the first iteration, then at most one every 2 s. */
int rtn_fit_progress_due(double *last_print, long done);
/* Column of the feature called name in fd, or -1. */
int rtn_fit_feature(const rtn_features_data *fd, const char *name);

/* libretain scores and does not train: it compiles the kind files with
 * RETAIN_SCORING_ONLY, which leaves out their training half (RTN_TRAINING(x) is NULL). */
#ifdef RETAIN_SCORING_ONLY
#define RTN_TRAINING(x) NULL
#else
#define RTN_TRAINING(x) x
#endif

typedef struct rtn_model_kind {
    const char *name;    /* --models name and bundle group "/NAME" */
    const char *summary; /* what it predicts, one line (retain train --help, docs) */
    int (*present)(const rtn_model *m);
    /* ---- training: `retain train` (set with RTN_TRAINING) */
    rtn_solver solver; /* the solver whose state the checkpoint keeps, or RTN_SOLVER_NONE */
    /* its options: --NAME VALUE for retain train and NAME = VALUE in the job file's [train]
     * section (NULL-ended; NULL: none), its section of `retain train --help` (heading line
     * first), the defaults (options_new, freed with free), one option's value (a usage
     * error naming the option), and its members of the options record (bundle, summary,
     * checkpoint key; names unique across kinds) */
    const char *const *option_names;
    const char *options_help;
    void *(*options_new)(void);
    rtn_status (*option)(void *opts, const char *name, const char *value);
    void (*options_json)(const void *opts, json_t *into);
    /* Collective fit of this rank's block into m. */
    rtn_status (*fit)(const rtn_fit_input *in, rtn_model *m);
    /* ---- the bundle, scoring, exports, review */
    void (*save)(rtn_bundle_writer *w, const rtn_model *m);
    void (*load)(rtn_bundle_reader *r, rtn_model *m); /* called when the group exists */
    void (*release)(rtn_model *m);
    /* Adds this kind's part of a customer's score (NULL: nothing per customer). x: the
     * bundle's features in original units; clv: the RTN_CLV_* columns or NULL; work: 2*d
     * doubles, the first d for the churn kind, the next d for the segments kind. */
    void (*score)(const rtn_model *m, const double *x, const double *clv, double *work,
                  rtn_score *out);
    /* Its own per-customer outputs beyond the score record (rtn_score, which holds the
     * built-in kinds' and the playbook's): float64 columns that `retain score` writes as
     * /scores/NAME and as CSV columns after the fixed ones (NULL-ended names, unique across
     * kinds; NULL: none), and their values for one customer (x, clv as for score). */
    const char *const *score_columns;
    void (*score_values)(const rtn_model *m, const double *x, const double *clv, double *out);
    /* retain export: parameters the exports need must be usable (finite, non-zero scales);
     * NULL: nothing to check */
    rtn_status (*export_check)(const rtn_model *m);
    json_t *(*export_json)(const rtn_model *m); /* the "NAME" member of the JSON export */
    /* its part of the ONNX graph, from the input "features" [N, d] (and the initializers
     * "one", "zero") to its outputs; then its metadata_props, after "retain.outputs".
     * NULL: the kind is not in the graph */
    void (*onnx_graph)(const rtn_onnx_builder *b, rtn_onnx_graph *g, const rtn_model *m);
    void (*onnx_meta)(const rtn_onnx_builder *b, rtn_onnx_graph *g, const rtn_model *m);
    void (*show)(FILE *out, const rtn_model *m);
    void (*diff)(FILE *out, const rtn_model *a, const rtn_model *b); /* both present */
} rtn_model_kind;

extern const rtn_model_kind *const rtn_model_kinds[];
extern const size_t rtn_n_model_kinds;

/* Table position of the kind called name, or -1. */
int rtn_model_kind_index(const char *name);
/* The state of a kind that keeps it outside rtn_model's own fields (m->kind_data). */
void **rtn_model_kind_data(rtn_model *m, const char *name);
void *rtn_model_kind_data_const(const rtn_model *m, const char *name);

/* For export_check: every v[i] finite (and non-zero when nonzero), else a format error
 * naming what[i]. */
rtn_status rtn_kind_check_finite(const char *what, const double *v, size_t n, int nonzero);

/* ---- writing a kind's group (rtn_model_kind.save) */
hid_t rtn_bundle_group(rtn_bundle_writer *w, const char *path);
void rtn_bundle_close_group(rtn_bundle_writer *w, hid_t g);
void rtn_bundle_put(rtn_bundle_writer *w, const char *path, hid_t type, int rank, uint64_t d0,
                    uint64_t d1, const void *data);
void rtn_bundle_put_f64(rtn_bundle_writer *w, const char *path, const double *v, size_t n);
void rtn_bundle_put_strings(rtn_bundle_writer *w, const char *path, char **s, size_t n);
void rtn_bundle_attr_f64(rtn_bundle_writer *w, hid_t obj, const char *name, double v);
void rtn_bundle_attr_i64(rtn_bundle_writer *w, hid_t obj, const char *name, int64_t v);
void rtn_bundle_attr_str(rtn_bundle_writer *w, hid_t obj, const char *name, const char *v);
/* The churn-style evaluation group (docs/serving.md: metrics/validation, metrics/test). */
void rtn_bundle_put_eval(rtn_bundle_writer *w, const char *path, const rtn_model_eval *e);

/* ---- reading it back (rtn_model_kind.load) */
int rtn_bundle_ok(const rtn_bundle_reader *r);
int rtn_bundle_exists(rtn_bundle_reader *r, const char *path);
/* Opens a group (H5I_INVALID_HID and an error when it cannot); close with H5Gclose. */
hid_t rtn_bundle_open_group(rtn_bundle_reader *r, const char *path);
/* A dataset as a malloc'ed array of want elements ((size_t)-1: any; *got receives it). */
void *rtn_bundle_get(rtn_bundle_reader *r, const char *path, hid_t type, size_t want,
                     size_t *got);
void rtn_bundle_get_strings(rtn_bundle_reader *r, const char *path, char ***s, size_t *n);
double rtn_bundle_get_attr_f64(rtn_bundle_reader *r, hid_t obj, const char *name);
int64_t rtn_bundle_get_attr_i64(rtn_bundle_reader *r, hid_t obj, const char *name);
void rtn_bundle_get_attr_str(rtn_bundle_reader *r, hid_t obj, const char *name, char *buf,
                             size_t n);
int rtn_bundle_has_attr(rtn_bundle_reader *r, hid_t obj, const char *name);
void rtn_bundle_get_eval(rtn_bundle_reader *r, const char *path, rtn_model_eval *e);
/* Records a format error (printf-style) unless one is already recorded. */
void rtn_bundle_fail(rtn_bundle_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- JSON pieces (rtn_model_kind.export_json): NAN and infinities become null */
json_t *rtn_json_real(double v);
json_t *rtn_json_reals(const double *v, size_t n);
json_t *rtn_json_matrix(const double *v, size_t rows, size_t cols);
json_t *rtn_json_strings(char *const *s, size_t n);
json_t *rtn_json_xforms(const int8_t *t, size_t n);
json_t *rtn_json_named(const char *const *names, const double *v, size_t n);
/* Sets o[k] = v, taking v's reference (a NULL v becomes null). */
void rtn_json_set(json_t *o, const char *k, json_t *v);
json_t *rtn_json_eval(const rtn_model_eval *e);

#endif
