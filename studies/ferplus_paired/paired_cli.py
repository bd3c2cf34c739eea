"""The study's training command (was `emofusion train-paired`): the audio, IA, IT and LT models of fold 1
on RAVDESS voices paired with FER+ faces (studies.ferplus_paired.paired), scored against each other on
real audio-visual pairs. Run from the repository root:

    python -m studies.ferplus_paired.paired_cli --cache CACHE --face FACE.pt --out RUN

Fold 1 of the 5-fold protocol: test actors 2, 5, 14, 15, 16 never train; validation actors
(7, 8, 19, 20) choose each model's epoch and the late-fusion weight; the other 15 actors train.
Then every model and baseline is scored on actor 5's 60 real audio-visual recordings and the 6
CREMA-D clips (studies.ferplus_paired.paired_eval), into results/studies/paired_faces/paired_fold1.{json,md}.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "train audio / IA / IT / LT on RAVDESS voices + FER+ faces (fold 1) and score them on real AV pairs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", required=True, type=Path, help="RAVDESS speech feature cache (emofusion preprocess)")
    p.add_argument("--face", required=True, type=Path, help="the FER+ face model (train-face's face.pt)")
    p.add_argument("--out", required=True, type=Path, help="run directory")
    p.add_argument("--models", default="audio,ia,lt,it", help="which to train, in this order")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--views", type=int, default=5, help="moving frames rendered per FER+ face")
    p.add_argument("--n-frames", type=int, default=5, help="face frames per clip")
    p.add_argument("--per-class", type=int, default=2000, help="FER+ train faces kept per class (valid: a quarter)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--no-eval", action="store_true", help="train only (the audio model needs no faces)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--compare", type=Path, action="append", default=[], metavar="MODEL_DIR",
                   help="also score this model (e.g. the shipped models/ia) on the same recordings")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from emofusion.config import MediaConfig, VideoConfig
    from emofusion.data.cache import FeatureCache
    from emofusion.data.faces_labelled import load_ferplus
    from emofusion.data.splits import protocol_splits
    from emofusion.nets.checkpoint import load_checkpoint, load_efficientface_pretrained, save_checkpoint
    from emofusion.nets.config import ModelConfig
    from emofusion.nets.registry import create_model
    from studies.ferplus_paired.paired import PairedConfig, build_bank, cap_per_class, pair_faces, train_paired
    from studies.ferplus_paired.paired_eval import evaluate_all

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    split = protocol_splits("luna5")[0]
    cache = FeatureCache(args.cache)

    def audio_of(actors):
        recs = cache.select(actors)
        return (torch.as_tensor(np.stack([cache.load(r["id"])["audio"] for r in recs])),
                np.array([r["label"] for r in recs]))

    tr_a, tr_y = audio_of(split.train)
    va_a, va_y = audio_of(split.val)
    names = args.models.split(",")
    face = load_checkpoint(args.face)
    from emofusion.config import from_dict
    from emofusion.train.face_pretrain import FaceRender

    rcfg = from_dict(FaceRender, face.meta["train_config"]["render"])
    banks: dict = {}
    va_faces = None
    if not args.no_eval or any(n != "audio" for n in names):
        fer = load_ferplus()
        maj = fer.majority()
        for name, split_name, seed in (("train", "train", args.seed), ("valid", "valid", args.seed + 1)):
            path = out / f"bank_{name}.pt"  # FER+-derived features: run directory only, never the repository
            if path.is_file():
                banks[name] = torch.load(path, weights_only=False)
                continue
            idx = np.flatnonzero((fer.split == split_name) & (maj >= 0) & (maj != 7))  # contempt has no pair
            idx = idx[cap_per_class(maj[idx], args.per_class if name == "train" else args.per_class // 4, seed)]
            banks[name] = build_bank(face.model, fer.images[idx], maj[idx], rcfg, args.views, seed)
            torch.save(banks[name], path)
        gen = torch.Generator().manual_seed(args.seed)
        va_faces = pair_faces(va_y, banks["valid"], args.n_frames, gen, fixed=True)
    media = MediaConfig(audio=cache.config.audio, video=VideoConfig(n_frames=args.n_frames, face_size=rcfg.size))
    trained = {}
    for name in names:
        cfg = PairedConfig(fusion=name, epochs=args.epochs, seed=args.seed, batch_size=args.batch_size,
                           audio_init=str(out / "audio" / "model.pt") if name != "audio" else "")
        mcfg = ModelConfig(fusion=name, audio_channels=cache.config.audio.channels,
                           audio_frames=cache.config.audio_frames, n_frames=args.n_frames, face_size=rcfg.size,
                           face_grey=True, dropout=cfg.dropout)
        ckpt = out / name / "model.pt"
        if ckpt.is_file():
            print(f"{name}: {ckpt} exists, kept")
            trained[name] = ckpt
            continue
        torch.manual_seed(args.seed)
        model = create_model(mcfg)
        if name != "audio":
            load_efficientface_pretrained(model, args.face)
            model.freeze_face()
            if cfg.audio_init and Path(cfg.audio_init).is_file():
                audio_state = load_checkpoint(cfg.audio_init).model.audio_tcn.state_dict()
                model.audio_tcn.load_state_dict(audio_state)
        log = train_paired(model, tr_a, tr_y, banks.get("train"), va_a, va_y, va_faces, cfg, out / name)
        meta = {"kind": "paired", "paired_config": cfg.to_dict(), "best_epoch": log["best_epoch"],
                "best_val_macro_f1": log["best_val_macro_f1"], "train_seconds": log["train_seconds"],
                "split": split.to_dict(), "face_model_sha256": face.sha256 if name != "audio" else None}
        save_checkpoint(ckpt, model, mcfg, media, meta)
        trained[name] = ckpt
        print(json.dumps({k: meta[k] for k in ("best_epoch", "best_val_macro_f1", "train_seconds")}), flush=True)
    if args.no_eval:
        return 0
    compare = {f"{p.name} (shipped)": p for p in args.compare}
    res = evaluate_all(trained, args.face, cache, split, va_a, va_y, va_faces, banks["valid"], args.results, compare)
    print((args.results / "paired_fold1.md").read_text())
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m studies.ferplus_paired.paired_cli", description=HELP)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
