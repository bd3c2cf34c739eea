"""`emofusion evaluate`: score each fold's best model on its test actors, summarise, plot.

Per fold: accuracy, macro-F1, per-class precision/recall, confusion PNG and training-curve PNG;
fusion models are also scored with the audio zeroed and with the faces zeroed (missing stream).
Over folds: mean +- std and the summed confusion matrix. Written to RUN_DIR/results.{json,md}
and, with --results-name, copied to RESULTS_DIR/NAME.{json,md} + NAME_confusion.png (--results-dir,
default ./results). Scoring and writing live in report.py, the run layout in runs.py.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from emofusion.errors import UsageError
from emofusion.train.report import LABELS, RESULTS_DIR, markdown, score, summarise, write_results
from emofusion.train.runs import (RunError, TRAIN_JSON, load_model, make_dataset, open_cache, run_info,
                                  trained_folds)

HELP = "evaluate a training run (each fold's best model on its test actors) or one checkpoint"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", nargs="?", type=Path, help="a run directory made by `emofusion train`")
    p.add_argument("--checkpoint", type=Path, help="evaluate one checkpoint instead of a run")
    p.add_argument("--cache", type=Path, help="feature cache (default: the run's own)")
    p.add_argument("--actors", help="checkpoint mode: test actors, e.g. 5,10,16,19")
    p.add_argument("--out", type=Path, help="checkpoint mode: output directory")
    p.add_argument("--allow-leak", action="store_true",
                   help="checkpoint mode: score even actors the checkpoint trained or was validated on "
                        "(warns; refused without this flag)")
    p.add_argument("--results-name", help="copy results to RESULTS_DIR/NAME.{json,md} and NAME_confusion.png")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR,
                   help="where --results-name (and --cremad) write (default: ./%(default)s)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--cremad", type=Path, metavar="DIR",
                   help="instead: run every shipped model (--models) on the CREMA-D clips in DIR "
                        "-> RESULTS_DIR/cremad_check.{json,md}")
    p.add_argument("--models", type=Path, default=Path("models"), help="with --cremad: models/<name>/model.pt")
    p.add_argument("--ensemble", type=Path, nargs="+", metavar="RUN",
                   help="instead: average the class probabilities of these runs' fold models (same folds) "
                        "and score the mean; writes to --out")
    p.add_argument("--tta-cache", type=Path, action="append", default=[], metavar="CACHE",
                   help="with --ensemble (repeatable): also score each test clip from this speed-perturbed "
                        "cache of the same clips (`preprocess --speed`) and average (test-time augmentation)")


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
    from emofusion.train.plots import confusion_png, curves_png

    split = json.loads((fold_dir / "split.json").read_text())
    loaded = load_model(fold_dir / "best.pt")
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


def evaluate_run(run_dir: str | Path, cache_dir: str | Path | None = None, results_name: str | None = None,
                 progress: bool = True, results_dir: Path = RESULTS_DIR) -> dict[str, Any]:
    from emofusion.provenance import data_summary

    run = Path(run_dir)
    info = run_info(run)
    cache = open_cache(cache_dir or info["cache"])
    fold_dirs = list(trained_folds(run).values())
    if not fold_dirs:
        raise RunError(f"{run} has no trained fold (no fold_*/best.pt)")
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
        "data": data_summary(cache),  # actors present, clips, content fingerprint (for the model card)
        "provenance": info.get("provenance"),
        "split_notes": info.get("split_notes") or [],
        "summary": summarise(folds),
        "folds": [{k: v for k, v in f.items() if k != "predictions"} for f in folds],
    }
    write_results(results, run, results_name, results_dir)
    if progress:
        print(markdown(results))
    return results


def evaluate_checkpoint(ckpt: Path, cache_dir: Path, actors, out: Path, results_name: str | None = None,
                        progress: bool = True, results_dir: Path = RESULTS_DIR,
                        allow_leak: bool = False) -> dict[str, Any]:
    """Score one checkpoint on `actors`; refuses (LeakageError) actors it trained or was selected
    on unless `allow_leak`, which warns on stderr and records them in the results."""
    import sys

    from emofusion.train.leakage import check_leakage, leaked_actors

    cache = open_cache(cache_dir)
    loaded = load_model(ckpt)
    model = loaded.model
    warning = check_leakage(loaded.meta, actors, allow_leak, name=str(ckpt))
    if warning:
        print(warning, file=sys.stderr)
    res = score(model, make_dataset(cache, actors, model.inputs, in_memory=False))
    res.update(fold=ckpt.name, test_actors=list(actors))
    fusion = getattr(getattr(model, "cfg", None), "fusion", "model")
    results = {"configuration": LABELS.get(fusion, fusion), "fusion": fusion, "protocol": "checkpoint",
               "checkpoint": str(ckpt), "n_folds": 1, "summary": summarise([res]),
               "folds": [{k: v for k, v in res.items() if k != "predictions"}]}
    if warning:
        results["leaked_actors"] = leaked_actors(loaded.meta, actors)
    write_results(results, out, results_name, results_dir)
    if progress:
        print(markdown(results))
    return results


def run(args: argparse.Namespace) -> int:
    from emofusion.data.splits import parse_actor_list

    if args.ensemble:
        from emofusion.train.ensemble import evaluate_ensemble

        if not args.out:
            raise UsageError("--ensemble needs --out")
        evaluate_ensemble(args.ensemble, args.out, args.results_name, not args.quiet, args.tta_cache,
                          results_dir=args.results_dir)
        return 0
    if args.tta_cache:
        raise UsageError("--tta-cache goes with --ensemble RUN [RUN ...]")
    if args.cremad:
        from emofusion.train.crossdata import run_check

        run_check(args.cremad, args.models, results_dir=args.results_dir)
        return 0
    if args.checkpoint:
        if not (args.cache and args.actors and args.out):
            raise UsageError("--checkpoint needs --cache, --actors and --out")
        if not args.checkpoint.exists():
            raise UsageError(f"no such checkpoint: {args.checkpoint}")
        actors = parse_actor_list(args.actors)  # a SplitError is an EmofusionError
        evaluate_checkpoint(args.checkpoint, args.cache, actors, args.out, args.results_name, not args.quiet,
                            args.results_dir, allow_leak=args.allow_leak)
    elif args.run_dir:
        evaluate_run(args.run_dir, args.cache, args.results_name, not args.quiet, args.results_dir)
    else:
        raise UsageError("give a RUN_DIR, or --checkpoint with --cache, --actors and --out")
    return 0
