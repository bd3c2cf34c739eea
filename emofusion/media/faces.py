"""Face crops: MTCNN on a few downscaled frames, boxes interpolated, gaps filled, crops at full resolution.

Detection runs on small frames (MTCNN cost grows with pixels: ~130 ms per 720p frame) in one
batched call; the crop is cut from the full-resolution frame so no detail is lost. Frames stay RGB
throughout (the reference saved BGR), and a clip whose first frame has no face is filled from the
nearest detected frame instead of crashing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from emofusion.config import VideoConfig


@dataclass
class FaceCrops:
    """crops (F,3,S,S) uint8 RGB; found (F,) bool; boxes (F,4) float32 square crop boxes
    (x1,y1,x2,y2, full-resolution pixels, NaN where no face anywhere); probs (F,) float32 (0 = none)."""

    crops: np.ndarray | None
    found: np.ndarray
    boxes: np.ndarray
    probs: np.ndarray


_LOCK = threading.Lock()  # MTCNN modules are shared; web app requests may arrive on threads


class FaceCropper:
    """One MTCNN (built lazily, on `device`) reused for every clip."""

    def __init__(self, cfg: VideoConfig | None = None, device: str = "cpu", threads: int | None = 1):
        self.cfg = cfg or VideoConfig()
        self.device = device
        # MTCNN is hundreds of tiny ops (one resize per candidate box): extra intra-op threads
        # only add synchronisation, and on a busy 2-core machine 1 thread measured 3-5x faster
        # (results/bench/media_bench.md). None leaves torch's setting alone.
        self.threads = threads
        self._mtcnn = None

    @property
    def mtcnn(self):
        if self._mtcnn is None:
            self._mtcnn = _shared_mtcnn(self.device)
        return self._mtcnn

    def detect(self, frames: list[np.ndarray], max_side: int | None = None,
               thumbs: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Most confident raw MTCNN box per frame (F,4) in full-res pixels (NaN if none) and its prob.

        `thumbs`: the frames already downscaled (video.frames_and_thumbs_at), else done here."""
        max_side = self.cfg.detect_max_side if max_side is None else max_side
        h, w = frames[0].shape[:2]
        scale = min(1.0, max_side / max(h, w)) if max_side else 1.0
        if thumbs is not None:
            small = np.stack(thumbs)
        elif scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            small = np.stack([_shrink(f, size) for f in frames])
        else:
            small = np.stack(frames)
        return self.detect_small(small, (w, h))

    def detect_small(self, small: np.ndarray, full_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """`detect` on frames already downscaled: (N, h, w, 3) uint8, full_size = (W, H) of the
        frames the boxes are returned for."""
        import torch

        w, h = full_size
        n = len(small)
        sx = w / small.shape[2]
        sy = h / small.shape[1]
        with _LOCK, torch.inference_mode():
            self.mtcnn.min_face_size = self.cfg.min_face_size
            self.mtcnn.factor = self.cfg.detect_factor
            before = torch.get_num_threads()
            if self.threads:
                torch.set_num_threads(self.threads)
            try:
                boxes, probs = self.mtcnn.detect(small)
            finally:
                torch.set_num_threads(before)
        out_boxes = np.full((n, 4), np.nan, dtype=np.float32)
        out_probs = np.zeros(n, dtype=np.float32)
        for i, (b, p) in enumerate(zip(boxes, probs)):
            if b is None:
                continue
            p = np.asarray(p, dtype=np.float32)
            j = int(np.argmax(p))
            if p[j] < self.cfg.min_face_prob:
                continue
            out_boxes[i] = b[j] * np.array([sx, sy, sx, sy], dtype=np.float32)
            out_probs[i] = p[j]
        return out_boxes, out_probs

    def detect_some(self, frames: list[np.ndarray],
                    thumbs: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`detect` on `cfg.detect_frames` evenly spaced frames (first and last included); when
        one of them has no face, on all the others too. Returns boxes, probs and the (F,) mask
        of frames MTCNN ran on (boxes NaN / probs 0 elsewhere)."""
        n = len(frames)
        k = self.cfg.detect_frames
        ran = np.zeros(n, dtype=bool)
        boxes = np.full((n, 4), np.nan, dtype=np.float32)
        probs = np.zeros(n, dtype=np.float32)
        idx = key_frames(n, k)
        while len(idx):
            b, p = self.detect([frames[i] for i in idx], thumbs=None if thumbs is None else [thumbs[i] for i in idx])
            boxes[idx], probs[idx], ran[idx] = b, p, True
            if not np.isnan(b[:, 0]).any():
                break  # every key frame has a face: the rest are interpolated
            idx = np.flatnonzero(~ran)
        return boxes, probs, ran

    def crop(self, frames: list[np.ndarray], thumbs: list[np.ndarray] | None = None) -> FaceCrops:
        """Crops for every frame; `crops` is None when no frame has a face.

        `found` is True where MTCNN found a face and where the box lies between two such key
        frames (interpolated; its prob is the lower of theirs); frames outside take the nearest box."""
        raw, probs, ran = self.detect_some(frames, thumbs)
        return self.finish(frames, raw, probs, ran)

    def finish(self, frames: list[np.ndarray], raw: np.ndarray, probs: np.ndarray, ran: np.ndarray,
               map_fn=map) -> FaceCrops:
        """Crops from raw detections (`detect_some`'s outputs): smooth, interpolate between key
        frames, fill gaps, square, cut. `map_fn` may be a thread pool's map (cuts run in parallel)."""
        n = len(frames)
        hit = ~np.isnan(raw[:, 0])
        if not hit.any():
            return FaceCrops(None, hit, np.full((n, 4), np.nan, np.float32), probs)
        boxes = smooth(raw, hit, self.cfg.box_smoothing)
        found = hit.copy()
        if not ran.all():  # key frames only: interpolate between them
            boxes, probs, found = interpolate(boxes, probs, hit)
        s = self.cfg.face_size
        if self.cfg.framing == "faceapi":
            boxes = faceapi_boxes(fill_gaps(boxes, found))
            crops = np.stack(list(map_fn(cut_padded, frames, boxes, [s] * n))).transpose(0, 3, 1, 2)
        elif self.cfg.framing == "square":
            boxes = square_boxes(fill_gaps(boxes, found), self.cfg.face_margin)
            crops = np.stack(list(map_fn(cut, frames, boxes, [s] * n))).transpose(0, 3, 1, 2)
        else:
            raise ValueError(f"unknown VideoConfig.framing {self.cfg.framing!r} (square | faceapi)")
        return FaceCrops(np.ascontiguousarray(crops), found, boxes, probs)


def key_frames(n: int, k: int) -> np.ndarray:
    """k evenly spaced frame indices of n, first and last included (all when k <= 0 or k >= n)."""
    if k <= 0 or k >= n:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max(k, 2))).astype(int))


