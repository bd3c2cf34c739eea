"""emofusion: audio-visual emotion recognition (face + voice -> 8 RAVDESS emotions).

    import emofusion
    predictor = emofusion.load("models")            # every model in models/, backend "auto"
    result = predictor.analyze("clip.mp4")          # a video, or a photo (jpg, png, tiff, webp)
    print(result.to_dict()["answer"])

Importing the package is light (no torch, no onnxruntime); `load` imports what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from emofusion._version import __version__
from emofusion.errors import EmofusionError

if TYPE_CHECKING:
    from pathlib import Path

    from emofusion.infer.predictor import Predictor

__all__ = ["EmofusionError", "Predictor", "__version__", "load"]


def load(models_dir: "str | Path" = "models", names=None, backend: str = "auto", **kwargs) -> "Predictor":
    """The Predictor over the models in `models_dir` (all of them, or the `names` given), on
    `backend` = auto | torch | onnxruntime | tensorrt (auto: the fastest that works here).

    Keyword arguments go to `Predictor` (device, threads, long_clip_factor, hop_s). Raises an
    `EmofusionError` subclass (no models there, a damaged model file, a backend unavailable) whose
    message says what to do."""
    from emofusion.infer.predictor import load as _load

    return _load(models_dir, names=names, backend=backend, **kwargs)


def __getattr__(name: str):
    if name == "Predictor":
        from emofusion.infer.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'emofusion' has no attribute {name!r}")
