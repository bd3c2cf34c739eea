"""`emofusion bench backends`: every model x backend x batch size, and the end-to-end clip path.

Latency is wall time per `backend.run` call after warm-up, sampled until both a minimum count and
a time budget are reached; throughput = batch / mean latency. Peak memory is the process's peak
RSS growth during a measurement (VmHWM reset via /proc/self/clear_refs, Linux), which covers
native allocations (ORT arenas, torch) that tracemalloc cannot see. The floor is the model's FLOPs
(torch's FlopCounterMode) over the peak FLOP/s of a big float32 matmul on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.data.faces_labelled import shared_data  # $EMOFUSION_SHARED/data/NAME, default ../shared

HELP = ("latency/throughput/memory of torch, ONNX Runtime FP32/INT8 (CPU) and on the GPU (TensorRT / CUDA "
        "providers), TensorRT, plus end to end")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", type=Path, default=Path("models"), help="models dir (default: %(default)s)")
    parser.add_argument("--names", nargs="+", default=["ia", "lt", "audio"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--budget-s", type=float, default=4.0, help="time per measurement (default: %(default)s)")
    parser.add_argument("--min-iters", type=int, default=10, help="(batch 32: a quarter, at least 2)")
    parser.add_argument("--e2e-runs", type=int, default=7)
    parser.add_argument("--calib-cache", type=Path, default=None,
                        help="feature cache for INT8 calibration (default: real clips via load_clip)")
    parser.add_argument("--untrained", action="store_true",
                        help="benchmark untrained checkpoints (when models/ has none); labelled as such")
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="torch intra-op threads of the process and of the torch backend rows; 0 = auto: "
                             "the process gets 1 when the machine is oversubscribed (load average > cores, "
                             "where OpenMP barriers stall 2 threads ~5x), else torch's default, and the torch "
                             "backend its own default (1 on CPU)")
    parser.add_argument("--device", default="auto",
                        help="auto (default) | cpu | cuda | cuda:N: on a CUDA device the torch rows also run "
                             "there, eager and from CUDA graphs, and the end-to-end run loads the models there "
                             "(an error when there is no such CUDA GPU)")
    parser.add_argument("--out", type=Path, default=Path("results") / "bench")


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(fn, batch: int, budget_s: float, min_iters: int, warmup: int = 2) -> dict[str, Any]:
    """p50/p95/p99 latency (ms), throughput (clips/s) and peak RSS growth (MB) of `fn()`."""
    for _ in range(warmup):
        fn()
    reset = _reset_peak()
    rss0 = _rss_kb("VmRSS")
    times: list[float] = []
    t_start = time.perf_counter()
    while len(times) < min_iters or (time.perf_counter() - t_start < budget_s and len(times) < 500):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000.0
    return {"batch": batch, "iters": len(times), "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "throughput_clips_s": float(batch * 1000.0 / ms.mean()),
            "peak_rss_delta_mb": round((_rss_kb("VmHWM") - rss0) / 1024, 1) if reset else None}


def peak_gflops(n: int = 2048, reps: int = 5) -> float:
    """Best-of float32 matmul GFLOP/s with torch's threads: the machine's practical peak."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def model_gflops(model, feeds: dict[str, np.ndarray]) -> float:
    """Forward FLOPs (GFLOP) for one clip (batch 1), counted by torch."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(*[torch.from_numpy(feeds[k][:1]) for k in model.inputs])
    return counter.get_total_flops() / 1e9


def hardware() -> dict[str, Any]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    import onnx
    import onnxruntime
    import torch

    from emofusion.infer.backends import cuda_present, ort_tensorrt_major, tensorrt_present

    versions = {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
                "onnx": onnx.__version__, "numpy": np.__version__}
    gpu = None
    if cuda_present() and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
    if tensorrt_present():
        try:
            from emofusion.export.tensorrt import load_tensorrt

            versions["tensorrt"] = load_tensorrt().__version__
        except Exception as exc:  # recorded, the TensorRT rows say why they are missing
            versions["tensorrt"] = f"unusable: {exc}"
    return {"cpu": cpu, "gpu": gpu, "logical_cores": os.cpu_count(), "loadavg_start": list(os.getloadavg()),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "versions": versions, "ort_available_providers": onnxruntime.get_available_providers(),
            "ort_tensorrt_provider_links_tensorrt": ort_tensorrt_major()}


def untrained_models(out: Path, names: list[str]) -> Path:
    """Untrained checkpoints with the default configs (same architecture and cost as trained)."""
    import torch

    from emofusion.config import MediaConfig
    from emofusion.nets.checkpoint import save_checkpoint
    from emofusion.nets.registry import create_model

    for i, name in enumerate(names):
        torch.manual_seed(i)
        model = create_model(name).eval()
        save_checkpoint(out / name / "model.pt", model, model.cfg, MediaConfig(), meta={"note": "untrained"})
    return out


def real_feeds(cfg, names: tuple[str, ...], calib_cache: Path | None, limit: int = 32) -> tuple[list, str]:
    """Unbatched real feeds for timing inputs and INT8 calibration, and where they came from."""
    from emofusion.export.quantize import cache_feeds

    if calib_cache is not None:
        return [{k: v[0] for k, v in f.items()} for f in cache_feeds(calib_cache, names, limit)], str(calib_cache)
    from emofusion.media.clip import load_clip

    clips = sorted((Path(__file__).resolve().parents[1] / "webapp" / "examples").glob("*.mp4"))
    shared = shared_data("cremad-av")
    clips += sorted(p for p in shared.glob("*.mp4") if p.name not in {c.name for c in clips})
    return [load_clip(c, cfg).model_inputs(cfg) for c in clips], f"{len(clips)} CREMA-D clips via load_clip"


def add_ort_gpu_backends(backends: dict[str, Any], onnx_path: Path) -> dict[str, str]:
    """ONNX Runtime on the GPU, both ways: TensorRT provider (FP16 graph, engine/timing caches,
    batch 1..32 profile) with CUDA as its fallback, and the CUDA provider alone (FP32). Adds what
    works to `backends`; returns why each of the others is skipped."""
    from emofusion.export.tensorrt import graph_for_precision
    from emofusion.infer.backends import OrtBackend, ort_provider_config, ort_providers

    usable = ort_providers()
    skipped: dict[str, str] = {}
    plans = {"ort_trt_fp16": ("TensorrtExecutionProvider", ["TensorrtExecutionProvider", "CUDAExecutionProvider"]),
             "ort_cuda": ("CUDAExecutionProvider", ["CUDAExecutionProvider"])}
    for label, (first, names) in plans.items():
        if first not in usable:
            skipped[label] = (f"{first} not usable here (needs an NVIDIA GPU"
                              + (" and tensorrt)" if first.startswith("Tensorrt") else ")"))
            continue
        try:
            graph = graph_for_precision(onnx_path, "fp16") if label == "ort_trt_fp16" else onnx_path
            config, notes = ort_provider_config(graph, names + ["CPUExecutionProvider"])
            if not any(isinstance(c, tuple) and c[0] == first for c in config):
                skipped[label] = "; ".join(notes) or f"{first} left out"
                continue
            b = OrtBackend(graph, providers=config)
        except Exception as exc:  # a provider that fails to load: recorded, not fatal
            skipped[label] = f"{type(exc).__name__}: {exc}"
            continue
        if b.device != first:  # ORT fell back: say so instead of timing the wrong provider
            skipped[label] = f"ONNX Runtime fell back to {b.providers} (asked for {b.requested})"
            continue
        backends[label] = b
    return skipped


def bench_model(name: str, model_dir: Path, args, work: Path) -> dict[str, Any]:
    from emofusion.export.quantize import quantize_int8
    from emofusion.infer.backends import OrtBackend, TorchBackend, create_backend
    from emofusion.infer.sources import onnx_for_checkpoint
    from emofusion.nets.checkpoint import load_checkpoint, resolve_weights

    loaded = load_checkpoint(model_dir)  # model.safetensors + config.json, or model.pt
    names = tuple(loaded.model.inputs)
    feeds, calib_src = real_feeds(loaded.media_cfg, names, args.calib_cache)
    onnx_path = onnx_for_checkpoint(resolve_weights(model_dir), shipped=model_dir / "model.onnx", loaded=loaded)
    int8_path = quantize_int8(onnx_path, work / f"{name}.int8.onnx",
                              [{k: f[k][None] for k in names} for f in feeds])
    backends = {"torch": TorchBackend(loaded, threads=args.torch_threads or None),
                "ort_fp32": OrtBackend(onnx_path, providers=["CPUExecutionProvider"]),
                "ort_int8": OrtBackend(int8_path, providers=["CPUExecutionProvider"])}
    if getattr(args, "resolved_device", "cpu").startswith("cuda"):  # fresh copies: .to() moves a module in place
        for label, graphs in (("torch_cuda", False), ("torch_cuda_graph", True)):
            backends[label] = TorchBackend(load_checkpoint(model_dir), device=args.resolved_device, cuda_graphs=graphs)
    try:
        backends["tensorrt"] = create_backend(model_dir, kind="tensorrt", loaded=loaded)
    except Exception as exc:  # no tensorrt / GPU here: recorded, not fatal
        skipped = f"{exc}"
    else:
        skipped = None
    gpu_skipped = add_ort_gpu_backends(backends, onnx_path)
    gflops = model_gflops(loaded.model, {k: np.stack([feeds[0][k]]) for k in names})
    rows = []
    for b in args.batches:
        batch = {k: np.stack([feeds[i % len(feeds)][k] for i in range(b)]).astype(np.float32) for k in names}
        min_iters = max(2, args.min_iters // 4) if b >= 32 else args.min_iters
        for label, backend in backends.items():
            r = measure(lambda: backend.run(batch), b, args.budget_s, min_iters, warmup=2 if b == 1 else 1)
            r.update({"model": name, "backend": label, "device": backend.device})
            rows.append(r)
            print(f"{name:6s} {label:9s} b={b:2d} p50 {r['p50_ms']:8.2f} ms  {r['throughput_clips_s']:8.1f} clips/s")
    ref = backends["torch"].run(batch)
    agree = {k: float((v.run(batch).argmax(1) == ref.argmax(1)).mean()) for k, v in backends.items()}
    providers = {k: {"requested": v.requested, "used": v.providers, "notes": v.provider_notes}
                 for k, v in backends.items() if isinstance(v, OrtBackend)}
    return {"model": name, "gflops_per_clip": gflops, "calibration": calib_src, "rows": rows,
            "tensorrt_skipped": skipped, "ort_gpu_skipped": gpu_skipped, "ort_providers": providers,
            "tensorrt_precision": getattr(backends.get("tensorrt"), "precision", None),
            "top1_agreement_with_torch_last_batch": agree,
            "meta_note": loaded.meta.get("note", ""), "sha256": loaded.sha256}


def bench_e2e(models_dir: Path, runs: int, work: Path, device: str = "auto") -> dict[str, Any]:
    """decode + faces + features + every model in `models_dir` (each fusion with its voice-alone
    and face-alone runs) on a generated 3.6 s 1280x720 clip via `emofusion.load`; also timed with
    those runs as a batch of three zeroed inputs instead of the one-pass graphs, and with each model
    running its own frontends (no sharing, infer/shared_frontends.py). Each analysis pays for its
    frontends: outputs are shared within one clip's analysis only."""
    from PIL import Image

    import emofusion
    from emofusion.media.synth import write_clip

    still = shared_data("ravdess-stills") / "Actor_01.png"
    face = np.asarray(Image.open(still).convert("RGB")) if still.is_file() else None
    clip = write_clip(work / "e2e_720p.mp4", face_image=face, seconds=3.6, size=(1280, 720))
    pred = emofusion.load(models_dir, backend="auto", device=device)
    own = emofusion.load(models_dir, backend="auto", device=device, share_frontends=False)
    pred.analyze(clip)  # warm-up: MTCNN weights, librosa caches
    own.analyze(clip)
    stages: dict[str, list[float]] = {}
    unshared: dict[str, list[float]] = {}  # each model its own frontends
    batch_of_three: dict[str, list[float]] = {}  # that, and fusions' stream runs as zeroed inputs
    for _ in range(runs):  # alternated, so all see the same machine load
        for p, one_pass, into in ((pred, True, stages), (own, True, unshared), (own, False, batch_of_three)):
            p.one_pass_streams = one_pass
            a = p.analyze(clip)
            for k, v in a.timings_ms.items():
                into.setdefault(k, []).append(v)
    own.one_pass_streams = True
    return {"clip": "generated 3.6 s 1280x720 H.264/AAC, face: RAVDESS still" if face is not None else "no face",
            "backend": pred.backend_name, "reason": pred.backend.reason, "runs": runs,
            "models": list(pred.models),
            "notices": [n.code for n in a.notices],
            "p50_ms": {k: float(np.median(v)) for k, v in stages.items()},
            "p95_ms": {k: float(np.percentile(v, 95)) for k, v in stages.items()},
            "p50_ms_own_frontends": {k: float(np.median(v)) for k, v in unshared.items()},
            "own_frontends_backend": own.backend_name,
            "p50_ms_batch_of_three": {k: float(np.median(v)) for k, v in batch_of_three.items()}}


