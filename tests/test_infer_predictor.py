"""Predictor end to end on real clips: one decode per MediaConfig, JSON-able result, windows for
long clips, typed errors for bad files."""

from __future__ import annotations

import dataclasses
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
    window = [n["message"] for n in d["notices"] if n["code"] == "window"]
    assert len(window) == 1 and f"{len(d['windows'])} windows" in window[0] and "mean" in window[0]


def test_bad_files_become_typed_errors(models_dir, tmp_path):
    from emofusion.errors import ModelsNotFound
    from emofusion.infer.predictor import Predictor

    p = Predictor(models_dir, names=("ia",), backend="torch")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    for path, code in ((junk, "unreadable"), (tmp_path / "missing.mp4", "unreadable")):
        d = p.analyze(path).to_dict()
        assert d["error"]["code"] == code and d["models"] == {} and d["error"]["message"]
    with pytest.raises(ModelsNotFound, match="no model 'xx'"):
        Predictor(models_dir, names=("xx",))
    with pytest.raises(ModelsNotFound, match="does not exist"):
        Predictor(tmp_path / "nowhere")


# --- emofusion.load, face-only answers (photos, clips without audio), what each stream says ---


@pytest.fixture()
def all_kinds(tmp_path, monkeypatch):
    """A models dir with a fusion (ia), a voice model (audio) and a face model (face: 48 px grey,
    otherwise the fusion's face path, as shipped), the shipped layout for one (safetensors + config.json)."""
    import torch

    from emofusion.nets.checkpoint import convert_checkpoint, load_checkpoint, save_checkpoint
    from emofusion.nets.registry import create_model

    monkeypatch.setenv("EMOFUSION_CACHE", str(tmp_path / "cache"))
    d = tmp_path / "models"
    for name in ("ia", "audio"):
        (d / name).mkdir(parents=True)
        shutil.copyfile(es.checkpoint(name), d / name / "model.pt")
    torch.manual_seed(7)
    face = create_model("face", face_size=48, face_grey=True).eval()
    ia_media = load_checkpoint(es.checkpoint("ia")).media_cfg  # the fusion's face path, 48 px crops
    media = dataclasses.replace(ia_media, video=dataclasses.replace(ia_media.video, face_size=48))
    pt = save_checkpoint(tmp_path / "face.pt", face, face.cfg, media, {"note": "untrained"})
    convert_checkpoint(pt, d / "face")
    return d


def test_load_discovers_every_model_fusions_first(all_kinds):
    import emofusion

    p = emofusion.load(all_kinds, backend="torch")
    assert list(p.models) == ["ia", "audio", "face"]
    assert [m.kind for m in p.models.values()] == ["fusion", "voice", "face"]
    assert p.models["face"].media_cfg.video.face_size == 48  # each model keeps its own config
    assert list(emofusion.load(all_kinds, names=["face"], backend="torch").models) == ["face"]
    assert list(emofusion.load(all_kinds, names="audio", backend="torch").models) == ["audio"]