def interpolate(boxes: np.ndarray, probs: np.ndarray, hit: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear box interpolation for frames between two detections; the rest stay missing."""
    out, p, found = boxes.copy(), probs.copy(), hit.copy()
    idx = np.flatnonzero(hit)
    for a, b in zip(idx[:-1], idx[1:]):
        for i in range(a + 1, b):
            w = (i - a) / (b - a)
            out[i] = (1 - w) * boxes[a] + w * boxes[b]
            p[i] = min(probs[a], probs[b])
            found[i] = True
    return out, p, found


def _shrink(frame: np.ndarray, size: tuple[int, int]):
    """Downscale for detection: a fast integer box reduction first, then a small bilinear resize
    (a single antialiased resize of a 720p frame costs ~10x more)."""
    from PIL import Image

    img = Image.fromarray(frame)
    k = min(frame.shape[1] // size[0], frame.shape[0] // size[1])
    if k >= 2:
        img = img.reduce(k)
    return np.asarray(img.resize(size, Image.BILINEAR))


def smooth(boxes: np.ndarray, found: np.ndarray, k: int) -> np.ndarray:
    """Average each detected box with detected neighbours within k//2 frames (steadier crops)."""
    if k <= 1:
        return boxes.copy()
    out = boxes.copy()
    r = k // 2
    idx = np.flatnonzero(found)
    for i in idx:
        near = idx[np.abs(idx - i) <= r]
        out[i] = boxes[near].mean(axis=0)
    return out


def fill_gaps(boxes: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Frames without a detection take the box of the nearest detected frame (earlier on ties).

    The box, not the crop, is copied: a missed detection is usually blur or pose, and the face is
    still where it was, so cutting this frame keeps its own expression.
    """
    out = boxes.copy()
    idx = np.flatnonzero(found)
    for i in np.flatnonzero(~found):
        out[i] = boxes[idx[np.argmin(np.abs(idx - i))]]
    return out


def square_boxes(boxes: np.ndarray, margin: float) -> np.ndarray:
    """Square boxes around each box centre, side = longer side * (1 + margin)."""
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    half = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * (1 + margin) / 2
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1).astype(np.float32)


# face-api.js's crop from an MTCNN box (issue 26's fit on RAVDESS stills and CREMA-D frames: the
# 68-landmark box + 10 % a side sits ~9-13 % of the MTCNN box height lower, 1.23x as wide, 0.88x as tall).
FACEAPI_DY, FACEAPI_W, FACEAPI_H = 0.11, 1.23, 0.88


def faceapi_boxes(boxes: np.ndarray) -> np.ndarray:
    """MTCNN boxes -> the (non-square) box face-api.js would crop; `cut_padded` squares it."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 + FACEAPI_DY * h
    hw, hh = w * FACEAPI_W / 2, h * FACEAPI_H / 2
    return np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1).astype(np.float32)


def cut_padded(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """face-api.js's input: the box's pixels (clipped to the frame, as it extracts faces), zero-padded
    to a square with the image centred (toBatchTensor's padToSquare), resized to size x size."""
    h, w = frame.shape[:2]
    x1, y1 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x2, y2 = min(w, int(round(box[2]))), min(h, int(round(box[3])))
    if x2 <= x1 or y2 <= y1:
        return np.zeros((size, size, 3), np.uint8)
    return pad_square_resize(frame[y1:y2, x1:x2], size)


def pad_square_resize(patch: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> zero-padded to square (centred; the odd pixel after, as tfjs) -> size px."""
    from PIL import Image

    ph, pw = patch.shape[:2]
    side = max(ph, pw)
    out = np.zeros((side, side, 3), np.uint8)
    top, left = (side - ph) // 2, (side - pw) // 2
    out[top : top + ph, left : left + pw] = patch
    return np.asarray(Image.fromarray(out).resize((size, size), Image.BILINEAR))


def cut(frame: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """size x size x 3 crop of `box`; parts outside the frame are black."""
    from PIL import Image

    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    side = max(1, max(x2 - x1, y2 - y1))
    x2, y2 = x1 + side, y1 + side
    patch = np.zeros((side, side, 3), dtype=np.uint8)
    sx1, sy1, sx2, sy2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if sx2 > sx1 and sy2 > sy1:
        patch[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = frame[sy1:sy2, sx1:sx2]
    return np.asarray(Image.fromarray(patch).resize((size, size), Image.BILINEAR))


_CROPPERS: dict[tuple[VideoConfig, str], FaceCropper] = {}
_MTCNNS: dict[str, object] = {}
# Where get_cropper's MTCNN runs: "cpu" unless a Predictor on a GPU chose that GPU (use_device).
_DEVICE = {"name": "cpu"}


def use_device(device: str) -> None:
    """Run face detection on `device` ("cpu" or "cuda:N") for the clips decoded from now on in
    this process. The Predictor calls it when its models run on a GPU, so detection moves with them
    (the decode path below it has no device of its own)."""
    _DEVICE["name"] = str(device)


def _shared_mtcnn(device: str):
    """MTCNN's weights do not depend on our config: one instance per device per process."""
    if device not in _MTCNNS:
        from facenet_pytorch import MTCNN

        _MTCNNS[device] = MTCNN(keep_all=True, select_largest=False, post_process=False, device=device)
    return _MTCNNS[device]


def get_cropper(cfg: VideoConfig, device: str | None = None) -> FaceCropper:
    """The process-wide cropper for this config on `device` (None: `use_device`'s; MTCNN weights
    load once per device)."""
    key = (cfg, device or _DEVICE["name"])
    if key not in _CROPPERS:
        _CROPPERS[key] = FaceCropper(cfg, device=key[1])
    return _CROPPERS[key]


def resize_crops(faces: np.ndarray, size: int) -> np.ndarray:
    """(F, 3, S, S) uint8 crops at side `size`, with `cut`'s filter (antialiased bilinear), so a
    model reading smaller faces can share a decode made for larger ones."""
    from PIL import Image

    if faces.shape[-1] == size:
        return faces
    out = [np.asarray(Image.fromarray(np.ascontiguousarray(f.transpose(1, 2, 0))).resize((size, size), Image.BILINEAR))
           for f in faces]
    return np.stack(out).transpose(0, 3, 1, 2).copy() if out else np.zeros((0, 3, size, size), np.uint8)
