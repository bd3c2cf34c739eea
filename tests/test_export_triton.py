"""The Triton model repository: every config.pbtxt parses with Triton's own ModelConfig schema."""

from __future__ import annotations

from pathlib import Path

import pytest

import export_support as es

pytestmark = pytest.mark.slow


def _schema():
    """tritonclient.grpc.model_config_pb2: Triton's ModelConfig protobuf. With only the [http]
    extra installed the grpc package refuses to import, so load the same generated file by path."""
    try:
        from tritonclient.grpc import model_config_pb2

        return model_config_pb2
    except (ImportError, RuntimeError):
        import importlib.util

        tc = pytest.importorskip("tritonclient", reason="needs tritonclient (dev extra)")
        path = Path(tc.__path__[0]) / "grpc" / "model_config_pb2.py"
        if not path.is_file():
            pytest.skip(f"tritonclient has no {path.name}")
        spec = importlib.util.spec_from_file_location("triton_model_config_pb2", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def _parse(path):
    from google.protobuf import text_format

    return text_format.Parse(path.read_text(), _schema().ModelConfig())


def test_repository_configs_parse_with_triton_schema(tmp_path):
    from emofusion.export.triton import MAX_BATCH, write_repository

    models = {n: es.onnx_file(n) for n in ("ia", "lt", "audio")}
    written = write_repository(models, tmp_path / "repo")
    assert {p.parent.name for p in written} == {"ia", "lt", "audio", "emofusion"}
    for name in ("ia", "lt", "audio"):
        cfg = _parse(tmp_path / "repo" / name / "config.pbtxt")
        assert cfg.name == name and cfg.backend == "onnxruntime"
        assert (tmp_path / "repo" / name / "1" / "model.onnx").is_file()
        assert cfg.max_batch_size == MAX_BATCH and cfg.HasField("dynamic_batching")
        assert [i.name for i in cfg.input] == list(es.loaded(name).model.inputs)
        assert [o.name for o in cfg.output] == ["logits"] and list(cfg.output[0].dims) == [8]
        if name != "audio":
            faces = next(i for i in cfg.input if i.name == "faces")
            assert list(faces.dims) == [15, 3, es.FACE, es.FACE]
        assert cfg.parameters["classes"].string_value.split(",")[0] == "neutral"

    ens = _parse(tmp_path / "repo" / "emofusion" / "config.pbtxt")
    assert ens.platform == "ensemble"
    assert [s.model_name for s in ens.ensemble_scheduling.step] == ["ia", "lt"]
    assert sorted(o.name for o in ens.output) == ["ia_logits", "lt_logits"]


def test_export_cli_writes_triton_repository(tmp_path, monkeypatch):
    from emofusion.cli import main

    monkeypatch.setenv("EMOFUSION_CACHE", str(tmp_path / "cache"))
    ckpt = es.checkpoint("audio")
    assert main(["export", str(ckpt.parent), "--to", "triton", "--out", str(tmp_path / "repo")]) == 0
    assert _parse(tmp_path / "repo" / "audio" / "config.pbtxt").name == "audio"


def test_export_cli_refuses_misuse(tmp_path, capsys):
    from emofusion.cli import main

    assert main(["export", str(tmp_path / "nothing.pt")]) == 2
    assert main(["export", str(es.checkpoint("audio")), "--int8"]) == 2
    assert main(["export", str(es.checkpoint("audio")), "--to", "triton"]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint" in err and "--calib-cache" in err and "--out" in err
    assert "Traceback" not in err
