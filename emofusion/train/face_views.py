"""Training on cached face features when the face CNN is frozen (`train --freeze-face --face-views V`).

A frozen face CNN is a fixed function of the crop, yet at 112 px it is most of a training step
(results/bench/train_bench.md): every epoch recomputes the same numbers. Instead, before training, each
clip's frames go through the CNN V times: view 0 as they are, views 1..V-1 with one seeded face
augmentation each (flip, rotation: the draws `augment_faces` makes). Each step then picks one view
per clip and runs only the temporal stacks, the fusion and the head. Validation clips get view 0
only (no augmentation), so validating costs no CNN pass either.

Missing-stream training keeps its meaning: at inference a missing face stream is black crops,
whose CNN output is `blank`. Modality dropout and mixup therefore act on a feature's offset from
`blank` (zeroed offset = no face), the feature-space form of what they do to pixels. The final
evaluation (`emofusion evaluate`) runs the whole network on the crops, exactly as deployment does;
tests check that view 0 equals the CNN on the crops.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from emofusion.constants import FACES
from emofusion.train.augment import augment_faces
from emofusion.train.config import AugmentConfig, TrainConfig

Inputs = dict[str, torch.Tensor]


class EncodedFaces(nn.Module):
    """The model with its face CNN skipped: FACES is the CNN's output (B, 1024, F), not crops.
    A module (not a bound method) so DistributedDataParallel can wrap it."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.inputs = model.inputs

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model.forward_encoded(*inputs)


class FaceViews(Dataset):
    """Items ({stream: tensor}, label) with FACES = (V, 1024, F) features, one row per view."""

    def __init__(self, others: list[Inputs], views: torch.Tensor, labels: list[int], blank: torch.Tensor,
                 seconds: float):
        self.others, self.views, self.labels = others, views, labels
        self.blank = blank  # (1, 1024, F): the CNN's output on black crops (= no face)
        self.seconds = seconds  # what computing the views cost (logged with the run)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Inputs, int]:
        return {**self.others[index], FACES: self.views[index]}, self.labels[index]

    def plain(self) -> "FaceViews":
        """View 0 only, as (1024, F) per clip: validation's inputs (the crops as they are)."""
        return FaceViews(self.others, self.views[:, 0], self.labels, self.blank, self.seconds)


def face_augment_only(cfg: AugmentConfig) -> AugmentConfig:
    """The step-time augmentation once face flips and rotations live in the views."""
    return dataclasses.replace(cfg, face_flip_p=0.0, face_rotate_deg=0.0)


@torch.no_grad()
def build_views(model: nn.Module, dataset: Dataset, n_views: int, cfg: AugmentConfig, seed: int,
                batch_size: int = 8, device: str = "cpu", progress: bool = False) -> FaceViews:
    """Run the (frozen, eval-mode) face CNN over every clip of `dataset` `n_views` times."""
    from tqdm import tqdm

    from emofusion.train.inputs import to_float_inputs

    if n_views < 1:
        raise ValueError("n_views must be >= 1")
    t0 = time.perf_counter()
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed * 7_919 + 17)
    others, views, labels, blank = [], [], [], None
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for inputs, y in tqdm(loader, desc=f"face features x{n_views}", leave=False, disable=not progress):
        x = to_float_inputs(inputs, "cpu")
        faces = x.pop(FACES)
        # augment on the CPU generator (as training does), run the CNN where the model lives
        per_view = [model.encode_faces((faces if v == 0 else augment_faces(faces, cfg, gen)).to(device)).cpu()
                    for v in range(n_views)]
        views.append(torch.stack(per_view, dim=1))  # (B, V, 1024, F)
        others += [{k: t[i] for k, t in x.items()} for i in range(len(faces))]
        labels += torch.as_tensor(y).tolist()
        if blank is None:
            blank = model.encode_faces(torch.zeros_like(faces[:1]).to(device)).cpu()
    model.train(was_training)
    if blank is None:
        raise ValueError("no training clips to compute face features for")
    return FaceViews(others, torch.cat(views), labels, blank, time.perf_counter() - t0)


def cache_fold(model: nn.Module, train_set: Dataset, val_set: Dataset | None, cfg: TrainConfig, device: str,
               log: Path | None = None, progress: bool = False) -> tuple[FaceViews, Dataset | None]:
    """A fold's datasets on cached features: (training views, validation set = its view 0).
    `log` gets the summary (views, clips, seconds)."""
    views = build_views(model, train_set, cfg.face_views, cfg.augment, cfg.seed, device=device, progress=progress)
    val_views = None
    if val_set is not None and len(val_set) > 0:
        val_views = build_views(model, val_set, 1, cfg.augment, cfg.seed, device=device)
        val_set = val_views.plain()
    if log is not None:
        log.write_text(json.dumps(summary(views, val_views)) + "\n")
    return views, val_set


def pick_views(faces: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, V, 1024, F) -> (B, 1024, F): one uniformly drawn view per clip."""
    b, v = faces.shape[:2]
    return faces[torch.arange(b), torch.randint(0, v, (b,), generator=gen)]


def summary(views: FaceViews, val: FaceViews | None = None) -> dict[str, Any]:
    return {"views": int(views.views.shape[1]), "clips": len(views), "val_clips": len(val) if val else 0,
            "seconds": round(views.seconds + (val.seconds if val else 0.0), 3)}
