"""Checkpoints that rebuild themselves: weights + ModelConfig + MediaConfig + classes + meta.

Two layouts, one loader (`load_checkpoint`):

- a `.pt` file, what the trainer writes (read with `weights_only=True`: no code from a file);
- a shipped model dir, `model.safetensors` (the weights, nothing executable) + `config.json`
  (model_config, media_config, classes, meta, and the sha256 of the weights it belongs to).
  `convert_checkpoint(pt, out_dir)` (`emofusion export MODEL.pt --to safetensors --out DIR`) is
  the one way to make it from a `.pt`.

Either way the file carries everything needed to preprocess a clip and rebuild the network from
the registry. Files are written atomically (tmp + os.replace) so a crash never leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from emofusion.atomic import atomic_write
from emofusion.config import MediaConfig
from emofusion.constants import CLASSES
from emofusion.errors import EmofusionError
from emofusion.nets.config import ModelConfig

FORMAT = "emofusion-checkpoint"
VERSION = 1
SHIPPED_FORMAT = "emofusion-model"  # config.json next to model.safetensors
SHIPPED_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
LEGACY = "model.pt"
CARD = "card.json"  # the model card beside the weights (card.md: the same for people)  # a model dir may hold a trainer's .pt instead of the safetensors pair


class CheckpointError(EmofusionError, ValueError):
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
    return atomic_write(Path(path), lambda f: torch.save(payload, f))


def _torch_load(path: Path, map_location: Any) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # the unpickler raises many types (KeyError, UnpicklingError, ...) on junk
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path.name}: not a readable PyTorch weights file ({first})") from exc


def resolve_weights(path: str | Path) -> Path:
    """The file `load_checkpoint` reads for `path`: a model dir -> its model.safetensors (else its
    model.pt); a file -> itself. CheckpointError when a dir holds neither."""
    path = Path(path)
    if path.is_dir():
        for name in (WEIGHTS, LEGACY):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path}/ holds no {WEIGHTS} (with {CONFIG}) and no {LEGACY}")
    return path


def model_sha256(path: str | Path) -> str:
    """Identity of a model's weights and config (keys the ONNX / engine caches): the file's sha256
    for a `.pt`; for the safetensors layout, a sha256 over the weights' sha256 and config.json."""
    path = resolve_weights(path)
    if path.suffix != ".safetensors":
        return file_sha256(path)
    config = path.with_name(CONFIG)
    if not config.is_file():
        raise CheckpointError(f"{path.name}: no {CONFIG} next to it (make both with the converter: "
                              "emofusion export MODEL.pt --to safetensors --out DIR)")
    return hashlib.sha256(f"{file_sha256(path)}\n".encode() + config.read_bytes()).hexdigest()


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> LoadedModel:
    """Rebuild the model from the registry and load its weights; refuses files that are not ours.

    `path`: a `.pt` checkpoint, a `model.safetensors` (its config.json beside it) or a model dir."""
    path = resolve_weights(path)
    if path.suffix == ".safetensors":
        return _load_safetensors(path, map_location)
    payload = _torch_load(path, map_location)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path.name}: not an emofusion checkpoint (no '{FORMAT}' marker); "
            "for published EfficientFace weights use load_efficientface_pretrained"
        )
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"{path.name}: checkpoint version {payload['version']} is newer than this emofusion")
    return _build(path, payload, payload.get("state_dict"), file_sha256(path))


def _build(path: Path, config: dict[str, Any], state: Any, sha256: str) -> LoadedModel:
    """The model from its registry name and config, with `state` loaded strictly."""
    from emofusion.nets.registry import create_model

    try:
        model_cfg = ModelConfig.from_dict(config["model_config"])
        media_cfg = MediaConfig.from_dict(config["media_config"])
        classes = tuple(config["classes"])
        model = create_model(model_cfg)
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path.name}: damaged or incompatible checkpoint: {exc}") from exc
    model.eval()
    return LoadedModel(model=model, model_cfg=model_cfg, media_cfg=media_cfg,
                       meta=dict(config.get("meta") or {}), classes=classes, sha256=sha256)


