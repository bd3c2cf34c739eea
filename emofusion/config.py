"""Typed configs for turning a clip into model inputs.

One `MediaConfig` travels with every cache, checkpoint, ONNX file and model card, so the web app
preprocesses a clip exactly as the model saw its training data.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class VideoConfig:
    """Face frames: `n_frames` evenly spaced frames, one face crop each."""

    n_frames: int = 15
    face_size: int = 224
    # Extra context around the detector's box, as a fraction of the box side.
    face_margin: float = 0.2
    # Frames are downscaled so their longer side is at most this before MTCNN (speed); crops are
    # still cut from the full-resolution frame. 240 px: MTCNN's cost grows with pixels, and crops
    # found at 240 px still re-detect as faces (tests/test_media_fast.py).
    detect_max_side: int = 240
    # Smallest face MTCNN looks for, in pixels of the downscaled detection frame (its image
    # pyramid, hence its cost, grows as this shrinks; 27 px = 11 % of a 240 px frame).
    min_face_size: int = 27
    # MTCNN's image-pyramid step (facenet-pytorch default 0.709): 0.6 means fewer pyramid levels
    # (less CPU) and still finds every face of the CREMA-D and generated clips (test_media_fast.py).
    detect_factor: float = 0.6
    # MTCNN runs on this many evenly spaced frames of the n_frames (first and last included) and
    # boxes are interpolated linearly in between: a face moves little
    # between key frames ~0.9 s apart (5 of 15 over 3.6 s).
    # If any of them has no face, every frame is detected (robustness over speed). 0 = all frames.
    detect_frames: int = 5
    # Decode only reference frames (PyAV skip_frame="NONREF": B-frames of typical H.264 are not
    # decoded) and take the nearest decoded frame to each time: ~half the decoding for a time
    # error of at most one frame interval. Falls back to a full decode when nothing decodes.
    decode_skip_nonref: bool = True
    # Detections below this MTCNN probability are ignored.
    min_face_prob: float = 0.9
    # Boxes are averaged over this many neighbouring frames (1 = no smoothing).
    box_smoothing: int = 3
    # How a detector box becomes the crop: "square" (square around the box centre, side = longer
    # side * (1 + face_margin): the models trained here) or "faceapi" (the framing the face-api.js
    # expression net learned: the box of its 68 landmarks + 10 % a side, zero-padded to square;
    # media/faces.faceapi_boxes derives it from the MTCNN box).
    framing: str = "square"


@dataclass(frozen=True)
class AudioConfig:
    """Audio features: mono, resampled, then MFCC (the reference), log-mel, or Whisper's log-mel.

    kind="whisper" is OpenAI Whisper's front end (see media/audio.py `whisper_log_mel`); its
    encoder needs exactly sample_rate=16000, n_mels=80, n_fft=400, hop_length=160 (WHISPER_AUDIO)."""

    sample_rate: int = 22_050
    kind: str = "mfcc"  # "mfcc" | "logmel" | "whisper"
    n_mfcc: int = 10
    n_mels: int = 128
    n_fft: int = 2048
    hop_length: int = 512
    deltas: bool = False  # append first and second differences as extra channels

    @property
    def planes(self) -> int:
        """Feature blocks stacked along the channels: the bands, then their deltas and delta-deltas."""
        return 3 if self.deltas else 1

    @property
    def channels(self) -> int:
        return (self.n_mfcc if self.kind == "mfcc" else self.n_mels) * self.planes


WHISPER_AUDIO = AudioConfig(sample_rate=16_000, kind="whisper", n_mels=80, n_fft=400, hop_length=160)


@dataclass(frozen=True)
class MediaConfig:
    """The analysis window and both streams' settings."""

    window_s: float = 3.6
    video: VideoConfig = field(default_factory=VideoConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    # Clips shorter than this are refused; longer than `max_clip_s` are refused (use windows).
    min_clip_s: float = 0.5
    max_clip_s: float = 600.0

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.audio.sample_rate))

    @property
    def audio_frames(self) -> int:
        """Feature frames per window (librosa's centred framing; Whisper's log-mel drops the last)."""
        return self.window_samples // self.audio.hop_length + (self.audio.kind != "whisper")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["video"]["framing"] == "square":  # the default from before the option: caches, shipped
            del d["video"]["framing"]  # configs and ONNX metadata of existing models stay identical
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MediaConfig":
        return from_dict(cls, d)


def from_dict(cls: type[T], d: dict[str, Any]) -> T:
    """Build a (nested) dataclass from a plain dict, rejecting unknown keys loudly."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(d) - set(fields)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    kwargs = {}
    for name, value in d.items():
        ftype = fields[name].type
        sub = _DATACLASSES.get(ftype if isinstance(ftype, str) else getattr(ftype, "__name__", ""))
        kwargs[name] = from_dict(sub, value) if sub and isinstance(value, dict) else value
    return cls(**kwargs)  # type: ignore[return-value]


_DATACLASSES: dict[str, type] = {
    "VideoConfig": VideoConfig,
    "AudioConfig": AudioConfig,
    "MediaConfig": MediaConfig,
}


def register_config(cls: type[T]) -> type[T]:
    """Decorator: let `from_dict` rebuild this dataclass when it is nested in another."""
    _DATACLASSES[cls.__name__] = cls
    return cls
