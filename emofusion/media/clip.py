"""One clip file -> model inputs: the same time window for both streams, typed outcomes.

Everything that feeds a model (training cache, evaluation, export checks, web app) goes through
`load_clip` / `clip_windows` and `model_inputs`, so preprocessing cannot drift between them.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from emofusion.config import MediaConfig
from emofusion.constants import AUDIO, FACES
from emofusion.media import audio as audio_mod
from emofusion.media.errors import ClipError, Notice
from emofusion.media.overlap import decode_and_crop, pool
from emofusion.media.video import MediaInfo, frames_and_thumbs_at, probe, stopped_at

SILENCE = 1e-4  # peak below this counts as digital silence
# The `padded` notice only when the clip fills less than this share of the window (padding of more
# than a quarter of what the models read); shorter padding is normal for 3-4 s clips.
PADDED_SHARE = 0.75
# The `damaged` notice when a stream decodes to more than this short of the duration the file
# states (a truncated download or copy); container and stream ends differ by far less normally.
DAMAGED_GAP_S = 0.5


@dataclass
class ClipInputs:
    """Stored (not yet model-ready) inputs of one window of one clip. Shapes: ARCHITECTURE.md."""

    path: str
    audio: np.ndarray | None  # (C, T) float32
    faces: np.ndarray | None  # (F, 3, S, S) uint8 RGB
    face_found: np.ndarray | None  # (F,) bool, None without video
    notices: list[Notice] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    duration_s: float = 0.0
    window_start_s: float = 0.0
    wave: np.ndarray | None = None  # the windowed waveform (display)
    face_boxes: np.ndarray | None = None  # (F, 4) square crop boxes, full-res pixels
    frame_times_s: np.ndarray | None = None  # (F,) sampled frame times

    def model_inputs(self, cfg: MediaConfig) -> dict[str, np.ndarray]:
        """Model inputs for `cfg`; faces cut larger than cfg's side are scaled down to it (one
        decode serves models of several face sizes; never scaled up)."""
        faces = self.faces
        if faces is not None and faces.shape[-1] > cfg.video.face_size:
            from emofusion.media.faces import resize_crops

            faces = resize_crops(faces, cfg.video.face_size)
        return model_inputs(self.audio, faces, cfg)

    def has(self, code: str) -> bool:
        return any(n.code == code for n in self.notices)


def model_inputs(audio: np.ndarray | None, faces: np.ndarray | None, cfg: MediaConfig) -> dict[str, np.ndarray]:
    """The only converter from stored arrays to float32 model inputs (no batch dim).

    "audio" (C, T) as stored; "faces" (F, 3, S, S) scaled to [0, 1]; a missing stream is zeros,
    which is what the models were trained to read as "absent" (modality dropout).
    """
    v = cfg.video
    a_shape = (cfg.audio.channels, cfg.audio_frames)
    f_shape = (v.n_frames, 3, v.face_size, v.face_size)
    a = np.zeros(a_shape, np.float32) if audio is None else np.asarray(audio, dtype=np.float32)
    if faces is None:
        f = np.zeros(f_shape, np.float32)
    else:
        f = np.asarray(faces)
        f = f.astype(np.float32) / 255.0 if f.dtype == np.uint8 else f.astype(np.float32)
    if a.shape != a_shape or f.shape != f_shape:
        raise ValueError(f"inputs {a.shape}/{f.shape} do not match the config's {a_shape}/{f_shape}")
    return {AUDIO: a, FACES: f}


def window_start(duration_s: float, window_s: float, start_s: float | None) -> float:
    """Centred window (or from start_s, clamped into the clip); 0 for clips shorter than it."""
    if duration_s <= window_s:
        return 0.0
    if start_s is None:
        return (duration_s - window_s) / 2
    return float(min(max(0.0, start_s), duration_s - window_s))


def frame_times(duration_s: float, window_s: float, start: float, n: int) -> np.ndarray:
    """n evenly spaced instants (interval midpoints) over the window, or over the clip if shorter."""
    span = min(window_s, duration_s) if duration_s > 0 else window_s
    return start + (np.arange(n) + 0.5) * span / n


class _Source:
    """A clip opened once: probe, whole waveform, frames on demand (shared by all its windows)."""

    def __init__(self, path: str | Path, cfg: MediaConfig, want: Iterable[str], speed: float = 1.0,
                 info: MediaInfo | None = None):
        self.path, self.cfg = Path(path), cfg
        self.want = set(want)
        if speed != 1.0 and (FACES in self.want or not 0.5 <= speed <= 2.0):
            raise ValueError("speed perturbation is for audio-only caches, with 0.5 <= speed <= 2")
        self.timings: dict[str, float] = {}
        self.speed = speed
        self.video_stop_s: float | None = None  # where the video stopped decoding, if early
        self.info: MediaInfo = info if info is not None else probe(self.path)
        if not self.info.has_audio and not self.info.has_video:
            raise ClipError(ClipError.NO_STREAMS, f"{self.path.name}: no audio or video stream")
        self._wave: Future | None = None
        if self.info.duration_s > 0:
            self._check_duration()  # before decoding: a 2-hour file is refused at once
        if self.info.has_audio and AUDIO in self.want:
            # Audio decodes on the media pool while this thread decodes the video.
            # Speed perturbation (training data only): resampled to sr / speed, read back as sr.
            self._wave = pool().submit(_timed_read_audio, self.path, round(cfg.audio.sample_rate / speed))
        if self.info.duration_s <= 0:  # container states no duration: measure the audio
            d = len(self.wave) / cfg.audio.sample_rate if self.wave is not None else 0.0
            self.info = dataclasses.replace(self.info, duration_s=d)
            self._check_duration()
        self.use_video = self.info.has_video and FACES in self.want

    @property
    def wave(self) -> np.ndarray | None:
        """The whole waveform (mono, cfg.audio.sample_rate), None without audio; waits for it."""
        if self._wave is None:
            return None
        wave, ms = self._wave.result()
        self.timings["decode_audio"] = ms
        return wave

    def _check_duration(self) -> None:
        d, cfg = self.info.duration_s, self.cfg
        if d < cfg.min_clip_s:
            raise ClipError(ClipError.TOO_SHORT, f"{self.path.name}: {d:.2f} s is shorter than {cfg.min_clip_s} s")
        if d > cfg.max_clip_s:
            raise ClipError(ClipError.TOO_LONG, f"{self.path.name}: {d:.0f} s is longer than {cfg.max_clip_s:.0f} s")

    def window(self, start_s: float | None, frames: tuple[list, list | None] | None = None) -> ClipInputs:
        cfg, info = self.cfg, self.info
        start = window_start(info.duration_s, cfg.window_s, start_s)
        times = frame_times(info.duration_s, cfg.window_s, start, cfg.video.n_frames)
        res = ClipInputs(str(self.path), None, None, None, duration_s=info.duration_s,
                         window_start_s=start, timings_ms=dict(self.timings))
        if info.duration_s < PADDED_SHARE * cfg.window_s:  # a 3-4 s clip in a 3.6 s window is not news
            res.notices.append(Notice(Notice.PADDED, f"clip is {info.duration_s:.2f} s; padded to {cfg.window_s} s "
                                                     f"({100 * (1 - info.duration_s / cfg.window_s):.0f} % silence / "
                                                     "repeated frames)"))
        if FACES in self.want:  # first: the audio is still decoding on the pool meanwhile
            self._faces(res, times, frames)
        if AUDIO in self.want:
            self._audio(res, start)
        if res.audio is None and res.faces is None and res.face_found is None:
            raise ClipError(ClipError.NO_STREAMS, f"{self.path.name}: neither audio nor video decodes")
        self._damaged(res)
        return res

    def _audio_s(self) -> float | None:
        """Seconds of audio decoded (None without audio); waits for the decode."""
        wave = self.wave
        return len(wave) / round(self.cfg.audio.sample_rate / self.speed) if wave is not None and len(wave) else None

    def read_end_s(self) -> float:
        """How far into the clip the decoded streams reach: the stated duration unless every
        decoded stream stopped early (then the furthest of their stops)."""
        stated = self.info.duration_s
        if self.use_video and self.video_stop_s is None:
            return stated  # the video reaches the end: no need to wait for the audio
        ends = [self.video_stop_s] if self.use_video else []
        audio_s = self._audio_s()
        if audio_s is not None:
            ends.append(min(stated, audio_s))
        return max(ends) if ends else stated

    def _damaged(self, res: ClipInputs) -> None:
        """The `damaged` notice when a stream stopped decoding well before the stated duration:
        past that point the models read silence and the last frame, which the user must know."""
        stated = self.info.duration_s
        ends = {}
        if self.video_stop_s is not None and self.video_stop_s < stated - DAMAGED_GAP_S:
            ends["video"] = self.video_stop_s
        audio_s = self._audio_s()
        if audio_s is not None and audio_s < stated - DAMAGED_GAP_S:
            ends["audio"] = audio_s
        if not ends:
            return
        read = max(ends.values())
        parts = " and ".join(f"the {k} at {v:.1f} s" for k, v in ends.items())
        res.notices.append(Notice(Notice.DAMAGED, (
            f"decoding stopped early: {parts} of the {stated:.1f} s the file states ({100 * read / stated:.0f} % "
            "read); the file looks truncated or damaged: past that point the models read silence and the "
            "last frame (a long clip's windows there are left out)")))

    def _audio(self, res: ClipInputs, start: float) -> None:
        wave = self.wave
        if "decode_audio" in self.timings:
            res.timings_ms["decode_audio"] = self.timings["decode_audio"]
        if wave is None or not len(wave):
            res.notices.append(Notice(Notice.NO_AUDIO, "no audio track: prediction from the face only"))
            return
        t = time.perf_counter()
        sr = self.cfg.audio.sample_rate
        res.wave = audio_mod.fit_window(wave, self.cfg.window_samples, int(round(start * sr)))
        res.audio = audio_mod.features(res.wave, self.cfg.audio)
        res.timings_ms["audio_features"] = _ms(t)
        if float(np.max(np.abs(res.wave))) < SILENCE:
            res.notices.append(Notice(Notice.SILENT, "the audio is silent"))

    def _faces(self, res: ClipInputs, times: np.ndarray, frames: tuple[list, list | None] | None) -> None:
        from emofusion.media.faces import get_cropper

        if not self.use_video:
            res.notices.append(Notice(Notice.NO_VIDEO, "no video track: prediction from the voice only"))
            return
        res.frame_times_s = times
        if frames is None:  # one window: decoding, conversion and detection overlap
            shown = np.zeros(len(times))
            fc = decode_and_crop(self.path, times, self.cfg.video, res.timings_ms, shown_s=shown)
            self.video_stop_s = stopped_at(times, shown, self.info.fps)
        else:
            t = time.perf_counter()
            fc = get_cropper(self.cfg.video).crop(*frames)
            res.timings_ms["faces"] = _ms(t)
        res.face_found = fc.found
        if fc.crops is None:
            res.notices.append(Notice(Notice.NO_FACE, "no face found in the video: prediction from the voice only"))
            return
        res.faces, res.face_boxes = fc.crops, fc.boxes
        missing = int((~fc.found).sum())
        if missing:
            res.notices.append(Notice(Notice.FACES_FILLED,
                                      f"no face in {missing} of {len(fc.found)} frames; filled from the nearest"))


def _timed_read_audio(path: Path, sample_rate: int) -> tuple[np.ndarray | None, float]:
    t = time.perf_counter()
    return audio_mod.read_audio(path, sample_rate), _ms(t)


def load_clip(path: str | Path, cfg: MediaConfig | None = None, *, want: Iterable[str] = (AUDIO, FACES),
              start_s: float | None = None, speed: float = 1.0, info: MediaInfo | None = None) -> ClipInputs:
    """Model inputs of one `cfg.window_s` window (centred, or from `start_s`). Raises ClipError.

    `speed` != 1 plays the audio faster (> 1) or slower, tempo and pitch together (Kaldi-style
    speed perturbation): extra training data for `preprocess --speed` and copies for test-time augmentation
    (`evaluate --tta-cache`); the web app never uses it. `info`: the file's `probe`, if the
    caller already has it (probing decodes a frame)."""
    cfg = cfg or MediaConfig()
    t = time.perf_counter()
    src = _Source(path, cfg, want, speed, info)
    res = src.window(start_s)
    res.timings_ms["total"] = _ms(t)
    return res


def window_starts(duration_s: float, window_s: float, hop_s: float) -> list[float]:
    """Starts of sliding windows covering the clip; the last one ends at the clip's end."""
    if duration_s <= window_s:
        return [0.0]
    last = duration_s - window_s
    starts = list(np.arange(0.0, last, hop_s))
    if not starts or last - starts[-1] > 1e-6:
        starts.append(last)
    return [float(s) for s in starts]


