"""INT8 (static QDQ, calibrated on real clips) and FP16 graphs: they run, keep IO float32 and
mostly agree with FP32 on real inputs."""

from __future__ import annotations

import numpy as np
import pytest

import export_support as es

pytestmark = pytest.mark.slow


def test_int8_static_qdq_agrees_with_fp32_on_real_clips(tmp_path):
    import onnx

    from emofusion.export.quantize import quantize_int8
    from emofusion.infer.backends import OrtBackend

    names = es.loaded("ia").model.inputs
    calib = [{k: v[None] for k, v in f.items()} for f in es.real_feeds()]
    path = quantize_int8(es.onnx_file("ia"), tmp_path / "ia.int8.onnx", calib)
    proto = onnx.load(str(path))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["precision"] == "int8" and meta["source_sha256"] == es.loaded("ia").sha256

    int8 = OrtBackend(path, providers=["CPUExecutionProvider"])
    fp32 = OrtBackend(es.onnx_file("ia"), providers=["CPUExecutionProvider"])
    assert int8.precision == "int8"
    feeds = es.batch(names, 8)
    q, f = int8.run(feeds), fp32.run(feeds)
    assert q.dtype == np.float32 and q.shape == f.shape
    pq, pf = _softmax(q), _softmax(f)
    # Untrained weights give near-flat outputs, so compare probabilities, not just top-1.
    assert np.abs(pq - pf).max() < 0.05
    assert (q.argmax(1) == f.argmax(1)).mean() >= 0.5


def test_int8_keeps_the_named_layers_float(tmp_path):
    """`float_nodes` patterns leave those layers float: their weights are float initializers, not a
    DequantizeLinear's output, and the graph's metadata lists them."""
    import json
    import re

    import onnx

    from emofusion.export.quantize import quantize_int8

    fp32 = onnx.load(str(es.onnx_file("ia")))
    conv = next(n.name for n in fp32.graph.node if n.op_type == "Conv")
    calib = [{k: v[None] for k, v in f.items()} for f in es.real_feeds()[:4]]
    path = quantize_int8(es.onnx_file("ia"), tmp_path / "ia.int8.onnx", calib, float_nodes=(re.escape(conv) + "$",))
    proto = onnx.load(str(path))
    meta = json.loads({p.key: p.value for p in proto.metadata_props}["calibration"])
    assert conv in meta["float_nodes"] and meta["float_node_patterns"]
    node = next(n for n in proto.graph.node if n.name == conv)
    dequantized = {o for n in proto.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    assert node.input[1] not in dequantized and node.input[1] in {t.name for t in proto.graph.initializer}
    others = [n for n in proto.graph.node if n.op_type == "Conv" and n.name != conv]
    assert any(n.input[1] in dequantized for n in others)  # the rest is quantized


def test_int8_needs_real_calibration_inputs(tmp_path):
    from emofusion.export.quantize import quantize_int8

    with pytest.raises(ValueError, match="at least one"):
        quantize_int8(es.onnx_file("audio"), tmp_path / "x.onnx", [])


def test_fp16_keeps_float32_io_and_matches(tmp_path):
    import onnx

    from emofusion.export.quantize import convert_fp16
    from emofusion.infer.backends import OrtBackend

    path = convert_fp16(es.onnx_file("lt"), tmp_path / "lt.fp16.onnx")
    proto = onnx.load(str(path))
    for v in list(proto.graph.input) + list(proto.graph.output):
        assert v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer)
    feeds = es.batch(es.loaded("lt").model.inputs, 2)
    half = OrtBackend(path, providers=["CPUExecutionProvider"]).run(feeds)
    full = es.torch_logits("lt", feeds)
    assert np.abs(_softmax(half) - _softmax(full)).max() < 0.02


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def test_int8_export_prints_no_onnxruntime_axis_warnings(tmp_path, capfd, caplog):
    """ORT logs "Axis 1 is out-of-range ..." on the root logger for each rank-1 norm weight it
    quantizes per tensor; the export drops exactly those lines, keeps their names in the graph's
    metadata, and leaves the root logger as it found it."""
    import json
    import logging

    import onnx

    from emofusion.export.quantize import quantize_int8

    root = logging.getLogger()
    before = (list(root.handlers), list(root.filters))
    calib = [{k: v[None] for k, v in f.items()} for f in es.real_feeds()[:2]]
    path = quantize_int8(es.onnx_file("ia"), tmp_path / "ia.int8.onnx", calib)
    out, err = capfd.readouterr()
    assert "out-of-range" not in out + err and "WARNING:root" not in out + err
    assert not [r for r in caplog.records if "out-of-range" in r.getMessage()]  # pytest's own root handlers
    assert (list(root.handlers), list(root.filters)) == before
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    per_tensor = json.loads(meta["calibration"])["per_tensor_weights"]
    assert per_tensor and all(name.endswith("weight") for name in per_tensor)


def test_face_model_int8_keeps_its_first_two_blocks_float(tmp_path):
    """The default float layers (quantize.FLOAT_NODES) name real nodes of the shipped face model's
    graph: the convolutions of dense0 and dense1, and no other."""
    import re
    from pathlib import Path

    import onnx

    from emofusion.export.onnx import export_onnx
    from emofusion.export.quantize import FLOAT_NODES
    from emofusion.nets.checkpoint import load_checkpoint

    loaded = load_checkpoint(Path(__file__).resolve().parents[1] / "models" / "face")
    patterns = [re.compile(p) for p in FLOAT_NODES]
    graph = onnx.load(str(export_onnx(loaded, tmp_path / "face.onnx"))).graph
    convs = [n.name for n in graph.node if n.op_type == "Conv"]
    kept = {c for c in convs if any(p.search(c) for p in patterns)}
    assert kept == {c for c in convs if c.startswith(("/face/dense0/", "/face/dense1/"))}
    assert len(kept) == 15 and len(convs) == 31  # dense0: a conv + 3 separable; dense1: 4 separable
