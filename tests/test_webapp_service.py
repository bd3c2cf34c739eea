"""The guard in front of the predictor: checks that need no model, and the models-dir messages."""

from __future__ import annotations

import pytest

from emofusion.errors import ModelsNotFound
from emofusion.webapp.config import WebAppConfig
from emofusion.webapp.service import AnalysisService, check_models_dir


class Unused:
    """Stands for the predictor in checks that must refuse before any analysis starts."""

    def analyze(self, path):
        raise AssertionError("the predictor must not be reached")


def test_oversized_file_is_refused_before_analysis(tmp_path):
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * 3 * 2**20)
    service = AnalysisService(Unused(), WebAppConfig(max_upload_mb=2))
    p = service.analyze(big).payload
    assert not p["ok"] and p["error"]["code"] == "too_large"
    assert "3.0 MB" in p["error"]["message"] and "2 MB" in p["error"]["message"]


def test_no_clip_and_missing_file_are_explained(tmp_path):
    service = AnalysisService(Unused(), WebAppConfig())
    assert service.analyze(None).payload["error"]["code"] == "no_file"
    p = service.analyze(tmp_path / "gone.mp4").payload
    assert p["error"]["code"] == "no_file" and "gone.mp4" in p["error"]["message"]


def test_models_dir_missing_or_empty_says_how_to_fix(tmp_path):
    with pytest.raises(ModelsNotFound, match="does not exist.*--models"):
        check_models_dir(tmp_path / "nope", ("ia", "lt"))
    with pytest.raises(ModelsNotFound, match="no trained model in"):
        check_models_dir(tmp_path)  # any model will do, and there is none
    (tmp_path / "ia").mkdir()
    (tmp_path / "ia" / "model.pt").write_bytes(b"x")
    with pytest.raises(ModelsNotFound, match="no trained model for lt"):
        check_models_dir(tmp_path, ("ia", "lt"))
    (tmp_path / "lt").mkdir()
    (tmp_path / "lt" / "model.safetensors").write_bytes(b"x")
    with pytest.raises(ModelsNotFound, match="no trained model for lt"):  # weights without config.json
        check_models_dir(tmp_path, ("ia", "lt"))
    (tmp_path / "lt" / "config.json").write_text("{}")
    check_models_dir(tmp_path, ("ia", "lt"))
    check_models_dir(tmp_path)


def test_webapp_command_refuses_missing_models_without_traceback(tmp_path, capsys):
    from emofusion import cli

    assert cli.main(["webapp", "--models", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


class Recording:
    """A predictor that records what it was asked and answers with a given result or error."""

    def __init__(self, error: Exception | None = None):
        self.calls: list[str] = []
        self.error = error

    def analyze(self, path):
        self.calls.append(path)
        if self.error:
            raise self.error

        class Analysis:
            inputs = media_config = None

            def to_dict(self):
                return {"error": None, "models": {}, "notices": [], "windows": []}
        return Analysis()


def test_warm_up_analyses_the_clip_and_never_raises(tmp_path, caplog):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    ok = Recording()
    assert AnalysisService(ok, WebAppConfig()).warm_up(clip) is True and ok.calls == [str(clip)]
    broken = Recording(RuntimeError("decoder exploded"))
    assert AnalysisService(broken, WebAppConfig()).warm_up(clip) is False and broken.calls == [str(clip)]
    assert "warm-up on clip.mp4 failed" in caplog.text
