"""Typed training configuration, saved as JSON beside every run so a run can be repeated or resumed.

Defaults follow the product brief (CrossEntropy, Adam lr 1e-4, batch 8, 50 epochs); the reference's
SGD recipe is one flag away (`--optimizer sgd --lr 0.04 --schedule step ...`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emofusion.config import from_dict, register_config

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("none", "step", "cosine")
MODALITY_DROPOUT = ("none", "softhard", "random")
SELECT_BY = ("f1", "acc")
PROTOCOLS = ("5fold", "6fold", "reference", "custom")
# our protocol names -> emofusion.data.splits protocol names
SPLIT_PROTOCOLS = {"5fold": "luna5", "6fold": "contiguous6", "reference": "reference"}


@register_config
@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation; every random draw comes from a seeded torch.Generator."""

    # Faces: one flip / one rotation angle per clip, the same for all its frames.
    face_flip_p: float = 0.5
    face_rotate_deg: float = 10.0
    # SpecAugment on the audio features (B, C, T): masks per clip, each up to *_width wide.
    time_masks: int = 0
    time_mask_width: int = 20
    freq_masks: int = 0
    freq_mask_width: int = 2
    # Feature-space noise: gaussian with this std relative to each clip's feature std (0 = off).
    audio_noise: float = 0.0
    # Mixup of inputs and targets within a batch (0 = off).
    mixup_alpha: float = 0.0
    # Missing-modality training for fusion models: "softhard" = the reference's four copies per
    # batch; "random" = zero one stream of each clip with probability modality_dropout_p.
    modality_dropout: str = "none"
    modality_dropout_p: float = 0.25


@dataclass(frozen=True)
class TrainingBase:
    """What every trainer's config shares (the cross-validation trainer's TrainConfig, the face
    trainer's FaceTrainConfig, the fusion trainer's FusionTrainConfig, the voice head's HeadSetting):
    the optimisation basics and one way to save, load and vary a config. Each trainer sets its own
    defaults for these fields."""

    epochs: int = 50
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 0.0
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        return from_dict(cls, d)

    @classmethod
    def load(cls, path: str | Path):
        return cls.from_dict(json.loads(Path(path).read_text()))

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)


@register_config
@dataclass(frozen=True)
class TrainConfig(TrainingBase):
    """Everything that decides a training run except the model and media configs."""

    fusion: str = "ia"  # model registry name: ia | it | lt | audio | video
    # Extra ModelConfig fields for the registry (e.g. {"face_size": 112}); {} = registry defaults.
    model: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "adam"
    lr: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "none"
    milestones: tuple[int, ...] = (40, 55, 65, 70)
    gamma: float = 0.1
    epochs: int = 50
    batch_size: int = 8
    seed: int = 0
    label_smoothing: float = 0.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # Precise BN: after each epoch, re-estimate BatchNorm statistics over this many training
    # batches (0 = off, the reference's behaviour). Helps short runs on little data.
    precise_bn: int = 0
    select_by: str = "f1"  # model selection on validation actors: macro-F1 or accuracy
    protocol: str = "5fold"  # 5fold (Luna-Jimenez) | 6fold (contiguous) | reference | custom
    n_val: int = 4  # validation actors taken from each fold's training side (0 = select last epoch)
    folds: tuple[int, ...] = ()  # 1-based fold numbers to run; () = all
    # custom protocol: explicit actor lists (1-based RAVDESS actor numbers)
    test_actors: tuple[int, ...] = ()
    val_actors: tuple[int, ...] = ()
    num_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N (emofusion.infer.device; not part of what a run learns)
    # Published EfficientFace weights (AffectNet / RAF-DB layout) to start the face CNN from.
    face_pretrained: str = ""
    # Keep the face CNN fixed (no gradients, BatchNorm in eval mode): for a pretrained face CNN;
    # the steps skip its backward pass (~2.7x faster at 112 px, results/bench/train_bench.md).
    freeze_face: bool = False
    # With freeze_face: run the face CNN over each training clip this many times before training
    # (view 0 plain, the rest with one face flip/rotation draw each) and train on those features
    # (emofusion/train/face_views.py). 0 = run the frozen CNN in every step.
    face_views: int = 0
    in_memory: bool = True  # load the whole cache into RAM (fast epochs)
    # More training items: caches of the same clips made differently (e.g. `preprocess --speed 0.9`);
    # each adds its copy of the fold's training actors (never validation or test actors).
    extra_train_caches: tuple[str, ...] = ()
    # Knowledge distillation (emofusion/train/distill.py): finished runs of the same protocol whose
    # fold-k models teach fold k; loss = (1 - w) * CE + w * T^2 * KL(teachers || student).
    teachers: tuple[str, ...] = ()
    distill_weight: float = 0.0
    distill_temperature: float = 2.0
    # Exponential moving average of the weights per optimiser step (emofusion/train/weight_average.py):
    # 0 = off; else validation and best.pt use the averaged network, raw.pt keeps the last raw one.
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("schedule", self.schedule, SCHEDULES),
            ("augment.modality_dropout", self.augment.modality_dropout, MODALITY_DROPOUT),
            ("select_by", self.select_by, SELECT_BY),
            ("protocol", self.protocol, PROTOCOLS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {value!r}")
        if self.face_views < 0 or (self.face_views and not self.freeze_face):
            raise ValueError("face_views must be >= 0 and needs freeze_face (features of a training face "
                             "CNN change every step)")
        if not 0.0 <= self.distill_weight <= 1.0 or self.distill_temperature <= 0:
            raise ValueError("distill_weight must be in [0, 1] and distill_temperature > 0")
        if not 0.0 <= self.ema_decay < 1.0 or (self.ema_decay and self.face_views):
            raise ValueError("ema_decay must be in [0, 1) and does not combine with face_views")
        if bool(self.teachers) != (self.distill_weight > 0):
            raise ValueError("teachers and distill_weight > 0 go together")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs and batch_size must be >= 1 and lr > 0")
        # JSON gives lists back; keep tuples so configs compare equal after a round trip.
        for name in ("milestones", "folds", "test_actors", "val_actors"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        object.__setattr__(self, "extra_train_caches", tuple(str(v) for v in self.extra_train_caches))
        object.__setattr__(self, "teachers", tuple(str(v) for v in self.teachers))