def test_models_share_decodes_of_the_streams_they_read(all_kinds, decode_counter, tmp_path, fixtures_dir):
    """The voice model reads the fusion's audio (its own face settings do not matter); the face
    model, whose faces differ only in side, reads the fusion's crops scaled down: one decode."""
    import emofusion
    from emofusion.media.clip import load_clip

    p = emofusion.load(all_kinds, backend="torch")
    plan = [(cfg.video.face_size, want, [m.name for m in models]) for cfg, want, models in p.decode_plan()]
    big = p.models["ia"].media_cfg.video.face_size
    assert big > 48 and plan == [(big, ("audio", "faces"), ["ia", "audio", "face"])]
    # either order gives one decode at the larger side
    swapped = emofusion.load(all_kinds, names=["face", "ia"], backend="torch")
    assert [(c.video.face_size, [m.name for m in ms]) for c, _, ms in swapped.decode_plan()] == [(big, ["face", "ia"])]
    clip = es.EXAMPLES / "1001_DFA_ANG_XX.mp4"
    d = p.analyze(clip).to_dict()
    assert decode_counter == {"load_clip": 1, "clip_windows": 0} and set(d["models"]) == {"ia", "audio", "face"}
    # the scaled crops are close to cutting at 48 px directly (same boxes, same antialiased filter)
    face_cfg = p.models["face"].media_cfg
    shared = load_clip(clip, p.decode_plan()[0][0]).model_inputs(face_cfg)["faces"]
    direct = load_clip(clip, face_cfg).model_inputs(face_cfg)["faces"]
    assert shared.shape == direct.shape == (face_cfg.video.n_frames, 3, 48, 48)
    assert np.abs(shared - direct).mean() < 0.02
    # a face model sampling other frames cannot share crops: it gets a faces-only decode
    other = dataclasses.replace(face_cfg, video=dataclasses.replace(face_cfg.video, n_frames=3))
    p.models["face"] = dataclasses.replace(p.models["face"], media_cfg=other)
    assert [(want, [m.name for m in ms]) for _, want, ms in p.decode_plan()] == [
        (("audio", "faces"), ["ia", "audio"]), (("faces",), ["face"])]
    p.models["face"] = dataclasses.replace(p.models["face"], media_cfg=face_cfg)
    # a voice-only file: the face model finds nothing to read, which is not an error
    d = p.analyze(fixtures_dir / "03-01-05-02-01-01-01.flac").to_dict()
    assert d["error"] is None and set(d["models"]) == {"ia", "audio"} and set(d["skipped"]) == {"face"}
    assert d["answer"] == {**d["answer"], "model": "audio", "basis": "voice"}
    only_face = emofusion.load(all_kinds, names=["face"], backend="torch")
    d = only_face.analyze(fixtures_dir / "03-01-05-02-01-01-01.flac").to_dict()
    assert d["error"]["code"] == "no_streams" and d["models"] == {} and d["skipped"] == {}
    assert "they need a face" in d["error"]["message"]


def test_import_emofusion_stays_light():
    import subprocess
    import sys

    code = ("import sys, emofusion; assert callable(emofusion.load); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnxruntime', 'gradio', 'av')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_clip_fusion_streams_are_the_model_with_one_stream_zeroed(all_kinds):
    import emofusion

    p = emofusion.load(all_kinds, backend="torch")
    a = p.analyze(es.EXAMPLES / "1001_DFA_HAP_XX.mp4")
    d = json.loads(json.dumps(a.to_dict()))
    assert d["input"] == "clip" and d["streams_present"] == {"voice": True, "face": True}
    assert set(d["models"]) == {"ia", "audio", "face"} and d["skipped"] == {}
    assert d["answer"]["model"] == "ia" and d["answer"]["basis"] == "face+voice"
    ia = d["models"]["ia"]
    assert ia["kind"] == "fusion" and set(ia["streams"]) == {"voice", "face"}
    feeds = {k: v[None] for k, v in a.inputs.model_inputs(a.media_config).items()}

    def probs(f):
        t = es.torch_logits("ia", f)[0]
        return np.exp(t - t.max()) / np.exp(t - t.max()).sum()

    voice = probs({"audio": feeds["audio"], "faces": np.zeros_like(feeds["faces"])})
    face = probs({"audio": np.zeros_like(feeds["audio"]), "faces": feeds["faces"]})
    assert np.abs(np.array(list(ia["streams"]["voice"]["probs"].values())) - voice).max() < 1e-5
    assert np.abs(np.array(list(ia["streams"]["face"]["probs"].values())) - face).max() < 1e-5
    assert ia["driver"]["stream"] in ("voice", "face", "both") and ia["driver"]["message"]
    for single in ("audio", "face"):
        assert "streams" not in d["models"][single]


def test_photo_gets_a_face_only_answer(all_kinds, fixtures_dir, tmp_path):
    import emofusion

    p = emofusion.load(all_kinds, backend="torch")
    for photo in (fixtures_dir / "Actor_01.png", shutil.copyfile(fixtures_dir / "Actor_01.png", tmp_path / "p.mp4")):
        a = p.analyze(photo)
        d = a.to_dict()
        assert d["error"] is None and d["input"] == "photo", d
        assert d["streams_present"] == {"voice": False, "face": True}
        assert set(d["models"]) == {"ia", "face"} and set(d["skipped"]) == {"audio"}
        assert d["answer"]["model"] == "face" and d["answer"]["basis"] == "face"
        (notice,) = [n for n in d["notices"] if n["code"] == "photo"]
        assert "face-only answer" in notice["message"] and "face model" in notice["message"]
        assert d["models"]["ia"]["streams"]["voice"] is None and d["models"]["ia"]["driver"]["stream"] == "face"
        # the 5 faces are the one crop the video path's FaceCropper cut from the photo
        v = a.media_config.video  # the first model's (ia: 15 frames of 64 px)
        assert a.inputs.faces.shape == (v.n_frames, 3, v.face_size, v.face_size) and a.inputs.audio is None
        assert a.inputs.faces.std() > 10 and (a.inputs.faces == a.inputs.faces[0]).all()


def test_clip_without_audio_gets_the_face_model(all_kinds, fixtures_dir, tmp_path):
    from PIL import Image

    import emofusion
    from emofusion.media.synth import write_clip

    face = np.asarray(Image.open(fixtures_dir / "Actor_01.png").convert("RGB"))
    clip = write_clip(tmp_path / "silent_film.mp4", face_image=face, seconds=3.0, size=(320, 240), fps=15, audio=None)
    d = emofusion.load(all_kinds, backend="torch").analyze(clip).to_dict()
    assert d["error"] is None and d["streams_present"] == {"voice": False, "face": True}
    assert d["answer"]["model"] == "face" and "audio" in d["skipped"]
    (notice,) = [n for n in d["notices"] if n["code"] == "no_audio"]
    assert "face-only answer (face model" in notice["message"]


def test_bad_photos_are_typed_errors(all_kinds, tmp_path):
    import emofusion

    p = emofusion.load(all_kinds, names=["face"], backend="torch")
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (320, 240), (128, 128, 128)).save(blank)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image" * 10)
    for path, code in ((blank, "no_face"), (junk, "unreadable"), (tmp_path / "gone.webp", "unreadable")):
        d = p.analyze(path).to_dict()
        assert d["error"]["code"] == code and d["models"] == {} and d["answer"] is None, d


