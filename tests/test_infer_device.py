"""The device chooser (infer/device.py): its order of engines, its refusals, and its messages.

Only the availability probes are faked (cuda_count / tensorrt / ort_cuda parameters, or the
probe function); the models and engines run for real on this machine's CPU."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import export_support as es
from emofusion.errors import EmofusionError, UsageError
from emofusion.infer.device import DeviceUnavailable, engine_plan, parse_device, resolve_device


@pytest.fixture()
def model_dir(tmp_path, monkeypatch):
    """A voice model dir with only model.pt (ONNX made on demand into a private cache)."""
    monkeypatch.setenv("EMOFUSION_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "audio"
    d.mkdir()
    shutil.copyfile(es.checkpoint("audio"), d / "model.pt")
    return d


@pytest.mark.parametrize("text, want", [("auto", ("auto", None)), (None, ("auto", None)), ("CPU", ("cpu", None)),
                                        ("cuda", ("cuda", None)), ("cuda:1", ("cuda", 1))])
def test_parse_device(text, want):
    assert parse_device(text) == want


@pytest.mark.parametrize("bad", ["gpu", "cuda:", "cpu:0", "cuda:x", "tpu:1"])
def test_parse_device_refuses_what_it_cannot_mean(bad):
    with pytest.raises(UsageError, match="device must be one of auto, cpu, cuda, cuda:N"):
        parse_device(bad)


def test_resolve_auto_follows_the_gpus():
    assert resolve_device("auto", cuda_count=0) == "cpu"
    assert resolve_device("auto", cuda_count=2) == "cuda:0"
    assert resolve_device("cuda", cuda_count=1) == "cuda:0"
    assert resolve_device("cuda:1", cuda_count=2) == "cuda:1"
    assert resolve_device("cpu", cuda_count=4) == "cpu"


def test_cuda_without_a_gpu_is_one_clear_error():
    with pytest.raises(DeviceUnavailable) as e:
        resolve_device("cuda", cuda_count=0)
    msg = str(e.value)
    assert isinstance(e.value, EmofusionError) and "\n" not in msg
    assert "torch sees no CUDA GPU" in msg and "--device cpu" in msg


def test_cuda_index_out_of_range_names_the_ones_there():
    with pytest.raises(DeviceUnavailable, match=r"has 2 CUDA GPUs \(cuda:0..cuda:1\)"):
        resolve_device("cuda:2", cuda_count=2)


def test_auto_order_on_a_gpu_machine():
    full = engine_plan("auto", "auto", cuda_count=1, tensorrt=True, ort_cuda=True)
    assert full.device == "cuda:0" and full.engines == ("tensorrt", "onnxruntime", "torch")
    no_trt = engine_plan("auto", "cuda", cuda_count=1, tensorrt=False, ort_cuda=True)
    assert no_trt.engines == ("onnxruntime", "torch") and any("tensorrt" in s for s in no_trt.skipped)
    torch_only = engine_plan("auto", "cuda:0", cuda_count=1, tensorrt=False, ort_cuda=False)
    assert torch_only.engines == ("torch",)
    assert any("onnxruntime-gpu" in s for s in torch_only.skipped)


def test_auto_order_on_a_cpu_machine():
    plan = engine_plan("auto", "auto", cuda_count=0, tensorrt=True, ort_cuda=True)
    assert plan.device == "cpu" and plan.engines == ("onnxruntime", "torch")
    assert engine_plan("auto", "cpu", cuda_count=1, tensorrt=True, ort_cuda=True).engines == ("onnxruntime", "torch")


def test_explicit_backends_and_what_they_refuse():
    assert engine_plan("torch", "cuda", cuda_count=1).engines == ("torch",)
    with pytest.raises(UsageError, match="tensorrt backend runs on a CUDA GPU only"):
        engine_plan("tensorrt", "cpu", cuda_count=1)
    with pytest.raises(DeviceUnavailable, match="onnxruntime on cuda:0 needs the CUDA provider"):
        engine_plan("onnxruntime", "cuda", cuda_count=1, ort_cuda=False)
    # a CPU-only onnxruntime on a GPU machine, device auto: it runs on the CPU, and says so
    plan = engine_plan("onnxruntime", "auto", cuda_count=1, ort_cuda=False)
    assert plan.device == "cpu" and plan.engines == ("onnxruntime",)


def test_create_backend_refuses_cuda_here_and_names_the_device(model_dir, monkeypatch):
    from emofusion.infer import device as D
    from emofusion.infer.backends import create_backend

    monkeypatch.setattr(D, "cuda_device_count", lambda: 0)  # the one probe; the model is real
    with pytest.raises(DeviceUnavailable, match="torch sees no CUDA GPU"):
        create_backend(model_dir, kind="torch", device="cuda")
    b = create_backend(model_dir, kind="torch", device="cpu")
    assert b.device == "cpu" and b.where == "cpu" and b.graphed is None
    assert "runs on cpu" in b.reason
    a = create_backend(model_dir, device="auto")
    assert a.name == "onnxruntime" and "runs on cpu" in a.reason


def test_load_refuses_cuda_before_loading_anything(tmp_path, monkeypatch):
    import emofusion
    from emofusion.infer import device as D

    monkeypatch.setattr(D, "cuda_device_count", lambda: 0)
    with pytest.raises(DeviceUnavailable, match="use --device cpu"):
        emofusion.load("models", device="cuda")


def test_torch_backend_on_cpu_is_unchanged_by_cuda_graphs(model_dir):
    """cuda_graphs only applies on CUDA: on the CPU both settings give the same numbers."""
    from emofusion.infer.backends import create_backend

    feeds = es.batch(("audio",), 1)
    on = create_backend(model_dir, kind="torch", device="cpu", cuda_graphs=True)
    off = create_backend(model_dir, kind="torch", device="cpu", cuda_graphs=False)
    assert on.graphed is None and np.array_equal(on.run(feeds), off.run(feeds))
