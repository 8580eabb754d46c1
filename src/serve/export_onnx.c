/* The model bundle as an ONNX graph (docs/serving.md, "ONNX export"). Messages are built
 * with the C bindings that protoc-c generates at build time from Debian's onnx.proto
 * (libonnx-dev) and serialized by libprotobuf-c; nothing is hand-encoded.
 *
 * Graph (opset 17, every value double unless said otherwise):
 *   features [N, d]  raw features in original units, columns in the bundle's order
 *   churn:    T = where(log_mask, sign(x) * log1p(|x|), x); S = (T - mean) / scale;
 *             churn_probability [N] = Sigmoid(S @ coef_std + intercept_std)
 *   segments: Xs = Gather(features, seg_columns, axis 1); Ts, Ss as above with the segment
 *             transforms and scaler; dist [N, k] = ReduceSum((Ss[:, None, :] - centroids)^2, 2);
 *             segment_id [N] (int64) = Gather(segment_ids, ArgMin(dist, 1))
 * log1p(a) for a >= 0 is computed as log(u) * a / (u - 1) with u = 1 + a (a when u == 1),
 * accurate to a few ulps, since ONNX has no log1p operator. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "retain/atomic.h"
#include "retain/export.h"
#include "retain/kmeans.h"
#include "retain/model_kind.h"
#include "retain/version.h"

/* --------------------------------------------------------------------------- arena */
/* Every message, array and string of the model is allocated here and freed at once. */
typedef struct {
    void **p;
    size_t n, cap;
    int oom;
} arena;

static void *aalloc(arena *a, size_t bytes)
{
    if (a->oom) return NULL;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 256;
        void **np = realloc(a->p, cap * sizeof *np);
        if (!np) {
            a->oom = 1;
            return NULL;
        }
        a->p = np;
        a->cap = cap;
    }
    void *q = calloc(1, bytes ? bytes : 1);
    if (!q) {
        a->oom = 1;
        return NULL;
    }
    a->p[a->n++] = q;
    return q;
}

