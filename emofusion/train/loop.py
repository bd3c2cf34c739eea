"""One fold's training: seeded, logged per epoch, checkpointed atomically, resumable.

Reproducibility without saving generator internals: every random draw of epoch e (sampler order,
augmentation, dropout) comes from generators seeded from (seed, e, rank). A run resumed from
`last.pt` after epoch e therefore draws exactly what the uninterrupted run drew, and ends with the
same weights. RNG states are still stored in `last.pt` for inspection.
"""

from __future__ import annotations

import functools
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from emofusion.atomic import atomic_write
from emofusion.config import MediaConfig
from emofusion.constants import NUM_CLASSES
from emofusion.train import distributed as D
from emofusion.train.augment import augment_batch
from emofusion.train.config import TrainConfig
from emofusion.train.fold_hooks import FoldData, FoldHook, hooks_for
from emofusion.train.inputs import to_float_inputs
from emofusion.train.metrics import from_confusion

LAST, BEST, LOG = "last.pt", "best.pt", "metrics.jsonl"
RAW = "raw.pt"  # with ema_decay: the last epoch's raw (not averaged) weights, best.pt's format
FACE_VIEWS = "face_views.json"  # what precomputing the frozen face CNN's features cost (--face-views)


@dataclass
class FoldResult:
    out_dir: Path
    best_epoch: int
    best_score: float | None
    history: list[dict[str, Any]]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + rank * 104_729) % 2**62


def forward(model: torch.nn.Module, inputs: dict[str, torch.Tensor], names: tuple[str, ...]) -> torch.Tensor:
    return model(*[inputs[k] for k in names])


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig):
    params = [p for p in model.parameters() if p.requires_grad]  # a frozen face CNN is left out
    if cfg.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.schedule == "step":
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.milestones), gamma=cfg.gamma)
    elif cfg.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _e: 1.0)
    return opt, sched


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    dataset: Dataset,
    batch_size: int = 32,
    device: str = "cpu",
    zero: str | None = None,
    indices: list[int] | None = None,
    num_workers: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, logits) over `dataset` (or its `indices`); `zero` = AUDIO/FACES blanks that stream."""
    model.eval()
    names = tuple(model.inputs)
    subset = dataset if indices is None else torch.utils.data.Subset(dataset, indices)
    loader = DataLoader(subset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    labels, logits = [], []
    for inputs, y in loader:
        x = to_float_inputs(inputs, device)
        if zero is not None and zero in x:
            x[zero] = torch.zeros_like(x[zero])
        out = forward(model, x, names)
        logits.append((out if out.dtype == torch.float64 else out.float()).cpu())
        labels.append(torch.as_tensor(y))
    if not labels:
        return np.zeros(0, dtype=np.int64), np.zeros((0, NUM_CLASSES), dtype=np.float32)
    return torch.cat(labels).numpy().astype(np.int64), torch.cat(logits).numpy()


def _validate(model, dataset, env: D.DistEnv, batch_size: int) -> dict[str, float]:
    """Each rank scores its own slice (no padding, so nothing is counted twice); sums are reduced."""
    idx = list(range(env.rank, len(dataset), env.world))
    labels, logits = predict(model, dataset, batch_size, env.device, indices=idx)
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    loss_sum = 0.0
    if len(labels):
        np.add.at(cm, (labels, logits.argmax(1)), 1)
        loss_sum = float(F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels), reduction="sum"))
    packed = D.all_sum(env, torch.tensor(np.append(cm.reshape(-1), 0), dtype=torch.float64))
    loss_total = float(D.all_sum(env, torch.tensor([loss_sum], dtype=torch.float64))[0])
    cm = packed[:-1].reshape(NUM_CLASSES, NUM_CLASSES).long().numpy()
    m = from_confusion(cm)
    return {"val_loss": loss_total / max(1, m["n"]), "val_acc": m["accuracy"], "val_f1": m["macro_f1"],
            "val_n": m["n"]}


@torch.no_grad()
def recalibrate_bn(model, loader, n_batches: int, names, env: D.DistEnv,
                   pick: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None) -> None:
    """Precise BN: re-estimate BatchNorm running statistics with the final weights of the epoch.

    The running averages lag behind fast-changing weights; on short runs the eval-mode network can
    then be far worse than the trained one (seen on the synthetic fusion task: 100 % with batch
    statistics, 50 % with running ones). Equal-weight averages over `n_batches` training batches
    (Wu & Johnson 2021, "Rethinking 'Batch' in BatchNorm"), averaged over processes under DDP.
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
           and any(p.requires_grad for p in m.parameters())]  # a frozen face CNN keeps its statistics
    if not bns or n_batches <= 0:
        return
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average = plain mean over the batches seen
    model.train()
    for i, (inputs, _y) in enumerate(loader):
        if i >= n_batches:
            break
        x = to_float_inputs(inputs, env.device)
        forward(model, pick(x) if pick else x, names)
    for bn, momentum in zip(bns, saved):
        bn.momentum = momentum
        if env.distributed:
            bn.running_mean.copy_(D.all_sum(env, bn.running_mean) / env.world)
            bn.running_var.copy_(D.all_sum(env, bn.running_var) / env.world)


