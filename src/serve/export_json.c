/* The model bundle as a versioned JSON document ("format": "retain-model-json",
 * "version": 1; schema in docs/serving.md). Numbers are written with 17 significant digits,
 * so every double reads back to the same bits; NaN (an undefined metric) becomes null. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "retain/atomic.h"
#include "retain/export.h"
#include "retain/model_kind.h"
#include "retain/score.h"
#include "retain/version.h"

/* embedded JSON text (training options, job): parsed, or kept as a string if it is not JSON */
static json_t *jembedded(const char *txt)
{
    if (!txt || !*txt) return json_object();
    json_error_t e;
    json_t *v = json_loads(txt, JSON_DECODE_ANY, &e);
    return v ? v : json_string(txt);
}

rtn_status rtn_export_json_doc(const rtn_model *m, json_t **out)
{
    *out = NULL;
    json_t *root = json_object();
    if (!root) return rtn_fail(RTN_ERR_NOMEM, "out of memory building the JSON export");
    rtn_json_set(root, "format", json_string(RTN_JSON_FORMAT));
    rtn_json_set(root, "version", json_integer(RTN_JSON_FORMAT_VERSION));

    json_t *b = json_object();
    rtn_json_set(b, "format", json_string(RTN_MODEL_FORMAT));
    rtn_json_set(b, "format_version", json_integer(RTN_MODEL_FORMAT_VERSION));
    rtn_json_set(b, "content_id", json_string(m->content_id));
    rtn_json_set(root, "bundle", b);

    json_t *p = json_object();
    rtn_json_set(p, "created_by", json_string(m->created_by));
    rtn_json_set(p, "creator_version", json_string(m->creator_version));
    rtn_json_set(p, "created_at", json_string(m->created_at));
    rtn_json_set(p, "exported_by_version", json_string(RTN_VERSION_STRING));
    rtn_json_set(p, "features_path", json_string(m->features_path));
    rtn_json_set(p, "features_digest", json_string(m->features_digest));
    rtn_json_set(p, "store_digest", json_string(m->store_digest));
    rtn_json_set(p, "cutoff", json_integer(m->cutoff));
    rtn_json_set(p, "cutoff_iso", json_string(m->cutoff_iso));
    rtn_json_set(p, "horizon_days", json_integer(m->horizon_days));
    rtn_json_set(p, "lookback_days", json_integer(m->lookback_days));
    rtn_json_set(p, "currency", json_string(m->currency));
    rtn_json_set(p, "n_customers", json_integer((json_int_t)m->n_customers));
    rtn_json_set(p, "options", jembedded(m->options_json));
    rtn_json_set(p, "job", jembedded(m->job_json));
    rtn_json_set(root, "provenance", p);

    json_t *f = json_object();
    rtn_json_set(f, "names", rtn_json_strings(m->feature_names, m->d));
    rtn_json_set(f, "units", json_string("original units, as written by retain features (docs/features.md)"));
    rtn_json_set(root, "features", f);

    json_t *tr = json_object();
    rtn_json_set(tr, "identity", json_string("t = x"));
    rtn_json_set(tr, "log1p", json_string("t = sign(x) * log(1 + |x|)"));
    rtn_json_set(root, "transforms", tr);

    for (size_t k = 0; k < rtn_n_model_kinds; k++) {
        const rtn_model_kind *kind = rtn_model_kinds[k];
        rtn_json_set(root, kind->name, kind->present(m) ? kind->export_json(m) : json_null());
    }

    json_t *sc = json_object();
    json_t *va = json_array();
    for (int v = 0; v < RTN_VALUE_TIERS; v++) json_array_append_new(va, json_string(rtn_value_tier_names[v]));
    rtn_json_set(sc, "value_tiers", va);
    json_t *ac = json_array();
    for (int a = 0; a < RTN_N_ACTIONS; a++) json_array_append_new(ac, json_string(rtn_action_names[a]));
    rtn_json_set(sc, "actions", ac);
    json_t *pb = json_array();
    for (int r = 0; r < RTN_RISK_TIERS; r++) {
        json_t *row = json_array();
        for (int v = 0; v < RTN_VALUE_TIERS; v++)
            json_array_append_new(row, json_string(rtn_action_names[rtn_playbook(r, v)]));
        json_array_append_new(pb, row);
    }
    rtn_json_set(sc, "playbook", pb);
    rtn_json_set(root, "scoring", sc);
    *out = root;
    return RTN_OK;
}

rtn_status rtn_export_json_text(const rtn_model *m, char **txt, size_t *len)
{
    json_t *doc;
    *txt = NULL;
    *len = 0;
    RTN_TRY(rtn_export_json_doc(m, &doc));
    char *s = json_dumps(doc, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    json_decref(doc);
    size_t n = s ? strlen(s) : 0;
    char *t = s ? realloc(s, n + 2) : NULL;
    if (!t) {
        free(s);
        return rtn_fail(RTN_ERR_NOMEM, "out of memory serializing the JSON export");
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    *txt = t;
    *len = n + 1;
    return RTN_OK;
}

rtn_status rtn_export_json(const rtn_model *m, const char *path)
{
    char *txt;
    size_t len;
    RTN_TRY(rtn_export_json_text(m, &txt, &len));
    rtn_status st = rtn_atomic_write_file(path, txt, len);
    free(txt);
    if (st) rtn_fail_context(st, "writing JSON model '%s'", path);
    return st;
}
