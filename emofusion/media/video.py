"""Video: probe a container and pull upright RGB frames at given times with PyAV.

Frames are picked by their presentation time (PTS), not by index, so variable-frame-rate clips
(phones, screen recorders) sample the same instants as constant-rate ones. Only the kept frames
are converted to RGB; decoding is one forward pass that seeks only across long gaps.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from emofusion.media.errors import ClipError

# Seeking restarts decoding at the previous keyframe, so it only pays across gaps this long.
SEEK_GAP_S = 2.0


@dataclass(frozen=True)
class MediaInfo:
    """What a container holds. `width`/`height` are upright (display) sizes, after rotation."""

    duration_s: float
    has_audio: bool
    has_video: bool
    fps: float = 0.0
    width: int = 0
    height: int = 0
    rotation: int = 0  # degrees counter-clockwise the stored pixels are turned for display


def open_container(path: str | Path):
    """av.open with every failure mapped to ClipError(UNREADABLE)."""
    import av

    p = Path(path)
    if not p.is_file():
        raise ClipError(ClipError.UNREADABLE, f"{p.name}: no such file")
    try:
        return av.open(str(p))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise ClipError(ClipError.UNREADABLE, f"cannot open {p.name}: not a readable media file") from exc


def _rotation(frame, stream) -> int:
    """Display rotation: the frame's display matrix, else an old-style `rotate` tag."""
    rot = int(getattr(frame, "rotation", 0) or 0) if frame is not None else 0
    if rot == 0:
        try:
            rot = -int(float(stream.metadata.get("rotate", 0)))
        except (TypeError, ValueError):
            rot = 0
    return int(round(rot / 90.0)) * 90 % 360


def _first_frame(container, stream):
    import av

    try:
        for frame in container.decode(stream):
            return frame
    except (av.error.FFmpegError, ValueError):
        return None
    return None


def probe(path: str | Path) -> MediaInfo:
    """Duration, streams, fps, upright size and rotation (decodes one frame for the rotation)."""
    with open_container(path) as container:
        has_audio = bool(container.streams.audio)
        vs = container.streams.video[0] if container.streams.video else None
        duration = _duration(container)
        if vs is None:
            return MediaInfo(duration, has_audio, False)
        rate = vs.average_rate or vs.guessed_rate or 0
        first = _first_frame(container, vs)
        if first is None:  # a video stream that never decodes is no video
            return MediaInfo(duration, has_audio, False)
        rot = _rotation(first, vs)
        w, h = first.width, first.height
        if rot in (90, 270):
            w, h = h, w
        return MediaInfo(duration, has_audio, True, float(rate), w, h, rot)


def _duration(container) -> float:
    if container.duration:
        return container.duration / 1_000_000  # AV_TIME_BASE
    best = 0.0
    for s in container.streams:
        if s.duration and s.time_base:
            best = max(best, float(s.duration * s.time_base))
    return best or _demuxed_end(container)


def _demuxed_end(container) -> float:
    """Browser webcam recordings (MediaRecorder WebM) carry no duration at all: read the packet
    timestamps (demux only, no decoding: milliseconds) and rewind."""
    end = 0.0
    for packet in container.demux():
        if packet.pts is not None and packet.time_base is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
    container.seek(0)
    return end


def frames_at(path: str | Path, times_s, *, seek_gap_s: float = SEEK_GAP_S,
              skip_nonref: bool = False) -> list[np.ndarray]:
    """Upright HxWx3 uint8 RGB frames, the one nearest each time (seconds from the clip start).

    Times past the last decodable frame (short or truncated clips) get the last frame. Raises
    ClipError(NO_STREAMS) when there is no decodable video at all. `skip_nonref`: decode only
    reference frames (faster; the nearest of those, so off by up to one frame interval).
    """
    return frames_and_thumbs_at(path, times_s, 0, seek_gap_s=seek_gap_s, skip_nonref=skip_nonref)[0]


