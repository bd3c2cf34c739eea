"""The TensorRT path up to the GPU, checked on CPU: the graphs handed to TensorRT, the version gate,
the cache keys, ORT's TensorRT provider options and the refusal of stale or mismatched engines.

Nothing here runs TensorRT or claims to: building and running engines is test_export_tensorrt.py
(GPU machines, docs/TENSORRT.md). One test puts a stand-in `tensorrt` module that holds only a
version string into sys.modules, to exercise the version gate's logic and nothing else.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tomllib
import types
from pathlib import Path

import numpy as np
import pytest

import export_support as es

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def calib():
    return [{k: v[None] for k, v in f.items()} for f in es.real_feeds()]


@pytest.fixture(scope="module")
def trt_int8(calib, tmp_path_factory):
    from emofusion.export.quantize import quantize_int8_tensorrt

    return quantize_int8_tensorrt(es.onnx_file("ia"), tmp_path_factory.mktemp("trt") / "model.trt-int8.onnx", calib)


@pytest.fixture(scope="module")
def cpu_int8(calib, tmp_path_factory):
    from emofusion.export.quantize import quantize_int8

    return quantize_int8(es.onnx_file("ia"), tmp_path_factory.mktemp("cpu") / "model.int8.onnx", calib)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOFUSION_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# --- graphs handed to TensorRT ----------------------------------------------------------------


@pytest.mark.slow
def test_tensorrt_int8_graph_is_symmetric_with_float_biases(trt_int8):
    import onnx
    from onnx import TensorProto, numpy_helper

    from emofusion.export.tensorrt import check_graph_for_tensorrt, tensorrt_qdq_problems

    model = onnx.load(str(trt_int8))
    consts = {t.name: t for t in model.graph.initializer}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert len(qdq) > 100  # the network is quantized throughout, not in a corner
    for n in qdq:
        assert len(n.input) == 3 and n.input[2] in consts, n.name  # explicit zero-point
        zp = consts[n.input[2]]
        assert zp.data_type == TensorProto.INT8, n.name
        assert not numpy_helper.to_array(zp).any(), n.name  # every zero-point is 0
        assert (numpy_helper.to_array(consts[n.input[1]]) > 0).all(), n.name
        if n.op_type == "DequantizeLinear" and n.input[0] in consts:
            w = consts[n.input[0]]
            assert w.data_type == TensorProto.INT8, n.name  # no int32 (bias) DequantizeLinear
            assert numpy_helper.to_array(w).min() >= -127, n.name
    biased = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm") and len(n.input) > 2 and n.input[2]]
    assert biased
    for n in biased:  # biases stay float, fed straight to the layer
        assert consts[n.input[2]].data_type == TensorProto.FLOAT, n.name
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["precision"] == "int8" and meta["quantized_for"] == "tensorrt"
    assert json.loads(meta["calibration"])["activations"] == "int8 symmetric"
    assert tensorrt_qdq_problems(model) == []
    assert check_graph_for_tensorrt(trt_int8, "int8") == "int8"


@pytest.mark.slow
def test_tensorrt_int8_graph_runs_and_agrees_with_fp32(trt_int8):
    """The QDQ graph evaluated as written (each Quantize/Dequantize in float, graph optimisations
    off): TensorRT's arithmetic, int8 products summed exactly. ONNX Runtime's own fused int8 CPU
    kernels are not what TensorRT runs: on CPUs without VNNI (AVX2 only, e.g. an AMD EPYC here) they
    saturate s8 x s8 products, and this graph then differed by 0.105 in probability (0.016 as written)."""
    import onnxruntime as ort

    from emofusion.infer.backends import OrtBackend

    feeds = es.batch(es.loaded("ia").model.inputs, 8)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(trt_int8), options, providers=["CPUExecutionProvider"])
    q = session.run(["logits"], feeds)[0]
    f = OrtBackend(es.onnx_file("ia"), providers=["CPUExecutionProvider"]).run(feeds)
    assert q.shape == f.shape and q.dtype == np.float32
    assert np.abs(_softmax(q) - _softmax(f)).max() < 0.05
    assert (q.argmax(1) == f.argmax(1)).mean() >= 0.5


@pytest.mark.slow
def test_cpu_int8_graph_is_refused_for_tensorrt(cpu_int8, tmp_path):
    """The CPU graph (uint8 asymmetric activations, int32 biases) is what the old path handed to
    TensorRT; the checks must see why TensorRT's parser rejects it, and refuse before any GPU work."""
    from emofusion.export.tensorrt import (GraphNotForTensorRT, build_engine, check_graph_for_tensorrt,
                                           tensorrt_qdq_problems)

    problems = tensorrt_qdq_problems(cpu_int8)
    assert any("int32" in p for p in problems)
    assert any("non-zero zero-point" in p for p in problems)
    assert any("UINT8" in p for p in problems)
    with pytest.raises(GraphNotForTensorRT, match="CPU INT8 graph.*--to tensorrt --int8"):
        check_graph_for_tensorrt(cpu_int8, "int8")
    with pytest.raises(GraphNotForTensorRT):  # raised before `import tensorrt`: works without it
        build_engine(cpu_int8, tmp_path / "x.plan", precision="int8")
    assert not (tmp_path / "x.plan").exists()


