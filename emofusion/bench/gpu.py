"""`emofusion bench gpu`: the one-command GPU check (a few minutes on a GPU).

For every shipped model in models/ it checks each engine that runs on the GPU here (torch eager,
torch replayed from CUDA graphs, ONNX Runtime's CUDA provider, TensorRT) against torch on the CPU
(max abs probability difference on the example clips), times batch 1 and batch 64, times the
example clips end to end (decode and audio features stay on the CPU; the models and face
detection on the GPU), and measures IA's training throughput through the project's own
`train_fold` on generated inputs. Writes OUT/gpu.json and OUT/gpu.md.

Without a CUDA GPU it refuses (one line). `--device cpu --out DIR` runs the same measurements on
the CPU, so the code path can be tested anywhere; it never writes results/bench/gpu.* (that file
is for GPU results).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HELP = ("GPU check: parity of every shipped model on each GPU engine vs the CPU, batch-1/64 latency, "
        "example clips end to end, training throughput; writes results/bench/gpu.{json,md}")
DEFAULT_OUT = Path("results") / "bench"
EXAMPLES = Path(__file__).resolve().parents[1] / "webapp" / "examples"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", type=Path, default=Path("models"), help="models directory (default: %(default)s)")
    p.add_argument("--device", default="cuda",
                   help="cuda (default) | cuda:N | cpu (cpu needs --out: the same measurements on the CPU)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="writes OUT/gpu.json and OUT/gpu.md "
                   "(default: %(default)s)")
    p.add_argument("--names", nargs="+", help="models to check one by one (default: all in --models; the end-to-end "
                   "run always loads all)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64], help="latency batch sizes (default: 1 64)")
    p.add_argument("--repeats", type=int, default=100, help="timed calls per latency row (default: %(default)s)")
    p.add_argument("--e2e-runs", type=int, default=5, help="timed analyses per example clip (default: %(default)s)")
    p.add_argument("--train-batch", type=int, default=64, help="IA training batch (default: %(default)s)")
    p.add_argument("--train-steps", type=int, default=8, help="timed IA training steps (default: %(default)s)")
    p.add_argument("--train-face-size", type=int, default=112, help="IA's face crop side (default: %(default)s)")


def machine(device: str) -> dict[str, Any]:
    import onnxruntime
    import torch

    from emofusion.infer.device import cuda_index, tensorrt_importable

    info = {"machine": platform.node(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_cuda": torch.version.cuda, "onnxruntime": onnxruntime.__version__,
            "ort_providers": onnxruntime.get_available_providers(), "tensorrt": None, "device": device,
            "gpu": None, "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_precision": torch.get_float32_matmul_precision()}
    if tensorrt_importable():
        import tensorrt

        info["tensorrt"] = tensorrt.__version__
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(cuda_index(device))
    return info


def example_feeds(loaded, clips: list[Path]) -> dict[str, np.ndarray]:
    """The model's inputs of the example clips as one batch (decoded on the CPU, as served)."""
    from emofusion.media.clip import load_clip

    cfg = loaded.media_cfg
    per = [load_clip(c, cfg).model_inputs(cfg) for c in clips]
    return {k: np.stack([f[k] for f in per]).astype(np.float32) for k in loaded.model.inputs}


def engines(model_dir: Path, device: str) -> tuple[dict[str, Any], dict[str, str]]:
    """{label: backend} of every engine that runs on `device` here, and why the others do not."""
    from emofusion.infer.backends import TorchBackend, create_backend
    from emofusion.nets.checkpoint import load_checkpoint

    out: dict[str, Any] = {"torch": TorchBackend(load_checkpoint(model_dir), device=device, cuda_graphs=False)}
    skipped: dict[str, str] = {}
    if device.startswith("cuda"):
        out["torch_graph"] = TorchBackend(load_checkpoint(model_dir), device=device, cuda_graphs=True)
    for label, kind in (("onnxruntime", "onnxruntime"), ("tensorrt", "tensorrt")):
        if label == "tensorrt" and not device.startswith("cuda"):
            continue
        try:
            out[label] = create_backend(model_dir, kind=kind, device=device)
        except Exception as exc:  # engine not installed / not starting here: recorded, not fatal
            skipped[label] = f"{type(exc).__name__}: {exc}"
    return out, skipped


def latency(fn, repeats: int, warmup: int = 3) -> dict[str, float]:
    """p50 / p95 wall ms of `fn()` (each call ends with the logits on the CPU: synchronised)."""
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000.0)
    return {"p50_ms": round(float(np.percentile(ms, 50)), 4), "p95_ms": round(float(np.percentile(ms, 95)), 4),
            "iters": repeats}