def clip_windows(path: str | Path, cfg: MediaConfig | None = None, hop_s: float = 1.8, *,
                 want: Iterable[str] = (AUDIO, FACES), info: MediaInfo | None = None) -> list[ClipInputs]:
    """Sliding windows over a clip longer than the window (one decode of each stream); of a
    truncated file, only those centred within what decoded."""
    if hop_s <= 0:
        raise ValueError("hop_s must be positive")
    cfg = cfg or MediaConfig()
    src = _Source(path, cfg, want, info=info)
    starts = window_starts(src.info.duration_s, cfg.window_s, hop_s)
    n = cfg.video.n_frames
    all_frames = None
    if src.use_video:
        times = np.concatenate([frame_times(src.info.duration_s, cfg.window_s, s, n) for s in starts])
        t = time.perf_counter()
        shown = np.zeros(len(times))
        all_frames = frames_and_thumbs_at(src.path, times, cfg.video.detect_max_side,
                                          skip_nonref=cfg.video.decode_skip_nonref, shown_s=shown)
        src.video_stop_s = stopped_at(times, shown, src.info.fps)
        src.timings["decode_video"] = _ms(t)
    out = []
    read_end = src.read_end_s()
    for k, s in enumerate(starts):
        if k and read_end < src.info.duration_s - DAMAGED_GAP_S and s + cfg.window_s / 2 > read_end:
            break  # a truncated file: windows centred past what decoded hold no information
        frames = None
        if all_frames is not None:
            full, thumbs = all_frames
            part = slice(k * n, (k + 1) * n)
            frames = (full[part], thumbs[part] if thumbs is not None else None)
        out.append(src.window(s, frames))
    return out


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)
