"""Every kind of bad or unusual input through the API: a friendly answer, never a traceback,
and the server keeps serving afterwards."""

from __future__ import annotations

import urllib.request

import httpx
import pytest
import webapp_support as ws

from emofusion.media.synth import write_clip

pytestmark = pytest.mark.slow

CLIP_ERRORS = {"unreadable", "no_streams", "too_short", "too_long", "no_file", "too_large"}


@pytest.fixture(scope="module")
def inputs() -> dict:
    """name -> path of each generated input (written once)."""
    d = ws.work_dir() / "inputs"
    d.mkdir(exist_ok=True)
    src = ws.source_clip()
    face = ws.face_frame(src)
    data = src.read_bytes()
    out = {}
    (d / "notes.mp4").write_text("this is a text file, not a video\n")
    out["not_a_video"] = d / "notes.mp4"
    (d / "noise.mkv").write_bytes(bytes(range(256)) * 200)
    out["corrupt"] = d / "noise.mkv"
    (d / "truncated.mp4").write_bytes(data[: len(data) // 3])
    out["truncated"] = d / "truncated.mp4"
    out["no_audio"] = write_clip(d / "mute.mp4", face_image=face, audio=None, size=(480, 360))
    out["no_face"] = write_clip(d / "noface.mp4", face_image=None, size=(480, 360))
    out["too_short"] = write_clip(d / "short.mp4", face_image=face, seconds=0.3, size=(320, 240))
    out["too_long"] = write_clip(d / "tenminutes.mp4", face_image=None, seconds=601, fps=1, size=(64, 48),
                                 audio=None)  # over MediaConfig.max_clip_s (600 s), tiny to write
    out["long"] = write_clip(d / "long.mkv", face_image=face, seconds=12.0, fps=10, size=(320, 240))
    out["odd_size_rotated_low_fps"] = write_clip(d / "rot.mov", face_image=face, seconds=3.0, fps=12,
                                                 size=(317, 239), rotation_deg=90)
    out["vfr_webm"] = write_clip(d / "vfr.webm", face_image=face, seconds=3.0, vfr=True, size=(400, 300))
    out["avi"] = write_clip(d / "clip.avi", face_image=face, seconds=2.5, size=(352, 288))
    return out


def assert_still_serving() -> None:
    with urllib.request.urlopen(ws.server_url() + "/config", timeout=10) as r:
        assert r.status == 200


@pytest.mark.parametrize("name,code", [
    ("not_a_video", "unreadable"),
    ("corrupt", "unreadable"),
    ("too_short", "too_short"),
    ("too_long", "too_long"),
])
def test_unusable_clip_gets_a_typed_friendly_error(inputs, name, code):
    payload = ws.analyze(inputs[name])
    ws.assert_no_traceback(payload)
    assert not payload["ok"] and payload["error"]["code"] == code, payload
    assert len(payload["error"]["message"]) > 10
    assert_still_serving()


def test_truncated_clip_is_analysed_or_refused_cleanly(inputs):
    payload = ws.analyze(inputs["truncated"])
    ws.assert_no_traceback(payload)
    assert payload["ok"] or payload["error"]["code"] in CLIP_ERRORS, payload
    assert_still_serving()


@pytest.mark.parametrize("name,notice", [("no_audio", "no_audio"), ("no_face", "no_face")])
def test_missing_stream_predicts_from_the_other_with_a_notice(inputs, name, notice):
    payload = ws.analyze(inputs[name])
    ws.assert_no_traceback(payload)
    assert payload["ok"], payload
    assert notice in {n["code"] for n in payload["notices"]}, payload["notices"]
    # the fusions answer from the stream that is there; the model made for that stream answers
    # too, the one for the missing stream is skipped with a reason
    present, missing = ("face", "voice") if name == "no_audio" else ("voice", "face")
    assert {"ia", "lt"} <= set(payload["models"]) and payload["answer"]["basis"] == present
    assert payload["streams_present"] == {present: True, missing: False}
    kinds = {r["kind"] for r in payload["models"].values()}
    assert missing not in kinds and all(r["streams"][missing] is None for r in payload["models"].values()
                                        if r["kind"] == "fusion")
    assert f"{present}-only answer" in next(n["message"] for n in payload["notices"] if n["code"] == notice)


@pytest.mark.parametrize("name", ["odd_size_rotated_low_fps", "vfr_webm", "avi"])
def test_unusual_containers_sizes_rates_and_rotation_work(inputs, name):
    payload = ws.analyze(inputs[name])
    ws.assert_no_traceback(payload)
    assert payload["ok"], payload
    assert "no_face" not in {n["code"] for n in payload["notices"]}, payload["notices"]


def test_long_clip_shows_windows_or_says_what_was_analysed(inputs):
    payload = ws.analyze(inputs["long"])
    ws.assert_no_traceback(payload)
    assert payload["ok"], payload
    windows = payload["windows"]
    if windows:
        assert len(windows) > 1 and windows[-1]["end_s"] > windows[0]["end_s"]
        assert all(set(w["models"]) == set(payload["models"]) for w in windows)
    else:
        assert "window" in {n["code"] for n in payload["notices"]}, payload["notices"]


def test_oversized_upload_is_refused_and_server_keeps_serving():
    big = ws.work_dir() / "big.mp4"
    big.write_bytes(b"\0" * int((ws.TEST_MAX_UPLOAD_MB + 1) * 2**20))
    with pytest.raises(ValueError, match="maximum file size"):
        ws.analyze(big)  # gradio_client checks the server's limit before uploading
    # A client that does not check: the server itself refuses the upload.
    with open(big, "rb") as f:
        r = httpx.post(ws.server_url() + "/gradio_api/upload", files={"files": ("big.mp4", f)}, timeout=60)
    assert r.status_code == 413, r.text[:300]
    assert "Traceback" not in r.text
    assert_still_serving()
    assert ws.analyze(ws.source_clip())["ok"]


def test_server_log_kept_no_unexpected_failures():
    """Bad inputs are expected outcomes: none of them should have hit the internal-error path."""
    log = ws.server_log()
    assert "Traceback" not in log, log[-3000:]
