"""`emofusion webapp`: serve the Gradio app on the shipped models (127.0.0.1:7860 by default)."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from emofusion.infer.device import DEVICE_HELP
from emofusion.webapp.config import WebAppConfig

HELP = "serve the web app (Gradio) on the shipped models at http://127.0.0.1:7860"

BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = WebAppConfig()
    parser.add_argument("--models", type=Path, default=d.models_dir,
                        help="directory of models, each <name>/model.safetensors + config.json (or model.pt); "
                             "all of them are served (default: %(default)s)")
    parser.add_argument("--backend", choices=BACKENDS, default=d.backend,
                        help="inference backend; auto picks the fastest available (default: %(default)s)")
    parser.add_argument("--device", default=d.device, help=DEVICE_HELP + " (default: %(default)s)")
    parser.add_argument("--host", default=d.host,
                        help="interface to listen on (default: %(default)s; 0.0.0.0 exposes it to the network)")
    parser.add_argument("--port", type=int, default=d.port, help="port (default: %(default)s)")
    parser.add_argument("--share", action="store_true",
                        help="also open a public gradio.live link (off by default)")
    parser.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb,
                        help="refuse uploads larger than this (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=d.concurrency,
                        help="analyses run at once; others wait in the queue (default: %(default)s)")


def config_from_args(args: argparse.Namespace) -> WebAppConfig:
    return WebAppConfig(models_dir=args.models, backend=args.backend, device=args.device, host=args.host,
                        port=args.port, share=args.share, max_upload_mb=args.max_upload_mb,
                        concurrency=args.concurrency)


def run(args: argparse.Namespace) -> int:
    from emofusion.errors import UsageError
    from emofusion.webapp.service import AnalysisService, check_models_dir, load_predictor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = config_from_args(args)
    if not 1 <= cfg.port <= 65535:
        raise UsageError(f"--port must be 1..65535, not {cfg.port}")
    check_models_dir(cfg.models_dir, cfg.names)  # before the slow imports (ModelsNotFound: one line)
    from emofusion.infer.device import resolve_device

    resolve_device(cfg.device)  # --device cuda without a GPU: one line, before the slow imports too
    from emofusion.webapp.app import build_app, example_clips, serve

    service = AnalysisService(load_predictor(cfg), cfg)
    examples = example_clips(cfg)
    if examples:
        t = time.perf_counter()
        ok = service.warm_up(examples[0])
        print(f"emofusion webapp: warmed up on {Path(examples[0]).name} in {time.perf_counter() - t:.1f} s"
              + ("" if ok else " (it failed; see the log)"), flush=True)
    demo = build_app(service, cfg)
    print(f"emofusion webapp: serving {', '.join(service.predictor.models)} from {cfg.models_dir}/ "
          f"at http://{cfg.host}:{cfg.port}", flush=True)
    try:
        serve(demo, cfg)
    except OSError as exc:  # port taken, bad host
        raise UsageError(f"cannot serve on {cfg.host}:{cfg.port}: {exc}") from exc
    return 0
