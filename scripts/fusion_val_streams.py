"""The shipped IA / LT on fold 1's validation actors, with both streams and with the faces zeroed.

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

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def measure(states_dir: Path, pool_path: Path, models: Path, seed: int = 0) -> dict:
    import torch

    from emofusion.data.splits import protocol_splits
    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.train.fusion_fw import FacePool, _absent_inputs, pair_faces
    from emofusion.train.metrics import classify

    index = json.loads((states_dir / "index.json").read_text())
    states = np.load(states_dir / "states.npy", mmap_mode="r")
    actors = np.array([c["actor"] for c in index["clips"]])
    labels = np.array([c["label"] for c in index["clips"]])
    split = protocol_splits("luna5")[0]
    va = np.flatnonzero(np.isin(actors, split.val))
    y = labels[va]
    voices = torch.from_numpy(np.ascontiguousarray(states[va])).float()
    pool = FacePool.load(pool_path)
    val_pool = pool.subset(pool.source == "ferplus-valid")
    # the pairing train_fusion validates with (seed + 1, no mismatch)
    f, v = pair_faces(y, val_pool, 5, 0.0, np.random.default_rng(seed + 1))
    faces = torch.from_numpy(val_pool.feats[f[:, None], v].astype(np.float32))
    rows = {}
    for name in ("ia", "lt"):
        loaded = load_checkpoint(models / name)
        model = loaded.model.eval()
        n_frames = loaded.model_cfg.n_frames
        _, blank = _absent_inputs(model, n_frames, 2 * states.shape[2])

        def answers(face_of):
            with torch.no_grad():
                return torch.cat([model.forward_encoded(voices[i:i + 64].transpose(0, 1), face_of(i))
                                  for i in range(0, len(va), 64)]).argmax(1).numpy()

        both = classify(y, answers(lambda i: faces[i:i + 64]))
        alone = classify(y, answers(lambda i: blank.float().expand(len(voices[i:i + 64]), n_frames, -1)))
        rows[name] = {"both": round(100 * both["accuracy"], 1), "faces_zeroed": round(100 * alone["accuracy"], 1),
                      "faces_zeroed_macro_f1": round(100 * alone["macro_f1"], 1), "sha256": loaded.sha256}
    voice = json.loads((REPO / "results" / "fusion" / "score_fusion.json").read_text())["validation_accuracy"]
    return {"validation_actors": list(split.val), "n": int(len(va)), "fusions": rows,
            "voice_model": voice["voice"], "face_model": voice["face"],
            "command": "python scripts/fusion_val_streams.py --states STATES --pool POOL"}


def markdown(r: dict) -> str:
    lines = [f"# Shipped fusions on fold 1's validation actors {r['validation_actors']} ({r['n']} clips)", "",
             "Voices of the validation actors; faces paired from FER+ valid (same class), as the fusions were "
             "validated. The voice model's figure: its fold-1 head trained without these actors "
             "(results/fusion/score_fusion.json).", "",
             "| model | voice + paired face | faces zeroed |", "| --- | --- | --- |"]
    for name, row in r["fusions"].items():
        lines.append(f"| {name} | {row['both']:.1f} % | {row['faces_zeroed']:.1f} % |")
    lines.append(f"| voice model | | {r['voice_model']:.1f} % (voice only) |")
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
