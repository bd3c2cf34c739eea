"""ONNX export smoke test: the nets export with a dynamic batch and run in onnxruntime.

Both exporters work with torch 2.14 (checked here): the legacy TorchScript tracer
(`dynamo=False`, `dynamic_axes`, ~7 s for IA) and the torch.export-based one (`dynamo=True`,
`dynamic_shapes`, via onnxscript; ~10x slower to export, so its test is marked slow).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from emofusion.nets.registry import create_model

SIZE = 112
OPSET = 17


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _inputs(batch: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "audio": torch.randn(batch, 10, 156, generator=g),
        "faces": torch.rand(batch, 15, 3, SIZE, SIZE, generator=g),
    }


def _run_onnx(path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(feeds)
    assert session.get_inputs()[0].shape[0] == "batch"  # the batch axis stayed symbolic
    return session.run(["logits"], feeds)[0]


def _export_and_check(name: str, path, dynamo: bool) -> None:
    model = create_model(name, face_size=SIZE).eval()
    example = _inputs(1, seed=0)
    args = tuple(example[k] for k in model.inputs)
    common = dict(input_names=list(model.inputs), output_names=["logits"], opset_version=OPSET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        if dynamo:
            batch = torch.export.Dim("batch", min=1, max=64)
            shapes = {k: {0: batch} for k in model.inputs}
            torch.onnx.export(model, args, str(path), dynamo=True, dynamic_shapes=shapes, **common)
        else:
            axes = {k: {0: "batch"} for k in (*model.inputs, "logits")}
            torch.onnx.export(model, args, str(path), dynamo=False, dynamic_axes=axes, **common)
    feeds = _inputs(2, seed=1)  # a batch size other than the one exported with
    got = _run_onnx(path, {k: feeds[k].numpy() for k in model.inputs})
    with torch.no_grad():
        want = model(*(feeds[k] for k in model.inputs)).numpy()
    assert got.shape == (2, 8)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", ["ia", "lt"])
def test_legacy_export_dynamic_batch(name, tmp_path):
    _export_and_check(name, tmp_path / f"{name}.onnx", dynamo=False)


@pytest.mark.slow
def test_dynamo_export_dynamic_batch(tmp_path):
    _export_and_check("ia", tmp_path / "ia.onnx", dynamo=True)
