"""Cross-corpus sanity check: the shipped models on real CREMA-D audio-visual clips.

The fusion models saw faces only from one still per RAVDESS actor (no emotion in them). This
check asks one question on faces they never saw: does adding the video stream make predictions
worse than audio alone? Every model runs on each clip through the product's own path,
`emofusion.load(models_dir).analyze(clip)` (each model with its own checkpoint's MediaConfig);
fusion models also report their answer with the faces zeroed, which is the same network answering
from audio only. Six clips is far too few for an accuracy claim; the result is a smoke test of
cross-corpus behaviour, reported as such.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.constants import CLASSES
from emofusion.data.cremad import CREMAD_LABELS, cremad_label  # noqa: F401  (re-exported)


def _verdict(probs: np.ndarray, label: str | None) -> dict[str, Any]:
    top = int(probs.argmax())
    out: dict[str, Any] = {"top1": CLASSES[top], "p_top1": round(float(probs[top]), 4)}
    if label is not None:
        out["p_true"] = round(float(probs[CLASSES.index(label)]), 4)
        out["correct"] = CLASSES[top] == label
    return out


def check_clips(clips: list[Path], predictor, reference: str = "audio") -> dict[str, Any]:
    """Per clip and model: top-1, p(true); per model: accuracy and agreement with `reference`.

    `predictor`: an `emofusion.load(...)` Predictor. Fusion models also report `faces_zeroed`: the
    same network with the faces zeroed (the Predictor's voice-alone run of that fusion)."""
    rows = []
    for clip in clips:
        label = cremad_label(clip)
        row: dict[str, Any] = {"clip": clip.name, "true": label, "models": {}, "notices": []}
        t0 = time.perf_counter()
        analysis = predictor.analyze(clip)
        if analysis.error is not None:
            row["models"] = {name: {"error": analysis.error.to_dict()} for name in predictor.models}
        else:
            row["notices"] = sorted({n.code for n in analysis.notices})
            for name, res in analysis.models.items():
                entry = _verdict(res.probs, label)
                voice_alone = (res.streams or {}).get("voice")
                if res.kind == "fusion" and voice_alone is not None:
                    entry["faces_zeroed"] = _verdict(voice_alone, label)
                row["models"][name] = entry
        row["seconds"] = round(time.perf_counter() - t0, 2)
        rows.append(row)
    return {"clips": rows, "summary": summarise(rows, list(predictor.models), reference)}


def summarise(rows: list[dict[str, Any]], names: list[str], reference: str) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for name in names:
        for cond in ("full", "faces_zeroed"):
            got = [r["models"][name] if cond == "full" else r["models"][name].get("faces_zeroed")
                   for r in rows if "error" not in r["models"].get(name, {"error": 1})]
            got = [g for g in got if g is not None and "correct" in g]
            if not got:
                continue
            key = name if cond == "full" else f"{name} (faces zeroed)"
            summary[key] = {
                "n": len(got),
                "accuracy": round(float(np.mean([g["correct"] for g in got])), 4),
                "mean_p_true": round(float(np.mean([g["p_true"] for g in got])), 4),
            }
            if cond == "full" and any("faces_zeroed" in g for g in got):
                same = [g["top1"] == g["faces_zeroed"]["top1"] for g in got if "faces_zeroed" in g]
                summary[key]["same_top1_as_faces_zeroed"] = round(float(np.mean(same)), 4)
            if reference in names and name != reference:
                pairs = [(r["models"][name], r["models"].get(reference, {})) for r in rows]
                pairs = [(a if cond == "full" else a.get("faces_zeroed"), b) for a, b in pairs
                         if "top1" in a and "top1" in b]
                pairs = [(a, b) for a, b in pairs if a is not None]
                summary[key][f"agreement_with_{reference}"] = (
                    round(float(np.mean([a["top1"] == b["top1"] for a, b in pairs])), 4) if pairs else None)
    summary["errors"] = sum(1 for r in rows for m in r["models"].values() if "error" in m)
    return summary


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def markdown(result: dict[str, Any]) -> str:
    s, names = result["summary"], result["models"]
    lines = [
        "# Shipped models on real CREMA-D audio-visual clips (cross-corpus check)", "",
        f"Clips: {result['n_clips']} from `{result['clips_dir']}` (CREMA-D actor 1001; faces and voice never "
        "seen in training). **Six clips is far too few for an accuracy estimate**: this only checks that "
        "adding the (emotion-free, still-photo-trained) video stream does not make predictions worse than "
        "audio alone.", "",
        f"Command: `{result['command']}`", "",
        "| model | clips | accuracy | mean p(true class) | agreement with audio model | same top-1 as with faces zeroed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, v in s.items():
        if not isinstance(v, dict):
            continue
        agree = v.get("agreement_with_audio")
        lines.append(f"| {key} | {v['n']} | {100 * v['accuracy']:.0f} % | {v['mean_p_true']:.3f} | "
                     f"{'-' if agree is None else f'{100 * agree:.0f} %'} | {_pct(v.get('same_top1_as_faces_zeroed'))} |")
    lines += ["", f"Clips that failed (recorded, not crashed): {s['errors']}", "",
              "| clip | true | " + " | ".join(f"{n} top-1 (p true)" for n in names) + " |",
              "| --- | --- | " + " | ".join("---" for _ in names) + " |"]
    for r in result["clips"]:
        cells = []
        for n in names:
            m = r["models"].get(n, {})
            cells.append(f"error: {m['error']['code']}" if "error" in m else f"{m['top1']} ({m.get('p_true', 0):.2f})")
        lines.append(f"| {r['clip']} | {r['true']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_check(clips_dir: Path, models_dir: Path, out_name: str = "cremad_check", pattern: str = "*.mp4",
              results_dir: Path | None = None, command: str = "") -> dict[str, Any]:
    """Run every shipped model on `clips_dir/pattern`; write RESULTS_DIR/OUT_NAME.{json,md}
    (default ./results)."""
    from emofusion.errors import UsageError

    if not clips_dir.is_dir():
        raise UsageError(f"{clips_dir} is not a directory")
    clips = sorted(clips_dir.glob(pattern))
    if not clips:
        raise UsageError(f"no clips matching {pattern} in {clips_dir}")
    import emofusion

    predictor = emofusion.load(models_dir, backend="torch")  # ModelsNotFound says what is missing
    result = check_clips(clips, predictor)
    result.update(clips_dir=str(clips_dir), models_dir=str(models_dir), models=list(predictor.models),
                  n_clips=len(clips), command=command or f"emofusion evaluate --cremad {clips_dir} --models {models_dir}")
    out = Path(results_dir or "results/shipped")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{out_name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{out_name}.md").write_text(markdown(result))
    print(markdown(result))
    return result
