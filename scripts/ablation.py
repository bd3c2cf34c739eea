"""Ablation table: one row per real training run, figures read from each run's results JSON.

A spec file lists the rows in order (name, what changed, the exact commands, the results JSON that
`emofusion evaluate --results-name` wrote); this module only collects and tabulates, so every
figure in the table traces back to a committed results file.

    python scripts/ablation.py scripts/configs/audio_ablation.json --out results/audio/audio_ablation

Experiment bookkeeping for this repository (scripts/reproduce_audio.sh), not part of the package.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def collect(spec: dict[str, Any], root: Path = REPO) -> dict[str, Any]:
    """Rows with accuracy / macro-F1 (mean, std over folds) taken from each row's results file."""
    rows = []
    for row in spec["rows"]:
        path = root / row["results"]
        if not path.exists():
            rows.append({**row, "missing": True})
            continue
        res = json.loads(path.read_text())
        full = res["summary"]["full"]
        tc = res.get("train_config", {})
        rows.append({
            **row,
            "n_folds": res["n_folds"],
            "folds": [f["fold"] for f in res["folds"]],
            "epochs": tc.get("epochs"),
            "audio_channels": res.get("model_config", {}).get("audio_channels"),
            "accuracy": full["accuracy"],
            "macro_f1": full["macro_f1"],
            "per_fold_accuracy": [f["full"]["accuracy"] for f in res["folds"]],
            "per_fold_val_f1": [(f.get("selection") or {}).get("val_f1") for f in res["folds"]],
            "std_note": "sample std over folds (0 for one fold)",
        })
    return {"title": spec.get("title", "Ablation"), "notes": spec.get("notes", []), "rows": rows}


def markdown(table: dict[str, Any]) -> str:
    lines = [f"# {table['title']}", ""] + [f"{n}" for n in table["notes"]] + [""]
    lines += ["| # | run | what changed | folds | epochs | accuracy | macro F1 | fold 1 accuracy "
              "| fold 1 validation F1 | results file |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for i, r in enumerate(table["rows"], 1):
        if r.get("missing"):
            lines.append(f"| {i} | {r['name']} | {r['change']} | - | - | not run | not run | - | - "
                         f"| `{r['results']}` (missing) |")
            continue
        a, f = r["accuracy"], r["macro_f1"]
        f1acc = dict(zip(r["folds"], r["per_fold_accuracy"])).get("fold_1")
        f1txt = "-" if f1acc is None else f"{100 * f1acc:.1f} %"
        val = dict(zip(r["folds"], r.get("per_fold_val_f1") or [])).get("fold_1")
        valtxt = "-" if val is None else f"{100 * val:.1f} %"
        ms = (lambda m: f"{100 * m['mean']:.1f} +- {100 * m['std']:.1f} %") if r["n_folds"] > 1 else (
            lambda m: f"{100 * m['mean']:.1f} % (one fold)")
        lines.append(f"| {i} | {r['name']} | {r['change']} | {r['n_folds']} | {r['epochs']} | {ms(a)} | {ms(f)} "
                     f"| {f1txt} | {valtxt} | `{r['results']}` |")
    lines += ["", "## Exact commands", ""]
    for i, r in enumerate(table["rows"], 1):
        lines += [f"{i}. **{r['name']}**", "", "```bash", *r["commands"], "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/ablation.py", description=__doc__.splitlines()[0])
    p.add_argument("spec", type=Path, help="JSON: {title, notes, rows: [{name, change, commands, results}]}")
    p.add_argument("--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    args = p.parse_args(argv)
    try:
        table = collect(json.loads(args.spec.read_text()))
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(table, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(markdown(table))
    print(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
