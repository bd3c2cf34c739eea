"""Cheap pictures and text for the UI: one Agg figure per panel, rendered straight to an array.

Figures use matplotlib's object API (no pyplot state), so concurrent requests do not share a
figure; everything returns numpy RGB arrays or markdown strings that Gradio shows as-is.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from emofusion.constants import CLASSES
from emofusion.infer import shared_frontends


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _to_array(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def probs_figure(models: Mapping[str, Mapping[str, Any]]) -> np.ndarray | None:
    """All 8 class probabilities, one bar chart per model, two charts a row; the top class is
    darker. About 800 px wide, the width of the page's result column at 1400 px, so the text is
    shown near its drawn size (>= 11 px)."""
    if not models:
        return None
    cols = min(2, len(models))
    rows = -(-len(models) // cols)
    fig = _figure(4.1 * cols, 0.45 + 2.75 * rows)
    axes = fig.subplots(rows, cols, sharey=True, squeeze=False).reshape(-1)
    for ax, (name, result) in zip(axes, models.items()):
        probs = [float(result["probs"].get(c, 0.0)) for c in CLASSES]
        top = int(np.argmax(probs))
        colors = ["#1f4e99" if i == top else "#8fb3e8" for i in range(len(CLASSES))]
        ax.barh(range(len(CLASSES)), probs, color=colors)
        ax.set_yticks(range(len(CLASSES)), CLASSES, fontsize=11)
        ax.set_ylim(len(CLASSES) - 0.5, -0.5)  # first class on top (shared axis: no invert)
        ax.set_xlim(0, 1)
        ax.set_xticks([0, 0.5, 1], ["0", "50%", "100%"], fontsize=10)
        ax.set_title(f"{name.upper()}: {CLASSES[top]} ({probs[top]:.0%})", fontsize=12)
        for i, p in enumerate(probs):  # beside the bar; inside it (white) when the bar is long
            inside = p > 0.8
            ax.text(p - 0.02 if inside else p + 0.02, i, f"{p:.0%}", va="center", fontsize=10,
                    ha="right" if inside else "left", color="white" if inside else "black")
    for ax in axes[len(models):]:
        ax.set_visible(False)
    fig.suptitle("All 8 classes, per model", fontsize=12, x=0.01, ha="left")
    fig.tight_layout()
    return _to_array(fig)


def face_strip(faces: np.ndarray | None, size: int = 96) -> np.ndarray | None:
    """The F face crops (F, 3, S, S) uint8 as one (size, F*size, 3) strip, left to right in time."""
    if faces is None or len(faces) == 0:
        return None
    from PIL import Image

    tiles = [
        np.asarray(Image.fromarray(np.transpose(f, (1, 2, 0))).resize((size, size), Image.BILINEAR))
        for f in np.asarray(faces, dtype=np.uint8)
    ]
    return np.concatenate(tiles, axis=1)


def feature_name(kind: str) -> str:
    """The audio features' name as the audio figure's axis says it (AudioConfig.kind -> words)."""
    return {"whisper": "log-mel\n(Whisper)", "mfcc": "MFCC", "logmel": "log-mel"}.get(kind, kind)


def audio_figure(wave: np.ndarray | None, sample_rate: int, feats: np.ndarray | None,
                 feature_name: str = "MFCC") -> np.ndarray | None:
    """The analysed waveform and the feature matrix the audio branch saw."""
    panels = [p for p in (wave, feats) if p is not None]
    if not panels:
        return None
    fig = _figure(8.5, 1.3 * len(panels) + 0.3)
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    i = 0
    if wave is not None:
        t = np.arange(len(wave)) / float(sample_rate)
        step = max(1, len(wave) // 4000)  # plot at most ~4000 points
        axes[i].plot(t[::step], wave[::step], linewidth=0.5, color="#1f4e99")
        axes[i].set_xlim(0, max(t[-1] if len(t) else 0.0, 1e-3))
        axes[i].set_ylabel("wave")
        axes[i].set_xlabel("s", labelpad=0)
        i += 1
    if feats is not None:
        # Standardise each coefficient for display only: MFCC 0 would swamp the colour scale.
        shown = (feats - feats.mean(axis=1, keepdims=True)) / (feats.std(axis=1, keepdims=True) + 1e-6)
        axes[i].imshow(shown, aspect="auto", origin="lower", cmap="magma")
        axes[i].set_ylabel(f"{feature_name}\n(per row z)", fontsize=9)
        axes[i].set_xlabel("frame", labelpad=0)
    fig.suptitle("Audio analysed: the waveform and the features the models read", fontsize=11, x=0.01, ha="left")
    fig.tight_layout()
    return _to_array(fig)


def timeline_figure(windows: Sequence[Mapping[str, Any]],
                    models: Mapping[str, Mapping[str, Any]] | None = None) -> np.ndarray | None:
    """Long clips: one row per model, one cell per window along the clip, coloured by the
    window's top class and labelled with it and its probability; at the right of each row, the
    model's whole-clip answer (`models`). None for a one-window clip.

    Windows overlap, so each one gets the cell around its centre (half-way to its neighbours).
    Sized so that it is shown near 1:1 on a laptop screen (text >= 11 px)."""
    if not windows or len(windows) < 2:
        return None
    names = list(dict.fromkeys(n for w in windows for n in w.get("models") or {}))
    if not names:
        return None
    import matplotlib
    from matplotlib.patches import Patch

    centres = np.array([(float(w["start_s"]) + float(w["end_s"])) / 2 for w in windows])
    edges = np.concatenate([[float(windows[0]["start_s"])], (centres[1:] + centres[:-1]) / 2,
                            [float(windows[-1]["end_s"])]])
    width = float(np.clip(2.6 + 1.05 * len(windows), 9.0, 16.0))
    fig = _figure(width, 1.5 + 0.75 * len(names))
    ax = fig.subplots()
    cmap = matplotlib.colormaps["tab10"]
    inch_per_s = (width - 2.6) / max(edges[-1] - edges[0], 1e-6)
    seen: set[str] = set()
    for row, name in enumerate(names):
        for j, w in enumerate(windows):
            res = (w.get("models") or {}).get(name)
            if not res:
                continue
            k = CLASSES.index(res["top"]) if res["top"] in CLASSES else 0
            seen.add(res["top"])
            ax.barh(row, edges[j + 1] - edges[j], left=edges[j], height=0.8, color=cmap(k), alpha=0.55,
                    edgecolor="white")
            if (edges[j + 1] - edges[j]) * inch_per_s >= 0.75:  # room for the words
                ax.text((edges[j] + edges[j + 1]) / 2, row, f"{res['top']}\n{float(res['top_prob']):.0%}", ha="center",
                        va="center", fontsize=10)
        whole = (models or {}).get(name)
        if whole:
            ax.text(1.01, row, f"clip: {whole['top']} {float(whole['top_prob']):.0%}",
                    transform=ax.get_yaxis_transform(), va="center", fontsize=10, fontweight="bold")
    ax.set_yticks(range(len(names)), [n.upper() for n in names], fontsize=11)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(edges[0], edges[-1])
    ax.tick_params(axis="x", labelsize=10)
    span = float(windows[0]["end_s"]) - float(windows[0]["start_s"])
    ax.set_xlabel(f"time in clip (s); each cell: the top class of the {span:.1f} s window centred there",
                  fontsize=10)
    ax.legend(handles=[Patch(color=cmap(CLASSES.index(c)), alpha=0.55, label=c) for c in CLASSES if c in seen],
              loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=8, fontsize=10, frameon=False)
    fig.tight_layout()
    return _to_array(fig)


def timeline_markdown(payload: Mapping[str, Any]) -> str:
    """The sentence under the timeline: how many windows, and how they became one answer."""
    windows = payload.get("windows") or []
    if len(windows) < 2:
        return ""
    from emofusion.infer.predictor import WINDOW_RULE

    span = float(windows[0]["end_s"]) - float(windows[0]["start_s"])
    hop = float(windows[1]["start_s"]) - float(windows[0]["start_s"])
    return (f"**Timeline**: {len(windows)} windows of {span:.1f} s every {hop:.1f} s "
            f"(0-{float(windows[-1]['end_s']):.1f} s). {WINDOW_RULE[0].upper()}{WINDOW_RULE[1:]}.")


KIND_LABEL = {"fusion": "fusion", "voice": "voice model", "face": "face model"}


def _pct(r: Mapping[str, Any]) -> str:
    return f"{r['top']} ({float(r['top_prob']):.0%})"


def summary_markdown(payload: Mapping[str, Any]) -> str:
    """The headline answer, then one line per model with its top class (a fusion's line also says
    what the voice and the face alone say, and which drove it), and whether the fusions agree."""
    models = payload.get("models") or {}
    lines = []
    answer = payload.get("answer")
    if answer and answer.get("certain", True):
        lines.append(f"**Answer: {answer['top']}** ({float(answer['top_prob']):.0%}, "
                     f"{answer['model'].upper()}, from {answer['basis']})")
    elif answer:
        lines.append(f"**Answer: uncertain** ({answer['model'].upper()}, from {answer['basis']}, leans to "
                     f"{answer['top']} at {float(answer['top_prob']):.0%}, {float(answer['margin']):.0%} ahead of the "
                     "next class: too close to call)")
    against = (answer or {}).get("disagree") or {}
    if against:
        said = "; ".join(f"{n.upper()} says {a['top']} ({float(a['top_prob']):.0%})" for n, a in against.items())
        lines.append(f"The models **disagree strongly**: {said}.")
    for name, r in models.items():
        line = f"**{name.upper()}**: {_pct(r)}"
        if r.get("kind", "fusion") != "fusion":
            line += f" ({KIND_LABEL.get(r['kind'], r['kind'])})"
        streams = r.get("streams")
        if streams and streams.get("voice") and streams.get("face"):
            line += (f"; voice alone: {_pct(streams['voice'])}, face alone: {_pct(streams['face'])}; "
                     f"driven by: {r['driver']['stream']}")
        lines.append(line)
    for name, why in (payload.get("skipped") or {}).items():
        lines.append(f"**{name.upper()}**: no answer ({why})")
    if payload.get("agree") is not None:
        lines.append("The fusions **agree**." if payload["agree"] else "The fusions **disagree**.")
    return "  \n".join(lines)


def streams_markdown(payload: Mapping[str, Any]) -> str:
    """Why each fusion answered as it did: the fused answer next to the same model with the face
    zeroed (voice alone) and with the voice zeroed (face alone), and the stream that drove it."""
    rows = []
    for name, r in (payload.get("models") or {}).items():
        streams = r.get("streams")
        if not streams:
            continue
        alone = {s: _pct(streams[s]) if streams.get(s) else "absent" for s in ("voice", "face")}
        d = r.get("driver") or {}
        rows.append(f"| {name.upper()} | {_pct(r)} | {alone['voice']} | {alone['face']} | "
                    f"{d.get('stream', '-')} | {d.get('message', '')} |")
    if not rows:
        return ""
    return "\n".join(["#### Why: each fusion with one stream removed",
                      "| fusion | fused | voice alone | face alone | driven by | because |",
                      "| --- | --- | --- | --- | --- | --- |", *rows])


def card_value(payload: Mapping[str, Any], name: str) -> dict[str, float] | str | None:
    """A model's card: its probabilities (with an "uncertain" heading when the model's own answer is
    too close to call), or a sentence when it could not answer (the voice model on a clip without a
    voice), so the card is never a blank placeholder."""
    r = (payload.get("models") or {}).get(name)
    if r:
        probs = {c: float(v) for c, v in r["probs"].items()}
        if r.get("certain", True):
            return probs
        # too close to call: the card's heading must not be a bold class name (app.ModelCard shows it)
        return {"heading": f"uncertain (leans to {r['top']})", "probs": probs}
    why = (payload.get("skipped") or {}).get(name)
    return f"No answer: {why.split('; ')[-1]}" if why else None


def empty_panel_notes(payload: Mapping[str, Any], faces_shown: bool, audio_shown: bool) -> tuple[str, str]:
    """(face panel, audio panel) sentences for a panel with nothing to show ("" when it shows
    something, or on an error, which has its own sentence): what is missing and why."""
    if payload.get("error") or not payload.get("models"):
        return "", ""
    codes = {n.get("code") for n in payload.get("notices") or []}
    present = payload.get("streams_present") or {}
    photo = payload.get("input") == "photo"
    face = voice = ""
    if not faces_shown:
        why = ("the clip has no video track" if "no_video" in codes else
               "no face was found in any of the sampled frames" if "no_face" in codes else
               "no face was read from this input")
        rest = "; the answers rest on the voice alone" if present.get("voice") else ""
        face = f"**No face crops to show**: {why}{rest}."
    if not audio_shown:
        why = ("a photo has no voice" if photo else
               "the clip has no audio track (or it does not decode)" if "no_audio" in codes else
               "no voice was read from this input")
        rest = "; the answers rest on the face alone" if present.get("face") else ""
        voice = f"**No voice**: {why}, so there are no waveform and audio features to show{rest}."
    return face, voice


def notices_markdown(payload: Mapping[str, Any]) -> str:
    """Errors and notices as a visible block (empty string when there is nothing to say)."""
    err = payload.get("error")
    if err:
        msg = err.get("message") if isinstance(err, Mapping) else str(err)
        return f"### Could not analyse this clip\n{msg}"
    notices = payload.get("notices") or []
    if not notices:
        return ""
    items = "\n".join(f"- **{n.get('code', '')}**: {n.get('message', '')}" for n in notices)
    return f"#### Notices\n{items}"


def timings_markdown(payload: Mapping[str, Any]) -> str:
    """Per-stage latency and the backend each model ran on."""
    timings = payload.get("timings_ms") or {}
    models = payload.get("models") or {}
    if not timings and not models:
        return ""
    rows = ["| stage | ms |", "| --- | ---: |"]
    rows += [f"| {stage} | {float(ms):.1f} |" for stage, ms in timings.items()]
    tag = " " + shared_frontends.LABEL
    labels = {n: str(r.get("backend", "?")) for n, r in models.items()}
    shared = [n.upper() for n, b in labels.items() if b.endswith(tag)]
    labels = {n: b.removesuffix(tag) for n, b in labels.items()}
    kinds = set(labels.values())
    backends = (f"`{kinds.pop()}`" if len(kinds) == 1 else
                ", ".join(f"{n.upper()}: `{b}`" for n, b in labels.items()))
    note = f"\n\nShared frontends ({', '.join(shared)}): {shared_frontends.TIMING_NOTE}" if len(shared) > 1 else ""
    return "\n".join(rows) + (f"\n\nBackend: {backends}" if backends else "") + note