def check_model(name: str, model_dir: Path, device: str, clips: list[Path], args) -> dict[str, Any]:
    from emofusion.infer.backends import TorchBackend
    from emofusion.nets.checkpoint import load_checkpoint
    from emofusion.probs import softmax

    cpu = TorchBackend(load_checkpoint(model_dir), device="cpu")
    feeds = example_feeds(cpu.loaded, clips)
    ref = softmax(cpu.run(feeds))
    found, skipped = engines(model_dir, device)
    parity, rows, notes = [], [], []
    for label, b in found.items():
        p = softmax(b.run(feeds))
        parity.append({"model": name, "backend": label, "device": b.device, "precision": b.precision,
                       "max_abs_prob_diff": float(np.abs(p - ref).max()),
                       "top1_agree": float((p.argmax(1) == ref.argmax(1)).mean()), "clips": len(clips)})
        for batch in args.batches:
            x = {k: np.ascontiguousarray(np.resize(v, (batch, *v.shape[1:]))) for k, v in feeds.items()}
            rows.append({"model": name, "backend": label, "device": b.device, "batch": batch,
                         **latency(lambda: b.run(x), args.repeats if batch == 1 else max(3, args.repeats // 4))})
        notes += [f"{name}/{label}: {n}" for n in getattr(b, "notes", [])]
    return {"parity": parity, "latency": rows, "skipped": {f"{name}/{k}": v for k, v in skipped.items()},
            "notes": notes}


def end_to_end(models_dir: Path, device: str, clips: list[Path], runs: int) -> dict[str, Any]:
    """Every example clip through `emofusion.load(device=...)` (auto engine): p50 per stage."""
    import emofusion

    pred = emofusion.load(models_dir, device=device)
    out = []
    for clip in clips:
        pred.analyze(clip)  # warm-up: first decode, MTCNN weights, graph captures
        stages: dict[str, list[float]] = {}
        for _ in range(runs):
            for k, v in pred.analyze(clip).timings_ms.items():
                stages.setdefault(k, []).append(v)
        out.append({"clip": clip.name, "p50_ms": {k: round(statistics.median(v), 2) for k, v in stages.items()}})
    return {"backend": pred.backend_name, "reasons": {n: m.backend.reason for n, m in pred.models.items()},
            "runs": runs, "clips": out,
            "p50_total_ms": round(statistics.median(c["p50_ms"]["total"] for c in out), 2)}


class _Generated:
    """Generated IA training clips (random log-mel-like audio, uint8 faces like the feature cache):
    the network's cost does not depend on the values."""

    def __init__(self, model_cfg, n: int, seed: int = 0):
        import torch

        from emofusion.constants import AUDIO, FACES

        g = torch.Generator().manual_seed(seed)
        c = model_cfg
        self.keys = (AUDIO, FACES)
        self.audio = torch.randn(n, c.audio_channels, c.audio_frames, generator=g)
        self.faces = torch.randint(0, 256, (n, c.n_frames, 3, c.face_size, c.face_size), generator=g, dtype=torch.uint8)
        self.y = torch.arange(n) % 8

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        return {self.keys[0]: self.audio[i], self.keys[1]: self.faces[i]}, int(self.y[i])


def training(device: str, batch: int, steps: int, face_size: int) -> dict[str, Any]:
    """Samples/s of IA training through `train_fold` (augmentation, forward, backward, optimiser,
    data loading): two epochs of `steps` batches, the second one timed (the first warms up)."""
    from emofusion.config import MediaConfig
    from emofusion.nets.config import ModelConfig
    from emofusion.train import distributed as D
    from emofusion.train.config import TrainConfig
    from emofusion.train.loop import train_fold

    mcfg = ModelConfig(fusion="ia", face_size=face_size)
    data = _Generated(mcfg, batch * steps)
    cfg = TrainConfig(fusion="ia", epochs=2, batch_size=batch, n_val=0, device=device, num_workers=0)
    with tempfile.TemporaryDirectory(prefix="emofusion-gpu-train-") as tmp:
        row = train_fold(mcfg, cfg, data, None, tmp, MediaConfig(), env=D.DistEnv(device=device),
                         progress=False).history[-1]
    return {"model": "ia", "face_size": face_size, "batch": batch, "steps": steps, "device": device,
            "seconds": row["seconds"], "samples_per_s": round(row["train_n"] / row["seconds"], 1),
            "what": "train_fold epoch 2 (epoch 1 warms up): data loading, augmentation, forward, backward, "
                    "optimiser; generated inputs"}


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    where = f"{m['gpu']} ({r['device']})" if m["gpu"] else f"CPU only ({r['device']}): not a GPU result"
    lines = [f"# GPU check: {where}", "",
             f"Machine `{m['machine']}`, torch {m['torch']} (CUDA {m['torch_cuda']}), onnxruntime {m['onnxruntime']}, "
             f"TensorRT {m['tensorrt'] or 'not installed'}; {r['seconds']:.0f} s. Command: `{r['command']}`.", "",
             "## Parity with torch on the CPU (example clips)", "",
             "| model | backend | device | max abs prob diff | top-1 agreement |", "|---|---|---|---|---|"]
    lines += [f"| {p['model']} | {p['backend']} | {p['device']} | {p['max_abs_prob_diff']:.2e} | {p['top1_agree']:.2f} |"
              for p in r["parity"]]
    lines += ["", "## Model latency (p50, ms; inputs from and logits to the CPU included)", "",
              "| model | backend | device | batch | p50 ms | p95 ms |", "|---|---|---|---|---|---|"]
    lines += [f"| {x['model']} | {x['backend']} | {x['device']} | {x['batch']} | {x['p50_ms']:.3f} | {x['p95_ms']:.3f} |"
              for x in r["latency"]]
    e = r["e2e"]
    stages = sorted({k for c in e["clips"] for k in c["p50_ms"]})
    lines += ["", f"## End to end (`emofusion.load(device=...)`: {e['backend']}; decode on the CPU; p50 ms)", "",
              "| clip | " + " | ".join(stages) + " |", "|---" * (len(stages) + 1) + "|"]
    lines += [f"| {c['clip']} | " + " | ".join(f"{c['p50_ms'].get(s, 0):.1f}" for s in stages) + " |" for c in e["clips"]]
    t = r["training"]
    lines += ["", "## Training", "", f"IA ({t['face_size']} px faces) at batch {t['batch']} on {t['device']}: "
              f"**{t['samples_per_s']:.0f} samples/s** ({t['what']})."]
    if r["skipped"] or r["notes"]:
        lines += ["", "## Not run here", ""] + [f"- {k}: {v}" for k, v in r["skipped"].items()] + [
            f"- {n}" for n in r["notes"]]
    return "\n".join(lines) + "\n"


def command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (its options as given)."""
    names = f" --names {' '.join(args.names)}" if args.names else ""
    return (f"emofusion bench gpu --models {args.models}{names} --device {args.device} --out {args.out} "
            f"--batches {' '.join(map(str, args.batches))} --repeats {args.repeats} --e2e-runs {args.e2e_runs} "
            f"--train-batch {args.train_batch} --train-steps {args.train_steps} "
            f"--train-face-size {args.train_face_size}")


def run(args: argparse.Namespace) -> int:
    from emofusion.errors import UsageError
    from emofusion.infer.device import resolve_device
    from emofusion.infer.predictor import model_names

    device = resolve_device(args.device)  # no CUDA GPU: one line, nothing measured
    if device == "cpu" and Path(args.out) == DEFAULT_OUT:
        raise UsageError("--device cpu measures the CPU: give --out DIR (results/bench/gpu.* is for GPU results)")
    t0 = time.perf_counter()
    clips = sorted(EXAMPLES.glob("*.mp4"))
    if not clips:
        raise UsageError(f"no example clips in {EXAMPLES}")
    names = args.names or model_names(args.models)
    result: dict[str, Any] = {"kind": "emofusion bench gpu", "device": device, "machine": machine(device),
                              "command": command(args),
                              "models": names, "clips": [c.name for c in clips],
                              "parity": [], "latency": [], "skipped": {}, "notes": []}
    for name in names:
        print(f"bench gpu: {name}", flush=True)
        r = check_model(name, args.models / name, device, clips, args)
        for k in ("parity", "latency", "notes"):
            result[k] += r[k]
        result["skipped"].update(r["skipped"])
    print("bench gpu: end to end", flush=True)
    result["e2e"] = end_to_end(args.models, device, clips, args.e2e_runs)
    print("bench gpu: training", flush=True)
    result["training"] = training(device, args.train_batch, args.train_steps, args.train_face_size)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "gpu.md").write_text(markdown(result))
    print(f"wrote {out}/gpu.json, {out}/gpu.md ({result['seconds']:.0f} s)")
    return 0
