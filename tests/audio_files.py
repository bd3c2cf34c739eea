"""Writing test audio as 16-bit mono WAV (what RAVDESS speech files are)."""

import wave as wavelib
from pathlib import Path

import numpy as np


def write_pcm(path: Path, samples: np.ndarray, sr: int) -> Path:
    """float samples in [-1, 1] -> 16-bit mono WAV at `sr` (parent folders created)."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wavelib.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return path
