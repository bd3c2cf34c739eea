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


_MEL_FILTERS: dict[tuple[int, int, int], np.ndarray] = {}


def whisper_log_mel(wave: np.ndarray, sample_rate: int = 16_000, n_fft: int = 400, hop_length: int = 160,
                    n_mels: int = 80) -> np.ndarray:
    """OpenAI Whisper's log-mel front end, float32 (n_mels, len(wave) // hop_length).

    As published in whisper/audio.py `log_mel_spectrogram`: centred STFT (reflect padding,
    periodic Hann window), power spectrum without the last frame, Slaney mel filters (the same
    as librosa.filters.mel(sr, n_fft, n_mels), which Whisper's mel_filters.npz holds), log10 of
    max(mel, 1e-10), floored at 8 below the clip's maximum, then (x + 4) / 4. Computed on the
    clip itself (no padding to 30 s): the encoder runs at the clip's own length."""
    import librosa

    key = (sample_rate, n_fft, n_mels)
    if key not in _MEL_FILTERS:
        _MEL_FILTERS[key] = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels).astype(np.float32)
    y = np.ascontiguousarray(wave, dtype=np.float32)
    half = n_fft // 2
    if len(y) <= half:  # reflect padding needs more samples than half a window
        y = np.pad(y, (0, half + 1 - len(y)))
    y = np.pad(y, (half, half), mode="reflect")
    n_frames = 1 + (len(y) - n_fft) // hop_length
    frames = np.lib.stride_tricks.as_strided(y, (n_frames, n_fft), (y.strides[0] * hop_length, y.strides[0]))
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)  # periodic Hann
    import scipy.fft  # float32 in, complex64 out (numpy's rfft works in float64: ~2x slower)

    spec = scipy.fft.rfft(frames[:-1] * window, axis=1)  # Whisper drops the last frame
    power = spec.real ** 2 + spec.imag ** 2
    log_spec = np.log10(np.maximum(np.dot(power, _MEL_FILTERS[key].T).T, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def features(wave: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    """float32 (cfg.channels, 1 + len(wave) // hop): MFCC or log-mel, optionally with deltas;
    kind="whisper": Whisper's log-mel, (n_mels, len(wave) // hop) as Whisper frames it."""
    import librosa

    y = np.ascontiguousarray(wave, dtype=np.float32)
    if cfg.kind == "whisper":
        if cfg.deltas:
            raise ValueError("Whisper's log-mel has no deltas (the encoder reads the 80 bands only)")
        return whisper_log_mel(y, cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels)
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
        raise ValueError(f"unknown audio feature kind {cfg.kind!r} (mfcc, logmel or whisper)")
    if cfg.deltas:
        width = min(9, feats.shape[1] - (1 - feats.shape[1] % 2))
        if width >= 3:
            d1 = librosa.feature.delta(feats, width=width, order=1)
            d2 = librosa.feature.delta(feats, width=width, order=2)
        else:
            d1 = d2 = np.zeros_like(feats)
        feats = np.concatenate([feats, d1, d2], axis=0)
    return feats.astype(np.float32)