static char *astr(arena *a, const char *s)
{
    if (!s) { /* a name from an allocation that already failed */
        a->oom = 1;
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *q = aalloc(a, n);
    if (q) memcpy(q, s, n);
    return q;
}

static void arena_free(arena *a)
{
    for (size_t i = 0; i < a->n; i++) free(a->p[i]);
    free(a->p);
    memset(a, 0, sizeof *a);
}

/* --------------------------------------------------------------------------- graph */
struct rtn_onnx_graph {
    arena a;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    int counter;
    Onnx__ValueInfoProto *outs[RTN_MODEL_KINDS_MAX]; /* graph outputs, in kind order */
    size_t n_out;
    int bad_output;               /* an output could not be built, or too many */
    Onnx__ModelProto *mp;         /* metadata_props go here */
    size_t meta_cap;
};
typedef struct rtn_onnx_graph gb;

/* Makes room for one more element in the pointer array *arrp (typed by the caller; the
 * array pointer is read and written with memcpy, so no pointer type is punned). */
static int grow(arena *a, void *arrp, size_t n, size_t *cap)
{
    if (a->oom) return 0;
    if (n < *cap) return 1;
    size_t nc = *cap ? 2 * *cap : 32;
    void **np = aalloc(a, nc * sizeof(void *));
    if (!np) return 0;
    void **old;
    memcpy(&old, arrp, sizeof old);
    if (n) memcpy(np, old, n * sizeof(void *));
    memcpy(arrp, &np, sizeof np);
    *cap = nc;
    return 1;
}

/* A fresh value name: PREFIX_N. */
static char *fresh(gb *g, const char *prefix)
{
    char buf[96];
    snprintf(buf, sizeof buf, "%s_%d", prefix, g->counter++);
    return astr(&g->a, buf);
}

static Onnx__AttributeProto *attr_int(gb *g, const char *name, int64_t v)
{
    Onnx__AttributeProto *at = aalloc(&g->a, sizeof *at);
    if (!at) return NULL;
    onnx__attribute_proto__init(at);
    at->name = astr(&g->a, name);
    at->has_type = 1;
    at->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    at->has_i = 1;
    at->i = v;
    return at;
}

/* Adds a node OP(inputs...) -> one output named out (a fresh name when NULL) with up to two
 * attributes (NULL when absent); returns the output name, NULL when out of memory. */
static char *vnode(gb *g, const char *op, const char *out, Onnx__AttributeProto *at0,
                   Onnx__AttributeProto *at1, int nin, va_list ap)
{
    Onnx__NodeProto *nd = aalloc(&g->a, sizeof *nd);
    if (!nd) return NULL;
    onnx__node_proto__init(nd);
    nd->op_type = astr(&g->a, op);
    nd->input = aalloc(&g->a, sizeof(char *) * (size_t)nin);
    if (!nd->input) return NULL;
    for (int i = 0; i < nin; i++) nd->input[i] = astr(&g->a, va_arg(ap, const char *));
    nd->n_input = (size_t)nin;
    char *o = out ? astr(&g->a, out) : fresh(g, op);
    nd->output = aalloc(&g->a, sizeof(char *));
    if (!nd->output) return NULL;
    nd->output[0] = o;
    nd->n_output = 1;
    char nm[128];
    snprintf(nm, sizeof nm, "%s_node", o ? o : op);
    nd->name = astr(&g->a, nm);
    Onnx__AttributeProto *ats[2] = {at0, at1};
    int na = (at0 != NULL) + (at1 != NULL);
    if (na) {
        nd->attribute = aalloc(&g->a, sizeof(Onnx__AttributeProto *) * (size_t)na);
        if (!nd->attribute) return NULL;
        for (int i = 0; i < 2; i++)
            if (ats[i]) nd->attribute[nd->n_attribute++] = ats[i];
    }
    if (grow(&g->a, &g->nodes, g->n_nodes, &g->cap_nodes)) g->nodes[g->n_nodes++] = nd;
    return g->a.oom ? NULL : o;
}

static char *node(gb *g, const char *op, const char *out, Onnx__AttributeProto *at0,
                  Onnx__AttributeProto *at1, int nin, ...)
{
    va_list ap;
    va_start(ap, nin);
    char *o = vnode(g, op, out, at0, at1, nin, ap);
    va_end(ap);
    return o;
}

/* Initializer tensors. */
static Onnx__TensorProto *tensor(gb *g, const char *name, int32_t type, int ndims, const int64_t *dims)
{
    Onnx__TensorProto *t = aalloc(&g->a, sizeof *t);
    if (!t) return NULL;
    onnx__tensor_proto__init(t);
    t->name = astr(&g->a, name);
    t->has_data_type = 1;
    t->data_type = type;
    if (ndims) {
        t->dims = aalloc(&g->a, sizeof(int64_t) * (size_t)ndims);
        if (!t->dims) return NULL;
        memcpy(t->dims, dims, sizeof(int64_t) * (size_t)ndims);
        t->n_dims = (size_t)ndims;
    }
    if (grow(&g->a, &g->inits, g->n_inits, &g->cap_inits)) g->inits[g->n_inits++] = t;
    return t;
}

static const char *init_f64(gb *g, const char *name, int ndims, const int64_t *dims, const double *v)
{
    size_t n = 1;
    for (int i = 0; i < ndims; i++) n *= (size_t)dims[i];
    Onnx__TensorProto *t = tensor(g, name, ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, ndims, dims);
    if (!t) return NULL;
    t->double_data = aalloc(&g->a, sizeof(double) * n);
    if (!t->double_data) return NULL;
    memcpy(t->double_data, v, sizeof(double) * n);
    t->n_double_data = n;
    return t->name;
}

static const char *init_i64(gb *g, const char *name, int ndims, const int64_t *dims, const int64_t *v)
{
    size_t n = 1;
    for (int i = 0; i < ndims; i++) n *= (size_t)dims[i];
    Onnx__TensorProto *t = tensor(g, name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, ndims, dims);
    if (!t) return NULL;
    t->int64_data = aalloc(&g->a, sizeof(int64_t) * n);
    if (!t->int64_data) return NULL;
    memcpy(t->int64_data, v, sizeof(int64_t) * n);
    t->n_int64_data = n;
    return t->name;
}

/* bool tensors are stored in int32_data, one value per element (onnx.proto) */
static const char *init_bool(gb *g, const char *name, int64_t n, const int8_t *mask)
{
    Onnx__TensorProto *t = tensor(g, name, ONNX__TENSOR_PROTO__DATA_TYPE__BOOL, 1, &n);
    if (!t) return NULL;
    t->int32_data = aalloc(&g->a, sizeof(int32_t) * (size_t)n);
    if (!t->int32_data) return NULL;
    for (int64_t i = 0; i < n; i++) t->int32_data[i] = mask[i] != 0;
    t->n_int32_data = (size_t)n;
    return t->name;
}

static Onnx__ValueInfoProto *value_info(gb *g, const char *name, int32_t elem, int ndims,
                                        const int64_t *dims, const char *doc)
{
    Onnx__ValueInfoProto *v = aalloc(&g->a, sizeof *v);
    Onnx__TypeProto *tp = aalloc(&g->a, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = aalloc(&g->a, sizeof *tt);
    Onnx__TensorShapeProto *sh = aalloc(&g->a, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dd = aalloc(&g->a, sizeof *dd * (size_t)(ndims ? ndims : 1));
    if (!v || !tp || !tt || !sh || !dd) return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (int i = 0; i < ndims; i++) {
        dd[i] = aalloc(&g->a, sizeof **dd);
        if (!dd[i]) return NULL;
        onnx__tensor_shape_proto__dimension__init(dd[i]);
        if (dims[i] < 0) { /* the batch dimension */
            dd[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dd[i]->dim_param = astr(&g->a, "N");
        } else {
            dd[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dd[i]->dim_value = dims[i];
        }
    }
    sh->dim = dd;
    sh->n_dim = (size_t)ndims;
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->name = astr(&g->a, name);
    v->type = tp;
    if (doc) v->doc_string = astr(&g->a, doc);
    return v;
}

/* sign(x) * log1p(|x|) where mask, x elsewhere (x: [N, n]). */
static const char *signed_log1p(gb *g, const char *x, const char *prefix, size_t n, const int8_t *xf)
{
    int any = 0, all = 1;
    for (size_t j = 0; j < n; j++) {
        any |= xf[j] == RTN_XFORM_LOG1P;
        all &= xf[j] == RTN_XFORM_LOG1P;
    }
    if (!any) return x;
    char nm[96];
    const char *a = node(g, "Abs", NULL, NULL, NULL, 1, x);
    const char *sg = node(g, "Sign", NULL, NULL, NULL, 1, x);
    const char *u = node(g, "Add", NULL, NULL, NULL, 2, a, "one");
    const char *den = node(g, "Sub", NULL, NULL, NULL, 2, u, "one");
    const char *lg = node(g, "Log", NULL, NULL, NULL, 1, u);
    const char *r = node(g, "Div", NULL, NULL, NULL, 2, a, den);
    const char *lr = node(g, "Mul", NULL, NULL, NULL, 2, lg, r);
    const char *tiny = node(g, "Equal", NULL, NULL, NULL, 2, den, "zero");
    const char *l1p = node(g, "Where", NULL, NULL, NULL, 3, tiny, a, lr);
    snprintf(nm, sizeof nm, "%s_slog1p", prefix);
    const char *sl = node(g, "Mul", all ? nm : NULL, NULL, NULL, 2, sg, l1p);
    if (all || !sl) return sl;
    snprintf(nm, sizeof nm, "%s_log_mask", prefix);
    const char *mask = init_bool(g, nm, (int64_t)n, xf);
    snprintf(nm, sizeof nm, "%s_transformed", prefix);
    return node(g, "Where", nm, NULL, NULL, 3, mask, sl, x);
}

static void meta(gb *g, const char *key, const char *value)
{
    Onnx__ModelProto *mp = g->mp;
    size_t *cap = &g->meta_cap;
    Onnx__StringStringEntryProto *e = aalloc(&g->a, sizeof *e);
    if (!e) return;
    onnx__string_string_entry_proto__init(e);
    e->key = astr(&g->a, key);
    e->value = astr(&g->a, value ? value : "");
    if (grow(&g->a, &mp->metadata_props, mp->n_metadata_props, cap))
        mp->metadata_props[mp->n_metadata_props++] = e;
}

static char *json_names(char *const *s, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(arr, json_string(s[i]));
    char *txt = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return txt;
}

/* ------------------------------------------------------- the kinds' builder calls */
static const char *b_node(gb *g, const char *op, const char *out, const char *attr0, int64_t v0,
                          const char *attr1, int64_t v1, int nin, ...)
{
    Onnx__AttributeProto *at0 = attr0 ? attr_int(g, attr0, v0) : NULL;
    Onnx__AttributeProto *at1 = attr1 ? attr_int(g, attr1, v1) : NULL;
    if ((attr0 && !at0) || (attr1 && !at1)) return NULL;
    va_list ap;
    va_start(ap, nin);
    const char *o = vnode(g, op, out, at0, at1, nin, ap);
    va_end(ap);
    return o;
}

static void b_output(gb *g, const char *name, int is_int64, const char *doc)
{
    const int64_t batch[1] = {-1};
    Onnx__ValueInfoProto *v =
        value_info(g, name, is_int64 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT64 : ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE,
                   1, batch, doc);
    if (!v || g->n_out == RTN_MODEL_KINDS_MAX) g->bad_output = 1;
    else g->outs[g->n_out++] = v;
}

static void *b_alloc(gb *g, size_t bytes) { return aalloc(&g->a, bytes); }

static const rtn_onnx_builder builder = {
    .init_f64 = init_f64,
    .init_i64 = init_i64,
    .node = b_node,
    .signed_log1p = signed_log1p,
    .output = b_output,
    .meta = meta,
    .alloc = b_alloc,
};

/* Kinds with a part in the graph and present in m; their names, comma-separated. */
static size_t graph_kinds(const rtn_model *m, char *names, size_t cap)
{
    size_t n = 0;
    names[0] = '\0';
    for (size_t k = 0; k < rtn_n_model_kinds; k++) {
        const rtn_model_kind *kind = rtn_model_kinds[k];
        if (!kind->onnx_graph) continue;
        snprintf(names + strlen(names), cap - strlen(names), "%s%s", names[0] ? ", " : "", kind->name);
        n += kind->present(m);
    }
    return n;
}

rtn_status rtn_export_onnx_bytes(const rtn_model *m, uint8_t **buf, size_t *len)
{
    return rtn_export_onnx_bytes_outputs(m, buf, len, NULL, 0);
}

rtn_status rtn_export_onnx_bytes_outputs(const rtn_model *m, uint8_t **buf, size_t *len,
                                         char *outputs_out, size_t outputs_cap)
{
    *buf = NULL;
    *len = 0;
    if (outputs_cap) outputs_out[0] = '\0';
    char known[256];
    if (graph_kinds(m, known, sizeof known) == 0)
        return rtn_fail(RTN_ERR_DATA, "the bundle has none of the models an ONNX graph holds (%s): "
                        "nothing to export", known);
    if (m->d == 0) return rtn_fail(RTN_ERR_FORMAT, "the bundle has no features");
    gb g = {0};
    arena *a = &g.a;
    const int64_t d = (int64_t)m->d;
    double one = 1.0, zero = 0.0;
    init_f64(&g, "one", 0, NULL, &one);
    init_f64(&g, "zero", 0, NULL, &zero);
    for (size_t k = 0; k < rtn_n_model_kinds; k++) {
        const rtn_model_kind *kind = rtn_model_kinds[k];
        if (kind->onnx_graph && kind->present(m)) kind->onnx_graph(&builder, &g, m);
    }

    /* input, documented with its columns */
    size_t doclen = 128;
    for (size_t j = 0; j < m->d; j++) doclen += strlen(m->feature_names[j]) + 2;
    char *doc = aalloc(a, doclen);
    if (doc) {
        int o = snprintf(doc, doclen, "raw features in original units, [N, %zu], columns: ", m->d);
        for (size_t j = 0; j < m->d && o > 0 && (size_t)o < doclen; j++)
            o += snprintf(doc + o, doclen - (size_t)o, "%s%s", j ? ", " : "", m->feature_names[j]);
    }
    int64_t idims[2] = {-1, d};
    Onnx__ValueInfoProto *in = value_info(&g, "features", ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, 2,
                                          idims, doc);

    Onnx__GraphProto *gp = aalloc(a, sizeof *gp);
    Onnx__ModelProto *mp = aalloc(a, sizeof *mp);
    Onnx__OperatorSetIdProto *ops = aalloc(a, sizeof *ops);
    Onnx__OperatorSetIdProto **opsv = aalloc(a, sizeof *opsv);
    Onnx__ValueInfoProto **inv = aalloc(a, sizeof *inv);
    Onnx__ValueInfoProto **outv = aalloc(a, sizeof *outv * (g.n_out ? g.n_out : 1));
    rtn_status st = RTN_OK;
    if (!a->oom && !g.bad_output && gp && mp && ops && opsv && inv && outv && in) {
        onnx__graph_proto__init(gp);
        onnx__model_proto__init(mp);
        onnx__operator_set_id_proto__init(ops);
        gp->name = astr(a, "retain_scoring");
        gp->doc_string = astr(a, "retain model bundle as a scoring graph (docs/serving.md)");
        gp->node = g.nodes;
        gp->n_node = g.n_nodes;
        gp->initializer = g.inits;
        gp->n_initializer = g.n_inits;
        inv[0] = in;
        gp->input = inv;
        gp->n_input = 1;
        memcpy(outv, g.outs, sizeof *outv * g.n_out);
        gp->output = outv;
        gp->n_output = g.n_out;
        ops->domain = astr(a, "");
        ops->has_version = 1;
        ops->version = RTN_ONNX_OPSET;
        opsv[0] = ops;
        mp->opset_import = opsv;
        mp->n_opset_import = 1;
        mp->has_ir_version = 1;
        mp->ir_version = RTN_ONNX_IR_VERSION;
        mp->producer_name = astr(a, "retain");
        mp->producer_version = astr(a, RTN_VERSION_STRING);
        mp->domain = astr(a, "retain");
        mp->has_model_version = 1;
        mp->model_version = RTN_ONNX_GRAPH_VERSION;
        mp->doc_string = astr(a, "churn probability and segment id from raw customer features; "
                                 "metadata_props hold the model provenance (docs/serving.md)");
        mp->graph = gp;
        g.mp = mp;
        char num[64];
        meta(&g, "retain.format", RTN_ONNX_FORMAT);
        snprintf(num, sizeof num, "%d", RTN_ONNX_GRAPH_VERSION);
        meta(&g, "retain.graph_version", num);
        meta(&g, "retain.model_content_id", m->content_id);
        /* the model version a serving system should key on: bundles with the same content id
         * score identically */
        meta(&g, "retain.model_version", m->content_id);
        snprintf(num, sizeof num, "%d", RTN_MODEL_FORMAT_VERSION);
        meta(&g, "retain.model_format_version", num);
        meta(&g, "retain.model_creator_version", m->creator_version);
        meta(&g, "retain.model_created_at", m->created_at);
        meta(&g, "retain.cutoff", m->cutoff_iso);
        snprintf(num, sizeof num, "%" PRId64, m->horizon_days);
        meta(&g, "retain.horizon_days", num);
        meta(&g, "retain.currency", m->currency);
        char *fn = json_names(m->feature_names, m->d);
        meta(&g, "retain.feature_names", fn);
        free(fn);
        char *outputs = aalloc(a, 64 * (g.n_out + 1));
        if (outputs) {
            outputs[0] = '\0';
            for (size_t i = 0; i < g.n_out; i++)
                snprintf(outputs + strlen(outputs), 64 * (g.n_out + 1) - strlen(outputs), "%s%s",
                         i ? "," : "", g.outs[i]->name);
        }
        meta(&g, "retain.outputs", outputs);
        if (outputs && outputs_cap) snprintf(outputs_out, outputs_cap, "%s", outputs);
        for (size_t k = 0; k < rtn_n_model_kinds; k++) {
            const rtn_model_kind *kind = rtn_model_kinds[k];
            if (kind->onnx_meta && kind->present(m)) kind->onnx_meta(&builder, &g, m);
        }
    }
    if (a->oom || !mp || !mp->graph) {
        st = rtn_fail(RTN_ERR_NOMEM, "out of memory building the ONNX graph");
    } else {
        size_t n = onnx__model_proto__get_packed_size(mp);
        *buf = malloc(n ? n : 1);
        if (!*buf) {
            st = rtn_fail(RTN_ERR_NOMEM, "out of memory for the %zu-byte ONNX model", n);
        } else {
            size_t w = onnx__model_proto__pack(mp, *buf);
            if (w != n) {
                free(*buf);
                *buf = NULL;
                st = rtn_fail(RTN_ERR_INTERNAL, "ONNX serialization wrote %zu of %zu bytes", w, n);
            } else {
                *len = n;
            }
        }
    }
    arena_free(a);
    return st;
}

rtn_status rtn_export_onnx(const rtn_model *m, const char *path)
{
    uint8_t *buf;
    size_t len;
    RTN_TRY(rtn_export_onnx_bytes(m, &buf, &len));
    rtn_status st = rtn_atomic_write_file(path, buf, len);
    free(buf);
    if (st) rtn_fail_context(st, "writing ONNX model '%s'", path);
    return st;
}
