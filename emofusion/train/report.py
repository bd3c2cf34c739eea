"""Scoring a model on a dataset and writing a scored run: results.{json,md} and the pooled confusion
plot, optionally copied to RESULTS_DIR/NAME.{json,md} + NAME_confusion.png (`--results-name`).

Shared by `emofusion evaluate` (evaluate.py) and `--ensemble` (ensemble.py); imports neither.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from emofusion.constants import AUDIO, FACES

CONDITIONS = {"full": None, "audio_zeroed": AUDIO, "video_zeroed": FACES}
LABELS = {"audio": "audio-only", "video": "video-only", "ia": "IA fusion", "it": "IT fusion", "lt": "LT fusion"}
RESULTS_DIR = Path("results") / "runs"  # relative to the working directory, as every --out is (results/README.md)


def score(model, dataset, batch_size: int = 32) -> dict[str, Any]:
    """Metrics under each condition (only `full` for single-stream models)."""
    from emofusion.train.loop import predict
    from emofusion.train.metrics import classify

    out: dict[str, Any] = {}
    for name, zero in CONDITIONS.items():
        if zero is not None and not (AUDIO in model.inputs and FACES in model.inputs):
            continue
        labels, logits = predict(model, dataset, batch_size, zero=zero)
        out[name] = classify(labels, logits.argmax(1) if len(labels) else [])
        if name == "full":
            out["predictions"] = {"labels": labels.tolist(), "predicted": logits.argmax(1).tolist()}
    return out


def summarise(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean +- std over folds and the pooled confusion, per condition every fold has."""
    from emofusion.train.metrics import summarise_folds

    return {c: summarise_folds([f[c] for f in folds]) for c in CONDITIONS if all(c in f for f in folds)}


def selection_sentence(results: dict[str, Any]) -> str:
    """How each fold's model was chosen, from what happened (a fold that had no validation clips
    kept its last epoch, whatever the configuration asked)."""
    folds = results.get("folds") or []
    blind = [f["fold"] for f in folds if not ((f.get("selection") or {}).get("val_n") or 0)]
    if (results.get("train_config") or {}).get("n_val") == 0 or (folds and len(blind) == len(folds)):
        return "each fold's model is its last epoch (no validation actors)"
    if blind:
        return (f"each fold's model chosen on its validation actors only, except {', '.join(blind)}: "
                "no validation clips, the last epoch kept")
    return "each fold's model chosen on its validation actors only"


def markdown(results: dict[str, Any]) -> str:
    """The seed's table (configuration | accuracy | macro F1), mean +- std over folds."""
    s = results["summary"]
    label = results["configuration"]
    lines = [
        f"# {label}: {results['n_folds']} fold(s), protocol {results.get('protocol', '?')}",
        "",
        "| configuration | accuracy | macro F1 |",
        "| --- | --- | --- |",
    ]
    names = {"full": label, "audio_zeroed": f"{label}, audio zeroed", "video_zeroed": f"{label}, video zeroed"}
    for cond, name in names.items():
        if cond in s:
            a, f = s[cond]["accuracy"], s[cond]["macro_f1"]
            lines.append(f"| {name} | {100 * a['mean']:.1f} +- {100 * a['std']:.1f} % "
                         f"| {100 * f['mean']:.1f} +- {100 * f['std']:.1f} % |")
    chosen = selection_sentence(results)
    if results.get("tta"):
        chosen += "; each test clip also scored from its speed-perturbed copies and the outputs averaged"
    notes = results.get("split_notes") or []
    lines += ["", f"Mean +- sample std over folds; {chosen}.", ""]
    if notes:
        lines += ["Actors absent from the data changed the folds:", "", *[f"- {n}" for n in notes], ""]
    lines += [
              "| fold | test actors | accuracy | macro F1 | training (min) |", "| --- | --- | --- | --- | --- |"]
    for fold in results["folds"]:
        minutes = (fold.get("training") or {}).get("minutes")
        lines.append(f"| {fold['fold']} | {fold['test_actors']} | {100 * fold['full']['accuracy']:.1f} % "
                     f"| {100 * fold['full']['macro_f1']:.1f} % | {'-' if minutes is None else f'{minutes:.1f}'} |")
    return "\n".join(lines) + "\n"


def write_results(results: dict[str, Any], out: Path, results_name: str | None = None,
                  results_dir: Path = RESULTS_DIR) -> None:
    """OUT/results.{json,md} + confusion.png; with `results_name`, copies in `results_dir`."""
    from emofusion.train.plots import confusion_png

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.md").write_text(markdown(results))
    confusion_png(results["summary"]["full"]["pooled"]["confusion"], out / "confusion.png",
                  f"{results['configuration']}: all folds summed")
    if results_name:
        results_dir = Path(results_dir)
        results_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out / "results.json", results_dir / f"{results_name}.json")
        shutil.copyfile(out / "results.md", results_dir / f"{results_name}.md")
        shutil.copyfile(out / "confusion.png", results_dir / f"{results_name}_confusion.png")