def test_fp16_graph_for_tensorrt(cache):
    import onnx
    from onnx import TensorProto

    from emofusion.export.tensorrt import (GraphNotForTensorRT, check_graph_for_tensorrt, graph_for_precision,
                                           graph_precision)
    from emofusion.infer.backends import OrtBackend

    fp32 = es.onnx_file("lt")
    fp16 = graph_for_precision(fp32, "fp16")
    assert fp16.parent == cache / "onnx" and graph_precision(fp16) == "fp16"
    model = onnx.load(str(fp16))
    for v in list(model.graph.input) + list(model.graph.output):  # callers keep float32 IO
        assert v.type.tensor_type.elem_type == TensorProto.FLOAT
    consts = {t.name: t for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul") and n.input[1] in consts]
    assert convs and all(consts[n.input[1]].data_type == TensorProto.FLOAT16 for n in convs)
    assert check_graph_for_tensorrt(fp16, "fp16") == "fp16"  # includes the strict type check
    mtime = fp16.stat().st_mtime_ns
    assert graph_for_precision(fp32, "fp16") == fp16 and fp16.stat().st_mtime_ns == mtime  # made once
    assert graph_for_precision(fp32, "fp32") == fp32
    with pytest.raises(GraphNotForTensorRT, match="fp32 graph, not fp16"):
        check_graph_for_tensorrt(fp32, "fp16")
    with pytest.raises(GraphNotForTensorRT, match="--to tensorrt --int8"):
        graph_for_precision(fp32, "int8")  # never the FP32 graph for an INT8 engine
    feeds = es.batch(es.loaded("lt").model.inputs, 4)
    half = OrtBackend(fp16, providers=["CPUExecutionProvider"]).run(feeds)
    full = OrtBackend(fp32, providers=["CPUExecutionProvider"]).run(feeds)
    assert np.abs(_softmax(half) - _softmax(full)).max() < 0.02


def test_graph_that_does_not_type_check_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from emofusion.export.tensorrt import GraphNotForTensorRT, check_graph_for_tensorrt

    # Add(float, float16): ONNX Runtime may not even load it; a strongly typed parse cannot type it
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    w = helper.make_tensor("w", TensorProto.FLOAT16, [1, 4], np.ones(4, np.float16).tobytes(), raw=True)
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [x], [y], [w])
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    with pytest.raises(GraphNotForTensorRT, match="does not type-check"):
        check_graph_for_tensorrt(path)


# --- which graph a TensorRT request uses --------------------------------------------------------


@pytest.mark.slow
def test_int8_request_uses_the_tensorrt_graph_never_the_fp32_or_cpu_one(trt_int8, cpu_int8, tmp_path, cache):
    from emofusion.infer.backends import tensorrt_source
    from emofusion.infer.sources import ModelFiles

    d = tmp_path / "ia"
    d.mkdir()
    shutil.copyfile(es.checkpoint("ia"), d / "model.pt")
    shutil.copyfile(es.onnx_file("ia"), d / "model.onnx")
    shutil.copyfile(cpu_int8, d / "model.int8.onnx")
    files = ModelFiles.resolve(d)
    with pytest.raises(FileNotFoundError, match="--to tensorrt --int8"):
        tensorrt_source(files, None, "int8")
    shutil.copyfile(trt_int8, d / "model.trt-int8.onnx")
    assert tensorrt_source(files, None, "int8") == d / "model.trt-int8.onnx"
    assert tensorrt_source(files, None, "fp16") == d / "model.onnx"  # converted at build time


