"""One Backend interface over torch / ONNX Runtime / TensorRT, and the auto pick with its reason."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import export_support as es


@pytest.fixture()
def model_dir(tmp_path, monkeypatch):
    """A model dir with only model.pt (ONNX made on demand into a private cache)."""
    monkeypatch.setenv("EMOFUSION_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "audio"
    d.mkdir()
    shutil.copyfile(es.checkpoint("audio"), d / "model.pt")
    return d


def test_auto_picks_onnxruntime_on_cpu_and_says_why(model_dir, tmp_path):
    from emofusion.infer.backends import cuda_present, create_backend, tensorrt_present

    if cuda_present() and tensorrt_present():
        pytest.skip("TensorRT + GPU present: auto picks TensorRT (test_export_tensorrt covers it)")
    b = create_backend(model_dir)
    assert b.name == "onnxruntime" and b.device == "CPUExecutionProvider"
    assert "tensorrt" in b.reason and "CPUExecutionProvider" in b.reason
    # the ONNX graph was exported on demand into the cache, keyed by the checkpoint's sha256
    assert b.path == tmp_path / "cache" / "onnx" / f"{es.loaded('audio').sha256}.onnx"
    assert b.inputs == ("audio",) and b.classes[0] == "neutral"


def test_backends_agree_on_real_inputs(model_dir):
    from emofusion.infer.backends import create_backend

    feeds = es.batch(("audio",), 8)
    torch_b = create_backend(model_dir, kind="torch")
    ort_b = create_backend(model_dir, kind="onnxruntime")
    assert (torch_b.name, ort_b.name) == ("torch", "onnxruntime")
    a, b = torch_b.run(feeds), ort_b.run(feeds)
    assert a.shape == b.shape == (8, 8) and a.dtype == b.dtype == np.float32
    assert np.abs(a - b).max() <= 1e-4
    # an ONNX file alone is a valid source too
    assert np.abs(create_backend(ort_b.path).run(feeds) - b).max() == 0


def test_missing_input_is_a_clear_error(model_dir):
    from emofusion.infer.backends import create_backend

    with pytest.raises(KeyError, match="needs inputs"):
        create_backend(model_dir, kind="torch").run({"faces": np.zeros((1, 15, 3, 64, 64), np.float32)})


def test_tensorrt_kind_without_tensorrt_says_so(model_dir):
    from emofusion.infer.backends import cuda_present, create_backend, tensorrt_present

    if cuda_present() and tensorrt_present():
        pytest.skip("TensorRT is usable here")
    with pytest.raises(RuntimeError, match="TensorRT backend unavailable: (tensorrt not installed|no CUDA GPU)"):
        create_backend(model_dir, kind="tensorrt")
    with pytest.raises(ValueError, match="backend must be one of"):
        create_backend(model_dir, kind="tpu")


def test_gpu_providers_only_with_a_gpu():
    from emofusion.infer.backends import cuda_present, ort_providers

    providers = ort_providers()
    assert providers[-1] == "CPUExecutionProvider"
    if not cuda_present():
        assert providers == ["CPUExecutionProvider"]


def test_session_does_not_spin():
    """ORT worker threads must not busy-wait (they starve torch on 2 cores)."""
    from emofusion.infer.backends import OrtBackend

    b = OrtBackend(es.onnx_file("audio"))
    cfg = b.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    assert cfg == "0"


def test_torch_backend_runs_on_its_own_thread_count_and_restores_the_callers(model_dir):
    """On CPU the torch backend runs with one intra-op thread unless told otherwise (passive OpenMP
    waits make a second thread cost more than it gives), and leaves the caller's setting alone."""
    import torch

    from emofusion.infer.backends import create_backend

    feeds = es.batch(("audio",), 2)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for threads, want in ((None, 1), (2, 2)):
            b = create_backend(model_dir, kind="torch", threads=threads)
            seen = []
            hook = b.model.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
            try:
                b.run(feeds)
            finally:
                hook.remove()
            assert seen == [want]
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
