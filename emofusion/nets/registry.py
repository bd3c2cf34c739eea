"""Model registry: networks are built by name, so checkpoints and configs stay plain data.

As in timm: a `@register_model("name")` decorator on a builder `fn(cfg: ModelConfig) -> nn.Module`,
`create_model(...)` to build, `list_models()` to enumerate. The builders live in `fusion.py`,
imported lazily here so `import emofusion.nets.registry` does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from emofusion.nets.config import ModelConfig



class UnknownModelError(ValueError):
    """A model name that is not in the registry; the message lists the known names."""


_BUILDERS: dict[str, Callable[[ModelConfig], Any]] = {}
# Modules whose import registers the built-in models.
_BUILTIN_MODULES = ("emofusion.nets.fusion", "emofusion.nets.audio_resnet", "emofusion.nets.audio_cnn2d",
                    "emofusion.nets.face_classifier", "emofusion.nets.whisper",
                    "emofusion.nets.faceapi", "emofusion.nets.fusion_pretrained")
# Models whose ModelConfig defaults are not the input they were trained on: `emofusion params` and
# `emofusion bench train` build them at that input (audio_cnn2d: log-mel 64 + deltas as 3 planes).
TRAINED_PROFILES: dict[str, dict[str, Any]] = {
    "audio_cnn2d": dict(audio_channels=192, audio_planes=3, audio_width=16)}


def register_model(name: str) -> Callable:
    """Decorator: make `fn(cfg) -> nn.Module` buildable as `create_model(name)`."""

    def deco(fn: Callable[[ModelConfig], Any]) -> Callable[[ModelConfig], Any]:
        if name in _BUILDERS and _BUILDERS[name] is not fn:
            raise ValueError(f"model {name!r} is already registered")
        _BUILDERS[name] = fn
        return fn

    return deco


def _load_builtins() -> None:
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)


def list_models() -> list[str]:
    """Registered model names, in registration order."""
    _load_builtins()
    return list(_BUILDERS)


def resolve_config(name_or_cfg: str | ModelConfig | dict, **overrides: Any) -> ModelConfig:
    """A ModelConfig from a registry name, a ModelConfig or its dict, plus field overrides."""
    if isinstance(name_or_cfg, ModelConfig):
        cfg = name_or_cfg
    elif isinstance(name_or_cfg, dict):
        cfg = ModelConfig.from_dict(name_or_cfg)
    elif isinstance(name_or_cfg, str):
        cfg = ModelConfig(fusion=name_or_cfg)
    else:
        raise TypeError(f"expected a model name, ModelConfig or dict, got {type(name_or_cfg).__name__}")
    if overrides:
        unknown = set(overrides) - set(ModelConfig.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {sorted(unknown)}")
        cfg = cfg.replace(**overrides)
    return cfg


def create_model(name_or_cfg: str | ModelConfig | dict, **overrides: Any):
    """Build a registered model; `model.cfg` holds the ModelConfig it was built from."""
    cfg = resolve_config(name_or_cfg, **overrides)
    names = list_models()
    if cfg.fusion not in _BUILDERS:
        raise UnknownModelError(f"unknown model {cfg.fusion!r}; registered models: {', '.join(names)}")
    model = _BUILDERS[cfg.fusion](cfg)
    model.cfg = cfg
    return model