def run(args: argparse.Namespace) -> int:
    import torch

    from emofusion.bench.backends_report import summarize, write_report
    from emofusion.errors import UsageError
    from emofusion.infer.device import resolve_device
    from emofusion.infer.sources import has_model

    args.resolved_device = resolve_device(args.device)  # CUDA asked for and absent: one line, nothing timed
    work = Path(tempfile.mkdtemp(prefix="emofusion-bench-"))
    threads = args.torch_threads or (1 if os.getloadavg()[0] > (os.cpu_count() or 1) else torch.get_num_threads())
    torch.set_num_threads(threads)
    models_dir, untrained = args.models, False
    if not all(has_model(models_dir / n) for n in args.names):
        if not args.untrained:
            raise UsageError(f"{models_dir} lacks {args.names} checkpoints; pass --untrained to time "
                             "untrained networks of the same architecture")
        models_dir, untrained = untrained_models(work / "models", sorted(set(args.names) | {"ia", "lt"})), True
    result: dict[str, Any] = {"hardware": hardware(), "untrained": untrained, "models_dir": str(args.models)}
    result["peak_gflops"] = peak_gflops()
    result["models"] = [bench_model(n, models_dir / n, args, work) for n in args.names]
    result["e2e"] = bench_e2e(models_dir, args.e2e_runs, work, args.resolved_device)
    result["hardware"]["loadavg_end"] = list(os.getloadavg())
    result["memory_method"] = ("peak RSS growth during the timed loop (VmHWM reset via "
                               "/proc/self/clear_refs, after warm-up), whole process")
    result["summary"] = summarize(result)
    result["torch_threads"] = torch.get_num_threads()
    result["torch_threads_reason"] = ("set by --torch-threads, also for the torch backend rows" if args.torch_threads
                                      else ("auto: 1 thread because the machine was oversubscribed at start"
                                            if threads == 1 else "auto: torch default")
                                      + "; the torch backend rows run on the backend's default, 1 thread")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_backends.json").write_text(json.dumps(result, indent=2) + "\n")
    write_report(result, args.out)
    print(f"wrote {args.out}/bench_backends.json, .md, .png")
    return 0