def frames_and_thumbs_at(path: str | Path, times_s, thumb_max_side: int, *, seek_gap_s: float = SEEK_GAP_S,
                         skip_nonref: bool = False, shown_s: np.ndarray | None = None,
                         ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """`frames_at` plus, when `thumb_max_side` > 0 and the frame is larger, a copy scaled so its
    longer side is at most that (for face detection). `shown_s`, if given, receives the time of
    the frame used for each requested time (earlier than asked where decoding stopped early)."""
    times = list(times_s)
    out: list[np.ndarray | None] = [None] * len(times)
    thumbs: list[np.ndarray | None] = [None] * len(times)
    converted: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
    for j, frame in decoded_frames_at(path, times, seek_gap_s=seek_gap_s, skip_nonref=skip_nonref):
        key = id(frame)
        if key not in converted:
            converted.clear()  # frames come in time order: a newer one supersedes older ones
            converted[key] = (frame.rgb(), frame.thumb(thumb_max_side))
        out[j], thumbs[j] = converted[key]
        if shown_s is not None:
            shown_s[j] = frame.time_s
    has_thumbs = all(t is not None for t in thumbs)
    return out, (thumbs if has_thumbs else None)  # type: ignore[return-value]


class DecodedFrame:
    """One decoded frame, converted only on request: callers that need a few frames in RGB (or a
    thumbnail of some) pay for those alone, and can convert on another thread (swscale runs
    without the GIL)."""

    def __init__(self, frame, rotation: int, time_s: float = 0.0):
        self.frame, self.rotation = frame, rotation
        self.time_s = time_s  # from the clip's start: how far decoding got when it serves a later time
        # PyAV keeps one swscale context per frame: two conversions of the same frame at once
        # (RGB on one thread, thumbnail on another) corrupt it and hang, so they take turns.
        self._lock = threading.Lock()

    @property
    def size(self) -> tuple[int, int]:
        """Upright (width, height)."""
        w, h = self.frame.width, self.frame.height
        return (h, w) if self.rotation in (90, 270) else (w, h)

    def rgb(self) -> np.ndarray:
        """Upright HxWx3 uint8 RGB at full resolution."""
        with self._lock:
            img = self.frame.to_ndarray(format="rgb24")
        return _upright(img, self.rotation)

    def thumb(self, max_side: int) -> np.ndarray | None:
        """Upright RGB scaled so its longer side is `max_side`; None when already that small.
        swscale converts and scales the YUV frame in one pass: ~10x cheaper than resizing the
        RGB frame afterwards."""
        w, h = self.frame.width, self.frame.height
        if max_side <= 0 or max(w, h) <= max_side:
            return None
        s = max_side / max(w, h)
        with self._lock:
            small = self.frame.reformat(width=max(1, round(w * s)), height=max(1, round(h * s)),
                                        format="rgb24", interpolation="AREA")
        return _upright(small.to_ndarray(), self.rotation)


def decoded_frames_at(path: str | Path, times_s, *, seek_gap_s: float = SEEK_GAP_S,
                      skip_nonref: bool = False) -> Iterator[tuple[int, DecodedFrame]]:
    """(index into times_s, frame) pairs as decoding reaches them, in time order; every index is
    yielded exactly once (a frame may serve several). See `frames_at` for the rules.

    With `skip_nonref` the decoder drops non-reference frames (B-frames in typical H.264: about
    half the decoding work); a stream where that leaves nothing is decoded in full instead."""
    times = list(times_s)
    if skip_nonref:
        gen = _decode(path, times, seek_gap_s, "NONREF")
        try:
            first = next(gen, None)
        except ClipError as exc:
            if exc.code != ClipError.NO_STREAMS or "does not decode" not in str(exc):
                raise
        else:
            if first is not None:
                yield first
                yield from gen
            return
    yield from _decode(path, times, seek_gap_s, None)


def _decode(path, times_s: list, seek_gap_s: float, skip: str | None) -> Iterator[tuple[int, DecodedFrame]]:
    import av

    times = np.asarray(times_s, dtype=np.float64)
    order = np.argsort(times, kind="stable")
    targets = times[order]
    if not len(times):
        return
    with open_container(path) as container:
        if not container.streams.video:
            raise ClipError(ClipError.NO_STREAMS, f"{Path(path).name}: no video stream")
        vs = container.streams.video[0]
        # SLICE threads: frame threading buffers frames ahead and measured more CPU time for the
        # few frames we keep (results/bench/media_bench.md); slice threading costs nothing when unused.
        vs.thread_type = "SLICE"
        if skip:
            vs.codec_context.skip_frame = skip
        t0 = (container.start_time or 0) / 1_000_000
        i = 0
        prev = None  # (time, DecodedFrame)
        seeked_for = -1
        step = 1.0 / float(vs.average_rate or vs.guessed_rate or 30)
        need_seek = targets[0] > seek_gap_s
        while i < len(targets):
            if need_seek:
                seeked_for = i
                ts = int((t0 + max(0.0, targets[i] - step)) / vs.time_base)
                try:
                    container.seek(ts, backward=True, any_frame=False, stream=vs)
                except av.error.FFmpegError:
                    pass  # unseekable: keep decoding forward from where we are
                prev = None
            need_seek = False
            try:
                for raw in container.decode(vs):
                    t = (raw.time - t0) if raw.time is not None else (prev[0] + step if prev else 0.0)
                    frame = DecodedFrame(raw, _rotation(raw, vs), float(t))
                    while i < len(targets) and t >= targets[i]:
                        use = frame
                        if prev is not None and targets[i] - prev[0] < t - targets[i]:
                            use = prev[1]
                        yield int(order[i]), use
                        i += 1
                    if i >= len(targets):
                        break
                    prev = (t, frame)
                    if targets[i] - t > seek_gap_s and seeked_for != i:
                        need_seek = True
                        break
            except (av.error.FFmpegError, ValueError):
                pass  # corrupt or truncated: keep what decoded
            if not need_seek:
                break
        if i < len(targets) and prev is None:
            raise ClipError(ClipError.NO_STREAMS, f"{Path(path).name}: the video stream does not decode")
        for j in range(i, len(targets)):
            yield int(order[j]), prev[1]


def stopped_at(times_s, shown_s, fps: float, slack_s: float = 0.5) -> float | None:
    """Where the video stopped decoding, in seconds, when requested times lie more than `slack_s`
    past the last frame decoded (they all got that frame: a truncated or damaged file); else None.
    A sparse stretch mid-clip (variable frame rate) is not a stop: later frames follow it."""
    times, shown = np.asarray(times_s, dtype=np.float64), np.asarray(shown_s, dtype=np.float64)
    if not len(times) or not (times > shown.max() + slack_s).any():
        return None
    return float(shown.max()) + (1.0 / fps if fps > 0 else 0.0)


def _upright(img: np.ndarray, rot: int) -> np.ndarray:
    k = rot // 90
    return np.ascontiguousarray(np.rot90(img, k)) if k else img
