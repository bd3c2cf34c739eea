"""`emofusion train-face`: train the face network on FER+, then score it (FER+ test, CK+, actor 5).

`--model face` trains EfficientFace from scratch; `--model face_faceapi` fine-tunes the face-api.js
expression network from its converted weights (`--train head`: the last layer only; `--train all`:
everything, at a low rate), e.g. models/face's recipe in its card."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from emofusion.infer.device import DEVICE_HELP

HELP = "pretrain the face network on FER+ (resumable) and write results/face/face_pretrain.*"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="run directory (last.pt / best.pt / face.pt)")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--size", type=int, default=48, help="face crop side the model sees (multiple of 16)")
    p.add_argument("--zoom", type=float, default=1.23,
                   help="our crop side / FER+ image side (results/face/face_framing.json: measured median)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", choices=("face", "face_faceapi"), default="face",
                   help="face: EfficientFace from scratch; face_faceapi: the face-api.js network, pretrained")
    p.add_argument("--train", choices=("all", "head"), default="all",
                   help="what is trained (head: the classifier only; face_faceapi only)")
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto", help=DEVICE_HELP + " (default: %(default)s)")
    p.add_argument("--ferplus", type=Path, help="FER+ folder (default ../shared/data/ferplus)")
    p.add_argument("--stop-after", type=int, help="stop after this many epochs (resume later, e.g. with fewer --epochs)")
    p.add_argument("--no-eval", action="store_true", help="train only; skip results/face/face_pretrain.*")
    p.add_argument("--results", type=Path, default=Path("results") / "face", help="where face_pretrain.* go")


def run(args: argparse.Namespace) -> int:
    from emofusion.infer.device import resolve_device
    from emofusion.train.face_pretrain import FaceRender, FaceTrainConfig, train_face

    device = resolve_device(args.device)  # CUDA asked for and absent: one line, before any data loads
    size = 112 if args.model == "face_faceapi" else args.size
    cfg = FaceTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                          render=dataclasses.replace(FaceRender(), size=size, zoom=args.zoom),
                          model=args.model, train=args.train, dropout=args.dropout,
                          weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs, threads=args.threads)
    ckpt = train_face(args.out, cfg, args.ferplus, stop_after=args.stop_after, device=device)
    if ckpt is None:
        print(f"stopped after epoch {args.stop_after}; resume with the same --out")
        return 0
    print(f"face model: {ckpt}")
    if not args.no_eval:
        from emofusion.train.face_eval import evaluate_face

        evaluate_face(ckpt, args.results)
    return 0
