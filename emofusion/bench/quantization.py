"""`emofusion bench quantization RUN_DIR...`: what INT8 costs in accuracy, fold by fold.

For each cross-validation fold: the fold's best checkpoint -> ONNX FP32 -> static INT8 calibrated
on clips of that fold's TRAINING actors only (no test clip leaks into the ranges), then accuracy
and macro-F1 of torch, ORT FP32 and ORT INT8 on the fold's test actors. Writes
results/bench/quantization.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.export.quantize import CALIBRATION

HELP = "accuracy of INT8 vs FP32 ONNX on the CV test folds (writes results/bench/quantization.*)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, help="CV run dirs (emofusion train), with fold_k/best.pt")
    parser.add_argument("--cache", type=Path, default=None, help="feature cache (default: the run's own)")
    parser.add_argument("--calib-clips", type=int, default=128, help="training clips for calibration")
    parser.add_argument("--method", choices=("minmax", "entropy", "percentile"), default=CALIBRATION,
                        help="INT8 calibration (default: %(default)s, export's; results/bench/int8_agreement.md)")
    parser.add_argument("--out", type=Path, default=Path("results") / "bench")


def _feeds(cache, entries: list[dict], names: tuple[str, ...]) -> dict[str, np.ndarray]:
    from emofusion.media.clip import model_inputs

    per = []
    for e in entries:
        arrays = cache.load(e["id"])
        per.append(model_inputs(arrays["audio"], arrays["faces"], cache.config))
    return {k: np.stack([p[k] for p in per]).astype(np.float32) for k in names}


def _predict(backend, feeds: dict[str, np.ndarray], batch: int = 32) -> np.ndarray:
    n = len(next(iter(feeds.values())))
    return np.concatenate([backend.run({k: v[i:i + batch] for k, v in feeds.items()}).argmax(1)
                           for i in range(0, n, batch)])


def eval_fold(fold_dir: Path, cache_dir: Path, args, work: Path) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score

    from emofusion.data.cache import FeatureCache
    from emofusion.errors import UsageError
    from emofusion.export.onnx import export_onnx
    from emofusion.export.quantize import quantize_int8
    from emofusion.infer.backends import OrtBackend, TorchBackend
    from emofusion.nets.checkpoint import load_checkpoint

    loaded = load_checkpoint(fold_dir / "best.pt")
    split = json.loads((fold_dir / "split.json").read_text())
    cache = FeatureCache(cache_dir)
    if cache.config != loaded.media_cfg:
        raise UsageError(f"{cache_dir} was preprocessed differently from {fold_dir}/best.pt")
    names = tuple(loaded.model.inputs)
    test = cache.select(split["test"])
    train = cache.select(split["train"])
    rng = np.random.default_rng(0)
    calib_entries = [train[i] for i in sorted(rng.permutation(len(train))[:args.calib_clips])]
    calib = _feeds(cache, calib_entries, names)
    tag = f"{fold_dir.parent.name}_{fold_dir.name}"
    fp32 = export_onnx(loaded, work / f"{tag}.onnx")
    int8 = quantize_int8(fp32, work / f"{tag}.int8.onnx",
                         [{k: v[i:i + 1] for k, v in calib.items()} for i in range(len(calib_entries))],
                         method=args.method)
    feeds = _feeds(cache, test, names)
    y = np.array([e["label"] for e in test])
    preds = {"torch": _predict(TorchBackend(loaded), feeds),
             "ort_fp32": _predict(OrtBackend(fp32, providers=["CPUExecutionProvider"]), feeds),
             "ort_int8": _predict(OrtBackend(int8, providers=["CPUExecutionProvider"]), feeds)}
    out = {"fold": fold_dir.name, "test_actors": split["test"], "n_test": int(len(y)),
           "n_calibration": len(calib_entries), "int8_vs_fp32_top1_agreement":
           float((preds["ort_int8"] == preds["ort_fp32"]).mean())}
    for k, p in preds.items():
        out[k] = {"accuracy": float(accuracy_score(y, p)),
                  "macro_f1": float(f1_score(y, p, average="macro", labels=list(range(len(loaded.classes)))))}
    out["delta_accuracy_int8_minus_fp32"] = out["ort_int8"]["accuracy"] - out["ort_fp32"]["accuracy"]
    print(f"{tag}: acc torch {out['torch']['accuracy']:.3f} fp32 {out['ort_fp32']['accuracy']:.3f} "
          f"int8 {out['ort_int8']['accuracy']:.3f} (agreement {out['int8_vs_fp32_top1_agreement']:.3f})")
    return out


def run(args: argparse.Namespace) -> int:
    from emofusion.errors import UsageError

    work = Path(tempfile.mkdtemp(prefix="emofusion-quant-"))
    report: dict[str, Any] = {"method": args.method, "format": "QDQ, activations uint8, weights int8 per channel",
                              "calibration": f"up to {args.calib_clips} clips of each fold's training actors",
                              "runs": []}
    for run_dir in args.runs:
        info_path = run_dir / "run.json"
        if not info_path.is_file():
            raise UsageError(f"{run_dir} is not a CV run dir (no run.json)")
        info = json.loads(info_path.read_text())
        folds = sorted(p.parent for p in run_dir.glob("fold_*/best.pt"))
        if not folds:
            raise UsageError(f"{run_dir} has no fold_*/best.pt yet")
        cache_dir = args.cache or Path(info["cache"])
        rows = [eval_fold(f, cache_dir, args, work) for f in folds]
        summary = {k: {m: float(np.mean([r[k][m] for r in rows])) for m in ("accuracy", "macro_f1")}
                   for k in ("torch", "ort_fp32", "ort_int8")}
        report["runs"].append({"run": str(run_dir), "model": info["model_config"]["fusion"], "cache": str(cache_dir),
                               "folds": rows, "mean": summary,
                               "mean_delta_accuracy": float(np.mean([r["delta_accuracy_int8_minus_fp32"] for r in rows])),
                               "std_delta_accuracy": float(np.std([r["delta_accuracy_int8_minus_fp32"] for r in rows]))})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quantization.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "quantization.md").write_text(_markdown(report))
    print(f"wrote {args.out}/quantization.json and .md")
    return 0


def _markdown(report: dict[str, Any]) -> str:
    lines = ["# INT8 quantization: accuracy on the cross-validation test folds", "",
             f"Static quantization ({report['format']}), calibration: {report['calibration']}, "
             f"method {report['method']}. Each fold's best checkpoint, evaluated on its own test actors. "
             "The layer reading the raw audio features stays float (emofusion.export.quantize.FLOAT_INPUTS): "
             "with a uint8 audio input, audio accuracy fell to chance level (~0.15) on these folds.", "",
             "| run | model | fold | test clips | torch acc | ORT FP32 acc | ORT INT8 acc | INT8 - FP32 | "
             "FP32 macro-F1 | INT8 macro-F1 | INT8/FP32 top-1 agreement |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for run in report["runs"]:
        name = Path(run["run"]).name
        for r in run["folds"]:
            lines.append(f"| {name} | {run['model']} | {r['fold']} | {r['n_test']} | {r['torch']['accuracy']:.3f} | "
                         f"{r['ort_fp32']['accuracy']:.3f} | {r['ort_int8']['accuracy']:.3f} | "
                         f"{r['delta_accuracy_int8_minus_fp32']:+.3f} | {r['ort_fp32']['macro_f1']:.3f} | "
                         f"{r['ort_int8']['macro_f1']:.3f} | {r['int8_vs_fp32_top1_agreement']:.3f} |")
        m = run["mean"]
        lines.append(f"| {name} | {run['model']} | **mean** | | {m['torch']['accuracy']:.3f} | "
                     f"{m['ort_fp32']['accuracy']:.3f} | {m['ort_int8']['accuracy']:.3f} | "
                     f"{run['mean_delta_accuracy']:+.3f} ± {run['std_delta_accuracy']:.3f} | "
                     f"{m['ort_fp32']['macro_f1']:.3f} | {m['ort_int8']['macro_f1']:.3f} | |")
    lines += ["", "Written by `emofusion bench quantization` (emofusion/bench/quantization.py).", ""]
    return "\n".join(lines)
