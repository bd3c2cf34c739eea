"""Is tuning Whisper's top encoder block worth a 5-fold voice retrain? Validation actors only.

    python scripts/tune_top_5fold.py --cache WORK/whisper-states --work WORK/tunetop \
        [--out results/audio/tune_top_5fold]

For each of the 5 folds, the voice head alone (tuned 0) and the head with the top block tuned
(tuned 1) train through the same code and schedule (`whisper_recipe.tune_top_check`: 10 epochs,
the shipped head setting, encoder lr 1e-4) and are scored on that fold's validation actors, actor 5
left out (it is the shipped fold-1 models' test actor; folds 3 and 4 validate on it). Test actors
are never read. Resumable: a fold already in WORK is not trained again.

The rule, written before any 5-fold figure: retrain the shipped voice model with the top block
tuned only if tuning gains >= 1.0 point of mean validation accuracy AND wins in at least 4 of 5 folds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FOLDS = (1, 2, 3, 4, 5)
MIN_GAIN, MIN_WINS = 0.010, 4


def summarise(rows: dict[int, dict[int, dict]]) -> dict:
    """rows[tuned][fold] = tune_top_check's JSON -> per-fold figures, means and the rule's verdict."""
    per_fold = [{"fold": k, **{f"tuned{t}": rows[t][k]["best_val_without_actor5"] for t in (0, 1)}} for k in FOLDS]
    gains = np.array([r["tuned1"] - r["tuned0"] for r in per_fold])
    mean = {f"tuned{t}": float(np.mean([r[f"tuned{t}"] for r in per_fold])) for t in (0, 1)}
    wins = int((gains > 0).sum())
    return {"per_fold": per_fold, "mean": mean, "mean_gain": float(gains.mean()), "wins": wins,
            "rule": f"tune the top block only if the mean gain >= {100 * MIN_GAIN:.1f} points and it wins in "
                    f">= {MIN_WINS} of {len(FOLDS)} folds (validation actors, actor 5 left out)",
            "retrain": bool(gains.mean() >= MIN_GAIN and wins >= MIN_WINS),
            "epochs": rows[1][FOLDS[0]]["epochs"], "encoder_lr": rows[1][FOLDS[0]]["encoder_lr"],
            "command": "python scripts/tune_top_5fold.py --cache WORK/whisper-states --work WORK/tunetop"}


def markdown(s: dict) -> str:
    lines = ["# Tuning Whisper's top encoder block: a 5-fold validation check", "",
             f"Best validation accuracy over {s['epochs']} epochs (encoder lr {s['encoder_lr']:g}), each fold's "
             "validation actors without actor 5; no test actor read. Command: "
             f"`{s['command']}`.", "",
             "| fold | head only | head + top block tuned | gain |", "| --- | --- | --- | --- |"]
    for r in s["per_fold"]:
        lines.append(f"| {r['fold']} | {100 * r['tuned0']:.1f} % | {100 * r['tuned1']:.1f} % | "
                     f"{100 * (r['tuned1'] - r['tuned0']):+.1f} |")
    lines += [f"| mean | {100 * s['mean']['tuned0']:.1f} % | {100 * s['mean']['tuned1']:.1f} % | "
              f"{100 * s['mean_gain']:+.1f} |", "",
              f"Rule (written before these figures): {s['rule']}. Tuning wins in {s['wins']} of 5 folds: "
              + ("**retrain the voice model with the top block tuned**." if s["retrain"]
                 else "**not worth a retrain**; the shipped voice model stays frozen-encoder.")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, required=True, help="whisper_cache's states root (tiny.en, speed 1)")
    p.add_argument("--work", type=Path, required=True, help="where each fold's JSON goes (resumable)")
    p.add_argument("--out", type=Path, default=REPO / "results" / "audio" / "tune_top_5fold")
    args = p.parse_args(argv)
    import torch

    from emofusion.train.whisper_recipe import tune_top_check

    torch.set_num_threads(2)
    args.work.mkdir(parents=True, exist_ok=True)
    rows: dict[int, dict[int, dict]] = {0: {}, 1: {}}
    for k in FOLDS:
        for t in (0, 1):
            path = args.work / f"tune_top{t}_fold{k}.json"
            data = json.loads(path.read_text()) if path.is_file() else None
            if data is None or "best_val_without_actor5" not in data:
                data = tune_top_check(args.cache, args.work, fold=k, tuned=t)
            rows[t][k] = data
    s = summarise(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({**s, "runs": rows}, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(s))
    print(markdown(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
