"""The project brief's speed targets (and issue 16's audio target), checked against committed results.

The benchmarks (`emofusion bench media|train|backends`) only measure; which figure the brief asked
for, and whether it is met, is this repository's bookkeeping, so it lives here:

    python scripts/check_targets.py [--results results] [--out results/shipped/targets]

reads RESULTS/media_bench.json, train_bench.json, bench_backends.json, audio_single_5fold.json and gpu.json
(a missing file is a row "not measured") and writes OUT.json and OUT.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

MEDIA_MS = 300.0  # clip -> model inputs, whole path, median wall per clip
FOLD_MIN = 30.0  # IA at 112 px, one 50-epoch RAVDESS fold
ORT_SPEEDUP = {"ort_fp32": 1.5, "ort_int8": 2.0}  # over torch eager, batch 1, p50
E2E_S = 0.25  # a 3.6 s 720p clip to all answers (every served model + per-stream runs), p50 (issue 14)
AUDIO_MS = 10.0  # the shipped audio network, one clip, p50 (issue 16)
AUDIO_ACC = 0.70  # ONE audio network per fold, mean 5-fold subject-wise accuracy (issue 16)
# issue 31, torch on CUDA: model-only batch-1 p50 (ms), parity with the CPU, end to end (ms), IA training
GPU_B1_MS = {"ia": 0.6, "lt": 0.6, "audio": 0.3, "face": 0.3}
GPU_PARITY, GPU_E2E_MS, GPU_TRAIN_SPS = 1e-3, 60.0, 2000.0


# results/ keeps one folder a topic (results/README.md): where each results file this script reads lives
TOPIC = {"media_bench": "bench", "train_bench": "bench", "bench_backends": "bench", "audio_single_5fold": "audio",
         "gpu": "bench"}


def _load(results: Path, name: str) -> dict[str, Any] | None:
    """RESULTS/TOPIC/NAME.json (or RESULTS/NAME.json: a flat dir of benchmark outputs)."""
    for path in (results / TOPIC.get(name, "") / f"{name}.json", results / f"{name}.json"):
        if path.is_file():
            return json.loads(path.read_text())
    return None


def _check(what: str, source: str, value: float | None, unit: str, target: str, met: bool | None) -> dict[str, Any]:
    return {"what": what, "source": source, "value": None if value is None else round(value, 3), "unit": unit,
            "target": target, "met": met}


def media_checks(r: dict[str, Any] | None) -> list[dict[str, Any]]:
    total = r["ours_median_ms"]["total"] if r else None
    return [_check("clip -> model inputs, whole path (median wall)", "media_bench", total, "ms",
                   f"<= {MEDIA_MS:.0f} ms", None if total is None else total <= MEDIA_MS)]


def training_checks(r: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = {(x["model"], x["face_size"]): x for x in (r or {}).get("rows", [])}
    out = []
    for model, what in (("ia", "IA fold at 112 px, full fine-tuning"),
                        ("ia-frozen", "IA fold at 112 px, face CNN frozen"),
                        ("ia-views", "IA fold at 112 px, face CNN frozen, features cached")):
        row = rows.get((model, 112))
        for key, how in (("fold_min", "measured"), ("idle_fold_min", "idle estimate")):
            value = row[key] if row else None
            out.append(_check(f"{what} ({how})", "train_bench", value, "min", f"<= {FOLD_MIN:.0f} min",
                              None if value is None else value <= FOLD_MIN))
    return out


def backend_checks(r: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = {(x["model"], x["backend"], x["batch"]): x for m in (r or {}).get("models", []) for x in m["rows"]}
    out = []
    for model in ("ia", "lt"):
        torch_row = rows.get((model, "torch", 1))
        for backend, need in ORT_SPEEDUP.items():
            row = rows.get((model, backend, 1))
            value = torch_row["p50_ms"] / row["p50_ms"] if torch_row and row else None
            out.append(_check(f"{model} {backend} speed-up over torch eager, batch 1 (p50)", "bench_backends",
                              value, "x", f">= {need}x", None if value is None else value >= need))
    for backend in ("torch", "ort_fp32"):
        row = rows.get(("audio", backend, 1))
        value = row["p50_ms"] if row else None
        out.append(_check(f"audio model inference, {backend}, batch 1 (p50)", "bench_backends", value, "ms",
                          f"<= {AUDIO_MS:.0f} ms", None if value is None else value <= AUDIO_MS))
    total = ((r or {}).get("e2e") or {}).get("p50_ms", {}).get("total")
    value = None if total is None else total / 1000
    out.append(_check("end to end (decode + faces + features + models), p50", "bench_backends", value, "s",
                      f"<= {E2E_S} s", None if value is None else value <= E2E_S))
    return out


def audio_checks(r: dict[str, Any] | None) -> list[dict[str, Any]]:
    acc = r["summary"]["full"]["accuracy"]["mean"] if r else None
    return [_check("one audio network per fold (no ensemble, no TTA), mean 5-fold accuracy", "audio_single_5fold",
                   None if acc is None else 100 * acc, "%", f">= {100 * AUDIO_ACC:.0f} %",
                   None if acc is None else acc >= AUDIO_ACC)]


def gpu_checks(r: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 31's targets from `emofusion bench gpu` (results/bench/gpu.json; only a GPU run writes it)."""
    out = []
    b1 = [x for x in (r or {}).get("latency", []) if x["batch"] == 1 and x["backend"].startswith("torch")]
    for model, limit in GPU_B1_MS.items():
        value = min((x["p50_ms"] for x in b1 if x["model"] == model), default=None)
        out.append(_check(f"{model} batch-1 p50, torch on the GPU", "gpu", value, "ms", f"<= {limit} ms",
                          None if value is None else value <= limit))
    diffs = [p["max_abs_prob_diff"] for p in (r or {}).get("parity", []) if p["backend"].startswith("torch")]
    value = max(diffs) if diffs else None
    out.append(_check("torch on the GPU: probabilities vs the CPU (max abs diff)", "gpu", value, "",
                      f"<= {GPU_PARITY:g}", None if value is None else value <= GPU_PARITY))
    value = ((r or {}).get("e2e") or {}).get("p50_total_ms")
    out.append(_check("end to end on the GPU, p50", "gpu", value, "ms", f"<= {GPU_E2E_MS:g} ms",
                      None if value is None else value <= GPU_E2E_MS))
    t = (r or {}).get("training") or {}
    value = t.get("samples_per_s") if t.get("batch") == 64 else None
    out.append(_check("IA training at batch 64 on the GPU", "gpu", value, "samples/s", f">= {GPU_TRAIN_SPS:g}",
                      None if value is None else value >= GPU_TRAIN_SPS))
    return out


