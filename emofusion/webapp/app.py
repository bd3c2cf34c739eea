"""The Gradio 6 Blocks app: upload or record a clip (or a photo), see every model, why, the evidence and the cost.

Handlers never raise: every outcome (including bad input) comes back through `AnalysisService`
as a payload, so users see a sentence and the server log keeps any traceback.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from emofusion.webapp import render
from emofusion.webapp.config import PACKAGE_DIR, WebAppConfig
from emofusion.webapp.service import AnalysisService, Outcome

log = logging.getLogger("emofusion.webapp")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home from a demo server

INTRO = """# emofusion: emotion from face and voice
Upload a short video of one speaking face (mp4, mov, webm, mkv, avi, flv), record one with your
webcam and microphone, or upload a photo of a face (jpg, png, tiff, webp: a face-only answer). The
audio-visual fusion models (IA: intermediate attention, LT: late transformer) read both streams;
the voice and face models read one each. Each predicts one of 8 emotions: neutral, calm, happy, sad,
angry, fearful, disgust, surprised. For each fusion the page shows what the voice alone and the face
alone say (the same model with the other stream removed) and which stream drove the answer.
When every model that hears the voice has a 5-fold cross-validated accuracy on its card (Models
tab), the headline answer comes from the best of them.
"""

REPO_DIR = PACKAGE_DIR.parents[1]  # a source checkout: results/ lives here

# #streams: the "Why" table's cells other than the sentence keep to one line (at 1400 px the
# header "fusion" broke as "fusio / n").
CSS = ("#status h3 {color: #a33;} #summary p {font-size: 1.1em;} #faces img {object-fit: contain;} "
       "#streams th, #streams td:not(:last-child) {white-space: nowrap; word-break: keep-all; overflow-wrap: normal;}")


def example_clips(cfg: WebAppConfig) -> list[str]:
    """The committed example clips (real, licensed), playable ones first."""
    d = Path(cfg.examples_dir)
    if not d.is_dir():
        return []
    clips = [p for p in sorted(d.iterdir()) if p.suffix.lower() in cfg.extensions]
    return [str(p) for p in sorted(clips, key=lambda p: p.suffix.lower() != ".mp4")]


def example_label(path: str | Path) -> str:
    """What an example clip holds, read from its CREMA-D name: "angry face and voice" for
    1001_DFA_ANG_XX.mp4, "happy face, angry voice" for 1001_DFA_mixed_HAPface_ANGvoice.mp4;
    else the file name."""
    import re

    from emofusion.data.cremad import CREMAD_LABELS, cremad_label

    stem = Path(path).stem
    mixed = re.search(r"([A-Z]{3})face_([A-Z]{3})voice", stem)
    if mixed and all(c in CREMAD_LABELS for c in mixed.groups()):
        return f"{CREMAD_LABELS[mixed[1]]} face, {CREMAD_LABELS[mixed[2]]} voice"
    label = cremad_label(path)
    return f"{label} face and voice" if label else Path(path).name


def models_markdown(cfg: WebAppConfig, predictor: Any) -> str:
    """Which models are loaded, on which backend (and why that one), with their model cards."""
    parts = [f"Loaded from `{cfg.models_dir}/` on backend `{_backend_name(predictor, cfg)}`."]
    loaded = getattr(predictor, "models", {}) or {}
    for name in _names(predictor, cfg):
        card = Path(cfg.models_dir) / name / "card.md"
        body = card.read_text(encoding="utf-8") if card.is_file() else "_No model card shipped._"
        reason = getattr(getattr(loaded.get(name), "backend", None), "reason", "")
        why = f"\n\nBackend choice: {reason}." if reason else ""
        parts.append(f"---\n## {name.upper()}{why}\n\n{body}")
    return "\n\n".join(parts)


def bench_markdown(cfg: WebAppConfig) -> str:
    """The latest backend benchmark table, read on page load so a new run shows without restart."""
    for path in (Path(cfg.bench_md), REPO_DIR / cfg.bench_md):
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return f"**No benchmark yet.** Run `emofusion bench backends` to write `{cfg.bench_md}`."


def _backend_name(predictor: Any, cfg: WebAppConfig) -> str:
    """The engine(s) actually chosen (auto resolves to one), e.g. `onnxruntime/cpu/fp32`."""
    return str(getattr(predictor, "backend_name", "") or cfg.backend)


def _names(predictor: Any, cfg: WebAppConfig) -> list[str]:
    """The models the page shows: the ones the predictor loaded (else the configured names)."""
    return list(getattr(predictor, "models", None) or cfg.names or ())


def _n_frames(predictor: Any) -> int:
    """Frames per clip of the loaded models (from their own checkpoints' MediaConfig)."""
    for m in (getattr(predictor, "models", {}) or {}).values():
        cfg = getattr(m, "media_cfg", None)
        if cfg is not None:
            return int(cfg.video.n_frames)
    from emofusion.config import VideoConfig

    return VideoConfig().n_frames


def _pictures(outcome: Outcome) -> tuple[Any, Any, Any]:
    """Face strip, audio figure and window timeline from the kept ClipInputs (None when absent)."""
    analysis = outcome.analysis
    clip = getattr(analysis, "inputs", None) if analysis is not None else None
    faces = audio = None
    if clip is not None:
        faces = render.face_strip(getattr(clip, "faces", None))
        cfg = getattr(analysis, "media_config", None)
        rate = cfg.audio.sample_rate if cfg is not None else 22_050
        kind = render.feature_name(cfg.audio.kind) if cfg is not None else "MFCC"
        audio = render.audio_figure(getattr(clip, "wave", None), rate, getattr(clip, "audio", None), kind)
    timeline = render.timeline_figure(outcome.payload.get("windows") or [], outcome.payload.get("models"))
    return faces, audio, timeline


def model_card_class():
    """webapp.model_card.ModelCard (imported here: it needs gradio, which the app loads lazily)."""
    from emofusion.webapp.model_card import ModelCard

    return ModelCard


def build_app(service: AnalysisService, cfg: WebAppConfig):
    """The Blocks app, queued; launch with `launch_kwargs(cfg)`."""
    import gradio as gr

    names = _names(service.predictor, cfg)

    def on_analyze(path: str | None):
        outcome = service.analyze(path)
        p = outcome.payload
        try:
            return _ui_outputs(p, outcome)
        except Exception:  # noqa: BLE001 - a drawing bug must not cost the user the result
            log.exception("rendering the result of %s failed", path)
            p = dict(p, notices=list(p.get("notices") or []) + [
                {"code": "display", "message": "some pictures could not be drawn; the numbers are below"}])
            return (render.notices_markdown(p), render.summary_markdown(p), render.streams_markdown(p),
                    *[render.card_value(p, n) for n in names], None, "", None, "", None,
                    gr.update(value=None, visible=False), render.timeline_markdown(p), render.timings_markdown(p), p)

    def _ui_outputs(p: dict, outcome: Outcome) -> tuple:
        labels = [render.card_value(p, n) for n in names]
        faces, audio, timeline = _pictures(outcome)
        faces_note, audio_note = render.empty_panel_notes(p, faces is not None, audio is not None)
        return (
            render.notices_markdown(p),
            render.summary_markdown(p),
            render.streams_markdown(p),
            *labels,
            render.probs_figure(p.get("models") or {}),
            faces_note,
            gr.update(value=faces, visible=not faces_note),  # an empty panel gives way to its sentence
            audio_note,
            gr.update(value=audio, visible=not audio_note),
            gr.update(value=timeline, visible=timeline is not None),
            render.timeline_markdown(p),
            render.timings_markdown(p),
            p,
        )

    def on_photo(photo: str | None):
        if not photo:
            p = service.analyze(None).payload
            p["error"]["message"] = "No photo was given: upload a photo of a face (jpg, png, tiff, webp)."
            return on_error_payload(p)
        return on_analyze(photo)

    def on_error_payload(p: dict) -> tuple:
        return (render.notices_markdown(p), "", "", *[None] * len(names), None, "", None, "", None,
                gr.update(value=None, visible=False), "", "", p)

    def on_api(clip: str | None) -> dict:
        """Analyse one clip or photo: every model's probabilities, the voice-alone / face-alone
        answers of each fusion and the stream that drove it, notices, timings (JSON)."""
        return service.analyze(clip).payload

    with gr.Blocks(title="emofusion") as demo:
        gr.Markdown(INTRO + f"\nLoaded: {', '.join(n.upper() for n in names)} on "
                    f"`{_backend_name(service.predictor, cfg)}` (details in the Models tab).")
        with gr.Tab("Analyze"):
            with gr.Row():
                with gr.Column(scale=2):
                    video = gr.Video(sources=["upload", "webcam"], include_audio=True,
                                     label="Clip (upload or record)", elem_id="clip")
                    run = gr.Button("Analyze", variant="primary", elem_id="analyze")
                    examples = example_clips(cfg)
                    if examples:
                        gr.Examples(examples, inputs=video, label="Example clips (CREMA-D)",
                                    example_labels=[example_label(e) for e in examples])
                    photo = gr.File(label="... or a photo of a face (jpg, png, tiff, webp)",
                                    file_types=list(cfg.photo_extensions), elem_id="photo")
                    run_photo = gr.Button("Analyze photo", elem_id="analyze-photo")
                with gr.Column(scale=3):
                    status = gr.Markdown(elem_id="status")
                    summary = gr.Markdown(elem_id="summary")
                    streams = gr.Markdown(elem_id="streams")
                    with gr.Row():
                        labels = [model_card_class()(num_top_classes=3, label=_label_title(service.predictor, n),
                                           elem_id=f"pred-{n}") for n in names]
                    # the chart titles itself: Gradio's label badge covered the first chart's title
                    probs = gr.Image(label="All 8 classes", show_label=False, elem_id="probs")
            timeline = gr.Image(label="Long clip: each model's answer per window", visible=False,
                                elem_id="timeline")
            timeline_note = gr.Markdown(elem_id="timeline-note")
            faces_note = gr.Markdown(elem_id="faces-note")
            faces = gr.Image(label=f"Face crops used ({_n_frames(service.predictor)} frames, in time order)",
                             elem_id="faces")
            with gr.Row():
                with gr.Column(scale=3):
                    audio_note = gr.Markdown(elem_id="audio-note")
                    audio = gr.Image(label="Audio analysed (waveform and features)", show_label=False,
                                     elem_id="audio")  # titled in the figure: the badge covered the wave
                timings = gr.Markdown(elem_id="timings")
            with gr.Accordion("Result as JSON (same as the API)", open=False):
                raw = gr.JSON()
        with gr.Tab("Models"):
            gr.Markdown(models_markdown(cfg, service.predictor))
        with gr.Tab("Benchmark"):
            bench = gr.Markdown()
        # API-only endpoint: a file in, JSON out (hidden components keep the UI clean).
        api_in = gr.File(visible=False)
        api_out = gr.JSON(visible=False)
        api_go = gr.Button(visible=False)

        outputs = [status, summary, streams, *labels, probs, faces_note, faces, audio_note, audio, timeline, timeline_note,
                   timings, raw]
        run.click(on_analyze, video, outputs, api_visibility="private")
        run_photo.click(on_photo, photo, outputs, api_visibility="private")
        api_go.click(on_api, api_in, api_out, api_name="analyze")
        demo.load(lambda: bench_markdown(cfg), None, bench, api_visibility="private")
    demo.queue(default_concurrency_limit=cfg.concurrency, max_size=cfg.queue_size)
    return demo


def _label_title(predictor: Any, name: str) -> str:
    m = (getattr(predictor, "models", None) or {}).get(name)
    kind = getattr(m, "kind", "fusion") if m is not None else "fusion"
    return f"{name.upper()} " + {"fusion": "fusion", "voice": "(voice only)", "face": "(face only)"}.get(kind, kind)


def launch_kwargs(cfg: WebAppConfig) -> dict[str, Any]:
    """Launch options: loopback by default, no public link unless asked, uploads capped."""
    return dict(
        server_name=cfg.host,
        server_port=cfg.port,
        share=cfg.share,
        max_file_size=cfg.max_upload_bytes,
        show_error=False,  # handlers return friendly payloads; never ship exception text
        allowed_paths=[str(Path(cfg.examples_dir).resolve())],
        ssr_mode=False,
        css=CSS,
        quiet=True,  # `serve` prints the start-up lines (Gradio's name launch()'s arguments, not our flags)
    )


def serve(demo, cfg: WebAppConfig) -> None:
    """Launch and block until interrupted. Gradio's own start-up lines are silenced: they told
    users to "set `share=True` in `launch()`", which is not how this app is run; these name the
    CLI's flag instead. The first line is the one `server.running_server` waits for."""
    demo.launch(**launch_kwargs(cfg), prevent_thread_lock=True)
    print(f"* Running on local URL:  {demo.protocol}://{demo.server_name}:{demo.server_port}", flush=True)
    if demo.share_url:
        print(f"* Public link (--share; temporary): {demo.share_url}", flush=True)
    else:
        print("* No public link: to open a temporary gradio.live one, start it with --share "
              "(emofusion webapp --share, or ./run.sh webapp --share)", flush=True)
    demo.block_thread()
