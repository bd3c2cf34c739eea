"""The real web app server through gradio_client: examples, real CREMA-D clips, 20 concurrent calls."""

from __future__ import annotations

import math

import pytest
import webapp_support as ws

from emofusion.constants import CLASSES

pytestmark = pytest.mark.slow


def check_ok(payload: dict) -> None:
    assert payload["ok"], payload.get("error")
    assert {"ia", "lt"} <= set(payload["models"])
    for name, res in payload["models"].items():
        assert list(res["probs"]) == list(CLASSES), name
        assert math.isclose(sum(res["probs"].values()), 1.0, abs_tol=1e-3), name
        assert res["top"] == max(res["probs"], key=res["probs"].get)
        assert res["backend"] and res["kind"] in ("fusion", "voice", "face")
    fusions = {n: r for n, r in payload["models"].items() if r["kind"] == "fusion"}
    assert payload["agree"] == (len({r["top"] for r in fusions.values()}) == 1)
    assert payload["answer"]["model"] in payload["models"] and payload["answer"]["basis"]
    for name, res in fusions.items():  # what each stream alone says, and which drove the answer
        present = payload["streams_present"]
        for stream in ("voice", "face"):
            alone = res["streams"][stream]
            assert (alone is not None) == present[stream], (name, stream)
            if alone is not None:
                assert alone["top"] == max(alone["probs"], key=alone["probs"].get)
        assert res["driver"]["stream"] in ("voice", "face", "both") and res["driver"]["message"]
    assert payload["timings_ms"]["total"] > 0
    ws.assert_no_traceback(payload)


def test_analyze_endpoint_is_public():
    api = ws.client().view_api(print_info=False, return_format="dict")
    assert "/analyze" in api["named_endpoints"]


def test_server_warms_up_on_an_example_before_serving():
    ws.server_url()
    log = ws.server_log()
    assert "warmed up on" in log and "failed" not in log.split("warmed up on", 1)[1].splitlines()[0]
    assert log.index("warmed up on") < log.index("serving")


def test_server_log_names_the_share_flag():
    """Gradio's "set `share=True` in `launch()`" is not how this app is run: the log names --share."""
    ws.server_url()
    log = ws.server_log()
    assert "Running on local URL:" in log and "--share" in log and "share=True" not in log, log[-2000:]


def test_committed_examples_end_to_end():
    clips = ws.example_clips()
    assert len(clips) >= 2, f"expected the committed example clips in {ws.EXAMPLES}"
    c = ws.client()
    for clip in clips:
        payload = ws.analyze(clip, c)
        check_ok(payload)
        assert payload["clip"] == clip.name
        codes = {n["code"] for n in payload["notices"]}
        assert not codes & {"no_audio", "no_video", "no_face"}, (clip.name, codes)


def test_photo_gets_a_face_only_answer(fixtures_dir):
    payload = ws.analyze(fixtures_dir / "Actor_01.png")
    check_ok(payload)
    assert payload["input"] == "photo" and payload["streams_present"] == {"voice": False, "face": True}
    assert payload["answer"]["basis"] == "face" and payload["answer"]["model"] == "face"
    assert "face" in payload["models"] and not any(r["kind"] == "voice" for r in payload["models"].values())
    assert {n["code"] for n in payload["notices"]} == {"photo"}
    assert "face-only answer" in payload["notices"][0]["message"]


def test_photo_without_a_face_is_explained(tmp_path):
    from PIL import Image

    blank = tmp_path / "wall.jpg"
    Image.new("RGB", (320, 240), (200, 190, 180)).save(blank)
    payload = ws.analyze(blank)
    assert not payload["ok"] and payload["error"]["code"] == "no_face" and "no face" in payload["error"]["message"]
    ws.assert_no_traceback(payload)


def test_cremad_clips_end_to_end(cremad_dir):
    """The six original CREMA-D files (VP6 + MP3 in FLV); their H.264 re-encodes include the examples."""
    c = ws.client()
    clips = sorted(cremad_dir.glob("*.flv"))
    assert len(clips) == 6
    for clip in clips:
        check_ok(ws.analyze(clip, c))


@pytest.mark.timeout(1800)  # the calls may take 600 s, after up to 180 s of server start
def test_twenty_concurrent_calls_all_answered():
    from emofusion.bench.load import fire, summarize

    records, wall = fire(ws.server_url(), ws.example_clips()[0], calls=20, timeout_s=600)
    s = summarize(records, wall)
    assert s["calls"] == 20 and s["lost"] == 0 and s["answered_error"] == 0, records
    assert s["answered_ok"] == 20
    assert sorted(r["i"] for r in records) == list(range(20))
