"""`emofusion predict` as users run it: JSON on a real clip, a bad file, mixed, no models."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import webapp_support as ws

pytestmark = pytest.mark.slow


def predict(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "emofusion", "predict", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ws.REPO)


def test_predict_json_on_real_clip_and_bad_file():
    bad = ws.work_dir() / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    good = ws.source_clip()
    r = predict(str(good), str(bad), "--json", "--models", str(ws.models_dir()))
    assert r.returncode == 0, r.stderr  # one clip worked
    out = json.loads(r.stdout)
    assert [p["ok"] for p in out] == [True, False]
    assert {"ia", "lt"} <= set(out[0]["models"]) and out[0]["clip"] == str(good)
    assert out[0]["models"]["ia"]["streams"]["voice"]["top"] and out[0]["models"]["ia"]["driver"]["stream"]
    assert out[1]["error"]["code"] == "unreadable"
    assert "Traceback" not in r.stdout + r.stderr


def test_predict_photo_and_table(fixtures_dir):
    r = predict(str(fixtures_dir / "Actor_01.png"), str(ws.source_clip()), "--models", str(ws.models_dir()))
    assert r.returncode == 0, r.stderr
    header, _, photo, clip = r.stdout.splitlines()[:4]
    assert header.split()[:2] == ["clip", "answer"] and "IA" in header and "FACE" in header
    assert "(face)" in photo and "photo" in photo  # the answer's basis and the notice
    # the answer's basis is what the answering model read: both streams (a fusion) or the voice
    # (the voice model); fusion cells show each stream alone
    assert ("(face+voice)" in clip or "(voice)" in clip) and "v:" in clip and "f:" in clip
    assert "Traceback" not in r.stdout + r.stderr


def test_predict_table_and_exit_code_when_all_fail():
    bad = ws.work_dir() / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    missing = ws.work_dir() / "missing.mp4"
    r = predict(str(bad), str(missing), "--models", str(ws.models_dir()))
    assert r.returncode == 1
    assert "ERROR" in r.stdout and "bad.mp4" in r.stderr and "could not be found" in r.stderr
    assert "Traceback" not in r.stdout + r.stderr


def test_predict_without_models_says_how_to_fix(tmp_path):
    r = predict(str(ws.source_clip()), "--models", str(tmp_path / "nothing"))
    assert r.returncode == 2
    assert "does not exist" in r.stderr and "--models" in r.stderr and "Traceback" not in r.stderr


def _result(top: str, p: float) -> dict:
    from emofusion.constants import CLASSES

    return {"probs": {c: (p if c == top else (1 - p) / 7) for c in CLASSES}, "top": top, "top_prob": p}


def test_timeline_table_shows_each_window_and_the_whole_clip_rule():
    from emofusion.webapp.predict_cli import format_table, format_timeline

    windows = [{"start_s": s, "end_s": s + 3.6, "models": {"ia": _result(top, 0.6), "audio": _result("sad", 0.5)}}
               for s, top in ((0.0, "happy"), (1.8, "angry"), (3.6, "happy"))]
    p = {"ok": True, "clip": "long.mp4", "answer": None, "agree": None, "notices": [], "windows": windows,
         "models": {"ia": _result("happy", 0.45), "audio": _result("sad", 0.5)}}
    text = format_timeline(p)
    assert "long.mp4: timeline of 3 windows of 3.6 s every 1.8 s" in text
    assert "mean of its windows' probabilities" in text
    rows = [line.split() for line in text.splitlines()[3:]]
    assert rows == [["0.0-3.6", "happy", "60%", "sad", "50%"], ["1.8-5.4", "angry", "60%", "sad", "50%"],
                    ["3.6-7.2", "happy", "60%", "sad", "50%"], ["whole", "clip", "happy", "45%", "sad", "50%"]]
    assert text in format_table([p])  # the table is followed by each long clip's timeline
    one = dict(p, windows=windows[:1])
    assert format_timeline(one) == "" and "timeline" not in format_table([one])


def test_predict_table_has_a_timeline_for_a_long_clip(fixtures_dir):
    """A real 8 s clip: 4 windows (3.6 s, every 1.8 s, the last one ending at 8 s); the whole-clip
    row is what the model's own column says."""
    import numpy as np
    from PIL import Image

    from emofusion.media.synth import write_clip

    face = np.asarray(Image.open(fixtures_dir / "Actor_01.png").convert("RGB"))
    clip = write_clip(ws.work_dir() / "long8.mp4", face_image=face, seconds=8.0, fps=10, size=(320, 240))
    r = predict(str(clip), "--models", str(ws.models_dir()))
    assert r.returncode == 0, r.stderr
    table, timeline = r.stdout.split("\n\n")
    head, _, row = table.splitlines()
    assert "window" in row
    title, cols, _, *rows = timeline.splitlines()
    assert "timeline of 4 windows of 3.6 s every 1.8 s" in title and "mean of its windows' probabilities" in title
    assert [r.split()[0] for r in rows] == ["0.0-3.6", "1.8-5.4", "3.6-7.2", "4.4-8.0", "whole"]
    names = cols.split()[2:]
    whole = rows[-1].split()[2:]
    for i, name in enumerate(names):  # whole-clip top class and % = the table's cell for that model
        start = head.index(name)
        assert row[start:].startswith(f"{whole[2 * i]} {whole[2 * i + 1]}"), (name, row)