def test_onnxruntime_fp16_backend_runs_the_fp16_graph(tmp_path, cache):
    from emofusion.export.tensorrt import graph_precision
    from emofusion.infer.backends import create_backend

    d = tmp_path / "audio"
    d.mkdir()
    shutil.copyfile(es.checkpoint("audio"), d / "model.pt")
    b = create_backend(d, kind="onnxruntime", precision="fp16", device="cpu")
    assert b.precision == "fp16" and graph_precision(b.path) == "fp16"
    ref = create_backend(d, kind="onnxruntime", device="cpu")
    feeds = es.batch(("audio",), 4)
    assert (b.run(feeds).argmax(1) == ref.run(feeds).argmax(1)).mean() >= 0.75
    with pytest.raises(ValueError, match="precision must be one of"):
        create_backend(d, kind="onnxruntime", precision="bf16")


# --- version gate -------------------------------------------------------------------------------


def test_version_gate(monkeypatch):
    """The gate's logic with a stand-in module holding only __version__ (not a TensorRT check)."""
    from emofusion.export.tensorrt import TensorRTUnavailable, UnsupportedTensorRT, load_tensorrt

    def installed(version):
        mod = types.ModuleType("tensorrt")
        if version is not None:
            mod.__version__ = version
        monkeypatch.setitem(sys.modules, "tensorrt", mod)

    for version in ("10.0.1.6", "10.13.3.9", "11.0.0.114", "11.4.1"):
        installed(version)
        assert load_tensorrt().__version__ == version
    for version in ("8.6.1", "9.2.0.post12", "12.0.0", "12"):
        installed(version)
        with pytest.raises(UnsupportedTensorRT, match=r"TensorRT .* is installed; .*>=10\.0,<12"):
            load_tensorrt()
    installed(None)
    with pytest.raises(UnsupportedTensorRT, match="no __version__"):
        load_tensorrt()
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails: not installed
    with pytest.raises(TensorRTUnavailable, match=r"emofusion\[tensorrt\]"):
        load_tensorrt()


def test_extra_pins_the_versions_the_gate_accepts():
    from packaging.requirements import Requirement

    from emofusion.export.tensorrt import UnsupportedTensorRT, check_version

    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["tensorrt"]
    reqs = [Requirement(r) for r in extra]
    assert [r.name for r in reqs] == ["tensorrt"]  # no cuda-python: GPU buffers come from torch
    spec = reqs[0].specifier
    for version in ("9.9.9", "10.0.0", "10.16.1", "11.0.0", "11.99.1", "12.0.0", "13.1"):
        try:
            check_version(version)
            gate = True
        except UnsupportedTensorRT:
            gate = False
        assert gate == spec.contains(version), version


def test_no_cuda_python_import_left():
    sources = [p.read_text() for p in (REPO / "emofusion").rglob("*.py")]
    assert not any(re.search(r"^\s*(from cuda|import cuda)\b", s, re.M) for s in sources)


# --- cache keys -----------------------------------------------------------------------------------


def test_engine_and_timing_cache_keys(cache):
    from emofusion.export.tensorrt import engine_key, timing_cache_path

    sha = "ab" * 32
    base = ("NVIDIA GeForce RTX 4090", "10.13.3.9", "fp16")
    variants = [engine_key(sha, *base), engine_key("cd" * 32, *base),
                engine_key(sha, "NVIDIA L4", *base[1:]), engine_key(sha, base[0], "11.1.0.106", "fp16"),
                engine_key(sha, base[0], base[1], "int8")]
    assert len(set(variants)) == len(variants)  # ONNX hash, GPU, TensorRT version, precision all count
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", k) for k in variants)
    assert "NVIDIA_GeForce_RTX_4090" in variants[0] and "10.13.3.9" in variants[0] and sha[:16] in variants[0]
    t = timing_cache_path(*base[:2])
    assert t.parent == cache / "tensorrt"
    assert len({t, timing_cache_path("NVIDIA L4", base[1]), timing_cache_path(base[0], "11.1.0.106")}) == 3


