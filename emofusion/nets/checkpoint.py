"""Checkpoints that rebuild themselves: weights + ModelConfig + MediaConfig + classes + meta.

A `.pt` file is the unit the trainer writes and export / the web app read, so it carries everything
needed to preprocess a clip and rebuild the network from the registry. Files are written atomically
(tmp + os.replace) so a crash never leaves half a checkpoint, and read with `weights_only=True`
(no arbitrary code from a downloaded file).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emofusion.config import MediaConfig
from emofusion.constants import CLASSES
from emofusion.nets.config import ModelConfig

FORMAT = "emofusion-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """The file is not a usable emofusion checkpoint (or pretrained file); the message says why."""


@dataclass
class LoadedModel:
    model: nn.Module  # in eval mode
    model_cfg: ModelConfig
    media_cfg: MediaConfig
    meta: dict[str, Any]
    classes: tuple[str, ...]
    sha256: str


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    model_cfg: ModelConfig,
    media_cfg: MediaConfig,
    meta: dict[str, Any] | None = None,
    classes: tuple[str, ...] = CLASSES,
) -> Path:
    """Write atomically; `meta` must be JSON-serialisable (it ends up in model cards)."""
    meta = dict(meta or {})
    try:
        json.dumps(meta)
    except TypeError as exc:
        raise ValueError(f"checkpoint meta must be JSON-serialisable: {exc}") from exc
    if len(classes) != model_cfg.num_classes:
        raise ValueError(f"{len(classes)} class names for a {model_cfg.num_classes}-class model")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model_cfg.to_dict(),
        "media_config": media_cfg.to_dict(),
        "classes": list(classes),
        "meta": meta,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _torch_load(path: Path, map_location: Any) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # the unpickler raises many types (KeyError, UnpicklingError, ...) on junk
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path.name}: not a readable PyTorch weights file ({first})") from exc


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> LoadedModel:
    """Rebuild the model from the registry and load its weights; refuses files that are not ours."""
    from emofusion.nets.registry import create_model

    path = Path(path)
    payload = _torch_load(path, map_location)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path.name}: not an emofusion checkpoint (no '{FORMAT}' marker); "
            "for published EfficientFace weights use load_efficientface_pretrained"
        )
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"{path.name}: checkpoint version {payload['version']} is newer than this emofusion")
    try:
        model_cfg = ModelConfig.from_dict(payload["model_config"])
        media_cfg = MediaConfig.from_dict(payload["media_config"])
        model = create_model(model_cfg)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path.name}: damaged or incompatible checkpoint: {exc}") from exc
    model.eval()
    return LoadedModel(
        model=model,
        model_cfg=model_cfg,
        media_cfg=media_cfg,
        meta=dict(payload.get("meta", {})),
        classes=tuple(payload["classes"]),
        sha256=file_sha256(path),
    )


@dataclass
class PretrainedReport:
    """What `load_efficientface_pretrained` did with each key of the file."""

    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # ours, not in the file: left as initialised
    unexpected: list[str] = field(default_factory=list)  # in the file, not ours: ignored
    shape_mismatched: list[str] = field(default_factory=list)  # same name, other shape: ignored
    dropped: list[str] = field(default_factory=list)  # the file's classifier (fc.*): not used

    def to_dict(self) -> dict[str, list[str]]:
        return {k: list(getattr(self, k)) for k in ("matched", "missing", "unexpected", "shape_mismatched", "dropped")}

    def summary(self) -> str:
        return ", ".join(f"{len(v)} {k}" for k, v in self.to_dict().items())


def _backbone(model_or_backbone: nn.Module) -> nn.Module:
    from emofusion.nets.efficientface import EfficientFace

    if isinstance(model_or_backbone, EfficientFace):
        return model_or_backbone
    face = getattr(model_or_backbone, "face", None)
    if isinstance(face, EfficientFace):
        return face
    raise TypeError(f"{type(model_or_backbone).__name__} has no EfficientFace backbone")


def load_efficientface_pretrained(model_or_backbone: nn.Module, path: str | Path) -> PretrainedReport:
    """Load published EfficientFace weights (e.g. EfficientFace_Trained_on_AffectNet7.pth.tar), or
    the face CNN of an emofusion face model (`emofusion train-face`'s face.pt, models/face).

    Accepts {'state_dict': ...} or a bare state dict; strips DataParallel's `module.` prefix and
    drops the 7-way `fc`. Loads every key whose name and shape match ours and reports the rest."""
    path = Path(path)
    payload = _torch_load(path, "cpu")
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path.name}: no state dict of tensors found")
    own = isinstance(payload, dict) and payload.get("format") == FORMAT
    backbone = _backbone(model_or_backbone)
    ours = backbone.state_dict()
    report = PretrainedReport()
    to_load: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = key[len("module.") :] if key.startswith("module.") else key
        if own:  # an emofusion face model (train-face): the backbone is its `face.` part
            if not name.startswith("face."):
                report.dropped.append(key)
                continue
            name = name[len("face.") :]
        if name.startswith("fc."):
            report.dropped.append(key)
        elif name not in ours:
            report.unexpected.append(key)
        elif ours[name].shape != value.shape:
            report.shape_mismatched.append(key)
        else:
            to_load[name] = value
            report.matched.append(name)
    report.missing = [k for k in ours if k not in to_load]
    if not to_load:
        raise CheckpointError(f"{path.name}: no key matches EfficientFace ({report.summary()})")
    backbone.load_state_dict(to_load, strict=False)
    return report