def prepare_face(model: torch.nn.Module, cfg: TrainConfig, verbose: bool = False) -> dict[str, Any]:
    """Apply cfg.face_pretrained and cfg.freeze_face; returns what was done (for the run's meta)."""
    from emofusion.nets.checkpoint import load_efficientface_pretrained

    done: dict[str, Any] = {}
    if not (cfg.face_pretrained or cfg.freeze_face):
        return done
    if not hasattr(model, "freeze_face"):
        raise ValueError(f"{cfg.fusion!r} has no face CNN: face_pretrained / freeze_face do not apply")
    if cfg.face_pretrained:
        report = load_efficientface_pretrained(model, cfg.face_pretrained)
        done["face_pretrained"] = {"path": cfg.face_pretrained, "keys": report.summary()}
        if verbose:
            print(f"face CNN from {cfg.face_pretrained}: {report.summary()}", flush=True)
    if cfg.freeze_face:
        model.freeze_face()
        done["freeze_face"] = True
    return done


def _save_best(model, model_cfg, media_cfg: MediaConfig, meta: dict, path: Path) -> None:
    from emofusion.nets.checkpoint import save_checkpoint  # writes atomically itself

    save_checkpoint(path, model, model_cfg, media_cfg, meta)


@dataclass
class _Progress:
    """What last.pt keeps between epochs (and restores on resume)."""

    start: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"score": None, "epoch": 0})


