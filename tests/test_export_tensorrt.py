"""TensorRT engines (GPU machines with `emofusion[tensorrt]` only; skip here with the reason).

Nothing is mocked: without tensorrt and a CUDA GPU these tests skip; with them they build real
engines and compare with ONNX Runtime on real clips. How to run them: docs/TENSORRT.md. What can be
checked without a GPU (graphs, version gate, cache keys, stale engines) is in
test_export_tensorrt_cpu.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import export_support as es

pytestmark = [pytest.mark.gpu, pytest.mark.slow]


@pytest.fixture(scope="module")
def trt_ready():
    from emofusion.infer.backends import cuda_present, tensorrt_present

    if not tensorrt_present():
        pytest.skip("TensorRT is not installed (optional extra emofusion[tensorrt], NVIDIA GPU machines)")
    if not cuda_present():
        pytest.skip("no CUDA GPU: TensorRT engines cannot be built or run here")


@pytest.fixture()
def engine(trt_ready, tmp_path, monkeypatch):
    from emofusion.export.tensorrt import build_engine

    monkeypatch.setenv("EMOFUSION_CACHE", str(tmp_path / "cache"))
    return build_engine(es.onnx_file("ia"), tmp_path / "ia.plan", precision="fp16",
                        timing_cache=tmp_path / "timing.cache")


def test_engine_matches_onnxruntime_at_batch_1_8_32(engine, tmp_path):
    from emofusion.infer.backends import OrtBackend, TensorRTBackend

    side = json.loads((tmp_path / "ia.plan.json").read_text())
    assert side["precision"] == "fp16" and side["profile"] == {"min": 1, "opt": 8, "max": 32}
    assert (tmp_path / "timing.cache").stat().st_size > 0
    trt_b = TensorRTBackend(engine, es.onnx_file("ia"))
    ort_b = OrtBackend(es.onnx_file("ia"), providers=["CPUExecutionProvider"])
    for size in (1, 8, 32):
        feeds = es.batch(trt_b.inputs, size)
        got, want = trt_b.run(feeds), ort_b.run(feeds)
        assert got.shape == (size, 8) and got.dtype == np.float32
        assert np.abs(got - want).max() < 5e-2  # FP16
        assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9


def test_stale_engine_is_refused(engine, tmp_path):
    from emofusion.export.tensorrt import EngineMismatch, TrtRunner

    with pytest.raises(EngineMismatch, match="onnx_sha256"):
        TrtRunner(engine, onnx_path=es.onnx_file("lt"))  # built from another graph
    side_path = tmp_path / "ia.plan.json"
    side = json.loads(side_path.read_text())
    side["tensorrt_version"] = "0.0.0"
    side_path.write_text(json.dumps(side))
    with pytest.raises(EngineMismatch, match="tensorrt_version"):
        TrtRunner(engine)
    side_path.unlink()
    with pytest.raises(EngineMismatch, match="no sidecar"):
        TrtRunner(engine)


def test_int8_engine_from_qdq_graph(trt_ready, tmp_path):
    from emofusion.export.quantize import quantize_int8_tensorrt
    from emofusion.export.tensorrt import build_engine
    from emofusion.infer.backends import OrtBackend, TensorRTBackend

    calib = [{k: v[None] for k, v in f.items()} for f in es.real_feeds()]
    # the symmetric Q/DQ graph made for TensorRT (the CPU INT8 graph is refused: CPU tests check it)
    qdq = quantize_int8_tensorrt(es.onnx_file("lt"), tmp_path / "lt.trt-int8.onnx", calib)
    plan = build_engine(qdq, tmp_path / "lt.int8.plan", precision="int8")
    feeds = es.batch(("audio", "faces"), 8)
    got = TensorRTBackend(plan, qdq).run(feeds)
    want = OrtBackend(es.onnx_file("lt"), providers=["CPUExecutionProvider"]).run(feeds)
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.5


def test_auto_backend_picks_tensorrt(trt_ready, tmp_path, monkeypatch):
    import shutil

    from emofusion.infer.backends import create_backend

    monkeypatch.setenv("EMOFUSION_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "ia"
    d.mkdir()
    shutil.copyfile(es.checkpoint("ia"), d / "model.pt")
    b = create_backend(d)
    assert b.name == "tensorrt" and "tensorrt" in b.reason


def test_ort_tensorrt_provider_runs_and_caches(trt_ready, tmp_path, monkeypatch):
    """ONNX Runtime's TensorRT provider with the options ort_provider_config sets: it really runs
    the FP16 graph, writes its engine and timing caches where we said, agrees with CPU."""
    from emofusion.export.tensorrt import graph_for_precision
    from emofusion.infer.backends import OrtBackend, ort_provider_config

    monkeypatch.setenv("EMOFUSION_CACHE", str(tmp_path / "cache"))
    fp16 = graph_for_precision(es.onnx_file("ia"), "fp16")
    config, notes = ort_provider_config(fp16, ["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                               "CPUExecutionProvider"])
    if notes:
        pytest.skip("; ".join(notes))  # e.g. this onnxruntime links another TensorRT major
    b = OrtBackend(fp16, providers=config)
    assert b.providers[:2] == ["TensorrtExecutionProvider", "CUDAExecutionProvider"], b.providers
    feeds = es.batch(b.inputs, 8)
    got = b.run(feeds)
    want = OrtBackend(es.onnx_file("ia"), providers=["CPUExecutionProvider"]).run(feeds)
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.9
    opts = config[0][1]
    assert opts["trt_fp16_enable"] is True
    assert any(p.is_file() for p in Path(opts["trt_engine_cache_path"]).rglob("*"))
    assert any(p.is_file() for p in Path(opts["trt_timing_cache_path"]).rglob("*"))