def _load_safetensors(path: Path, map_location: Any) -> LoadedModel:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config_path = path.with_name(CONFIG)
    if not config_path.is_file():
        raise CheckpointError(f"{path.name}: no {CONFIG} next to it (make both with the converter: "
                              "emofusion export MODEL.pt --to safetensors --out DIR)")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{config_path.name}: not readable JSON ({exc})") from exc
    if not isinstance(config, dict) or config.get("format") != SHIPPED_FORMAT:
        raise CheckpointError(f"{config_path}: not an emofusion model config (no '{SHIPPED_FORMAT}' marker)")
    if config.get("version", 0) > SHIPPED_VERSION:
        raise CheckpointError(f"{config_path.name}: version {config['version']} is newer than this emofusion")
    weights_sha = file_sha256(path)
    if config.get("weights_sha256") != weights_sha:
        raise CheckpointError(f"{path.name} is not the weights {config_path.name} was written for (sha256 "
                              "differs); convert the checkpoint again: emofusion export MODEL.pt --to safetensors")
    device = str(map_location) if isinstance(map_location, (str, torch.device)) else "cpu"
    try:
        state = load_file(str(path), device=device)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name}: not a readable safetensors file ({exc})") from exc
    sha = hashlib.sha256(f"{weights_sha}\n".encode() + config_path.read_bytes()).hexdigest()
    return _build(path, config, state, sha)


def convert_checkpoint(source: str | Path, out_dir: str | Path) -> tuple[Path, Path]:
    """A `.pt` checkpoint -> `out_dir/model.safetensors` + `out_dir/config.json` (the shipped form).

    The checkpoint is loaded first (so a broken one is refused), the written pair is loaded back and
    must give the same weights bit for bit. Other files in `out_dir` (cards, ONNX) are left alone;
    a stale ONNX is never used because graphs are keyed by `model_sha256`."""
    from safetensors.torch import save

    from emofusion.provenance import portable

    source, out_dir = Path(source), Path(out_dir)
    if source.suffix == ".safetensors" or source.is_dir():
        raise CheckpointError(f"{source}: give a .pt checkpoint to convert")
    loaded = load_checkpoint(source)
    state = {k: v.detach().cpu().contiguous() for k, v in loaded.model.state_dict().items()}
    blob = save(state, metadata={"format": SHIPPED_FORMAT})
    weights = atomic_write(out_dir / WEIGHTS, lambda f: f.write(blob))
    config = {
        "format": SHIPPED_FORMAT,
        "version": SHIPPED_VERSION,
        "model_config": loaded.model_cfg.to_dict(),
        "media_config": loaded.media_cfg.to_dict(),
        "classes": list(loaded.classes),
        "meta": portable(loaded.meta),  # the trainer's absolute cache path made relative (or its name)
        "weights": WEIGHTS,
        "weights_sha256": hashlib.sha256(blob).hexdigest(),
        "converted_from": {"file": source.name, "sha256": loaded.sha256},
    }
    text = json.dumps(config, indent=1, sort_keys=True) + "\n"
    config_path = atomic_write(out_dir / CONFIG, lambda f: f.write(text.encode()))
    back = load_checkpoint(weights)
    ours = back.model.state_dict()
    if set(ours) != set(state) or any(not torch.equal(ours[k], state[k]) for k in state):
        raise CheckpointError(f"{weights}: the written weights do not read back identically")
    return weights, config_path


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


# Model cards: a card speaks only for the weights it was written for.
def card_matches(card: dict, sha256: str) -> bool:
    """False when the card names other weights than `sha256` (model_sha256): a card left behind by
    other weights must not speak for these ones (headline rule, web app). A card that names no
    weights (hand-written) cannot be checked and is taken as it is."""
    named = card.get("sha256") if card else None
    return not (named and sha256 and named != sha256)


def remove_stale_card(model_dir: Path) -> list[Path]:
    """Delete card.json / card.md when card.json names other weights than the dir's own; the
    removed paths (nothing when the card matches or there is none)."""
    try:
        card = json.loads((model_dir / CARD).read_text()) if (model_dir / CARD).is_file() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        card = {}
    if not card or not (model_dir / WEIGHTS).is_file() or card_matches(card, model_sha256(model_dir / WEIGHTS)):
        return []
    stale = [p for p in (model_dir / CARD, model_dir / "card.md") if p.is_file()]
    for p in stale:
        p.unlink()
    return stale
