"""Frames to face crops with decoding, conversion and detection overlapped on two cores.

Why: done one after another (decode every kept frame, convert all to RGB, detect, cut), the path
keeps one core busy and the other idle. Here a small shared thread pool decodes the video (and
the audio, see clip.py) and converts kept frames to RGB, while the calling thread runs MTCNN on
the key frames as soon as they are decoded. PyAV, swscale and PIL release the GIL, so the work
really runs at once. The crops are the ones FaceCropper.crop makes from the same frames (tested).
"""

from __future__ import annotations

import os
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from emofusion.config import VideoConfig
from emofusion.media.faces import FaceCrops, get_cropper, key_frames
from emofusion.media.video import DecodedFrame, decoded_frames_at

WORKERS = 2  # 2 cores here; pool jobs never wait on other pool jobs, so they cannot deadlock

_pool: tuple[int, ThreadPoolExecutor] | None = None  # (owning pid, pool)
_pool_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """The process-wide media thread pool (shared by all clips and web requests). A forked child
    gets its own: the parent's worker threads do not exist there."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="emofusion-media"))
        return _pool[1]


def _detect_frames(cfg: VideoConfig, frames: list[DecodedFrame]) -> tuple[np.ndarray, np.ndarray]:
    """MTCNN on the thumbnails of a few decoded frames (on the calling thread, see below)."""
    cropper = get_cropper(cfg)
    thumbs = [f.thumb(cfg.detect_max_side) for f in frames]
    small = np.stack([t if t is not None else f.rgb() for t, f in zip(thumbs, frames)])
    return cropper.detect_small(small, frames[0].size)


def _decode_into(out: queue.Queue, path, times, skip_nonref: bool, ex: ThreadPoolExecutor) -> None:
    """Pool job: decode, hand each (index, frame, RGB future) to the caller, then a None."""
    try:
        last: tuple[DecodedFrame | None, Future | None] = (None, None)
        for j, frame in decoded_frames_at(path, times, skip_nonref=skip_nonref):
            if frame is not last[0]:  # a frame serving several times is converted once
                last = (frame, ex.submit(frame.rgb))
            out.put((j, frame, last[1]))
        out.put(None)
    except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
        out.put(exc)


def decode_and_crop(path: str | Path, times: np.ndarray, cfg: VideoConfig,
                    timings: dict[str, float], shown_s: np.ndarray | None = None) -> FaceCrops:
    """Face crops at `times` (seconds) of the clip's video. Adds "decode_video" (until the last
    frame is decoded; RGB conversion and the first detections run meanwhile) and "faces" (what is
    left after decoding: the last detection and the cuts) to `timings`, in ms. `shown_s`, if
    given, receives the time of the frame used for each of `times` (see video.frames_and_thumbs_at).
    Raises ClipError when the video does not decode.

    MTCNN runs on this (the calling) thread, never on the pool: torch used from a second thread
    made later torch calls of the main thread ~2.5x slower here (two OpenMP teams spinning on
    two cores), which cost the torch backend and the benchmarks."""
    ex = pool()
    n = len(times)
    keys = [int(k) for k in key_frames(n, cfg.detect_frames)]
    # Key frames go to MTCNN in pairs as soon as both are decoded (batching is cheaper per frame
    # than one call each); the last key frame, decoded at the very end, goes alone.
    batches = [keys[i:i + 2] for i in range(0, len(keys) - 1, 2)]
    if len(keys) % 2:
        batches.append(keys[-1:])
    cropper = get_cropper(cfg)
    rgb: list[Future | None] = [None] * n
    got: dict[int, DecodedFrame] = {}
    pending = list(range(len(batches)))
    raw = np.full((n, 4), np.nan, dtype=np.float32)
    probs = np.zeros(n, dtype=np.float32)
    ran = np.zeros(n, dtype=bool)

    def detect_ready() -> None:
        for b in [b for b in pending if all(k in got for k in batches[b])]:
            pending.remove(b)
            raw[batches[b]], probs[batches[b]] = _detect_frames(cfg, [got[k] for k in batches[b]])
            ran[batches[b]] = True

    t = time.perf_counter()
    decoded: queue.Queue = queue.Queue()
    ex.submit(_decode_into, decoded, path, times, cfg.decode_skip_nonref, ex)
    while (item := decoded.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        j, frame, rgb[j] = item
        got[j] = frame
        if shown_s is not None:
            shown_s[j] = frame.time_s
        if j in keys and len(got) < n:  # the batch completed by the last frame waits for the loop's end
            detect_ready()
    timings["decode_video"] = (time.perf_counter() - t) * 1000

    t = time.perf_counter()
    detect_ready()
    frames = [f.result() for f in rgb]  # type: ignore[union-attr]
    rest = np.flatnonzero(~ran)
    if len(rest) and np.isnan(raw[ran, 0]).any():  # a key frame without a face: look everywhere
        raw[rest], probs[rest] = _detect_frames(cfg, [got[i] for i in rest])
        ran[rest] = True
    crops = cropper.finish(frames, raw, probs, ran, map_fn=ex.map)
    timings["faces"] = (time.perf_counter() - t) * 1000
    return crops
