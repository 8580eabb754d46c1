/* retain export --model BUNDLE [--onnx FILE] [--json FILE]: the bundle for serving systems
 * (docs/serving.md). Rank 0 does the work (a bundle is small); other ranks wait and agree. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retain/atomic.h"
#include "retain/cli.h"
#include "retain/commands.h"
#include "retain/export.h"
#include "retain/log.h"
#include "retain/model.h"
#include "retain/model_kind.h"

const char rtn_usage_export[] =
    "usage: retain export --model BUNDLE [--onnx FILE] [--json FILE]\n"
    "\n"
    "Exports a model bundle for serving systems (docs/serving.md):\n"
    "  ONNX: a graph (opset 17, double precision) whose input `features` [N, d] holds the raw\n"
    "        features in original units, in the bundle's feature order, and whose outputs are\n"
    "        `churn_probability` [N] (double) and `segment_id` [N] (int64, the stable id);\n"
    "        the transforms and standardization are inside the graph, the model provenance\n"
    "        (content id, feature names, segment names) in its metadata_props. A bundle\n"
    "        without segments has only the churn output, one without a churn model only the\n"
    "        segment output.\n"
    "  JSON: every serving-relevant part of the bundle (feature spec, transforms, scaler,\n"
    "        coefficients, risk cuts, centroids, segment ids and names, CLV parameters,\n"
    "        provenance), format \"retain-model-json\" version 1.\n"
    "Each file is written under a temporary name and renamed when complete. One rank is\n"
    "enough; under mpirun rank 0 writes.\n"
    "\n"
    "  --model BUNDLE   model bundle from retain train\n"
    "  --onnx FILE      write the ONNX model here\n"
    "  --json FILE      write the JSON model here\n";

/* Parameters that the exported graph and document use must be usable: each kind checks
 * its own (finite, scales non-zero). */
static rtn_status check_model(const rtn_model *m)
{
    for (size_t k = 0; k < rtn_n_model_kinds; k++) {
        const rtn_model_kind *kind = rtn_model_kinds[k];
        if (kind->export_check && kind->present(m)) RTN_TRY(kind->export_check(m));
    }
    return RTN_OK;
}

typedef struct {
    const char *path, *what;
    const void *data;
    size_t len;
    rtn_atomic_file af;
    int open;
} out_file;

/* Every file is opened (under its temporary name) and written before any is renamed, so an
 * unwritable destination leaves none of them behind. */
static rtn_status write_all(out_file *o, int n)
{
    rtn_status st = RTN_OK;
    for (int i = 0; i < n && st == RTN_OK; i++) {
        st = rtn_atomic_open(&o[i].af, o[i].path);
        if (st) rtn_fail_context(st, "%s model '%s'", o[i].what, o[i].path);
        else o[i].open = 1;
    }
    for (int i = 0; i < n && st == RTN_OK; i++)
        if (o[i].len && fwrite(o[i].data, 1, o[i].len, o[i].af.fp) != o[i].len)
            st = rtn_fail(RTN_ERR_IO, "writing %s model '%s' failed: %s", o[i].what, o[i].path,
                          strerror(errno));
    for (int i = 0; i < n && st == RTN_OK; i++) {
        o[i].open = 0;
        st = rtn_atomic_close(&o[i].af);
        if (st) rtn_fail_context(st, "%s model '%s'", o[i].what, o[i].path);
    }
    for (int i = 0; i < n; i++)
        if (o[i].open) rtn_atomic_abort(&o[i].af);
    return st;
}

static rtn_status run_export(const char *model_path, const char *onnx, const char *json)
{
    rtn_model m;
    RTN_TRY(rtn_model_load(model_path, &m));
    rtn_status st = check_model(&m);
    if (st) rtn_fail_context(st, "model bundle '%s'", model_path);
    /* both encodings are built before anything is written */
    uint8_t *obuf = NULL;
    char *jtxt = NULL;
    size_t olen = 0, jlen = 0;
    char onnx_outputs[1024] = "";
    if (st == RTN_OK && onnx)
        st = rtn_export_onnx_bytes_outputs(&m, &obuf, &olen, onnx_outputs, sizeof onnx_outputs);
    if (st == RTN_OK && json) st = rtn_export_json_text(&m, &jtxt, &jlen);
    out_file outs[2];
    int n = 0;
    if (onnx) outs[n++] = (out_file){onnx, "ONNX", obuf, olen, {0}, 0};
    if (json) outs[n++] = (out_file){json, "JSON", jtxt, jlen, {0}, 0};
    if (st == RTN_OK) st = write_all(outs, n);
    if (st == RTN_OK && onnx)
        rtn_info("export: ONNX model %s, %zu bytes (opset %d; outputs %s; model %.16s)", onnx, olen,
                 RTN_ONNX_OPSET, onnx_outputs, m.content_id);
    if (st == RTN_OK && json)
        rtn_info("export: JSON model %s, %zu bytes (%s version %d; model %.16s)", json, jlen,
                 RTN_JSON_FORMAT, RTN_JSON_FORMAT_VERSION, m.content_id);
    free(obuf);
    free(jtxt);
    if (st == RTN_OK) {
        rtn_summary_set_str("export", "model_content_id", m.content_id);
        if (onnx) rtn_summary_set_str("export", "onnx", onnx);
        if (json) rtn_summary_set_str("export", "json", json);
    }
    rtn_model_free(&m);
    return st;
}

rtn_status rtn_cmd_export(MPI_Comm comm, int argc, char **argv)
{
    const rtn_command *self = rtn_find_command("export");
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"onnx", required_argument, 0, 'o'},
                                         {"json", required_argument, 0, 'j'},
                                         {0, 0, 0, 0}};
    const char *model_path = NULL, *onnx = NULL, *json = NULL;
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': model_path = optarg; break;
        case 'o': onnx = optarg; break;
        case 'j': json = optarg; break;
        default: return rtn_usage_error(self, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc) return rtn_usage_error(self, "unexpected argument '%s'", argv[optind]);
    if (!model_path) return rtn_usage_error(self, "--model is required");
    if (!onnx && !json) return rtn_usage_error(self, "nothing to do: give --onnx FILE and/or --json FILE");
    if (onnx && json && strcmp(onnx, json) == 0)
        return rtn_usage_error(self, "--onnx and --json name the same file");
    int rank;
    MPI_Comm_rank(comm, &rank);
    rtn_status st = RTN_OK;
    rtn_phase_begin("export");
    if (rank == 0) st = run_export(model_path, onnx, json);
    rtn_phase_end("export");
    return rtn_agree(comm, st);
}
