"""ONNX export, checked with Debian's python3-onnx: the full checker (with shape inference)
passes; inputs, outputs, opset, element types and metadata are what docs/serving.md says,
for a full bundle, a churn-only and a segments-only one."""
import json
import os
import sys

import h5py
import onnx
from onnx import TensorProto, shape_inference

W = os.path.join(os.environ.get("RETAIN_TEST_TMP", "."), "export")
bad = 0


def check(ok, what):
    global bad
    print(("ok   " if ok else "FAIL ") + what)
    bad += 0 if ok else 1


def attr_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def dims(vi):
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]


for name, outputs in (("m", ["churn_probability", "segment_id"]),
                      ("m-churn", ["churn_probability"]),
                      ("m-seg", ["segment_id"]),
                      ("m-alt", ["churn_probability", "segment_id"])):
    path = os.path.join(W, name + ".onnx")
    model = onnx.load(path)
    try:
        onnx.checker.check_model(model, full_check=True)
        check(True, f"{name}.onnx passes onnx.checker.check_model(full_check=True)")
    except Exception as e:  # noqa: BLE001 - report any checker failure
        check(False, f"{name}.onnx checker: {e}")
    B = h5py.File(os.path.join(W, name + ".h5"), "r")
    names = list(B["features/names"].asstr()[()])
    d = len(names)
    check(model.ir_version == 8 and [(o.domain, o.version) for o in model.opset_import] == [("", 17)],
          f"{name}: IR 8, default opset 17")
    check(model.producer_name == "retain" and model.model_version == 1, f"{name}: producer, graph version")
    g = model.graph
    check([i.name for i in g.input] == ["features"] and dims(g.input[0]) == ["N", d]
          and g.input[0].type.tensor_type.elem_type == TensorProto.DOUBLE,
          f"{name}: input features double [N, {d}]")
    check([o.name for o in g.output] == outputs, f"{name}: outputs {outputs}")
    types = {o.name: o.type.tensor_type.elem_type for o in g.output}
    check(types.get("churn_probability", TensorProto.DOUBLE) == TensorProto.DOUBLE
          and types.get("segment_id", TensorProto.INT64) == TensorProto.INT64
          and all(dims(o) == ["N"] for o in g.output), f"{name}: output types and shapes")
    inferred = shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    check(all(dims(o) == ["N"] for o in inferred.graph.output), f"{name}: shape inference keeps [N]")
    meta = {p.key: p.value for p in model.metadata_props}
    check(meta.get("retain.format") == "retain-onnx" and meta.get("retain.graph_version") == "1",
          f"{name}: metadata format")
    check(meta.get("retain.model_content_id") == attr_str(B.attrs["content_id"]) ==
          meta.get("retain.model_version"), f"{name}: metadata content id and model version")
    check(json.loads(meta.get("retain.feature_names", "[]")) == names, f"{name}: metadata feature names")
    check(meta.get("retain.outputs") == ",".join(outputs), f"{name}: metadata outputs")
    if "segments" in B:
        check(json.loads(meta["retain.segment_names"]) == list(B["segments/name"].asstr()[()])
              and json.loads(meta["retain.segment_ids"]) == [int(v) for v in B["segments/id"][()]],
              f"{name}: metadata segment names and ids")
    if "churn" in B:
        check(json.loads(meta["retain.risk_cuts"]) == list(B["churn/risk_cut"][()]), f"{name}: risk cuts")
    doc = g.input[0].doc_string
    check(all(n in doc for n in names), f"{name}: the input documents its columns")
    # every double in the graph is double: no float32 anywhere
    check(all(t.data_type in (TensorProto.DOUBLE, TensorProto.INT64, TensorProto.BOOL) for t in g.initializer),
          f"{name}: initializers are double, int64 or bool")

sys.exit(1 if bad else 0)
