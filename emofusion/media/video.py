"""Video: probe a container and pull upright RGB frames at given times with PyAV.

Frames are picked by their presentation time (PTS), not by index, so variable-frame-rate clips
(phones, screen recorders) sample the same instants as constant-rate ones. Only the kept frames
are converted to RGB; decoding is one forward pass that seeks only across long gaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def _to_rgb(frame, rot: int) -> np.ndarray:
    img = frame.to_ndarray(format="rgb24")
    k = rot // 90
    return np.ascontiguousarray(np.rot90(img, k)) if k else img


def frames_at(path: str | Path, times_s, *, seek_gap_s: float = SEEK_GAP_S,
              skip_nonref: bool = False) -> list[np.ndarray]:
    """Upright HxWx3 uint8 RGB frames, the one nearest each time (seconds from the clip start).

    Times past the last decodable frame (short or truncated clips) get the last frame. Raises
    ClipError(NO_STREAMS) when there is no decodable video at all. `skip_nonref`: decode only
    reference frames (faster; the nearest of those, so off by up to one frame interval).
    """
    return frames_and_thumbs_at(path, times_s, 0, seek_gap_s=seek_gap_s, skip_nonref=skip_nonref)[0]


def frames_and_thumbs_at(path: str | Path, times_s, thumb_max_side: int, *, seek_gap_s: float = SEEK_GAP_S,
                         skip_nonref: bool = False) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """`frames_at` plus, when `thumb_max_side` > 0 and the frame is larger, a copy scaled so its
    longer side is at most that (for face detection). swscale converts and scales the decoded
    YUV frame in one pass: ~10x cheaper than resizing the RGB frame afterwards.

    With `skip_nonref` the decoder drops non-reference frames (B-frames in typical H.264: about
    half the decoding work); a stream where that leaves nothing is decoded in full instead."""
    if skip_nonref:
        try:
            return _frames_and_thumbs(path, times_s, thumb_max_side, seek_gap_s, "NONREF")
        except ClipError as exc:
            if exc.code != ClipError.NO_STREAMS or "does not decode" not in str(exc):
                raise
    return _frames_and_thumbs(path, times_s, thumb_max_side, seek_gap_s, None)


def _frames_and_thumbs(path, times_s, thumb_max_side: int, seek_gap_s: float,
                       skip: str | None) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    import av

    times = np.asarray(list(times_s), dtype=np.float64)
    order = np.argsort(times, kind="stable")
    targets = times[order]
    out: list[np.ndarray | None] = [None] * len(times)
    thumbs: list[np.ndarray | None] = [None] * len(times)
    if not len(times):
        return [], None
    with open_container(path) as container:
        if not container.streams.video:
            raise ClipError(ClipError.NO_STREAMS, f"{Path(path).name}: no video stream")
        vs = container.streams.video[0]
        # SLICE threads: frame threading buffers frames ahead and measured more CPU time for the
        # few frames we keep (results/media_bench.md); slice threading costs nothing when unused.
        vs.thread_type = "SLICE"
        if skip:
            vs.codec_context.skip_frame = skip
        t0 = (container.start_time or 0) / 1_000_000
        i = 0
        prev = None  # (time, frame)
        converted: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        seeked_for = -1
        step = 1.0 / float(vs.average_rate or vs.guessed_rate or 30)

        def take(j: int, frame) -> None:
            key = id(frame)
            if key not in converted:
                converted.clear()  # a newer frame supersedes older ones
                rot = _rotation(frame, vs)
                converted[key] = (_to_rgb(frame, rot), _thumb(frame, rot, thumb_max_side))
            out[j], thumbs[j] = converted[key]

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
            n_decoded = 0
            try:
                for frame in container.decode(vs):
                    n_decoded += 1
                    t = (frame.time - t0) if frame.time is not None else (
                        prev[0] + step if prev else 0.0)
                    while i < len(targets) and t >= targets[i]:
                        use = frame
                        if prev is not None and targets[i] - prev[0] < t - targets[i]:
                            use = prev[1]
                        take(order[i], use)
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
        if prev is not None:
            for j in range(i, len(targets)):
                take(order[j], prev[1])
    if any(o is None for o in out):
        raise ClipError(ClipError.NO_STREAMS, f"{Path(path).name}: the video stream does not decode")
    has_thumbs = all(t is not None for t in thumbs)
    return out, (thumbs if has_thumbs else None)  # type: ignore[return-value]


def _thumb(frame, rot: int, max_side: int) -> np.ndarray | None:
    w, h = frame.width, frame.height
    if max_side <= 0 or max(w, h) <= max_side:
        return None
    s = max_side / max(w, h)
    small = frame.reformat(width=max(1, round(w * s)), height=max(1, round(h * s)), format="rgb24",
                           interpolation="AREA")
    img = small.to_ndarray()
    k = rot // 90
    return np.ascontiguousarray(np.rot90(img, k)) if k else img
