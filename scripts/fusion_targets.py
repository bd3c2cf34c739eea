"""Issue 28's fusion targets, checked on the shipped models' real audio-visual figures.

    python scripts/fusion_targets.py   # results/shipped/real_av.json -> results/fusion/fusion_actor5.{json,md}

Targets are the project's bookkeeping, so they live here, not in emofusion/ (tests/test_scripts.py).
The figures come from `emofusion evaluate-real`; this script only reads and compares them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# results/fusion/fusion_actor5.json keys (issue 28) -> rows of results/shipped/real_av.json
FUSION_KEYS = {"ia": "ia", "lt": "lt", "score_fusion": "score fusion", "audio": "audio", "face": "face",
               "ia_faces_zeroed": "ia (faces zeroed)", "lt_faces_zeroed": "lt (faces zeroed)",
               "ia_voice_zeroed": "ia (voice zeroed)", "lt_voice_zeroed": "lt (voice zeroed)"}


def fusion_summary(res: dict[str, Any]) -> dict[str, Any]:
    """The fusion targets' view of the actor-5 rows, with each target checked (met / missed)."""
    a5 = res["actor5"]["rows"]
    rows = {k: {"accuracy": a5[r]["accuracy"], "macro_f1": a5[r]["macro_f1"], "n": a5[r]["n"],
                "non_calm_accuracy": a5[r]["non_calm_accuracy"], "confusion": a5[r]["confusion"]}
            for k, r in FUSION_KEYS.items() if r in a5}
    best_single = max(rows[k]["accuracy"] for k in ("audio", "face") if k in rows)
    targets = {}
    for f in ("ia", "lt"):
        if f not in rows:
            continue
        targets[f] = {
            ">= 85 %": rows[f]["accuracy"] >= 85.0,
            ">= 2 points above the better single stream": rows[f]["accuracy"] >= best_single + 2.0,
            ">= 3 points above itself with faces zeroed": rows[f]["accuracy"] >= rows[f"{f}_faces_zeroed"]["accuracy"] + 3.0,
            "voice zeroed: >= 60 % on non-calm": rows[f"{f}_voice_zeroed"]["non_calm_accuracy"] >= 60.0,
        }
    return {"command": "python scripts/fusion_targets.py", "figures_from": res["command"], "recordings": "RAVDESS actor 5, 60 real audio-visual recordings (a test "
            "actor of fold 1), faces re-cropped by the product's face path", "rows": rows, "targets": targets,
            "score_fusion": res.get("score_fusion"), "models": res["models"]}


def fusion_markdown(summary: dict[str, Any]) -> str:
    """The fusion targets on actor 5, each marked met / missed."""
    rows = summary["rows"]
    lines = ["| target (actor 5, 60 real AV recordings) | IA | LT |", "| --- | --- | --- |"]
    names = list(next(iter(summary["targets"].values())))
    for t in names:
        cells = []
        for f in ("ia", "lt"):
            ok = summary["targets"].get(f, {}).get(t)
            cells.append("-" if ok is None else ("met" if ok else "**missed**"))
        lines.append(f"| {t} | {' | '.join(cells)} |")
    lines.append(f"| accuracy (faces zeroed / voice zeroed: non-calm) | {rows['ia']['accuracy']:.1f} % "
                 f"({rows['ia_faces_zeroed']['accuracy']:.1f} / {rows['ia_voice_zeroed']['non_calm_accuracy']:.1f} %) | "
                 f"{rows['lt']['accuracy']:.1f} % ({rows['lt_faces_zeroed']['accuracy']:.1f} / "
                 f"{rows['lt_voice_zeroed']['non_calm_accuracy']:.1f} %) |")
    best = max(("audio", "face"), key=lambda k: rows[k]["accuracy"] if k in rows else -1)
    lines.append(f"| better single stream | {best} {rows[best]['accuracy']:.1f} % | |")
    if "score_fusion" in rows:
        lines.append(f"| score-level baseline (log-linear pooling) | {rows['score_fusion']['accuracy']:.1f} % | |")
    return "\n".join(lines) + "\n"



def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/fusion_targets.py", description=__doc__.splitlines()[0])
    p.add_argument("--real-av", type=Path, default=REPO / "results" / "shipped" / "real_av.json")
    p.add_argument("--out", type=Path, default=REPO / "results" / "fusion")
    args = p.parse_args(argv)
    summary = fusion_summary(json.loads(args.real_av.read_text()))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fusion_actor5.json").write_text(json.dumps(summary, indent=1) + "\n")
    (args.out / "fusion_actor5.md").write_text(fusion_markdown(summary))
    print(fusion_markdown(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
