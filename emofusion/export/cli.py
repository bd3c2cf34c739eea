"""`emofusion export MODEL... --to onnx|tensorrt|triton|all|safetensors`: deployable files from checkpoints.

Writes next to the checkpoint by default (models/ia/model.onnx, model.int8.onnx, model.plan), or
into --out DIR (DIR/<name>/... when several models are given; the Triton repository goes to DIR).
`--to safetensors` is how a trained `.pt` becomes a shipped model: DIR/model.safetensors +
DIR/config.json (`emofusion export runs/x/fold_1/best.pt --to safetensors --out models/ia`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from emofusion.errors import UsageError

HELP = "export checkpoints to ONNX (+ INT8/FP16), TensorRT engines or a Triton model repository"
TARGETS = ("onnx", "tensorrt", "triton", "all", "safetensors")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("models", nargs="+", metavar="MODEL",
                        help="checkpoint (.pt), or a model dir (model.safetensors + config.json, or model.pt)")
    parser.add_argument("--to", choices=TARGETS, default="onnx", help="what to export (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output dir (default: next to each checkpoint; required for triton)")
    parser.add_argument("--int8", action="store_true",
                        help="also write a static INT8 (QDQ) ONNX calibrated on --calib-cache clips for CPU "
                             "(model.int8.onnx) and, with --to tensorrt|all, the symmetric one TensorRT builds "
                             "its INT8 engine from (model.trt-int8.onnx)")
    parser.add_argument("--calib-cache", type=Path, default=None,
                        help="feature cache dir (emofusion preprocess) with real clips for INT8 calibration")
    parser.add_argument("--calib-clips", type=int, default=128, help="clips used for calibration (default: %(default)s)")
    parser.add_argument("--fp16", action="store_true", help="also write an FP16 ONNX (for GPUs; IO stays float32)")
    parser.add_argument("--exporter", choices=("legacy", "dynamo"), default="legacy",
                        help="torch.onnx exporter (default: %(default)s; falls back to the other on failure)")


def _checkpoint(arg: str, to: str) -> Path:
    from emofusion.nets.checkpoint import LEGACY, resolve_weights

    p = Path(arg)
    if p.is_dir():
        p = p / LEGACY if to == "safetensors" else resolve_weights(p)
    if not p.is_file():
        raise UsageError(f"no checkpoint at {p} (give a .pt file or a model dir)")
    if to == "safetensors" and p.suffix != ".pt":
        raise UsageError(f"--to safetensors converts a .pt checkpoint; {p} is not one")
    return p


def _model_name(ckpt: Path) -> str:
    return ckpt.parent.name if ckpt.stem == "model" else ckpt.stem


def _out_dir(args, ckpt: Path, several: bool) -> Path:
    if args.to == "triton" or args.out is None:
        return ckpt.parent
    return args.out / _model_name(ckpt) if several else args.out


def _to_safetensors(args, ckpts: list[Path]) -> int:
    from emofusion.calibration import remove_stale_calibration
    from emofusion.export.card import card_from_run
    from emofusion.nets.checkpoint import CARD, WEIGHTS, convert_checkpoint, model_sha256, remove_stale_card

    for ckpt in ckpts:
        out = _out_dir(args, ckpt, len(ckpts) > 1)
        weights, config = convert_checkpoint(ckpt, out)
        print(f"wrote {weights} and {config} (from {ckpt})")
        removed = remove_stale_card(out)
        written = card_from_run(ckpt, out)  # a training run's checkpoint: its card from the run's own results
        if written:
            print(f"wrote {out / CARD} and {out / 'card.md'} (from {written})")
        elif removed:
            print(f"removed {', '.join(p.name for p in removed)}: that card described other weights. Write this "
                  f"model's card with: python -m emofusion.export.card --out {out} ...")
        elif not (out / CARD).is_file():
            print(f"{out} has no model card yet: python -m emofusion.export.card --out {out} ...")
        if remove_stale_calibration(out, model_sha256(out / WEIGHTS)):
            print("removed calibration.json: its temperature was fitted for other weights "
                  "(scripts/calibrate_shipped.py fits one for these)")
    return 0


def _calibration_feeds(args, loaded) -> list:
    from emofusion.data.cache import FeatureCache
    from emofusion.export.quantize import cache_feeds

    if args.calib_cache is None:
        raise UsageError("--int8 needs --calib-cache DIR: a feature cache of real clips (emofusion preprocess)")
    cache = FeatureCache(args.calib_cache)  # CacheError (an EmofusionError) says what is wrong
    if cache.config != loaded.media_cfg:
        raise UsageError(f"{args.calib_cache} was made with another MediaConfig than the model's; "
                         "calibrate on a cache preprocessed like the model's training data")
    return cache_feeds(args.calib_cache, tuple(loaded.model.inputs), limit=args.calib_clips)


def run(args: argparse.Namespace) -> int:
    from emofusion.export.onnx import export_onnx, onnx_for_checkpoint
    from emofusion.export.tensorrt import cuda_present, tensorrt_present
    from emofusion.nets.checkpoint import load_checkpoint

    ckpts = [_checkpoint(m, args.to) for m in args.models]
    if args.to == "safetensors":
        return _to_safetensors(args, ckpts)
    if args.int8 and args.calib_cache is None:
        raise UsageError("--int8 needs --calib-cache DIR: a feature cache of real clips (emofusion preprocess)")
    if args.to == "triton" and args.out is None:
        raise UsageError("--to triton needs --out DIR (the model repository to write)")
    want_trt = args.to in ("tensorrt", "all")
    trt_ok = tensorrt_present() and cuda_present()
    if args.to == "tensorrt" and not trt_ok:
        raise UsageError("TensorRT export needs the tensorrt package and an NVIDIA GPU "
                         "(pip install 'emofusion[tensorrt]'); neither is usable here")
    if want_trt and trt_ok:  # the version gate (TensorRTError, a one-line message), before any export work
        from emofusion.export.tensorrt import load_tensorrt

        load_tensorrt()
    onnx_files: dict[str, Path] = {}
    engines: dict[str, Path] = {}
    for ckpt in ckpts:
        name = _model_name(ckpt)
        out_dir = _out_dir(args, ckpt, len(ckpts) > 1)
        loaded = load_checkpoint(ckpt)
        calib = _calibration_feeds(args, loaded) if args.int8 else None  # refuse before any work
        if args.to == "triton":  # reuse the shipped/cached graph when it matches the checkpoint
            onnx_path = onnx_for_checkpoint(ckpt, shipped=ckpt.parent / "model.onnx", loaded=loaded)
        else:
            onnx_path = export_onnx(loaded, out_dir / "model.onnx", exporter=args.exporter)
        onnx_files[name] = onnx_path
        print(f"wrote {onnx_path}")
        trt_int8 = None
        if args.int8:
            from emofusion.export.quantize import quantize_int8, quantize_int8_tensorrt

            print(f"wrote {quantize_int8(onnx_path, out_dir / 'model.int8.onnx', calib)}")
            if want_trt:  # TensorRT takes symmetric Q/DQ only: its own graph, same calibration clips
                from emofusion.export.tensorrt import TRT_INT8_ONNX

                trt_int8 = quantize_int8_tensorrt(onnx_path, out_dir / TRT_INT8_ONNX, calib)
                print(f"wrote {trt_int8}")
        if args.fp16:
            from emofusion.export.quantize import convert_fp16

            print(f"wrote {convert_fp16(onnx_path, out_dir / 'model.fp16.onnx')}")
        if want_trt and trt_ok:
            from emofusion.export.tensorrt import build_engine

            # Strongly typed engines take their precision from the graph: the TensorRT INT8 graph,
            # else the FP32 graph converted to FP16 by build_engine.
            src, precision = (trt_int8, "int8") if trt_int8 else (onnx_path, "fp16")
            engines[name] = build_engine(src, out_dir / "model.plan", precision=precision)
            print(f"wrote {engines[name]} ({precision})")
        elif want_trt:
            print(f"{out_dir}: skipped TensorRT (tensorrt package or NVIDIA GPU not available)")
    if args.to == "triton":
        from emofusion.export.triton import write_repository

        configs = write_repository(onnx_files, args.out, engines=engines)
        for c in configs:
            print(f"wrote {c}")
    return 0
