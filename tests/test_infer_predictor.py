"""Predictor end to end on real clips: one decode per MediaConfig, JSON-able result, windows for
long clips, typed errors for bad files."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import export_support as es

pytestmark = pytest.mark.slow


@pytest.fixture()
def models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOFUSION_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "models"
    for name in ("ia", "lt"):
        (d / name).mkdir(parents=True)
        shutil.copyfile(es.checkpoint(name), d / name / "model.pt")
        shutil.copyfile(es.onnx_file(name), d / name / "model.onnx")  # shipped graph, sha matches
    (d / "ia" / "card.json").write_text(json.dumps({"name": "ia", "note": "test card"}))
    return d


@pytest.fixture()
def decode_counter(monkeypatch):
    """Counts calls into the real decoders (no replacement: the real functions run)."""
    from emofusion.media import clip

    calls = {"load_clip": 0, "clip_windows": 0}
    for fn in calls:
        real = getattr(clip, fn)

        def wrapped(*a, _real=real, _fn=fn, **k):
            calls[_fn] += 1
            return _real(*a, **k)

        monkeypatch.setattr(clip, fn, wrapped)
    return calls


def test_analyze_real_clip_decodes_once_for_both_models(models_dir, decode_counter):
    from emofusion.infer.predictor import Predictor

    p = Predictor(models_dir, names=("ia", "lt"), backend="onnxruntime")
    assert p.models["ia"].card["note"] == "test card"
    assert p.backend.name == "onnxruntime"
    clip = es.EXAMPLES / "1001_DFA_HAP_XX.mp4"
    a = p.analyze(clip)
    assert decode_counter == {"load_clip": 1, "clip_windows": 0}
    d = json.loads(json.dumps(a.to_dict()))  # JSON-able, no arrays
    assert d["error"] is None and set(d["models"]) == {"ia", "lt"}
    for name, r in d["models"].items():
        assert abs(sum(r["probs"].values()) - 1) < 1e-5 and r["top"] in r["probs"]
        assert r["top_prob"] == max(r["probs"].values())
        assert r["backend"].startswith("onnxruntime/CPUExecutionProvider")
    assert d["agree"] == (d["models"]["ia"]["top"] == d["models"]["lt"]["top"])
    assert {"decode", "faces", "features", "ia", "lt", "total"} <= set(d["timings_ms"])
    assert {n["code"] for n in d["notices"]} >= {"padded"}  # a 1.9 s clip in a 3.6 s window
    assert d["windows"] == []
    # the ClipInputs stay available for display
    assert a.inputs.faces.shape == (15, 3, es.FACE, es.FACE) and a.inputs.wave is not None

    # same probabilities as running the checkpoint in torch on the same decoded inputs
    feeds = {k: v[None] for k, v in a.inputs.model_inputs(a.media_config).items()}
    probs = np.array(list(d["models"]["ia"]["probs"].values()))
    t = es.torch_logits("ia", feeds)[0]
    assert np.abs(probs - np.exp(t - t.max()) / np.exp(t - t.max()).sum()).max() < 1e-4


def test_long_clip_gets_windows(models_dir, decode_counter, tmp_path, fixtures_dir):
    from PIL import Image

    from emofusion.infer.predictor import Predictor
    from emofusion.media.synth import write_clip

    face = np.asarray(Image.open(fixtures_dir / "Actor_01.png").convert("RGB"))
    clip = write_clip(tmp_path / "long.mp4", face_image=face, seconds=8.0, size=(320, 240), fps=15)
    p = Predictor(models_dir, names=("ia", "lt"), backend="onnxruntime")
    d = p.analyze(clip).to_dict()
    assert decode_counter == {"load_clip": 0, "clip_windows": 1}
    assert len(d["windows"]) >= 3
    assert d["windows"][0]["start_s"] == 0 and d["windows"][-1]["end_s"] == pytest.approx(8.0, abs=0.1)
    for w in d["windows"]:
        assert set(w["models"]) == {"ia", "lt"}
    mean_ia = np.mean([list(w["models"]["ia"]["probs"].values()) for w in d["windows"]], axis=0)
    assert np.allclose(mean_ia, list(d["models"]["ia"]["probs"].values()), atol=1e-6)


def test_bad_files_become_typed_errors(models_dir, tmp_path):
    from emofusion.cli import UserError
    from emofusion.infer.predictor import Predictor

    p = Predictor(models_dir, names=("ia",), backend="torch")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    for path, code in ((junk, "unreadable"), (tmp_path / "missing.mp4", "unreadable")):
        d = p.analyze(path).to_dict()
        assert d["error"]["code"] == code and d["models"] == {} and d["error"]["message"]
    with pytest.raises(UserError, match="no model 'xx'"):
        Predictor(models_dir, names=("xx",))
