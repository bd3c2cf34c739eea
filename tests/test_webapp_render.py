"""The UI's pictures and text from payloads (no server): shapes, content, empty cases."""

from __future__ import annotations

import numpy as np

from emofusion.constants import CLASSES
from emofusion.webapp import render


def payload(top: str = "happy") -> dict:
    probs = {c: (0.65 if c == top else 0.05) for c in CLASSES}
    res = {"probs": probs, "top": top, "top_prob": 0.65, "backend": "torch/cpu/fp32"}
    return {"ok": True, "models": {"ia": res, "lt": dict(res)}, "agree": True,
            "notices": [{"code": "padded", "message": "clip is 2.10 s; padded to 3.6 s"}],
            "timings_ms": {"decode_audio": 12.5, "total": 480.0}, "windows": [], "error": None}


def test_probs_figure_is_an_rgb_image_per_model():
    img = render.probs_figure(payload()["models"])
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    assert img.shape[1] > img.shape[0]  # two charts side by side
    assert render.probs_figure({}) is None


def test_face_strip_puts_frames_left_to_right():
    faces = np.zeros((15, 3, 224, 224), np.uint8)
    faces[3, 0] = 255  # frame 3 red
    strip = render.face_strip(faces, size=32)
    assert strip.shape == (32, 15 * 32, 3)
    assert strip[:, 3 * 32 : 4 * 32, 0].min() == 255 and strip[:, :32].max() == 0
    assert render.face_strip(None) is None


def test_audio_figure_handles_missing_parts():
    wave = np.sin(np.linspace(0, 100, 79380)).astype(np.float32)
    assert render.audio_figure(wave, 22050, np.zeros((10, 156), np.float32)).ndim == 3
    assert render.audio_figure(None, 22050, None) is None


def test_timeline_only_for_several_windows():
    res = payload()["models"]
    one = [{"start_s": 0.0, "end_s": 3.6, "models": res}]
    assert render.timeline_figure(one) is None
    assert render.timeline_markdown({"windows": one}) == "" and render.timeline_markdown({"windows": []}) == ""
    three = [{"start_s": s, "end_s": s + 3.6, "models": res} for s in (0.0, 1.8, 3.4)]
    img = render.timeline_figure(three, res)
    assert img.ndim == 3 and img.shape[1] >= 900  # drawn at a size the page shows near 1:1 (text >= 11 px)
    # one row a model: twice the models, a taller picture
    four = {**res, "audio": res["ia"], "face": res["ia"]}
    assert render.timeline_figure([dict(w, models=four) for w in three], four).shape[0] > img.shape[0]
    note = render.timeline_markdown({"windows": three})
    assert "3 windows of 3.6 s every 1.8 s (0-7.0 s)" in note
    assert "mean of its windows' probabilities" in note  # the rule the predictor applies


def test_markdown_says_top_classes_agreement_notices_and_errors():
    p = payload()
    summary = render.summary_markdown(p)
    assert "IA" in summary and "LT" in summary and "happy (65%)" in summary and "agree" in summary
    assert "padded" in render.notices_markdown(p)
    timings = render.timings_markdown(p)
    assert "decode_audio" in timings and "torch/cpu/fp32" in timings
    assert "frontend" not in timings  # torch runs each model's own frontends: nothing to explain
    shared = {**p, "models": {n: {**r, "backend": "onnxruntime/CPUExecutionProvider/fp32 (shared frontends)"}
                              for n, r in p["models"].items()}}
    assert "run it once per clip" in render.timings_markdown(shared)  # why ia's row holds the encoder
    err = {"ok": False, "error": {"code": "too_short", "message": "x.mp4: 0.30 s is shorter than 0.5 s"}}
    assert "shorter than 0.5 s" in render.notices_markdown(err)
    assert render.notices_markdown({"notices": []}) == ""