def test_decision_driver():
    from emofusion.constants import CLASSES
    from emofusion.infer.predictor import decision_driver

    def onehot(i, p=0.6):
        v = np.full(8, (1 - p) / 7)
        v[i] = p
        return v

    happy, sad, angry = CLASSES.index("happy"), CLASSES.index("sad"), CLASSES.index("angry")
    assert decision_driver(onehot(happy), onehot(happy), onehot(sad), CLASSES)["stream"] == "voice"
    assert decision_driver(onehot(happy), onehot(sad), onehot(happy), CLASSES)["stream"] == "face"
    assert decision_driver(onehot(happy), onehot(happy), onehot(happy), CLASSES)["stream"] == "both"
    # neither alone says happy: the stream whose removal costs p(happy) most
    d = decision_driver(onehot(happy, 0.5), onehot(sad, 0.4), onehot(angry), CLASSES)
    assert d["basis"] == "shift" and d["without_voice"] == pytest.approx(onehot(angry)[happy] - 0.5, abs=1e-4)
    assert decision_driver(onehot(happy), None, onehot(happy), CLASSES)["stream"] == "face"


def _card(d, acc: float, n: int = 5) -> None:
    metrics = {"all_folds": {"full": {"accuracy": {"mean": acc, "std": 0.01, "n": n}}}}
    (d / "card.json").write_text(json.dumps({"metrics": metrics}))


def test_the_best_cross_validated_voice_model_gives_the_headline_answer(all_kinds, fixtures_dir):
    import emofusion
    from emofusion.infer.predictor import cv_accuracy

    clip = es.EXAMPLES / "1001_DFA_ANG_XX.mp4"
    assert emofusion.load(all_kinds, backend="torch").voice_ranking == []  # no cards: no comparison
    _card(all_kinds / "ia", 0.60)
    _card(all_kinds / "audio", 0.67)
    p = emofusion.load(all_kinds, backend="torch")
    assert p.voice_ranking == ["audio", "ia"] and list(p.models) == ["ia", "audio", "face"]  # display order kept
    d = p.analyze(clip).to_dict()
    assert d["answer"]["model"] == "audio" and d["answer"]["basis"] == "voice"  # the voice model read only the voice
    assert d["answer"]["top"] == d["models"]["audio"]["top"]
    _card(all_kinds / "ia", 0.70)
    assert emofusion.load(all_kinds, backend="torch").analyze(clip).to_dict()["answer"]["model"] == "ia"
    # one fold is a test figure, not cross-validation: no ranking, the fusion answers
    _card(all_kinds / "ia", 0.70, n=1)
    assert cv_accuracy(json.loads((all_kinds / "ia" / "card.json").read_text())) is None
    p = emofusion.load(all_kinds, backend="torch")
    assert p.voice_ranking == [] and p.analyze(clip).to_dict()["answer"]["model"] == "ia"
    # a photo has no voice: the face model answers whatever the ranking says
    _card(all_kinds / "ia", 0.60)
    photo = fixtures_dir / "Actor_01.png"
    assert emofusion.load(all_kinds, backend="torch").analyze(photo).to_dict()["answer"]["model"] == "face"


