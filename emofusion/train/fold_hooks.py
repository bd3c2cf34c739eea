"""The training loop's options as hooks: weight averaging (EMA), distillation from teacher runs,
and cached face views. `loop.train_fold` runs the plain loop and asks each hook at fixed points;
an option that is off has no hook, so the loop carries no `if option:` branches.

Hook points, in the order the loop calls them:
    prepare(fold)              once, before the loaders are built (may swap datasets / forward model)
    before_augment(x, gen)     each batch, before `augment_batch`
    after_augment(x)           each batch, after it
    loss(loss, logits, x)      each batch: the loss to back-propagate
    after_step(model)          each optimiser step
    scored(model)              the model validation scores and best.pt saves (default: the model)
    bn_inputs(x)               the inputs precise BN re-estimation runs on
    save(fold, meta)           each epoch on rank 0, after best.pt / last.pt
    state() / load_state(s)    what goes into / comes out of last.pt under the hook's name
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from emofusion.constants import FACES


@dataclass
class FoldData:
    """What one fold trains and validates on; hooks may replace parts in `prepare`."""

    model: torch.nn.Module  # the network that is saved
    forward_model: torch.nn.Module  # what batches go through (a hook may wrap `model`)
    train_set: Dataset
    val_set: Dataset | None
    augment: Any  # AugmentConfig applied per batch
    out: Path


class FoldHook:
    """A no-op at every point; subclasses override what their option changes."""

    name = "hook"

    def prepare(self, fold: FoldData) -> None:
        pass

    def before_augment(self, x: dict[str, torch.Tensor], gen: torch.Generator) -> dict[str, torch.Tensor]:
        return x

    def after_augment(self, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return x

    def loss(self, loss: torch.Tensor, logits: torch.Tensor, x: dict[str, torch.Tensor]) -> torch.Tensor:
        return loss

    def after_step(self, model: torch.nn.Module) -> None:
        pass

    def scored(self, model: torch.nn.Module) -> torch.nn.Module:
        return model

    def bn_inputs(self, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return x

    def save(self, fold: FoldData, save_checkpoint, meta: dict[str, Any]) -> None:
        pass

    def state(self) -> Any:
        return None

    def load_state(self, state: Any) -> None:
        pass


class EmaHook(FoldHook):
    """cfg.ema_decay: validation and best.pt use the running average of the weights; the raw
    weights of each epoch are kept beside them (RAW) in best.pt's format."""

    name = "ema"

    def __init__(self, model: torch.nn.Module, decay: float, raw_name: str):
        from emofusion.train.weight_average import WeightAverage

        self.average = WeightAverage(model, decay)
        self.raw_name = raw_name

    def after_step(self, model):
        self.average.update(model)

    def scored(self, model):
        return self.average.model

    def save(self, fold, save_checkpoint, meta):
        save_checkpoint(fold.model, meta, fold.out / self.raw_name)

    def state(self):
        return self.average.state_dict()

    def load_state(self, state):
        self.average.load_state_dict(state)


class DistillHook(FoldHook):
    """cfg.teachers: (1 - w) * the label loss + w * the KL to the teachers' softened answers."""

    name = "distill"

    def __init__(self, teachers, weight: float, temperature: float):
        self.teachers, self.weight, self.temperature = teachers, weight, temperature

    def loss(self, loss, logits, x):
        from emofusion.train.distill import distill_loss

        soft = self.teachers.probs(x, self.temperature)
        return (1 - self.weight) * loss + self.weight * distill_loss(logits, soft, self.temperature)


class FaceViewsHook(FoldHook):
    """cfg.face_views: the frozen face CNN's features of a few augmented views of each clip are
    computed once (face_views.py); batches then pick a view and augment its offset from "no face"."""

    name = "face_views"

    def __init__(self, cfg, device, record: Path | None, progress: bool):
        self.cfg, self.device, self.record, self.progress = cfg, device, record, progress
        self.views = None

    def prepare(self, fold):
        from emofusion.train import face_views as FV

        self.views, fold.val_set = FV.cache_fold(fold.model, fold.train_set, fold.val_set, self.cfg, self.device,
                                                 self.record, self.progress)
        fold.train_set, fold.forward_model = self.views, FV.EncodedFaces(fold.model)
        fold.augment = FV.face_augment_only(self.cfg.augment)

    def before_augment(self, x, gen):
        from emofusion.train import face_views as FV

        x[FACES] = FV.pick_views(x[FACES], gen) - self.views.blank
        return x

    def after_augment(self, x):
        x[FACES] = x[FACES] + self.views.blank.to(x[FACES].device)
        return x

    def bn_inputs(self, x):
        return {**x, FACES: x[FACES][:, 0]}


def hooks_for(cfg, model: torch.nn.Module, env, out: Path, progress: bool, teachers, raw_name: str,
              views_name: str) -> list[FoldHook]:
    """The hooks cfg asks for, in the order they apply."""
    hooks: list[FoldHook] = []
    if cfg.face_views:
        hooks.append(FaceViewsHook(cfg, env.device, out / views_name if env.is_main else None,
                                   progress and env.is_main))
    if teachers is not None:
        hooks.append(DistillHook(teachers, cfg.distill_weight, cfg.distill_temperature))
    if cfg.ema_decay:
        hooks.append(EmaHook(model, cfg.ema_decay, raw_name))
    return hooks
