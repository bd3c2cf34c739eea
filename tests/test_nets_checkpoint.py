"""Checkpoints: round trip to the same logits, refusal of foreign files, published-layout loading."""

from __future__ import annotations

import json

import pytest
import torch

from emofusion.config import AudioConfig, MediaConfig
from emofusion.constants import CLASSES
from emofusion.nets.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_efficientface_pretrained,
    save_checkpoint,
)
from emofusion.nets.efficientface import EfficientFace
from emofusion.nets.registry import create_model


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _perturb_bn(model: torch.nn.Module) -> None:
    """Non-default running stats, so a round trip that lost buffers would change the logits."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def test_round_trip_same_logits(tmp_path):
    model = create_model("ia", face_size=112, gate="raw").eval()
    _perturb_bn(model)
    media = MediaConfig(window_s=3.0, audio=AudioConfig(n_mfcc=10))
    path = save_checkpoint(tmp_path / "sub" / "model.pt", model, model.cfg, media, {"fold": 2, "acc": 0.5})
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    loaded = load_checkpoint(path)
    assert loaded.model_cfg == model.cfg and loaded.media_cfg == media
    assert loaded.meta == {"fold": 2, "acc": 0.5} and loaded.classes == CLASSES
    assert len(loaded.sha256) == 64 and not loaded.model.training
    g = torch.Generator().manual_seed(0)
    audio, faces = torch.randn(2, 10, 156, generator=g), torch.rand(2, 4, 3, 112, 112, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(audio, faces), model(audio, faces), rtol=0, atol=0)


def test_meta_must_be_json(tmp_path):
    model = create_model("audio")
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(tmp_path / "m.pt", model, model.cfg, MediaConfig(), {"x": object()})


def test_refuses_foreign_files(tmp_path):
    not_torch = tmp_path / "notes.pt"
    not_torch.write_text("hello, not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch"):
        load_checkpoint(not_torch)
    plain = tmp_path / "plain.pt"
    torch.save(create_model("audio").state_dict(), plain)
    with pytest.raises(CheckpointError, match="not an emofusion checkpoint"):
        load_checkpoint(plain)
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.pt")


def test_refuses_damaged_checkpoint(tmp_path):
    model = create_model("audio")
    path = save_checkpoint(tmp_path / "m.pt", model, model.cfg, MediaConfig())
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["head.weight"]
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="damaged or incompatible"):
        load_checkpoint(path)


def test_load_published_efficientface_layout(tmp_path):
    """A file laid out like EfficientFace_Trained_on_AffectNet7.pth.tar: {'state_dict': module.* + fc}."""
    source = EfficientFace()
    _perturb_bn(source)
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    state["module.fc.weight"] = torch.zeros(7, 1024)
    state["module.fc.bias"] = torch.zeros(7)
    state["module.conv5.0.weight"] = torch.zeros(512, 464, 1, 1)  # wrong shape: reported, not loaded
    state["module.extra.weight"] = torch.zeros(3)
    path = tmp_path / "EfficientFace_Trained_on_AffectNet7.pth.tar"
    torch.save({"epoch": 10, "state_dict": state, "best_acc": torch.tensor(60.0)}, path)

    model = create_model("lt", face_size=112)
    report = load_efficientface_pretrained(model, path)
    assert sorted(report.dropped) == ["module.fc.bias", "module.fc.weight"]
    assert report.shape_mismatched == ["module.conv5.0.weight"]
    assert report.unexpected == ["module.extra.weight"]
    assert report.missing == ["conv5.0.weight"]
    assert len(report.matched) == len(source.state_dict()) - 1
    for name, value in source.state_dict().items():
        if name != "conv5.0.weight":
            assert torch.equal(model.face.state_dict()[name], value), name

    with pytest.raises(CheckpointError, match="no key matches"):
        bogus = tmp_path / "bogus.pth"
        torch.save({"state_dict": {"module.nothing": torch.zeros(1)}}, bogus)
        load_efficientface_pretrained(model, bogus)
    with pytest.raises(TypeError, match="no EfficientFace"):
        load_efficientface_pretrained(create_model("audio"), path)


def test_safetensors_conversion_round_trip(tmp_path):
    """`.pt` -> model.safetensors + config.json: same configs, meta and logits; the dir loads."""
    import json

    from emofusion.nets.checkpoint import CONFIG, WEIGHTS, convert_checkpoint, model_sha256

    model = create_model("lt", face_size=64, n_frames=3).eval()
    _perturb_bn(model)
    media = MediaConfig(window_s=3.0, audio=AudioConfig(n_mfcc=10))
    pt = save_checkpoint(tmp_path / "run" / "best.pt", model, model.cfg, media, {"fold": 1})
    weights, config = convert_checkpoint(pt, tmp_path / "models" / "lt")
    assert weights.name == WEIGHTS and config.name == CONFIG and not list(weights.parent.glob("*.tmp"))
    cfg = json.loads(config.read_text())
    assert cfg["format"] == "emofusion-model" and cfg["meta"] == {"fold": 1}
    assert cfg["converted_from"]["file"] == "best.pt" and cfg["classes"] == list(CLASSES)
    for source in (weights.parent, weights):
        loaded = load_checkpoint(source)
        assert loaded.model_cfg == model.cfg and loaded.media_cfg == media and loaded.meta == {"fold": 1}
        assert loaded.sha256 == model_sha256(weights.parent) != model_sha256(pt)
        g = torch.Generator().manual_seed(0)
        audio, faces = torch.randn(2, 10, 156, generator=g), torch.rand(2, 3, 3, 64, 64, generator=g)
        with torch.no_grad():
            torch.testing.assert_close(loaded.model(audio, faces), model(audio, faces), rtol=0, atol=0)
    # a trainer's .pt still loads, and a dir holding both prefers the shipped pair
    assert load_checkpoint(pt).meta == {"fold": 1}
    (weights.parent / "model.pt").write_bytes(b"not a checkpoint")
    assert load_checkpoint(weights.parent).meta == {"fold": 1}


def test_safetensors_pair_must_belong_together(tmp_path):
    import json

    from emofusion.nets.checkpoint import convert_checkpoint

    a, b = create_model("audio").eval(), create_model("audio", dropout=0.1).eval()
    with torch.no_grad():
        for p in b.parameters():
            p.add_(0.5)
    wa, ca = convert_checkpoint(save_checkpoint(tmp_path / "a.pt", a, a.cfg, MediaConfig()), tmp_path / "A")
    wb, _ = convert_checkpoint(save_checkpoint(tmp_path / "b.pt", b, b.cfg, MediaConfig()), tmp_path / "B")
    wa.write_bytes(wb.read_bytes())  # weights swapped under a config written for others
    with pytest.raises(CheckpointError, match="not the weights"):
        load_checkpoint(tmp_path / "A")
    ca.unlink()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(wa)
    (tmp_path / "A" / "config.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CheckpointError, match="not an emofusion model config"):
        load_checkpoint(tmp_path / "A")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="holds no model.safetensors"):
        load_checkpoint(tmp_path / "empty")


def test_export_command_converts_to_safetensors(tmp_path, capsys):
    from emofusion import cli

    model = create_model("audio").eval()
    pt = save_checkpoint(tmp_path / "fold_1" / "best.pt", model, model.cfg, MediaConfig(), {"n": 1})
    assert cli.main(["export", str(pt), "--to", "safetensors", "--out", str(tmp_path / "models" / "audio")]) == 0
    assert load_checkpoint(tmp_path / "models" / "audio").meta == {"n": 1}
    assert "model.safetensors" in capsys.readouterr().out
    # a temperature fitted for the weights being replaced goes with them; one for these stays
    calibration = tmp_path / "models" / "audio" / "calibration.json"
    calibration.write_text(json.dumps({"temperature": 2.0, "sha256": "0" * 64}))
    assert cli.main(["export", str(pt), "--to", "safetensors", "--out", str(tmp_path / "models" / "audio")]) == 0
    assert not calibration.exists() and "removed calibration.json" in capsys.readouterr().out
    sha = load_checkpoint(tmp_path / "models" / "audio").sha256
    calibration.write_text(json.dumps({"temperature": 2.0, "sha256": sha}))
    assert cli.main(["export", str(pt), "--to", "safetensors", "--out", str(tmp_path / "models" / "audio")]) == 0
    assert calibration.exists()
    bad = tmp_path / "bad.pt"
    bad.write_text("junk")
    assert cli.main(["export", str(bad), "--to", "safetensors", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "not a readable PyTorch" in err and "Traceback" not in err
