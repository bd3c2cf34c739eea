"""ONNX export of every registered network: checker, metadata, dynamic batch, parity on real clips."""

from __future__ import annotations

import json

import numpy as np
import pytest

import export_support as es

pytestmark = pytest.mark.slow  # five exports + decoding real clips


@pytest.mark.parametrize("name", es.MODELS)
def test_export_matches_torch_on_real_clips(name):
    import onnx

    from emofusion.infer.backends import OrtBackend

    path = es.onnx_file(name)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    ld = es.loaded(name)
    assert [i.name for i in proto.graph.input] == list(ld.model.inputs)
    assert [o.name for o in proto.graph.output] == ["logits"]
    for value in list(proto.graph.input) + list(proto.graph.output):
        batch_dim = value.type.tensor_type.shape.dim[0]
        assert batch_dim.dim_param and not batch_dim.dim_value, f"{value.name}: batch is not dynamic"

    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["classes"].split(",") == list(ld.classes)
    assert json.loads(meta["media_config"]) == ld.media_cfg.to_dict()
    assert json.loads(meta["model_config"])["fusion"] == name
    assert meta["source_sha256"] == ld.sha256
    assert meta["emofusion_version"]

    backend = OrtBackend(path, providers=["CPUExecutionProvider"])
    for size in (1, 8):
        feeds = es.batch(ld.model.inputs, size)
        got, want = backend.run(feeds), es.torch_logits(name, feeds)
        assert got.shape == (size, 8) and got.dtype == np.float32
        assert np.abs(got - want).max() <= 1e-4
        assert (got.argmax(1) == want.argmax(1)).all()


def test_checkpoint_sha_decides_which_onnx_runs(tmp_path, monkeypatch):
    """A shipped model.onnx from another checkpoint is stale: a fresh one is exported to the cache."""
    import shutil

    from emofusion.infer.sources import onnx_for_checkpoint, onnx_metadata

    monkeypatch.setenv("EMOFUSION_CACHE", str(tmp_path / "cache"))
    model_dir = tmp_path / "audio"
    model_dir.mkdir()
    shutil.copyfile(es.checkpoint("audio"), model_dir / "model.pt")
    assert onnx_for_checkpoint(model_dir / "model.pt", shipped=es.onnx_file("audio")) == es.onnx_file("audio")

    shutil.copyfile(es.onnx_file("video"), model_dir / "model.onnx")  # wrong graph for this .pt
    got = onnx_for_checkpoint(model_dir / "model.pt", shipped=model_dir / "model.onnx")
    assert got.parent == tmp_path / "cache" / "onnx"
    assert onnx_metadata(got)["source_sha256"] == es.loaded("audio").sha256


def test_dynamo_exporter_also_gives_a_dynamic_batch(tmp_path):
    """The fallback exporter (torch.export based) works too, with the same metadata."""
    from emofusion.export.onnx import export_onnx
    from emofusion.infer.backends import OrtBackend

    path = export_onnx(es.loaded("audio"), tmp_path / "audio.onnx", exporter="dynamo")
    backend = OrtBackend(path)
    assert backend.metadata["exporter"] == "dynamo"
    feeds = es.batch(("audio",), 8)
    assert np.abs(backend.run(feeds) - es.torch_logits("audio", feeds)).max() <= 1e-4


def test_a_failed_parity_check_leaves_no_graph_behind(tmp_path, monkeypatch):
    """The predictor reuses a cached graph by name: one that failed its check must not get that name."""
    from emofusion.export import onnx as E

    monkeypatch.setattr(E, "verify_parity", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("differs")))
    with pytest.raises(RuntimeError, match="differs"):
        E.export_onnx(es.loaded("audio"), tmp_path / "audio.onnx")
    assert not list(tmp_path.iterdir())


def test_parity_is_judged_relative_to_the_logits_scale():
    """Random inputs can give logits of hundreds; a correct export then differs by float32 rounding."""
    from emofusion.export.onnx import verify_parity

    assert verify_parity(es.onnx_file("audio"), es.loaded("audio"), batch=2) <= 1e-5
