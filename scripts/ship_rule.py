"""Which of two 5-fold audio runs ships its fold 1 as models/audio, by a rule fixed before the figures.

Why folds 2-5 only: fold 1's test actors include actor 5, the held-out real-video actor that the
shipped model is checked on. Choosing between runs by a mean that includes fold 1 would spend that
check, so the rule reads folds 2-5 and leaves fold 1 (and actor 5) out of the choice.

    python scripts/ship_rule.py CURRENT.json CANDIDATE.json --out results/audio/ship_rule_s12

CURRENT and CANDIDATE are `emofusion evaluate` results files (the same five folds). The candidate
ships if its mean accuracy over folds 2-5 is at least the current one's; ties go to the candidate
only because it was trained as the replacement. Writes OUT.json and OUT.md and prints the decision.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

CHOICE_FOLDS = (2, 3, 4, 5)


def fold_accuracies(results: dict[str, Any]) -> dict[int, float]:
    """Per-fold test accuracy of an `emofusion evaluate` results file, keyed by fold number."""
    out = {}
    for fold in results["folds"]:
        out[int(str(fold["fold"]).removeprefix("fold_"))] = float(fold["full"]["accuracy"])
    return out


def decide(current: dict[str, Any], candidate: dict[str, Any]) -> dict[str, Any]:
    cur, cand = fold_accuracies(current), fold_accuracies(candidate)
    missing = [k for k in CHOICE_FOLDS if k not in cur or k not in cand]
    if missing:
        raise ValueError(f"both runs need test figures for folds {CHOICE_FOLDS}; missing {missing}")
    cur_mean = sum(cur[k] for k in CHOICE_FOLDS) / len(CHOICE_FOLDS)
    cand_mean = sum(cand[k] for k in CHOICE_FOLDS) / len(CHOICE_FOLDS)
    return {"choice_folds": list(CHOICE_FOLDS), "current_mean": cur_mean, "candidate_mean": cand_mean,
            "current_folds": cur, "candidate_folds": cand, "ship_candidate": cand_mean >= cur_mean}


def render(decision: dict[str, Any], current: str, candidate: str) -> str:
    rows = ["| fold | current | candidate |", "| --- | --- | --- |"]
    for k in sorted(set(decision["current_folds"]) & set(decision["candidate_folds"])):
        mark = "" if k in decision["choice_folds"] else " (not used to choose)"
        rows.append(f"| {k}{mark} | {100 * decision['current_folds'][k]:.1f} % | "
                    f"{100 * decision['candidate_folds'][k]:.1f} % |")
    rows.append(f"| mean of folds 2-5 | {100 * decision['current_mean']:.2f} % | "
                f"{100 * decision['candidate_mean']:.2f} % |")
    verdict = "the candidate ships" if decision["ship_candidate"] else "the current model stays"
    return "\n".join([
        "# Which audio run ships (rule fixed before the figures)", "",
        f"- current: `{current}`", f"- candidate: `{candidate}`",
        "- rule: the candidate's fold 1 ships if its mean test accuracy over folds 2-5 is at least the "
        "current run's; fold 1 holds actor 5 and is not used to choose.", "", *rows, "",
        f"**Decision: {verdict}.**", ""])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("current", type=Path)
    ap.add_argument("candidate", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    args = ap.parse_args(argv)
    try:
        decision = decide(json.loads(args.current.read_text()), json.loads(args.candidate.read_text()))
    except (OSError, ValueError, KeyError) as exc:
        print(f"ship_rule: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {**decision, "current": str(args.current), "candidate": str(args.candidate)}
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(render(decision, str(args.current), str(args.candidate)))
    print("ship candidate" if decision["ship_candidate"] else "keep current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