def test_ort_tensorrt_provider_options(cache):
    import onnxruntime as ort

    from emofusion.export.tensorrt import graph_for_precision
    from emofusion.infer.backends import ort_provider_config, tensorrt_provider_options

    fp32 = es.onnx_file("ia")
    fp16 = graph_for_precision(fp32, "fp16")
    a = tensorrt_provider_options(fp16, "NVIDIA L4", "10.13.3.9")
    b = tensorrt_provider_options(fp32, "NVIDIA L4", "10.13.3.9")
    c = tensorrt_provider_options(fp16, "NVIDIA A100-SXM4-40GB", "10.13.3.9")
    d = tensorrt_provider_options(fp16, "NVIDIA L4", "10.16.1.11")
    assert a["trt_fp16_enable"] is True and b["trt_fp16_enable"] is False
    assert a["trt_engine_cache_enable"] is True and a["trt_timing_cache_enable"] is True
    engine_dirs = {o["trt_engine_cache_path"] for o in (a, b, c, d)}
    assert len(engine_dirs) == 4  # per graph, per GPU, per TensorRT version
    assert a["trt_timing_cache_path"] == b["trt_timing_cache_path"] != c["trt_timing_cache_path"]
    for o in (a, b, c, d):
        for key in ("trt_engine_cache_path", "trt_timing_cache_path"):
            assert Path(o[key]).is_dir() and Path(o[key]).is_relative_to(cache)
    # profile shapes: batch 1 / 8 / 32 and the graph's own per-sample shapes, read back via ORT
    sess = ort.InferenceSession(str(fp16), providers=["CPUExecutionProvider"])
    for key, batch in (("trt_profile_min_shapes", 1), ("trt_profile_opt_shapes", 8), ("trt_profile_max_shapes", 32)):
        parsed = {name: [int(x) for x in dims.split("x")]
                  for name, dims in (item.split(":") for item in a[key].split(","))}
        assert parsed == {i.name: [batch, *i.shape[1:]] for i in sess.get_inputs()}, key
    config, notes = ort_provider_config(
        fp16, ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        environment={"gpu_name": "NVIDIA L4", "tensorrt_version": "10.13.3.9"})
    assert [p if isinstance(p, str) else p[0] for p in config] == [
        "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"] and not notes
    assert config[0][1] == a


def test_tensorrt_provider_left_out_with_the_reason_when_tensorrt_is_unusable(cache):
    from emofusion.infer.backends import ort_provider_config, tensorrt_present

    if tensorrt_present():
        pytest.skip("tensorrt is installed here: the GPU tests cover the provider")
    config, notes = ort_provider_config(es.onnx_file("audio"), ["TensorrtExecutionProvider", "CPUExecutionProvider"])
    assert config == ["CPUExecutionProvider"]
    assert len(notes) == 1 and "TensorrtExecutionProvider left out" in notes[0] and "tensorrt" in notes[0]


def test_ort_tensorrt_provider_library_major():
    """This onnxruntime-gpu wheel's TensorRT provider names the libnvinfer major it loads."""
    import onnxruntime as ort

    from emofusion.infer.backends import ort_tensorrt_major

    major = ort_tensorrt_major()
    if "TensorrtExecutionProvider" not in ort.get_available_providers():
        assert major is None
    else:
        assert major is not None and major >= 10


# --- refusal of stale or mismatched engines ---------------------------------------------------------


def test_stale_or_mismatched_engine_is_refused(tmp_path, cache):
    """The sidecar comparison, against explicit environments (the live one needs a GPU)."""
    from emofusion.export.tensorrt import EngineMismatch, check_engine, graph_for_precision, write_sidecar

    here = {"tensorrt_version": "10.13.3.9", "gpu_name": "NVIDIA L4", "compute_capability": "8.9"}
    engine = tmp_path / "ia.plan"
    engine.write_bytes(b"serialized engine bytes")  # never deserialized: the sidecar is checked first
    ia, lt = es.onnx_file("ia"), es.onnx_file("lt")
    write_sidecar(engine, here, "fp16", ia, graph_for_precision(ia, "fp16"))
    side = check_engine(engine, ia, "fp16", here)
    assert side["precision"] == "fp16" and side["network"] == "strongly_typed"
    assert side["profile"] == {"min": 1, "opt": 8, "max": 32}
    cases = [
        ({**here, "gpu_name": "NVIDIA A10"}, ia, "fp16", "gpu_name"),
        ({**here, "compute_capability": "8.6"}, ia, "fp16", "compute_capability"),
        ({**here, "tensorrt_version": "11.1.0.106"}, ia, "fp16", "tensorrt_version"),
        (here, ia, "int8", "precision: engine 'fp16', here 'int8'"),
        (here, ia, "fp32", "precision"),
        (here, lt, "fp16", "onnx_sha256"),
    ]
    for env, onnx_path, precision, what in cases:
        with pytest.raises(EngineMismatch, match=re.escape(what) + ".*emofusion export"):
            check_engine(engine, onnx_path, precision, env)
    # an engine from the old weakly typed path (sidecar without the network type) is stale
    old = json.loads((tmp_path / "ia.plan.json").read_text())
    del old["network"]
    (tmp_path / "ia.plan.json").write_text(json.dumps(old))
    with pytest.raises(EngineMismatch, match="not strongly typed"):
        check_engine(engine, ia, "fp16", here)
    (tmp_path / "ia.plan.json").unlink()
    with pytest.raises(EngineMismatch, match="no sidecar"):
        check_engine(engine, ia, "fp16", here)


def _softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)
