"""Record what the shipped models answer on the committed fixtures: tests/expectations.json.

    python -m emofusion.bench.expectations            # from the project root, after changing models/

tests/test_shipped_models.py runs the same models on the same files and compares with this record,
so a swapped, damaged or random model fails it (a random model does not reproduce 8 probabilities
per model and input). The record names each model's sha256: after retraining, the test fails with
"models changed" until this command is run again (and the diff of the record is reviewed).

Inputs: the web app's example clips (CREMA-D, voice + face), a RAVDESS speech recording (voice
only) and a RAVDESS still (a photo: face only), through `emofusion.load(...).analyze`, the
product path, on the torch backend (the reference every engine is checked against).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DECIMALS = 6


def default_inputs(repo: Path) -> list[Path]:
    """The committed fixtures, relative to a source checkout at `repo`."""
    examples = sorted((repo / "emofusion" / "webapp" / "examples").glob("*.mp4"))
    fixtures = repo / "tests" / "fixtures"
    return [*examples, fixtures / "03-01-05-02-01-01-01.flac", fixtures / "Actor_01.png"]


def record(models_dir: Path, inputs: list[Path], repo: Path) -> dict[str, Any]:
    """Every model's answer (top class, probabilities; a fusion's voice-alone and face-alone
    answers too) on every input, keyed by the input's path relative to `repo`."""
    import emofusion

    predictor = emofusion.load(models_dir, backend="torch")
    out: dict[str, Any] = {
        "command": "python -m emofusion.bench.expectations",
        "backend": "torch",
        "models": {name: {"sha256": m.sha256, "kind": m.kind}
                   for name, m in predictor.models.items()},
        "inputs": {},
    }
    for path in inputs:
        d = predictor.analyze(path).to_dict()
        if d["error"] is not None:
            raise RuntimeError(f"{path}: {d['error']['message']}")
        entry: dict[str, Any] = {"input": d["input"], "answer": d["answer"]["model"], "models": {}}
        for name, r in d["models"].items():
            m = {"top": r["top"], "probs": _rounded(r["probs"])}
            for stream, alone in (r.get("streams") or {}).items():
                if alone is not None and d["streams_present"] == {"voice": True, "face": True}:
                    m[f"{stream}_alone"] = {"top": alone["top"], "probs": _rounded(alone["probs"])}
            entry["models"][name] = m
        out["inputs"][_rel(path, repo)] = entry
    return out


def _rounded(probs: dict[str, float]) -> dict[str, float]:
    return {c: round(float(p), DECIMALS) for c, p in probs.items()}


def _rel(path: Path, repo: Path) -> str:
    try:
        return str(path.resolve().relative_to(repo.resolve()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emofusion.bench.expectations", description=__doc__.splitlines()[0])
    p.add_argument("--repo", type=Path, default=Path("."), help="source checkout (default: the current directory)")
    p.add_argument("--models", type=Path, default=None, help="models directory (default: REPO/models)")
    p.add_argument("--out", type=Path, default=None, help="record to write (default: REPO/tests/expectations.json)")
    args = p.parse_args(argv)
    from emofusion.errors import EmofusionError

    repo = args.repo
    inputs = default_inputs(repo)
    missing = [str(i) for i in inputs if not i.is_file()]
    if missing or len(inputs) < 3:
        print(f"error: run from the project root; missing fixtures: {', '.join(missing) or 'examples'}",
              file=sys.stderr)
        return 2
    try:
        result = record(args.models or repo / "models", inputs, repo)
    except (EmofusionError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or repo / "tests" / "expectations.json"
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}: {len(result['models'])} models x {len(result['inputs'])} inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