def check(results: Path) -> list[dict[str, Any]]:
    return (media_checks(_load(results, "media_bench")) + training_checks(_load(results, "train_bench"))
            + backend_checks(_load(results, "bench_backends")) + audio_checks(_load(results, "audio_single_5fold"))
            + gpu_checks(_load(results, "gpu")))


def markdown(checks: list[dict[str, Any]]) -> str:
    lines = ["# Targets of the project brief and issues", "",
             "Checked by `python scripts/check_targets.py` against the benchmark results named in the second "
             "column (each records its machine and load).", "",
             "| check | results file | measured | target | met |", "| --- | --- | ---: | --- | --- |"]
    for c in checks:
        value = "not measured" if c["value"] is None else f"{c['value']:g} {c['unit']}"
        met = {True: "yes", False: "no", None: "-"}[c["met"]]
        lines.append(f"| {c['what']} | `results/{TOPIC.get(c['source'], '')}/{c['source']}.md` | {value} | "
                     f"{c['target']} | {met} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/check_targets.py", description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=REPO / "results", help="the results dir (benchmarks in bench/, audio/)")
    p.add_argument("--out", type=Path, default=REPO / "results" / "shipped" / "targets", help="writes OUT.json and OUT.md")
    args = p.parse_args(argv)
    checks = check(args.results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(checks, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(checks))
    print(markdown(checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