def test_streams_table_and_summary_say_what_each_stream_alone_says():
    def res(top, p=0.65):
        return {"probs": {c: (p if c == top else (1 - p) / 7) for c in CLASSES}, "top": top, "top_prob": p}

    ia = {**res("happy"), "backend": "torch/cpu/fp32", "kind": "fusion",
          "streams": {"voice": res("happy", 0.5), "face": res("sad", 0.4)},
          "driver": {"stream": "voice", "message": "the voice alone says happy too; the face alone says sad"}}
    p = {"ok": True, "answer": {"model": "ia", "top": "happy", "top_prob": 0.65, "basis": "face+voice"},
         "models": {"ia": ia, "face": {**res("sad", 0.4), "backend": "torch/cpu/fp32", "kind": "face"}},
         "skipped": {}, "agree": None, "notices": []}
    summary = render.summary_markdown(p)
    assert "**Answer: happy** (65%, IA, from face+voice)" in summary
    assert "voice alone: happy (50%), face alone: sad (40%); driven by: voice" in summary
    assert "**FACE**: sad (40%) (face model)" in summary and "agree" not in summary
    table = render.streams_markdown(p)
    assert "| IA | happy (65%) | happy (50%) | sad (40%) | voice |" in table
    # a photo: no voice, so the voice column says so; single-stream models get no row
    photo = dict(p, models={"ia": {**ia, "streams": {"voice": None, "face": res("sad", 0.4)},
                                   "driver": {"stream": "face", "message": "only the face was available"}}},
                 skipped={"audio": "a voice model; the input has no voice"})
    assert "| IA | happy (65%) | absent | sad (40%) | face |" in render.streams_markdown(photo)
    assert "**AUDIO**: no answer (a voice model; the input has no voice)" in render.summary_markdown(photo)
    assert render.streams_markdown({"models": {"face": p["models"]["face"]}}) == ""


def test_empty_panels_and_cards_say_why():
    """No voice: the voice model's card and the audio panel say so; no face: the face panel says
    so; a panel that shows something, or an error, gets no sentence."""
    p = payload()
    p.update(input="clip", streams_present={"voice": False, "face": True}, skipped={
        "audio": "a voice model; the input has no voice"},
        notices=[{"code": "no_audio", "message": "no audio track: face-only answer"}])
    assert render.card_value(p, "audio") == "No answer: the input has no voice"
    assert render.card_value(p, "ia")["happy"] == 0.65 and render.card_value(p, "lt_missing") is None
    face, voice = render.empty_panel_notes(p, faces_shown=True, audio_shown=False)
    assert face == "" and "No voice" in voice and "no audio track" in voice and "face alone" in voice
    photo = dict(p, input="photo", notices=[{"code": "photo", "message": "a still photo"}])
    assert "a photo has no voice" in render.empty_panel_notes(photo, True, False)[1]
    no_face = dict(p, streams_present={"voice": True, "face": False}, skipped={},
                   notices=[{"code": "no_face", "message": "no face found"}])
    face, voice = render.empty_panel_notes(no_face, faces_shown=False, audio_shown=True)
    assert "no face was found" in face and "voice alone" in face and voice == ""
    assert render.empty_panel_notes(p, True, True) == ("", "")
    err = {"ok": False, "error": {"code": "unreadable", "message": "x"}, "models": {}}
    assert render.empty_panel_notes(err, False, False) == ("", "")


def test_an_uncertain_models_card_is_headed_uncertain():
    """A model too close to call gets "uncertain (leans to X)" over its bars, not a bold class."""
    from emofusion.webapp.app import model_card_class

    p = payload()
    p["models"]["ia"].update(certain=False, margin=0.02)
    value = render.card_value(p, "ia")
    assert value["heading"] == f"uncertain (leans to {p['models']['ia']['top']})"
    data = model_card_class()(num_top_classes=3).postprocess(value)
    assert data.label == value["heading"] and len(data.confidences) == 3
    assert data.confidences[0].label == p["models"]["ia"]["top"]
    p["models"]["ia"]["certain"] = True
    assert model_card_class()(num_top_classes=3).postprocess(render.card_value(p, "ia")).label == p["models"]["ia"]["top"]
    assert render.feature_name("whisper").startswith("log-mel") and render.feature_name("mfcc") == "MFCC"



def test_gradio_stubs_stay_where_they_belong():
    """Gradio writes a .pyi beside the module of every component class it sees defined: only
    webapp/model_card.py defines one, and its committed stub is what Gradio writes (no git noise)."""
    from pathlib import Path

    from emofusion.webapp.app import model_card_class

    model_card_class()
    pkg = Path(__file__).resolve().parents[1] / "emofusion"
    assert sorted(p.relative_to(pkg).as_posix() for p in pkg.rglob("*.pyi")) == ["webapp/model_card.pyi"]
    assert "class ModelCard(gr.Label)" in (pkg / "webapp" / "model_card.pyi").read_text()
