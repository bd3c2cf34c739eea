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
                 device: str | None = None, threads: int | None = None,
                 long_clip_factor: float = 2.0, hop_s: float = 1.8):
        self.models_dir = Path(models_dir)
        self.long_clip_factor, self.hop_s = long_clip_factor, hop_s
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
        """Decode once per MediaConfig, run every model; a ClipError becomes `analysis.error`.

        Clips longer than `long_clip_factor` windows are cut into sliding windows (one decode);
        the clip's prediction is then the mean of the windows' probabilities.
        """
        t_all = time.perf_counter()
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
                windows = self._decode(path, cfg)
            except ClipError as exc:
                analysis.error = exc
                analysis.timings_ms["total"] = (time.perf_counter() - t_all) * 1000.0
                return analysis
            for k, v in stage_timings(windows).items():
                analysis.timings_ms[k + suffix] = v
            for n in windows[0].notices:
                if (n.code, n.message) not in seen_notices:
                    seen_notices.add((n.code, n.message))
                    analysis.notices.append(n)
            if analysis.inputs is None:
                analysis.inputs, analysis.media_config = windows[len(windows) // 2], cfg
            feeds = _stack([w.model_inputs(cfg) for w in windows])
            for m in group:
                t0 = time.perf_counter()
                probs = softmax(m.backend.run(feeds))
                analysis.timings_ms[m.name] = (time.perf_counter() - t0) * 1000.0
                analysis.models[m.name] = ModelResult(probs.mean(axis=0), m.classes, m.backend.label)
                if len(windows) > 1:
                    for j, w in enumerate(windows):
                        start = float(w.window_start_s)
                        entry = per_window.setdefault(j, {"start_s": round(start, 3),
                                                          "end_s": round(start + cfg.window_s, 3), "models": {}})
                        entry["models"][m.name] = ModelResult(probs[j], m.classes, m.backend.label).to_dict()
        analysis.windows = [per_window[j] for j in sorted(per_window)]
        analysis.timings_ms["total"] = (time.perf_counter() - t_all) * 1000.0
        return analysis

    def _decode(self, path, cfg: MediaConfig) -> list:
        """ClipInputs of the centred window, or of sliding windows for a long clip."""
        from emofusion.media import clip as media_clip
        from emofusion.media.video import probe

        duration = _duration(path, probe)
        if duration > self.long_clip_factor * cfg.window_s:
            return media_clip.clip_windows(path, cfg, hop_s=self.hop_s)
        return [media_clip.load_clip(path, cfg)]


def _duration(path, probe) -> float:
    """Probe the clip's length; unopenable files surface as ClipError(UNREADABLE)."""
    try:
        return probe(path).duration_s
    except ClipError:
        raise
    except Exception as exc:  # PyAV raises several types for non-media files
        raise ClipError(ClipError.UNREADABLE, f"cannot read {Path(path).name}: {exc}") from exc


def stage_timings(windows: list) -> dict[str, float]:
    """decode / faces / features in ms: decoding is shared by all windows, the rest adds up."""
    first = windows[0].timings_ms
    out = {"decode": first.get("decode_audio", 0.0) + first.get("decode_video", 0.0)}
    out["faces"] = sum(w.timings_ms.get("faces", 0.0) for w in windows)
    out["features"] = sum(w.timings_ms.get("audio_features", 0.0) for w in windows)
    return out


def _stack(feeds_list: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One batch (windows on axis 0) from unbatched per-window feeds."""
    return {k: np.ascontiguousarray(np.stack([f[k] for f in feeds_list]), np.float32) for k in feeds_list[0]}
