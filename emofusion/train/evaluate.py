"""`emofusion evaluate`: score each fold's best model on its test actors, summarise, plot.

Per fold: accuracy, macro-F1, per-class precision/recall, confusion PNG and training-curve PNG;
fusion models are also scored with the audio zeroed and with the faces zeroed (missing stream).
Over folds: mean +- std and the summed confusion matrix. Written to RUN_DIR/results.{json,md}
and, with --results-name, copied to results/NAME.{json,md} + results/NAME_confusion.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from emofusion.constants import AUDIO, FACES

HELP = "evaluate a training run (each fold's best model on its test actors) or one checkpoint"
REPO_RESULTS = Path(__file__).resolve().parents[2] / "results"
CONDITIONS = {"full": None, "audio_zeroed": AUDIO, "video_zeroed": FACES}
LABELS = {"audio": "audio-only", "video": "video-only", "ia": "IA fusion", "it": "IT fusion", "lt": "LT fusion"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", nargs="?", type=Path, help="a run directory made by `emofusion train`")
    p.add_argument("--checkpoint", type=Path, help="evaluate one checkpoint instead of a run")
    p.add_argument("--cache", type=Path, help="feature cache (default: the run's own)")
    p.add_argument("--actors", help="checkpoint mode: test actors, e.g. 5,10,16,19")
    p.add_argument("--out", type=Path, help="checkpoint mode: output directory")
    p.add_argument("--results-name", help="copy results to results/NAME.{json,md} and NAME_confusion.png")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--cremad", type=Path, metavar="DIR",
                   help="instead: run every shipped model (--models) on the CREMA-D clips in DIR "
                        "-> results/cremad_check.{json,md}")
    p.add_argument("--models", type=Path, default=Path("models"), help="with --cremad: models/<name>/model.pt")
    p.add_argument("--ensemble", type=Path, nargs="+", metavar="RUN",
                   help="instead: average the class probabilities of these runs' fold models (same folds) "
                        "and score the mean; writes to --out")
    p.add_argument("--tta-cache", type=Path, action="append", default=[], metavar="CACHE",
                   help="with --ensemble (repeatable): also score each test clip from this speed-perturbed "
                        "cache of the same clips (`preprocess --speed`) and average (test-time augmentation)")


def _load(path: Path):
    """The LoadedModel at `path`, its model in eval mode; a bad file is a UserError."""
    from emofusion.cli import UserError
    from emofusion.nets.checkpoint import CheckpointError, load_checkpoint

    try:
        loaded = load_checkpoint(path)
    except CheckpointError as exc:
        raise UserError(str(exc)) from None
    loaded.model.eval()
    return loaded



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


def _selection(meta: dict[str, Any]) -> dict[str, Any]:
    """The validation figures best.pt was chosen on (its epoch's row of the training log), so a
    configuration can be picked by validation without reading test numbers."""
    val = meta.get("val") or {}
    return {"epoch": meta.get("epoch"), "val_acc": val.get("val_acc"), "val_f1": val.get("val_f1"),
            "val_n": val.get("val_n")}


def _training_time(fold_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
    """Measured wall time of the fold's training: its epochs (as logged; a resumed run's epochs
    each count once) plus precomputing face features (--face-views), if it did."""
    from emofusion.train.loop import FACE_VIEWS

    epoch_s = sum(float(h.get("seconds") or 0.0) for h in history)
    views_file = fold_dir / FACE_VIEWS
    views = json.loads(views_file.read_text()) if views_file.exists() else None
    total = epoch_s + (views["seconds"] if views else 0.0)
    return {"epochs": len(history), "epoch_seconds": round(epoch_s, 3), "face_views": views,
            "seconds": round(total, 3), "minutes": round(total / 60, 3)}


def evaluate_fold(fold_dir: Path, cache, progress: bool = True) -> dict[str, Any]:
    from emofusion.train.cv import make_dataset
    from emofusion.train.plots import confusion_png, curves_png

    split = json.loads((fold_dir / "split.json").read_text())
    loaded = _load(fold_dir / "best.pt")
    model = loaded.model
    res = score(model, make_dataset(cache, split["test"], model.inputs, in_memory=False))
    res["fold"] = fold_dir.name
    res["test_actors"] = split["test"]
    res["selection"] = _selection(loaded.meta or {})
    (fold_dir / "test_metrics.json").write_text(json.dumps(res, indent=1) + "\n")
    confusion_png(res["full"]["confusion"], fold_dir / "confusion.png",
                  f"{fold_dir.name}: test actors {split['test']}  acc {res['full']['accuracy']:.1%}")
    log = fold_dir / "metrics.jsonl"
    history = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    if history:
        curves_png(history, fold_dir / "curves.png", f"{fold_dir.name} training")
    res["training"] = _training_time(fold_dir, history)
    if progress:
        print(f"{fold_dir.name}: accuracy {res['full']['accuracy']:.3f} macro-F1 {res['full']['macro_f1']:.3f}")
    return res


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
    chosen = ("each fold's model is its last epoch (no validation actors)"
              if (results.get("train_config") or {}).get("n_val") == 0
              else "each fold's model chosen on its validation actors only")
    if results.get("tta"):
        chosen += "; each test clip also scored from its speed-perturbed copies and the outputs averaged"
    lines += ["", f"Mean +- sample std over folds; {chosen}.", "",
              "| fold | test actors | accuracy | macro F1 | training (min) |", "| --- | --- | --- | --- | --- |"]
    for fold in results["folds"]:
        minutes = (fold.get("training") or {}).get("minutes")
        lines.append(f"| {fold['fold']} | {fold['test_actors']} | {100 * fold['full']['accuracy']:.1f} % "
                     f"| {100 * fold['full']['macro_f1']:.1f} % | {'-' if minutes is None else f'{minutes:.1f}'} |")
    return "\n".join(lines) + "\n"


def _write(results: dict[str, Any], out: Path, results_name: str | None) -> None:
    from emofusion.train.plots import confusion_png

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.md").write_text(markdown(results))
    confusion_png(results["summary"]["full"]["pooled"]["confusion"], out / "confusion.png",
                  f"{results['configuration']}: all folds summed")
    if results_name:
        REPO_RESULTS.mkdir(exist_ok=True)
        shutil.copyfile(out / "results.json", REPO_RESULTS / f"{results_name}.json")
        shutil.copyfile(out / "results.md", REPO_RESULTS / f"{results_name}.md")
        shutil.copyfile(out / "confusion.png", REPO_RESULTS / f"{results_name}_confusion.png")


def _summarise(folds: list[dict[str, Any]]) -> dict[str, Any]:
    from emofusion.train.metrics import summarise_folds

    return {c: summarise_folds([f[c] for f in folds]) for c in CONDITIONS if all(c in f for f in folds)}


def evaluate_run(run_dir: str | Path, cache_dir: str | Path | None = None, results_name: str | None = None,
                 progress: bool = True) -> dict[str, Any]:
    from emofusion.cli import UserError
    from emofusion.train.cv import RUN_JSON, TRAIN_JSON, open_cache

    run = Path(run_dir)
    if not (run / RUN_JSON).exists():
        raise UserError(f"{run} is not a training run (no {RUN_JSON})")
    info = json.loads((run / RUN_JSON).read_text())
    cache = open_cache(cache_dir or info["cache"])
    fold_dirs = sorted((d for d in run.glob("fold_*") if (d / "best.pt").exists()),
                       key=lambda d: int(d.name.split("_")[1]))
    if not fold_dirs:
        raise UserError(f"{run} has no trained fold (no fold_*/best.pt)")
    folds = [evaluate_fold(d, cache, progress) for d in fold_dirs]
    train_cfg = json.loads((run / TRAIN_JSON).read_text())
    fusion = info["model_config"]["fusion"]
    results = {
        "configuration": LABELS.get(fusion, fusion),
        "fusion": fusion,
        "protocol": train_cfg.get("protocol"),
        "n_folds": len(folds),
        "train_config": train_cfg,
        "model_config": info["model_config"],
        "cache": info["cache"],
        "provenance": info.get("provenance"),
        "summary": _summarise(folds),
        "folds": [{k: v for k, v in f.items() if k != "predictions"} for f in folds],
    }
    _write(results, run, results_name)
    if progress:
        print(markdown(results))
    return results


def evaluate_checkpoint(ckpt: Path, cache_dir: Path, actors, out: Path, results_name: str | None = None,
                        progress: bool = True) -> dict[str, Any]:
    from emofusion.train.cv import open_cache, make_dataset

    cache = open_cache(cache_dir)
    model = _load(ckpt).model
    res = score(model, make_dataset(cache, actors, model.inputs, in_memory=False))
    res.update(fold=ckpt.name, test_actors=list(actors))
    fusion = getattr(getattr(model, "cfg", None), "fusion", "model")
    results = {"configuration": LABELS.get(fusion, fusion), "fusion": fusion, "protocol": "checkpoint",
               "checkpoint": str(ckpt), "n_folds": 1, "summary": _summarise([res]),
               "folds": [{k: v for k, v in res.items() if k != "predictions"}]}
    _write(results, out, results_name)
    if progress:
        print(markdown(results))
    return results


def run(args: argparse.Namespace) -> int:
    from emofusion.cli import UserError
    from emofusion.data.splits import SplitError, parse_actor_list

    if args.ensemble:
        from emofusion.train.ensemble import evaluate_ensemble

        if not args.out:
            raise UserError("--ensemble needs --out")
        evaluate_ensemble(args.ensemble, args.out, args.results_name, not args.quiet, args.tta_cache)
        return 0
    if args.tta_cache:
        raise UserError("--tta-cache goes with --ensemble RUN [RUN ...]")
    if args.cremad:
        from emofusion.train.crossdata import run_check

        run_check(args.cremad, args.models)
        return 0
    if args.checkpoint:
        if not (args.cache and args.actors and args.out):
            raise UserError("--checkpoint needs --cache, --actors and --out")
        if not args.checkpoint.exists():
            raise UserError(f"no such checkpoint: {args.checkpoint}")
        try:
            actors = parse_actor_list(args.actors)
        except SplitError as exc:
            raise UserError(str(exc)) from None
        evaluate_checkpoint(args.checkpoint, args.cache, actors, args.out, args.results_name, not args.quiet)
    elif args.run_dir:
        evaluate_run(args.run_dir, args.cache, args.results_name, not args.quiet)
    else:
        raise UserError("give a RUN_DIR, or --checkpoint with --cache, --actors and --out")
    return 0