def test_near_uniform_answers_are_uncertain_by_the_documented_thresholds():
    from emofusion.infer.predictor import UNSURE_MARGIN, UNSURE_TOP, certainty

    flat = np.full(8, 1 / 8)
    flat[2] += 0.02
    assert certainty(flat / flat.sum())["certain"] is False  # "happy 14 %" with no voice
    close = np.array([0.40, 0.35, 0.05, 0.05, 0.05, 0.04, 0.03, 0.03])
    assert certainty(close)["certain"] is False and certainty(close)["margin"] == pytest.approx(0.05)
    clear = np.array([0.55, 0.15, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03])
    assert certainty(clear) == {"certain": True, "margin": pytest.approx(0.40)}
    assert 1 / 8 < UNSURE_TOP < 0.5 and 0 < UNSURE_MARGIN < 0.5


def test_an_uncertain_answer_is_shown_as_uncertain():
    from emofusion.webapp.render import summary_markdown

    answer = {"model": "ia", "top": "happy", "top_prob": 0.14, "basis": "face", "certain": False, "margin": 0.01}
    text = summary_markdown({"answer": answer, "models": {}})
    assert "uncertain" in text and "**Answer: happy**" not in text
    text = summary_markdown({"answer": {**answer, "top_prob": 0.6, "certain": True, "margin": 0.4}, "models": {}})
    assert "**Answer: happy**" in text


def test_the_answer_names_models_that_strongly_disagree():
    """A happy-face / angry-voice clip: IA answers happy, the voice model is sure of angry."""
    from emofusion.constants import CLASSES
    from emofusion.infer.predictor import DISAGREE_TOP, Analysis, ModelResult
    from emofusion.webapp.predict_cli import format_table
    from emofusion.webapp.render import summary_markdown

    def result(top: str, p: float, kind: str) -> ModelResult:
        probs = np.full(8, (1 - p) / 7)
        probs[CLASSES.index(top)] = p
        return ModelResult(probs, tuple(CLASSES), "torch", kind)

    a = Analysis("clip.mp4", present={"voice": True, "face": True})
    a.models = {"ia": result("happy", 0.8, "fusion"), "lt": result("angry", 0.45, "fusion"),  # below DISAGREE_TOP
                "audio": result("angry", 0.97, "voice"), "face": result("happy", 0.6, "face")}
    answer = a.to_dict()["answer"]
    assert answer["model"] == "ia" and answer["disagree"] == {"audio": {"top": "angry", "top_prob": 0.97}}
    assert 0.45 < DISAGREE_TOP <= 0.97
    assert "disagree strongly**: AUDIO says angry (97%)" in summary_markdown(a.to_dict())
    assert "happy (face+voice); AUDIO: angry" in format_table([{**a.to_dict(), "clip": "clip.mp4", "ok": True}])
    a.models["audio"] = result("happy", 0.97, "voice")
    assert a.to_dict()["answer"]["disagree"] == {}


def test_truncated_clip_answers_with_a_damaged_notice(models_dir, tmp_path, fixtures_dir):
    """A generated clip cut to half its bytes still gets an answer, and the JSON says the file is
    damaged and how much of its stated duration was read."""
    from PIL import Image

    import emofusion
    from emofusion.media.synth import write_clip

    face = np.asarray(Image.open(fixtures_dir / "Actor_01.png").convert("RGB"))
    whole = write_clip(tmp_path / "whole.mkv", face_image=face, seconds=5.0, fps=15, size=(320, 240))
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    predictor = emofusion.load(models_dir, backend="torch")
    d = predictor.analyze(cut).to_dict()
    assert d["error"] is None and d["answer"] is not None
    (msg,) = [n["message"] for n in d["notices"] if n["code"] == "damaged"]
    assert "of the 5.0 s the file states" in msg and "% read" in msg
    assert "damaged" not in {n["code"] for n in predictor.analyze(whole).to_dict()["notices"]}
