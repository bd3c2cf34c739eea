"""The shipped IA / LT on fold 1's validation actors, with both streams, the faces zeroed, the voice zeroed.

    python scripts/fusion_val_streams.py --states STATES --pool POOL
        # -> results/fusion/val_streams.{json,md}

Why: on actor 5's real recordings the fusions with faces zeroed trail the voice model (63.3 / 66.7 %
against 76.7 %), which suggests a weak voice branch. This checks that on validation actors only
(voices of actors 7, 8, 19, 20; faces paired from FER+ valid, as the fusions were validated) before
any retraining is spent on it. The voice model's figure on the same clips is read from
results/fusion/score_fusion.json (its fold-1 head trained without these actors).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def measure(states_dir: Path, pool_path: Path, models: Path, seed: int = 0) -> dict:
    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.train.fusion_fw import FacePool, validation_streams

    pool = FacePool.load(pool_path)
    rows, r = {}, {}
    for name in ("ia", "lt"):
        loaded = load_checkpoint(models / name)
        r = validation_streams(loaded.model, states_dir, pool, fold=1, seed=seed)
        rows[name] = {"both": r["both"]["accuracy"], "faces_zeroed": r["faces_zeroed"]["accuracy"],
                      "faces_zeroed_macro_f1": r["faces_zeroed"]["macro_f1"],
                      "voice_zeroed": r["voice_zeroed"]["accuracy"],
                      "voice_zeroed_macro_f1": r["voice_zeroed"]["macro_f1"], "sha256": loaded.sha256}
    voice = json.loads((REPO / "results" / "fusion" / "score_fusion.json").read_text())["validation_accuracy"]
    return {"validation_actors": r["validation_actors"], "n": r["n"], "fusions": rows,
            "voice_model": voice["voice"], "face_model": voice["face"],
            "command": "python scripts/fusion_val_streams.py --states STATES --pool POOL"}


def markdown(r: dict) -> str:
    lines = [f"# Shipped fusions on fold 1's validation actors {r['validation_actors']} ({r['n']} clips)", "",
             "Voices of the validation actors; faces paired from FER+ valid (same class), as the fusions were "
             "validated. The voice model's figure: its fold-1 head trained without these actors "
             "(results/fusion/score_fusion.json).", "",
             "| model | voice + paired face | faces zeroed | voice zeroed |", "| --- | --- | --- | --- |"]
    for name, row in r["fusions"].items():
        lines.append(f"| {name} | {row['both']:.1f} % | {row['faces_zeroed']:.1f} % | {row['voice_zeroed']:.1f} % |")
    lines.append(f"| voice model | | {r['voice_model']:.1f} % (voice only) | |")
    lines.append(f"| face model | | | {r['face_model']:.1f} % (faces only) |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--states", type=Path, required=True, help="Whisper tiny.en states (speed 1) of the speech clips")
    p.add_argument("--pool", type=Path, required=True, help="the face pool train-fusion used")
    p.add_argument("--models", type=Path, default=REPO / "models")
    p.add_argument("--out", type=Path, default=REPO / "results" / "fusion")
    args = p.parse_args(argv)
    r = measure(args.states, args.pool, args.models)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "val_streams.json").write_text(json.dumps(r, indent=1) + "\n")
    (args.out / "val_streams.md").write_text(markdown(r))
    print(markdown(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
