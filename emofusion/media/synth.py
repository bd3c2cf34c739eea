"""Generate real audio-visual clips (any container) for tests, demos, generated training data and
benchmarks.

We have no RAVDESS video here, so the media path is exercised on clips written with PyAV through the
same encoders real files use: a face photo pasted on a textured background and drifting across the
frame, optional rotation metadata (as phones write it) and variable frame rate.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

# suffix -> (video codec, audio codec, audio rate the codec/container insists on or None)
CODECS: dict[str, tuple[str, str, int | None]] = {
    ".mp4": ("libx264", "aac", None),
    ".mov": ("libx264", "aac", None),
    ".mkv": ("libx264", "aac", None),
    ".webm": ("libvpx-vp9", "libopus", 48_000),
    ".avi": ("mpeg4", "libmp3lame", 44_100),
    ".flv": ("flv", "libmp3lame", 44_100),  # Sorenson H.263, what old Flash video used
}


def synth_audio(kind: str, seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """float32 mono in [-1, 1]: 'tone' (steady harmonic tone) or 'speech-like' (syllables with a
    moving pitch, so features vary over time as they do for speech)."""
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    rng = np.random.default_rng(seed)
    if kind == "tone":
        wave = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 440 * t)
    elif kind == "speech-like":
        f0 = 140 + 40 * np.sin(2 * np.pi * 0.7 * t) + 15 * np.sin(2 * np.pi * 3.1 * t)
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate
        voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
        syllables = np.clip(np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6.28)), 0, None) ** 2
        wave = 0.25 * voiced * syllables + 0.01 * rng.standard_normal(n)
    else:
        raise ValueError(f"unknown audio kind {kind!r} (tone, speech-like, None or an array)")
    return np.clip(wave, -1, 1).astype(np.float32)


def _background(w: int, h: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([60 + 80 * x / max(w, 1), 90 + 60 * y / max(h, 1), 120 + 0 * x], axis=-1)
    return np.clip(base + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)


def _face_frames(face: np.ndarray | None, n: int, w: int, h: int, seed: int, first_face: int = 0):
    """Yield n upright RGB frames: the photo (80 % of the frame height at most) drifting left to right."""
    from PIL import Image

    bg = _background(w, h, seed)
    if face is not None:
        fh, fw = face.shape[:2]
        scale = min(0.8 * h / fh, 0.9 * w / fw)
        size = (max(1, int(fw * scale)), max(1, int(fh * scale)))
        face = np.asarray(Image.fromarray(face).resize(size, Image.BILINEAR))
    for i in range(n):
        frame = bg.copy()
        if face is not None and i >= first_face:
            fh, fw = face.shape[:2]
            span_x, span_y = max(0, w - fw), max(0, h - fh)
            u = i / max(1, n - 1)
            x0 = int(span_x * (0.2 + 0.6 * u))
            y0 = int(span_y * (0.4 + 0.2 * np.sin(2 * np.pi * u)))
            frame[y0 : y0 + fh, x0 : x0 + fw] = face[: h - y0, : w - x0]
        yield frame


def write_clip(
    path: str | Path,
    *,
    face_image: np.ndarray | None,
    seconds: float = 3.6,
    fps: float = 30.0,
    size: tuple[int, int] = (640, 480),
    rotation_deg: int = 0,
    vfr: bool = False,
    audio: str | np.ndarray | None = "speech-like",
    sample_rate: int = 22_050,
    video: bool = True,
    face_after_s: float = 0.0,
    seed: int = 0,
) -> Path:
    """Write a clip; the container comes from the suffix. `size` is the upright (display) size.

    With `rotation_deg` the pixels are stored rotated and the display matrix says how to turn them
    back, as phone recordings do; a correct reader returns upright frames. `vfr` spaces frames
    irregularly (between 0.5x and 1.5x the nominal interval). `audio` is a kind for
    `synth_audio`, a float mono array at `sample_rate`, or None for no audio track. Frames before
`face_after_s` show no face (to exercise gap filling).
    """
    import av

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CODECS:
        raise ValueError(f"unsupported container {suffix!r}; one of {sorted(CODECS)}")
    if rotation_deg % 90:
        raise ValueError("rotation_deg must be a multiple of 90")
    if vfr and suffix == ".avi":
        raise ValueError("AVI has no per-frame timestamps; VFR needs mp4/mov/mkv/webm/flv")
    vcodec, acodec, arate = CODECS[suffix]
    w, h = size
    k = (rotation_deg // 90) % 4
    stored_w, stored_h = (h, w) if k % 2 else (w, h)
    n_frames = max(1, int(round(seconds * fps)))
    wave = None
    if audio is not None:
        wave = synth_audio(audio, seconds, sample_rate, seed) if isinstance(audio, str) else audio
        wave = np.asarray(wave, dtype=np.float32).reshape(-1)

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        vs = None
        if video:
            vs = out.add_stream(vcodec, rate=Fraction(fps).limit_denominator(1001))
            vs.width, vs.height = stored_w, stored_h
            # x264's 4:2:0 needs even sizes; 4:4:4 keeps odd sizes exact.
            odd = stored_w % 2 or stored_h % 2
            vs.pix_fmt = "yuv444p" if (odd and vcodec == "libx264") else "yuv420p"
            tb = Fraction(1, 1000) if vfr else 1 / vs.codec_context.framerate
            vs.time_base = tb
            vs.codec_context.time_base = tb
            if vcodec == "libx264":
                vs.options = {"preset": "veryfast", "crf": "23"}
            if k:
                vs.set_display_rotation(rotation_deg)
        as_ = None
        if wave is not None:
            as_ = out.add_stream(acodec, rate=arate or sample_rate)
            as_.layout = "mono"
        if vs is not None:
            times = _frame_times(n_frames, fps, vfr, seed)
            first_face = int(np.searchsorted(times, face_after_s))
            for t, img in zip(times, _face_frames(face_image, n_frames, w, h, seed, first_face)):
                stored = np.ascontiguousarray(np.rot90(img, -k)) if k else img
                frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
                frame.pts = int(round(t / tb))
                frame.time_base = tb
                for packet in vs.encode(frame):
                    out.mux(packet)
            for packet in vs.encode():
                out.mux(packet)
        if as_ is not None:
            _encode_audio(out, as_, wave, sample_rate)
    return path


def _frame_times(n: int, fps: float, vfr: bool, seed: int) -> np.ndarray:
    step = 1.0 / fps
    if not vfr:
        return np.arange(n) * step
    rng = np.random.default_rng(seed + 1)
    gaps = rng.uniform(0.5 * step, 1.5 * step, n)
    gaps[0] = 0.0
    # Whole milliseconds, strictly increasing, so every container keeps them exactly.
    times = np.round(np.cumsum(gaps) * 1000) / 1000
    return np.maximum.accumulate(times + np.arange(n) * 1e-9)


def _encode_audio(out, stream, wave: np.ndarray, sample_rate: int) -> None:
    import av

    resampler = av.AudioResampler(format="fltp", layout="mono", rate=stream.rate)
    chunk = 4096
    pts = 0
    frames = []
    for start in range(0, len(wave), chunk):
        part = wave[start : start + chunk].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(part), format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = start
        frames.extend(resampler.resample(frame))
    frames.extend(resampler.resample(None))
    for frame in frames:
        frame.pts = pts
        pts += frame.samples
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
