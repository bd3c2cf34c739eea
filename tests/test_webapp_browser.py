"""A real browser (Debian chromium via Playwright) uploads a clip, runs it, reads both predictions."""

from __future__ import annotations

import os
import re
import shutil

import pytest
import webapp_support as ws

from emofusion.constants import CLASSES

# timeout: the page waits below (up to ~330 s a test) and a server start (180 s) on a busy machine
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(1800)]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The committed screenshot is refreshed only on request (EMOFUSION_SCREENSHOT=1), so a test run
# leaves the work tree clean.
SCREENSHOT = (
    ws.REPO / "results" / "shipped" / "webapp_screenshot.png"
    if os.environ.get("EMOFUSION_SCREENSHOT") == "1"
    else ws.work_dir() / "webapp_screenshot.png"
)

# The input video once its upload finished: gradio then plays it from the server (before, nothing or
# a local blob: URL). Clicking Analyze earlier would send no clip.
UPLOADED = "#clip video[src*='/gradio_api/file=']"


@pytest.fixture(scope="module")
def playwright():
    """One Playwright per module: the sync API cannot be started twice in one thread."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"needs Debian chromium at {CHROMIUM} (./run.sh test installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    yield b
    b.close()


def test_upload_analyze_and_read_both_predictions(browser):
    clip = ws.source_clip()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(ws.server_url(), wait_until="networkidle")
    page.locator("#clip input[type=file]").set_input_files(str(clip))
    page.wait_for_selector(UPLOADED, timeout=60_000)
    page.click("#analyze")
    page.wait_for_function(
        "() => { const s = document.querySelector('#summary'); return s && /LT/.test(s.innerText); }",
        timeout=180_000,
    )
    summary = page.inner_text("#summary")
    found = {m.group(1): m.group(2) for m in re.finditer(r"(IA|LT): (\w+) \(\d+%\)", summary)}
    assert set(found) == {"IA", "LT"}, summary
    assert all(c in CLASSES for c in found.values()), summary
    assert ("agree" in summary) or ("disagree" in summary)
    for name in ("ia", "lt"):  # the Label components show the same top class
        assert found[name.upper()] in page.inner_text(f"#pred-{name}")
    # what the voice alone and the face alone say, per fusion, and the stream that drove it: the
    # same answers the API gives for this clip
    rows = stream_rows(page.inner_text("#streams"))
    assert set(rows) == {"IA", "LT"}, page.inner_text("#streams")
    api = ws.analyze(clip)["models"]
    for name, (fused, voice, face, driver) in rows.items():
        r = api[name.lower()]
        assert fused == r["top"] == found[name]
        assert voice == r["streams"]["voice"]["top"] and face == r["streams"]["face"]["top"]
        assert driver == r["driver"]["stream"]
    page.wait_for_selector("#faces img", timeout=30_000)
    assert "Traceback" not in page.content()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    page.close()


def stream_rows(text: str) -> dict[str, tuple[str, str, str, str]]:
    """The #streams table as {fusion: (fused top, voice-alone top, face-alone top, driver)}; a
    stream absent from the input reads "absent"."""
    cell = r"(\w+)(?: \(\d+%\))?"
    pattern = rf"^(IA|LT|IT)\s+{cell}\s+{cell}\s+{cell}\s+(voice|face|both)\b"
    return {m.group(1): m.groups()[1:] for m in re.finditer(pattern, text, re.M)}


def test_photo_gets_a_face_only_answer_in_the_page(browser, fixtures_dir):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(ws.server_url(), wait_until="networkidle")
    page.locator("#photo input[type=file]").set_input_files(str(fixtures_dir / "Actor_01.png"))
    # the photo is on the server once gr.File links it from there (not a fixed pause)
    page.wait_for_selector("#photo a[href*='/gradio_api/file=']", timeout=60_000)
    page.click("#analyze-photo")
    page.wait_for_function(
        "() => { const s = document.querySelector('#summary'); return s && /Answer/.test(s.innerText); }",
        timeout=180_000,
    )
    summary, status = page.inner_text("#summary"), page.inner_text("#status")
    assert re.search(r"Answer: (\w+) \(\d+%, FACE, from face\)", summary), summary
    assert "photo" in status and "face-only answer" in status, status
    rows = stream_rows(page.inner_text("#streams"))
    assert rows and all(voice == "absent" and driver == "face" for _, voice, _, driver in rows.values()), rows
    api = ws.analyze(fixtures_dir / "Actor_01.png")
    assert f"Answer: {api['answer']['top']}" in summary
    for name in api["skipped"]:  # e.g. the voice model: nothing to read in a photo
        assert f"{name.upper()}: no answer" in summary, summary
    assert "Traceback" not in page.content()
    page.close()


def analyze_in_page(browser, clip, width: int = 1400):
    """Upload `clip`, press Analyze, wait for the summary; the page, still open."""
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.goto(ws.server_url(), wait_until="networkidle")
    page.locator("#clip input[type=file]").set_input_files(str(clip))
    page.wait_for_selector(UPLOADED, timeout=60_000)
    page.click("#analyze")
    page.wait_for_function(
        "() => { const s = document.querySelector('#summary'); return s && /Answer/.test(s.innerText); }",
        timeout=180_000,
    )
    return page


def test_long_clip_shows_its_timeline_and_the_rule(browser, fixtures_dir):
    """An 8 s clip is read as 4 windows: the page plots them (an image, not a blank) and says how
    they became one answer; the examples are labelled by what they hold."""
    import numpy as np
    from PIL import Image

    from emofusion.media.synth import write_clip

    face = np.asarray(Image.open(fixtures_dir / "Actor_01.png").convert("RGB"))
    clip = write_clip(ws.work_dir() / "long_browser.mp4", face_image=face, seconds=8.0, fps=10, size=(320, 240))
    page = analyze_in_page(browser, clip)
    page.wait_for_selector("#timeline img", timeout=60_000)
    size = page.evaluate("() => { const i = document.querySelector('#timeline img'); "
                         "return [i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]; }")
    assert size[0] >= 900 and size[1] > 200 and size[2] >= 0.9 * size[0], size  # drawn, and not shrunk
    note = page.inner_text("#timeline-note")
    api = ws.analyze(clip)
    assert len(api["windows"]) == 4 and f"{len(api['windows'])} windows of 3.6 s every 1.8 s" in note, note
    assert "mean of its windows' probabilities" in note
    assert "window" in page.inner_text("#status")
    for label in ("angry face and voice", "happy face and voice", "happy face, angry voice"):
        assert page.get_by_text(label, exact=True).is_visible(), label
    assert "Traceback" not in page.content()
    page.close()


def test_uncertain_answer_and_empty_panels_render(browser, fixtures_dir):
    """A clip whose headline answer is too close to call shows "uncertain", not a bold class; the
    "Why" table's header keeps "fusion" on one line at 1400 px; a clip without a voice says so in
    the voice model's card and in the audio panel's place."""
    import numpy as np
    from PIL import Image

    from emofusion.media.synth import write_clip

    face = np.asarray(Image.open(fixtures_dir / "Actor_01.png").convert("RGB"))
    def candidates():  # inputs a model is unlikely to be sure about: a steady tone or noise under a face, ...
        noise = (0.1 * np.random.default_rng(0).standard_normal(3 * 22050)).astype(np.float32)  # write_clip: 22.05 kHz
        for i, (audio, seed) in enumerate([(noise, 0), ("tone", 0), ("speech-like", 1), ("tone", 3), ("speech-like", 2)]):
            yield write_clip(ws.work_dir() / f"unsure{i}.mp4", face_image=face, seconds=3.0, fps=10,
                             size=(320, 240), audio=audio, seed=seed)
        yield from sorted(ws.EXAMPLES.glob("*mixed*.mp4"))  # ... a face and a voice that disagree

    clip = None
    for c in candidates():
        api = ws.analyze(c)
        if api["ok"] and not api["answer"]["certain"]:
            clip = c
            break
    assert clip is not None, "none of the generated clips got an uncertain answer from the served models"
    page = analyze_in_page(browser, clip)
    summary = page.inner_text("#summary")
    a = api["answer"]
    assert f"Answer: uncertain ({a['model'].upper()}, from {a['basis']}, leans to {a['top']}" in summary, summary
    assert f"Answer: {a['top']}" not in summary
    card = page.inner_text(f"#pred-{a['model']}")  # the answering model's card: no bold class either
    assert f"uncertain (leans to {a['top']})" in card, card
    lines = page.evaluate("() => [...document.querySelectorAll('#streams th')].map(th => { "
                          "const r = document.createRange(); r.selectNodeContents(th); "
                          "return [th.innerText.trim(), r.getClientRects().length]; })")
    assert lines[0][0] == "fusion" and all(n == 1 for _, n in lines), lines  # one line box a header
    page.screenshot(path=str(ws.work_dir() / "uncertain.png"), full_page=True)
    page.close()

    silent = write_clip(ws.work_dir() / "no_voice_browser.mp4", face_image=face, seconds=3.0, fps=10,
                        size=(320, 240), audio=None)
    page = analyze_in_page(browser, silent)
    note = page.inner_text("#audio-note")
    assert "No voice" in note and "no audio track" in note, note
    assert not page.locator("#audio img").count() or not page.locator("#audio img").is_visible()
    skipped = ws.analyze(silent)["skipped"]
    for name in skipped:  # e.g. the voice model's card: a sentence, not a blank
        assert "No answer" in page.inner_text(f"#pred-{name}"), name
    assert "Traceback" not in page.content()
    page.close()


def test_bad_upload_shows_a_message_in_the_page(browser):
    bad = ws.work_dir() / "not_a_video.mp4"
    bad.write_text("plain text, not a video\n")
    page = browser.new_page()
    page.goto(ws.server_url(), wait_until="networkidle")
    page.locator("#clip input[type=file]").set_input_files(str(bad))
    page.wait_for_selector(UPLOADED, timeout=60_000)  # not a fixed pause: the server has the file
    page.click("#analyze")
    page.wait_for_function(
        "() => { const s = document.querySelector('#status'); return s && /analyse/.test(s.innerText); }",
        timeout=60_000,
    )
    status = page.inner_text("#status")
    assert "Could not analyse this clip" in status and "Traceback" not in page.content()
    page.close()


def test_webcam_recording_with_sound(playwright, tmp_path):
    """Chromium's fake camera and microphone play a real clip's picture and voice; the page records
    it (MediaRecorder WebM, which has no duration in its header) and both streams are used."""
    if not shutil.which("ffmpeg"):
        pytest.skip("needs ffmpeg to turn a clip into fake camera/microphone input")
    import subprocess

    src = ws.source_clip()
    y4m, wav = tmp_path / "cam.y4m", tmp_path / "mic.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), "-vf", "scale=320:240,fps=15",
                    "-pix_fmt", "yuv420p", str(y4m)], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), "-vn", "-ac", "1", "-ar", "48000",
                    str(wav)], check=True)
    fake = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}", f"--use-file-for-fake-audio-capture={wav}"]
    url = ws.server_url()
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS + fake, headless=True)
    try:
        ctx = b.new_context(viewport={"width": 1200, "height": 900})
        ctx.grant_permissions(["camera", "microphone"], origin=url)
        page = ctx.new_page()
        page.goto(url, wait_until="networkidle")
        page.get_by_label("Capture from camera").click()
        page.get_by_text("Click to Access Webcam").click()
        page.get_by_label("start recording").click()
        page.wait_for_timeout(3000)
        page.locator("#clip button.capture-button").click()  # stop
        page.wait_for_selector(UPLOADED, timeout=60_000)  # the recording is on the server
        page.click("#analyze")
        page.wait_for_function(
            "() => { const s = document.querySelector('#summary'), e = document.querySelector('#status');"
            " return (s && /LT/.test(s.innerText)) || (e && /analyse/.test(e.innerText)); }",
            timeout=180_000,
        )
        status, summary = page.inner_text("#status"), page.inner_text("#summary")
    finally:
        b.close()
    assert "Could not analyse" not in status, status
    assert "IA" in summary and "LT" in summary, summary
    assert "no_audio" not in status and "no_face" not in status, status
    assert "damaged" not in status, status  # no duration in the header: not mistaken for a cut file
