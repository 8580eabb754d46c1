/* Exporting a model bundle for serving systems (docs/serving.md): an ONNX graph that takes
 * the raw features in original units and returns the churn probability and the stable
 * segment id, and a versioned JSON document with every serving-relevant part of the
 * bundle. Both are pure functions of the bundle; the writers are local (one process) and
 * atomic (temporary name, then rename). */
#ifndef RETAIN_EXPORT_H
#define RETAIN_EXPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/model.h"
#include "retain/status.h"

#define RTN_ONNX_FORMAT "retain-onnx"
#define RTN_ONNX_GRAPH_VERSION 1 /* ModelProto.model_version: the graph's interface */
#define RTN_ONNX_OPSET 17        /* default domain; python3-onnx 1.12's checker knows <= 17 */
#define RTN_ONNX_IR_VERSION 8

#define RTN_JSON_FORMAT "retain-model-json"
#define RTN_JSON_FORMAT_VERSION 1

/* Serialized ONNX ModelProto of the bundle (malloc'ed, *len bytes). The bundle needs a
 * churn model or segments (or both); the graph has one output per part present. */
rtn_status rtn_export_onnx_bytes(const rtn_model *m, uint8_t **buf, size_t *len);
/* The same, also copying the graph's output names, comma-separated in graph order (the
 * "retain.outputs" metadata), into outputs (outputs_cap bytes, truncated if needed). */
rtn_status rtn_export_onnx_bytes_outputs(const rtn_model *m, uint8_t **buf, size_t *len,
                                         char *outputs, size_t outputs_cap);
rtn_status rtn_export_onnx(const rtn_model *m, const char *path);

/* The JSON document (a new reference), its text (malloc'ed, ends with a newline) and the
 * file writer. */
rtn_status rtn_export_json_doc(const rtn_model *m, json_t **out);
rtn_status rtn_export_json_text(const rtn_model *m, char **txt, size_t *len);
rtn_status rtn_export_json(const rtn_model *m, const char *path);

#endif
