"""`emofusion bench train`: seconds per training epoch of each configuration on this machine.

Measured on a fixed number of batches of generated inputs (the network's cost does not depend on
the pixel values), one full training step each (augmentation, forward, backward, optimizer) plus
inference batches for validation, then extrapolated linearly to one RAVDESS fold epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from emofusion.constants import AUDIO_ONLY_MODELS

HELP = "seconds per training epoch per configuration (224 and 112 px faces), extrapolated to RAVDESS folds"
# RAVDESS audio-visual speech: 24 actors x 60 clips. A Luna-Jimenez 5-fold split trains on
# 15 actors (24 - 5 test - 4 validation) and validates on 4.
CLIPS_PER_ACTOR = 60
TRAIN_ACTORS, VAL_ACTORS = 15, 4
FROZEN = "-frozen"
VIEWS = "-views"  # frozen face CNN + cached face features (train --freeze-face --face-views V)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", default="audio,audio_res,audio_cnn2d,video,ia,it,lt,ia-frozen,lt-frozen,ia-views,lt-views",
                   help="registered models; NAME-frozen = with the face CNN frozen (train --freeze-face); "
                        "NAME-views = frozen and trained on cached face features (--face-views)")
    p.add_argument("--views", type=int, default=8, help="face views per clip for the NAME-views fold estimate")
    p.add_argument("--sizes", default="224,112", help="face crop sizes")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--batches", type=int, default=3, help="timed training steps per configuration")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--epochs", type=int, default=50, help="epochs per fold for the fold estimate")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--procs", type=int, default=1,
                   help="DDP processes (gloo, as torchrun -m emofusion train runs them), each with cores/procs "
                        "threads and batch/procs clips")
    p.add_argument("--name", default="train_bench", help="OUT_DIR/NAME.{json,md}")
    p.add_argument("--out-dir", type=Path, default=Path("results") / "bench", help="default: ./%(default)s")


def _inputs(model, batch: int, cfg, gen):
    import torch

    from emofusion.constants import AUDIO, FACES

    x = {}
    if AUDIO in model.inputs:
        x[AUDIO] = torch.randn(batch, cfg.audio_channels, cfg.audio_frames, generator=gen)
    if FACES in model.inputs:
        x[FACES] = torch.rand(batch, cfg.n_frames, 3, cfg.face_size, cfg.face_size, generator=gen)
    return x


def measure(name: str, size: int, batch: int, n: int, warmup: int, ddp: bool = False) -> dict[str, Any]:
    """Median seconds of one training step and one validation batch of `batch` clips (per process;
    with `ddp` inside an initialised process group, the model wrapped in DistributedDataParallel).
    NAME-views also times the face CNN alone per clip (what precomputing one view costs), and its
    step runs on face features, as `train --face-views` does."""
    import statistics

    import torch
    import torch.nn.functional as F

    from emofusion.constants import AUDIO, FACES, NUM_CLASSES
    from emofusion.nets.registry import TRAINED_PROFILES, create_model
    from emofusion.train.augment import augment_batch
    from emofusion.train.config import AugmentConfig
    from emofusion.train.face_views import EncodedFaces, face_augment_only

    torch.manual_seed(0)
    views = name.endswith(VIEWS)
    base = name.removesuffix(FROZEN).removesuffix(VIEWS)
    model = create_model(base, face_size=size, **TRAINED_PROFILES.get(base, {}))
    if views or name.endswith(FROZEN):
        model.freeze_face()
    cfg = model.cfg
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    step_model = EncodedFaces(model) if views else model
    net = torch.nn.parallel.DistributedDataParallel(step_model) if ddp else step_model
    aug = face_augment_only(AugmentConfig()) if views else AugmentConfig()
    gen = torch.Generator().manual_seed(0)
    steps, evals, cpu, eval_cpu, encodes = [], [], [], [], []
    for i in range(warmup + n):
        x = _inputs(model, batch, cfg, gen)
        y = F.one_hot(torch.randint(0, NUM_CLASSES, (batch,), generator=gen), NUM_CLASSES).float()
        if views:
            model.eval()
            e0 = time.perf_counter()
            with torch.no_grad():
                features = model.encode_faces(x[FACES])
            if i >= warmup:
                encodes.append((time.perf_counter() - e0) / batch)
        model.train()
        c0 = time.process_time()
        t0 = time.perf_counter()
        xa, ya = augment_batch({**x, FACES: features} if views else x, y, aug, gen)
        loss = F.cross_entropy(net(*[xa[k] for k in model.inputs]), ya)
        opt.zero_grad()
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        c1 = time.process_time()
        model.eval()
        with torch.no_grad():  # with views, validation also runs on cached features (view 0)
            step_model(*[(features if views and k == FACES else x[k]) for k in model.inputs])
        t2 = time.perf_counter()
        c2 = time.process_time()
        if i >= warmup:
            steps.append(t1 - t0)
            evals.append(t2 - t1)
            cpu.append(c1 - c0)
            eval_cpu.append(c2 - c1)
    # CPU seconds of this process (all its threads): what the step costs however busy the machine is
    return {"train_step_s": statistics.median(steps), "eval_batch_s": statistics.median(evals),
            "train_step_cpu_s": statistics.median(cpu), "eval_batch_cpu_s": statistics.median(eval_cpu),
            "train_steps_s": steps, "eval_batches_s": evals,
            "encode_clip_s": statistics.median(encodes) if encodes else None,
            "audio_input": [cfg.audio_channels, cfg.audio_frames] if AUDIO in model.inputs else None}


def _ddp_worker(rank: int, world: int, threads: int, plan, args_t, out_dir: str) -> None:
    import torch
    import torch.distributed as dist

    from emofusion.train.distributed import end_worker

    torch.set_num_threads(threads)
    # rendezvous through a file in the run's own directory: no TCP port to pick, none to collide
    dist.init_process_group("gloo", init_method=Path(out_dir, "rendezvous").resolve().as_uri(), rank=rank,
                            world_size=world)
    try:
        batch, n, warmup = args_t
        rows = []
        for model, size in plan:
            dist.barrier()  # every process starts each configuration together, as DDP steps do
            rows.append(measure(model, size, batch, n, warmup, ddp=True))
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(rows))
    finally:
        dist.destroy_process_group()
    end_worker(0)  # results are written; see end_worker for why a gloo worker must not linger


def measure_ddp(plan, procs: int, batch: int, n: int, warmup: int) -> list[dict[str, Any]]:
    """`measure` in `procs` DDP processes (gloo on 127.0.0.1), each with batch / procs clips and
    cores / procs threads: one global step = the slowest process's step (they all-reduce in lockstep)."""
    import tempfile

    import torch.multiprocessing as mp

    if batch % procs:
        raise ValueError(f"--batch-size {batch} is not divisible by --procs {procs}")
    threads = max(1, (os.cpu_count() or 1) // procs)
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_ddp_worker, args=(procs, threads, plan, (batch // procs, n, warmup), tmp), nprocs=procs)
        per_rank = [json.loads(Path(tmp, f"rank{r}.json").read_text()) for r in range(procs)]
    rows = []
    for i in range(len(plan)):
        ranks = [pr[i] for pr in per_rank]
        row = {k: max(r[k] for r in ranks) for k in ("train_step_s", "eval_batch_s")}
        # CPU seconds of the whole step = the sum over processes
        row.update({k: sum(r[k] for r in ranks) for k in ("train_step_cpu_s", "eval_batch_cpu_s")})
        # every process computes the face views of all training clips itself (train/face_views.py)
        encodes = [r["encode_clip_s"] for r in ranks if r.get("encode_clip_s")]
        row["encode_clip_s"] = max(encodes) if encodes else None
        row["audio_input"] = ranks[0].get("audio_input")
        row.update(train_steps_s=[r["train_steps_s"] for r in ranks], eval_batches_s=[r["eval_batches_s"] for r in ranks],
                   threads=threads * procs)
        rows.append(row)
    return rows


def extrapolate(m: dict[str, Any], batch: int, epochs: int, views: int = 0) -> dict[str, float]:
    """One fold = epochs x (training steps + validation batches), plus, with cached face features,
    `views` face-CNN passes over every training clip and one over every validation clip before the
    first epoch."""
    import math

    train_clips, val_clips = TRAIN_ACTORS * CLIPS_PER_ACTOR, VAL_ACTORS * CLIPS_PER_ACTOR
    train_batches = math.ceil(train_clips / batch)
    val_batches = math.ceil(val_clips / batch)
    epoch_s = train_batches * m["train_step_s"] + val_batches * m["eval_batch_s"]
    encode = m.get("encode_clip_s") or 0.0
    precompute_s = (views * train_clips + val_clips) * encode if views else 0.0
    # Idle-machine estimate: CPU seconds spread over the torch threads (assumes perfect thread
    # scaling, so it is a lower bound). The precompute is counted at its measured wall time.
    idle_epoch_s = (train_batches * m["train_step_cpu_s"] + val_batches * m["eval_batch_cpu_s"]) / m["threads"]
    return {"train_batches": train_batches, "val_batches": val_batches, "epoch_s": epoch_s,
            "precompute_s": precompute_s, "views": views if precompute_s else 0,
            "fold_min": (precompute_s + epoch_s * epochs) / 60, "idle_epoch_s": idle_epoch_s,
            "idle_fold_min": (precompute_s + idle_epoch_s * epochs) / 60}


def _workers(h: dict[str, Any]) -> str:
    procs = h.get("procs", 1)
    if procs > 1:
        return (f"{procs} DDP processes (gloo, as `torchrun -m emofusion train`) of {max(1, h['cpus'] // procs)} "
                f"thread(s) and {h['batch_size'] // procs} clips each, a step = the slowest process's")
    return f"{h['threads']} threads"


def _audio_inputs(rows: list[dict[str, Any]]) -> list[str]:
    """One line naming the audio input each model was timed at (ModelConfig defaults, except the
    trained profiles of nets.registry.TRAINED_PROFILES)."""
    shapes: dict[str, list[str]] = {}
    for r in rows:
        if r.get("audio_input"):
            shape = "x".join(map(str, r["audio_input"]))
            if r["model"] not in shapes.setdefault(shape, []):
                shapes[shape].append(r["model"])
    if not shapes:
        return []
    parts = [f"{shape} ({', '.join(models)})" for shape, models in shapes.items()]
    return [f"Audio input per clip, channels x frames: {'; '.join(parts)}.", ""]


def markdown(res: dict[str, Any]) -> str:
    h = res["setup"]
    lines = [
        "# Training speed (CPU, this machine)", "",
        f"Batch {h['batch_size']}, {h['timed_batches']} timed steps after {h['warmup']} warm-up, generated inputs; "
        f"torch {h['torch']} with {_workers(h)} on {h['cpus']} CPUs; loadavg before {h['loadavg_before']}, "
        f"after {h['loadavg_after']} (other work shared the machine).", "",
        f"Extrapolation: one RAVDESS fold epoch = {h['train_clips']} training clips ({TRAIN_ACTORS} actors x "
        f"{CLIPS_PER_ACTOR}) as training steps + {h['val_clips']} validation clips as inference batches; "
        f"a fold = {h['epochs']} epochs. No modality-dropout copies (softhard makes each step ~4x).", "",
        "Measured columns are wall-clock on the busy machine. The idle columns divide the step's CPU seconds",
        "(all threads of this process) by the thread count: the wall time on an idle machine with perfect",
        "thread scaling, i.e. a lower bound.", "",
        f"NAME-views rows: the face CNN frozen and run {h.get('views', 8)} times over each training clip and once "
        "over each validation clip before training (`train --freeze-face --face-views`); steps and validation "
        "run on the cached features; 'precompute' is that CNN pass, timed alone per clip and scaled to the "
        "fold.", "",
        *_audio_inputs(res["rows"]),
        "| configuration | face px | train step (s) | step CPU (s) | val batch (s) | precompute (s) | epoch (s) "
        "| fold (min) | idle epoch (s) | idle fold (min) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in res["rows"]:
        pre = f"{r['precompute_s']:.0f}" if r.get("precompute_s") else "-"
        lines.append(f"| {r['model']} | {r['face_size'] or '-'} | {r['train_step_s']:.3f} | {r['train_step_cpu_s']:.3f} "
                     f"| {r['eval_batch_s']:.3f} | {pre} | {r['epoch_s']:.0f} | {r['fold_min']:.1f} "
                     f"| {r['idle_epoch_s']:.0f} | {r['idle_fold_min']:.1f} |")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from emofusion.errors import UsageError

    if args.procs < 1 or args.batch_size % args.procs:
        raise UsageError(f"--procs must be >= 1 and divide --batch-size {args.batch_size} (got {args.procs})")
    if args.threads:
        torch.set_num_threads(args.threads)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    # audio-only models have no face size: one row each
    plan = [(m, None) if m in AUDIO_ONLY_MODELS else (m, s) for m in models
            for s in (sizes[:1] if m in AUDIO_ONLY_MODELS else sizes)]
    load0 = [round(v, 2) for v in os.getloadavg()]
    rows = []
    sized = [(model, size or sizes[0]) for model, size in plan]
    if args.procs > 1:
        measured = measure_ddp(sized, args.procs, args.batch_size, args.batches, args.warmup)
    else:
        measured = []
        for model, size in tqdm(sized, desc="bench train"):
            measured.append({**measure(model, size, args.batch_size, args.batches, args.warmup),
                             "threads": torch.get_num_threads()})
    for (model, size), m in zip(plan, measured):
        views = args.views if model.endswith(VIEWS) else 0
        rows.append({"model": model, "face_size": size, **m, **extrapolate(m, args.batch_size, args.epochs, views)})
    res = {
        "setup": {
            "batch_size": args.batch_size, "timed_batches": args.batches, "warmup": args.warmup, "procs": args.procs,
            "epochs": args.epochs, "views": args.views, "train_clips": TRAIN_ACTORS * CLIPS_PER_ACTOR,
            "val_clips": VAL_ACTORS * CLIPS_PER_ACTOR, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "cpus": os.cpu_count(), "machine": platform.processor() or
            platform.machine(), "loadavg_before": load0, "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        },
        "rows": rows,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{args.name}.json").write_text(json.dumps(res, indent=1) + "\n")
    (args.out_dir / f"{args.name}.md").write_text(markdown(res))
    print(markdown(res))
    return 0
