"""A still photo -> model inputs: the same face crop code as video frames, no voice.

The photo is one frame: `FaceCropper.crop` (MTCNN on the downscaled photo, the square box with the
model's margin cut from the full-resolution image) gives one crop, repeated for the model's
`n_frames` (a face that does not move). Audio is absent, so every model reads it as a face-only
input (`model_inputs` gives zeros for the voice, as in modality dropout).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from emofusion.config import MediaConfig
from emofusion.media.errors import ClipError, Notice

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp")
# Refuse absurd pixel counts before decoding them (a 100 MB upload can still be a 1-gigapixel PNG).
MAX_PIXELS = 80_000_000


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def looks_like_image(path: str | Path) -> bool:
    """Whether Pillow recognises the file as an image (whatever its name says)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.format is not None
    except Exception:  # noqa: BLE001 - any failure means "not an image we can read"
        return False


def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB, upright (EXIF orientation applied); first frame of a multi-frame file.
    Raises ClipError(UNREADABLE) with a sentence for anything Pillow cannot decode."""
    from PIL import Image, ImageOps

    name = Path(path).name
    if not Path(path).is_file():
        raise ClipError(ClipError.UNREADABLE, f"{name}: the file could not be found")
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise ClipError(ClipError.UNREADABLE, f"{name}: {img.width}x{img.height} pixels is too large "
                                f"(at most {MAX_PIXELS // 1_000_000} megapixels); downscale the photo")
            img.seek(0)
            img = ImageOps.exif_transpose(img)
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except ClipError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for junk and truncated files
        raise ClipError(ClipError.UNREADABLE, f"{name}: not a readable image ({type(exc).__name__}); "
                        f"use a jpg, png, tiff or webp photo") from exc


def load_still(path: str | Path, cfg: MediaConfig | None = None):
    """ClipInputs of a photo: faces (F, 3, S, S) uint8 from one crop, audio None. Raises ClipError
    (UNREADABLE, or NO_FACE when MTCNN finds no face: there is nothing to answer from)."""
    from emofusion.media.clip import ClipInputs
    from emofusion.media.faces import get_cropper

    cfg = cfg or MediaConfig()
    t = time.perf_counter()
    frame = read_image(path)
    timings = {"decode_image": _ms(t)}
    t = time.perf_counter()
    fc = get_cropper(cfg.video).crop([frame])
    timings["faces"] = _ms(t)
    if fc.crops is None:
        raise ClipError(ClipError.NO_FACE, f"{Path(path).name}: no face found in the photo; use a photo "
                        "with one face clearly visible (frontal, not too small)")
    n = cfg.video.n_frames
    res = ClipInputs(str(path), audio=None, faces=np.ascontiguousarray(np.repeat(fc.crops, n, axis=0)),
                     face_found=np.ones(n, dtype=bool), timings_ms=timings,
                     face_boxes=np.repeat(fc.boxes, n, axis=0))
    res.notices.append(Notice(Notice.PHOTO, "a still photo: face-only answer (there is no voice)"))
    return res


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)
