"""Knowledge distillation from an ensemble of finished cross-validation runs.

Why: the best audio figure belongs to an average of many networks that no user runs. A single
network can learn much of it by matching the ensemble's soft answers (Hinton et al. 2015). The
teachers are scored on the same augmented batch the student sees ("consistent teaching", Beyer et
al. 2022), so mixup and masked inputs get the teachers' real answer, not a mixed label.

No test actor leaks: fold k's student learns only from the teachers' fold-k models, and every
teacher must have trained without fold k's test actors (checked from its split.json).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from emofusion.config import MediaConfig
from emofusion.errors import EmofusionError
from emofusion.train.runs import SPLIT_JSON


class DistillError(EmofusionError):
    """A teacher run cannot teach this fold (missing, leaking test actors, other features)."""


@dataclass
class Teachers:
    models: list[torch.nn.Module]
    names: list[tuple[str, ...]]  # each teacher's input streams
    sources: list[dict]  # path + sha256, for the run's meta

    @torch.no_grad()
    def probs(self, x: dict[str, torch.Tensor], temperature: float) -> torch.Tensor:
        """Mean of the teachers' softmax(logits / T) on this batch."""
        out = None
        for model, names in zip(self.models, self.names):
            p = torch.softmax(model(*[x[k] for k in names]).float() / temperature, dim=1)
            out = p if out is None else out + p
        return out / len(self.models)


def load_teachers(run_dirs: Sequence[str], fold: int, test_actors: Sequence[int], media: MediaConfig,
                  device: str | torch.device = "cpu") -> Teachers:
    """Fold `fold`'s best model of each run, checked against the student's test actors and features."""
    from emofusion.nets.checkpoint import CheckpointError, load_checkpoint

    models, names, sources = [], [], []
    test = set(int(a) for a in test_actors)
    for run in run_dirs:
        fold_dir = Path(run) / f"fold_{fold}"
        split_path, best = fold_dir / SPLIT_JSON, fold_dir / "best.pt"
        if not split_path.is_file() or not best.is_file():
            raise DistillError(f"teacher {run}: no finished fold {fold} ({best} and {split_path} are needed)")
        split = json.loads(split_path.read_text())
        seen = test & set(split.get("train", []) + split.get("val", []))
        if seen:
            raise DistillError(f"teacher {run}: fold {fold} trained on test actors {sorted(seen)}")
        try:
            loaded = load_checkpoint(best, map_location=device)
        except CheckpointError as exc:
            raise DistillError(f"teacher {run}: {exc}") from exc
        if loaded.media_cfg.audio != media.audio:
            raise DistillError(f"teacher {run}: its audio features differ from the student's cache")
        model = loaded.model.to(device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        models.append(model)
        names.append(tuple(model.inputs))
        sources.append({"run": str(Path(run).resolve()), "sha256": loaded.sha256})
    return Teachers(models, names, sources)


def distill_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 * KL(teacher || student) at temperature T, batch mean (T^2 keeps gradients T-independent)."""
    log_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    kl = (teacher_probs * (teacher_probs.clamp_min(1e-12).log() - log_student)).sum(1).mean()
    return kl * temperature**2
