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
