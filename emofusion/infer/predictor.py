"""Clip in, both fusions' predictions out: what `emofusion predict`, the web app and benchmarks use.

Each model brings its own MediaConfig from its checkpoint; a clip is decoded once per distinct
config (IA and LT normally share one), then every model runs on the same inputs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.cli import UserError
from emofusion.config import MediaConfig
from emofusion.infer.backends import Backend, create_backend
from emofusion.infer.sources import CARD, CHECKPOINT, ONNX, ModelFiles, onnx_metadata, read_card
from emofusion.media.errors import ClipError, Notice


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class LoadedPredictorModel:
    """One model ready to run: its backend, preprocessing config, classes and card."""

    name: str
    backend: Backend
    media_cfg: MediaConfig
    classes: tuple[str, ...]
    card: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelResult:
    probs: np.ndarray  # (n_classes,) of the whole clip (mean over windows)
    classes: tuple[str, ...]
    backend: str

    @property
    def top(self) -> str:
        return self.classes[int(np.argmax(self.probs))]

    @property
    def top_prob(self) -> float:
        return float(np.max(self.probs))

    def to_dict(self) -> dict[str, Any]:
        return {"probs": {c: float(p) for c, p in zip(self.classes, self.probs)},
                "top": self.top, "top_prob": self.top_prob, "backend": self.backend}


@dataclass
class Analysis:
    """One clip's result. `inputs` keeps the ClipInputs (faces, waveform) for display only."""

    path: str
    models: dict[str, ModelResult] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    windows: list[dict[str, Any]] = field(default_factory=list)
    error: ClipError | None = None
    inputs: Any = None
    media_config: MediaConfig | None = None

    @property
    def agree(self) -> bool | None:
        if "ia" in self.models and "lt" in self.models:
            return self.models["ia"].top == self.models["lt"].top
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": {n: r.to_dict() for n, r in self.models.items()},
            "agree": self.agree,
            "notices": [n.to_dict() for n in self.notices],
            "timings_ms": {k: round(float(v), 2) for k, v in self.timings_ms.items()},
            "windows": self.windows,
            "error": self.error.to_dict() if self.error is not None else None,
        }


def _media_cfg(backend: Backend, files: ModelFiles, loaded) -> MediaConfig:
    if loaded is not None:
        return loaded.media_cfg
    import json

    meta = getattr(backend, "metadata", None) or (onnx_metadata(files.onnx) if files.onnx else {})
    if "media_config" not in meta:
        raise ValueError(f"{files.onnx} carries no media_config metadata")
    return MediaConfig.from_dict(json.loads(meta["media_config"]))


class Predictor:
    """`Predictor(models_dir, names, backend).analyze(path) -> Analysis`."""

    def __init__(self, models_dir: str | Path = "models", names=("ia", "lt"), backend: str = "auto",
                 device: str | None = None, threads: int | None = None):
        self.models_dir = Path(models_dir)
        self.models: dict[str, LoadedPredictorModel] = {}
        for name in names:
            d = self.models_dir / name
            if not (d / CHECKPOINT).is_file() and not (d / ONNX).is_file():
                raise UserError(f"no model {name!r}: expected {d}/{CHECKPOINT} (or {ONNX})")
            files = ModelFiles.resolve(d)
            loaded = None
            if files.checkpoint is not None:
                from emofusion.nets.checkpoint import load_checkpoint

                loaded = load_checkpoint(files.checkpoint)
            b = create_backend(d, kind=backend, device=device, threads=threads, loaded=loaded)
            cfg = _media_cfg(b, files, loaded)
            self.models[name] = LoadedPredictorModel(name, b, cfg, tuple(b.classes), read_card(d / CARD))

    @property
    def backend(self) -> Backend | None:
        """The first model's backend (all models get the same kind)."""
        return next(iter(self.models.values())).backend if self.models else None

    @property
    def backend_name(self) -> str:
        return ", ".join(sorted({m.backend.label for m in self.models.values()}))

    def analyze(self, path: str | Path) -> Analysis:
        """Decode once per MediaConfig, run every model; a ClipError becomes `analysis.error`."""
        from emofusion.media import clip as media_clip

        analysis = Analysis(path=str(path))
        groups: dict[str, list[LoadedPredictorModel]] = {}
        for m in self.models.values():
            groups.setdefault(m.media_cfg.to_json(), []).append(m)
        seen_notices: set[tuple[str, str]] = set()
        per_window: dict[int, dict[str, Any]] = {}
        for i, group in enumerate(groups.values()):
            cfg = group[0].media_cfg
            suffix = "" if i == 0 else f"[{i}]"
            try:
                windows, clip, timings = _decode(media_clip, path, cfg)
            except ClipError as exc:
                analysis.error = exc
                return analysis
            for k, v in timings.items():
                analysis.timings_ms[f"{k}{suffix}"] = analysis.timings_ms.get(f"{k}{suffix}", 0.0) + v
            for n in getattr(clip, "notices", []) or []:
                if (n.code, n.message) not in seen_notices:
                    seen_notices.add((n.code, n.message))
                    analysis.notices.append(n)
            if analysis.inputs is None:
                analysis.inputs, analysis.media_config = clip, cfg
            feeds = _stack([media_clip.model_inputs(w.audio, w.faces, cfg) for w, _, _ in windows])
            for m in group:
                t0 = time.perf_counter()
                probs = softmax(m.backend.run(feeds))
                analysis.timings_ms[m.name] = (time.perf_counter() - t0) * 1000.0
                analysis.models[m.name] = ModelResult(probs.mean(axis=0), m.classes, m.backend.label)
                if len(windows) > 1:
                    for j, (_, start, end) in enumerate(windows):
                        w = per_window.setdefault(j, {"start_s": start, "end_s": end, "models": {}})
                        w["models"][m.name] = ModelResult(probs[j], m.classes, m.backend.label).to_dict()
        analysis.windows = [per_window[j] for j in sorted(per_window)]
        analysis.timings_ms["total"] = sum(v for k, v in analysis.timings_ms.items() if k != "total")
        return analysis


def _decode(media_clip, path, cfg: MediaConfig):
    """[(window ClipInputs, start_s, end_s)], the whole-clip ClipInputs, per-stage timings."""
    clip = media_clip.load_clip(path, cfg)
    timings = dict(getattr(clip, "timings_ms", {}) or {})
    windows = list(getattr(clip, "windows", None) or [])
    if not windows:
        return [(clip, 0.0, float(getattr(clip, "duration_s", cfg.window_s) or cfg.window_s))], clip, timings
    return [(w, float(w.start_s), float(w.end_s)) for w in windows], clip, timings


def _stack(feeds_list: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One batch from per-window feeds (each either (1, ...) or unbatched)."""
    out = {}
    for k in feeds_list[0]:
        parts = [f[k] for f in feeds_list]
        out[k] = np.concatenate(parts, axis=0) if parts[0].ndim in (3, 5) else np.stack(parts)
    return {k: np.ascontiguousarray(v, np.float32) for k, v in out.items()}
