"""Audio: decode any container's audio track with PyAV, then window it and compute features.

PyAV decodes and resamples to mono at the configured rate (fast, no temp files); librosa
computes the features from the array, as the reference design does with `librosa.feature.mfcc`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emofusion.config import AudioConfig
from emofusion.media.errors import ClipError


def read_audio(path: str | Path, sample_rate: int) -> np.ndarray | None:
    """Mono float32 samples in [-1, 1] at `sample_rate`, or None when the file has no audio track.

    Raises ClipError(UNREADABLE) when the file cannot be opened at all. A stream that breaks off
    part-way (truncated file) keeps what decoded before the break.
    """
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise ClipError(ClipError.UNREADABLE, f"cannot open {Path(path).name}: {exc}") from exc
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
        except (av.error.FFmpegError, ValueError):
            pass  # truncated or corrupt tail: keep what decoded
        try:
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except (av.error.FFmpegError, ValueError):
            pass
    if not chunks:
        return None
    wave = np.concatenate(chunks).astype(np.float32, copy=False)
    return np.clip(wave, -1.0, 1.0)


def fit_window(wave: np.ndarray, n_samples: int, start: int | None = None) -> np.ndarray:
    """Exactly `n_samples`: cut from `start` (default: centred) or zero-pad both sides."""
    if len(wave) >= n_samples:
        if start is None:
            start = (len(wave) - n_samples) // 2
        start = max(0, min(start, len(wave) - n_samples))
        return wave[start : start + n_samples]
    pad = n_samples - len(wave)
    left = pad // 2
    return np.pad(wave, (left, pad - left))


def features(wave: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """float32 (cfg.channels, 1 + len(wave) // hop): MFCC or log-mel, optionally with deltas."""
    import librosa

    y = np.ascontiguousarray(wave, dtype=np.float32)
    if cfg.kind == "mfcc":
        feats = librosa.feature.mfcc(
            y=y, sr=cfg.sample_rate, n_mfcc=cfg.n_mfcc, n_fft=cfg.n_fft, hop_length=cfg.hop_length
        )
    elif cfg.kind == "logmel":
        mel = librosa.feature.melspectrogram(
            y=y, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels
        )
        feats = librosa.power_to_db(mel, ref=1.0, top_db=None)
    else:
        raise ValueError(f"unknown audio feature kind {cfg.kind!r} (mfcc or logmel)")
    if cfg.deltas:
        width = min(9, feats.shape[1] - (1 - feats.shape[1] % 2))
        if width >= 3:
            d1 = librosa.feature.delta(feats, width=width, order=1)
            d2 = librosa.feature.delta(feats, width=width, order=2)
        else:
            d1 = d2 = np.zeros_like(feats)
        feats = np.concatenate([feats, d1, d2], axis=0)
    return feats.astype(np.float32)