def _start(model_cfg, cfg: TrainConfig, out: Path, env: D.DistEnv, resume: bool, progress: bool):
    """The seeded model on its device, its optimiser and schedule, and where a resumed run stands."""
    from emofusion.nets.registry import create_model

    seed_everything(cfg.seed)  # weight init is the same on every rank and every run
    model = create_model(model_cfg)
    prepare_face(model, cfg, env.is_main and progress)
    model = model.to(env.device)
    opt, sched = build_optimizer(model, cfg)
    state = None
    if resume and (out / LAST).exists():
        state = torch.load(out / LAST, map_location=env.device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
    done = _Progress(state["epoch"], state["history"], state["best"]) if state else _Progress()
    return model, opt, sched, done, state


def _train_epoch(fold: FoldData, net, loader, opt, hooks: list[FoldHook], cfg: TrainConfig, env: D.DistEnv,
                 epoch: int, gen: torch.Generator, progress: bool) -> dict[str, Any]:
    """One pass over the loader; returns the epoch's training row (summed over processes)."""
    from tqdm import tqdm

    names = tuple(fold.model.inputs)
    net.train()
    lr = opt.param_groups[0]["lr"]
    loss_sum = torch.zeros(3, dtype=torch.float64)  # loss*n, correct, n
    bar = tqdm(loader, desc=f"epoch {epoch}/{cfg.epochs}", leave=False, disable=not (progress and env.is_main))
    for inputs, y in bar:
        x = to_float_inputs(inputs, "cpu")
        targets = F.one_hot(torch.as_tensor(y).long(), NUM_CLASSES).to(torch.get_default_dtype())
        for h in hooks:
            x = h.before_augment(x, gen)
        # augmentation runs where the model does; its random draws stay on the CPU generator, so a
        # run draws the same whatever the device
        x, targets = {k: x[k].to(env.device) for k in names}, targets.to(env.device)
        x, targets = augment_batch(x, targets, fold.augment, gen)
        for h in hooks:
            x = h.after_augment(x)
        logits = forward(net, x, names)
        loss = F.cross_entropy(logits, targets, label_smoothing=cfg.label_smoothing)
        for h in hooks:
            loss = h.loss(loss, logits, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for h in hooks:
            h.after_step(fold.model)
        n = targets.shape[0]
        correct = (logits.argmax(1) == targets.argmax(1)).sum().item()
        loss_sum += torch.tensor([loss.item() * n, correct, n], dtype=torch.float64)
        bar.set_postfix(loss=f"{loss.item():.3f}")
    totals = D.all_sum(env, loss_sum)
    return {"epoch": epoch, "train_loss": float(totals[0] / totals[2]), "train_acc": float(totals[1] / totals[2]),
            "train_n": int(totals[2]), "lr": lr}  # train_n: clips seen, summed over processes


def _scored(hooks: list[FoldHook], model: torch.nn.Module) -> torch.nn.Module:
    for h in hooks:
        model = h.scored(model)
    return model


def _record(fold: FoldData, opt, sched, hooks: list[FoldHook], done: _Progress, row: dict[str, Any],
            improved: bool, gen: torch.Generator, save, cfg: TrainConfig, progress: bool) -> None:
    """Rank 0, end of an epoch: best.pt when improved, hooks' files, last.pt (atomic), the log line."""
    meta = {"epoch": row["epoch"], "train_config": cfg.to_dict(), "val": row}
    if improved:
        save(_scored(hooks, fold.model), meta, fold.out / BEST)
    for h in hooks:
        h.save(fold, save, meta)
    atomic_write(fold.out / LAST, lambda f: torch.save({
        "epoch": row["epoch"], "model": fold.model.state_dict(), "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(), "history": done.history, "best": done.best, "ema": None,
        **{h.name: h.state() for h in hooks if h.state() is not None},
        "train_config": cfg.to_dict(),
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                "python": random.getstate(), "augment": gen.get_state()},
    }, f))
    with open(fold.out / LOG, "a") as fh:
        fh.write(json.dumps(row) + "\n")
    if progress:
        val = f" val acc {row['val_acc']:.3f} f1 {row['val_f1']:.3f}" if row["val_n"] else ""
        print(f"epoch {row['epoch']}: loss {row['train_loss']:.4f} acc {row['train_acc']:.3f}{val} "
              f"({row['seconds']:.1f} s)", flush=True)


def train_fold(
    model_cfg,
    cfg: TrainConfig,
    train_set: Dataset,
    val_set: Dataset | None,
    out_dir: str | Path,
    media_cfg: MediaConfig,
    meta: dict[str, Any] | None = None,
    resume: bool = False,
    env: D.DistEnv | None = None,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    progress: bool = True,
    teachers=None,
) -> FoldResult:
    """Train one fold into `out_dir` (rank 0 writes); select on `val_set` or keep the last epoch.
    Options (EMA, distillation from `teachers`, cached face views) are hooks: fold_hooks.py."""
    env = env or D.DistEnv(device=D.resolve_device(cfg.device))
    out = Path(out_dir)
    if env.is_main:
        out.mkdir(parents=True, exist_ok=True)
    model, opt, sched, done, state = _start(model_cfg, cfg, out, env, resume, progress)
    hooks = hooks_for(cfg, model, env, out, progress, teachers, RAW, FACE_VIEWS)
    for h in hooks:
        if state is not None and state.get(h.name) is not None:
            h.load_state(state[h.name])
    fold = FoldData(model, model, train_set, val_set, cfg.augment, out)
    for h in hooks:
        h.prepare(fold)
    net = torch.nn.parallel.DistributedDataParallel(fold.forward_model) if env.distributed else fold.forward_model
    sampler = DistributedSampler(fold.train_set, num_replicas=env.world, rank=env.rank, shuffle=True, seed=cfg.seed)
    loader = DataLoader(fold.train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                        persistent_workers=cfg.num_workers > 0)
    has_val = fold.val_set is not None and len(fold.val_set) > 0
    save = lambda m, extra, path: _save_best(m, model_cfg, media_cfg, {**(meta or {}), **extra}, path)
    if env.is_main:  # the log mirrors the checkpoint's history: a resumed run's log has no duplicate epochs
        (out / LOG).write_text("".join(json.dumps(h) + "\n" for h in done.history))
    for epoch in range(done.start + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        torch.manual_seed(_epoch_seed(cfg.seed, epoch, env.rank))  # dropout draws
        gen = torch.Generator().manual_seed(_epoch_seed(cfg.seed, epoch, env.rank) + 1)
        row = _train_epoch(fold, net, loader, opt, hooks, cfg, env, epoch, gen, progress)
        sched.step()
        bn_pick = lambda x: functools.reduce(lambda acc, h: h.bn_inputs(acc), hooks, x)
        recalibrate_bn(fold.forward_model, loader, cfg.precise_bn, tuple(model.inputs), env, pick=bn_pick)
        row.update(_validate(_scored(hooks, fold.forward_model), fold.val_set, env, cfg.batch_size * 4) if has_val
                   else {"val_loss": None, "val_acc": None, "val_f1": None, "val_n": 0})
        score = row["val_f1" if cfg.select_by == "f1" else "val_acc"] if has_val else None
        improved = not has_val or done.best["score"] is None or score > done.best["score"]
        if improved:
            done.best = {"score": score, "epoch": epoch}
        row["seconds"] = round(time.perf_counter() - t0, 3)
        done.history.append(row)
        if env.is_main:
            _record(fold, opt, sched, hooks, done, row, improved, gen, save, cfg, progress)
        D.barrier(env)
        if on_epoch_end is not None:
            on_epoch_end(row)
    return FoldResult(out, done.best["epoch"], done.best["score"], done.history)
