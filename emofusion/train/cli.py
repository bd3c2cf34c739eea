"""`emofusion train`: speaker-independent cross-validation on a feature cache.

Works alone or under `torchrun --nproc_per_node N -m emofusion train ...` (DDP).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from emofusion.constants import AUDIO_ONLY_MODELS
from emofusion.infer.device import DEVICE_HELP

HELP = "train a model with subject-wise cross-validation on a feature cache, then evaluate each fold"


def _ints(text: str) -> tuple[int, ...]:
    from emofusion.data.splits import SplitError, parse_actor_list

    try:
        return parse_actor_list(text)
    except SplitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _device(text: str) -> str:
    from emofusion.errors import UsageError
    from emofusion.infer.device import parse_device

    try:
        parse_device(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache", required=True, type=Path,
                   help="feature cache made by `emofusion preprocess` (audio_whisper*: where the encoder's "
                        "hidden states are cached, made on first use)")
    p.add_argument("--out", required=True, type=Path, help="run directory (fold_k/ per fold)")
    p.add_argument("--data", type=Path, help="audio_whisper*: the RAVDESS speech folder (Actor_XX/*.flac)")
    p.add_argument("--fusion", "--model", choices=["ia", "it", "lt", "video", *AUDIO_ONLY_MODELS],
                   help="registered model: the fusions, the two baselines, or the wider audio_res / audio_cnn2d "
                        "(default: the --config file's fusion, else ia)")
    p.add_argument("--config", type=Path, help="TrainConfig JSON to start from (flags override it)")
    p.add_argument("--resume", action="store_true", help="continue each fold from its last.pt")
    p.add_argument("--protocol", choices=["5fold", "6fold", "reference", "custom"])
    p.add_argument("--folds", type=_ints, help="1-based folds to run, e.g. 1,2 (default: all)")
    p.add_argument("--test-actors", type=_ints, help="custom protocol: test actors, e.g. 5,10,16,19")
    p.add_argument("--val-actors", type=_ints, help="custom protocol: validation actors")
    p.add_argument("--n-val", type=int, help="validation actors per fold (0 = keep the last epoch)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--optimizer", choices=["adam", "sgd"])
    p.add_argument("--lr", type=float)
    p.add_argument("--momentum", type=float)
    p.add_argument("--weight-decay", type=float)
    p.add_argument("--schedule", choices=["none", "step", "cosine"])
    p.add_argument("--milestones", type=_ints, help="step schedule epochs, e.g. 40,55,65,70")
    p.add_argument("--gamma", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--precise-bn", type=int, help="re-estimate BatchNorm stats over N batches each epoch")
    p.add_argument("--select-by", choices=["f1", "acc"])
    p.add_argument("--face-size", type=int, help="ModelConfig face_size (must match the cache)")
    p.add_argument("--dropout", type=float, help="ModelConfig dropout before the classifier")
    p.add_argument("--modality-dropout", choices=["none", "softhard", "random"])
    p.add_argument("--modality-dropout-p", type=float)
    p.add_argument("--mixup", type=float, dest="mixup_alpha", help="mixup alpha (0 = off)")
    p.add_argument("--time-masks", type=int, help="SpecAugment time masks per clip")
    p.add_argument("--freq-masks", type=int, help="SpecAugment feature-channel masks per clip")
    p.add_argument("--audio-noise", type=float, help="feature noise, relative to the clip's std")
    p.add_argument("--no-face-aug", action="store_true", help="turn off face flip and rotation")
    p.add_argument("--face-pretrained", type=Path, metavar="PTH",
                   help="start the face CNN from published EfficientFace weights (AffectNet/RAF-DB .pth.tar)")
    p.add_argument("--freeze-face", action="store_true", default=None,
                   help="keep the face CNN fixed (no gradients, BN statistics kept): ~2.7x faster steps")
    p.add_argument("--face-views", type=int, metavar="V",
                   help="with --freeze-face: compute the face CNN's features of each training clip V times "
                        "(1 plain + V-1 augmented) before training and train on them (epochs cost ~audio)")
    p.add_argument("--extra-train-cache", type=Path, action="append", metavar="CACHE",
                   help="also train on this cache's copy of the training actors (e.g. made with "
                        "`preprocess --speed 0.9`; same features settings); repeatable")
    p.add_argument("--teacher", type=Path, action="append", metavar="RUN",
                   help="knowledge distillation: a finished run of the same protocol whose fold-k model "
                        "teaches fold k (repeat for an ensemble; needs --distill-weight)")
    p.add_argument("--distill-weight", type=float, help="weight w of the teachers' soft answers (0-1)")
    p.add_argument("--distill-temperature", type=float, help="softmax temperature T for distillation")
    p.add_argument("--ema-decay", type=float,
                   help="average the weights over steps with this decay (e.g. 0.999); best.pt is the average")
    p.add_argument("--num-workers", type=int)
    p.add_argument("--device", type=_device, help=DEVICE_HELP + " (default: the config's, auto)")
    p.add_argument("--no-in-memory", action="store_true", help="read entries from disk each epoch")
    p.add_argument("--results-name", help="also copy the results to RESULTS_DIR/NAME.{json,md}")
    p.add_argument("--results-dir", type=Path, default=Path("results") / "runs",
                   help="where --results-name writes (default: ./%(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


WHISPER_MODELS = ("audio_whisper", "audio_whisper_base")
TOP = ("fusion", "protocol", "folds", "test_actors", "val_actors", "n_val", "epochs", "batch_size", "optimizer", "lr",
       "momentum", "weight_decay", "schedule", "milestones", "gamma", "seed", "label_smoothing", "precise_bn",
       "select_by", "num_workers", "device", "face_views", "distill_weight", "distill_temperature", "ema_decay")
AUG = ("modality_dropout", "modality_dropout_p", "mixup_alpha", "time_masks", "freq_masks", "audio_noise")


def config_from_args(args: argparse.Namespace):
    """TrainConfig = defaults <- --config JSON <- explicit flags."""
    import dataclasses

    from emofusion.errors import UsageError
    from emofusion.train.config import TrainConfig

    try:
        cfg = TrainConfig.load(args.config) if args.config else TrainConfig()
        top = {k: getattr(args, k) for k in TOP if getattr(args, k) is not None}
        aug = {k: getattr(args, k) for k in AUG if getattr(args, k) is not None}
        if args.no_face_aug:
            aug.update(face_flip_p=0.0, face_rotate_deg=0.0)
        model = dict(cfg.model)
        if args.face_size is not None:
            model["face_size"] = args.face_size
        if args.dropout is not None:
            model["dropout"] = args.dropout
        if args.no_in_memory:
            top["in_memory"] = False
        if args.test_actors and not args.protocol:
            top["protocol"] = "custom"
        if args.face_pretrained is not None:
            if not args.face_pretrained.is_file():
                raise UsageError(f"--face-pretrained: no such file {args.face_pretrained}")
            top["face_pretrained"] = str(args.face_pretrained)
        if args.freeze_face:
            top["freeze_face"] = True
        if args.extra_train_cache:
            missing = [str(c) for c in args.extra_train_cache if not c.is_dir()]
            if missing:
                raise UsageError(f"--extra-train-cache: no such directory {', '.join(missing)}")
            top["extra_train_caches"] = tuple(str(c.resolve()) for c in args.extra_train_cache)
        if args.teacher:
            missing = [str(r) for r in args.teacher if not r.is_dir()]
            if missing:
                raise UsageError(f"--teacher: no such run directory {', '.join(missing)}")
            top["teachers"] = tuple(str(r.resolve()) for r in args.teacher)
        fusion = top.get("fusion", cfg.fusion)
        if fusion in AUDIO_ONLY_MODELS and (top.get("face_pretrained") or top.get("freeze_face")
                                            or top.get("face_views")):
            raise UsageError(f"--face-pretrained / --freeze-face / --face-views need a model with a face CNN, "
                             f"not {fusion!r}")
        return cfg.replace(model=model, augment=dataclasses.replace(cfg.augment, **aug), **top)
    except (ValueError, OSError) as exc:
        raise UsageError(f"bad training configuration: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from emofusion.train import distributed as D
    from emofusion.train.cv import run_cv

    if args.fusion in WHISPER_MODELS:  # its own recipe: a frozen encoder's states cached once, heads on them
        from emofusion.errors import UsageError
        from emofusion.train import whisper_recipe

        if args.data is None or not args.data.is_dir():
            raise UsageError("--model audio_whisper needs --data RAVDESS_SPEECH_DIR (Actor_XX/*.flac)")
        whisper_recipe.run(args.cache, args.data, args.out, whisper_recipe.SOURCE_OF[args.fusion],
                           progress=not args.quiet)
        return 0

    cfg = config_from_args(args)
    from emofusion.infer.device import resolve_device

    resolve_device(cfg.device)  # CUDA asked for and absent: one line before the cache is read
    run_cv(args.cache, cfg, args.out, resume=args.resume, progress=not args.quiet,
           results_name=args.results_name, results_dir=args.results_dir)
    if D.launched_by_torchrun():  # the run is saved; leave before interpreter shutdown (end_worker)
        D.end_worker(0)
    return 0
