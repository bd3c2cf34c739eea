"""Measure how our face path would frame a FER+ face, so FER+ training can draw faces that way.

Each FER+ image (valid split) is upscaled, our MTCNN cropper looks for the face, and the crop box
our product would cut (square, `face_margin` context: media/faces.square_boxes) is expressed in
units of the FER+ image: `zoom` = crop side / image side, and the crop centre's offset.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from emofusion.config import VideoConfig


def measure_framing(images: np.ndarray, cfg: VideoConfig | None = None, upscale: int = 192) -> dict:
    from PIL import Image

    from emofusion.media.faces import FaceCropper, square_boxes

    cfg = cfg or VideoConfig()
    cropper = FaceCropper(cfg)
    frames = [np.asarray(Image.fromarray(im).convert("RGB").resize((upscale, upscale), Image.BICUBIC))
              for im in images]
    boxes, probs = cropper.detect(frames)
    hit = ~np.isnan(boxes[:, 0])
    sq = square_boxes(boxes[hit], cfg.face_margin) / upscale
    zoom = sq[:, 2] - sq[:, 0]
    cx, cy = (sq[:, 0] + sq[:, 2]) / 2 - 0.5, (sq[:, 1] + sq[:, 3]) / 2 - 0.5
    q = lambda v: {k: round(float(np.percentile(v, p)), 4) for k, p in (("p10", 10), ("median", 50), ("p90", 90))}  # noqa: E731
    return {"images": int(len(images)), "detected": int(hit.sum()), "face_margin": cfg.face_margin,
            "zoom": q(zoom), "centre_dx": q(cx), "centre_dy": q(cy)}


def main(out: str | Path = "results/face/face_framing.json", n: int = 600, seed: int = 0) -> dict:
    from emofusion.data.faces_labelled import load_ferplus

    data = load_ferplus()
    idx = np.random.default_rng(seed).choice(data.select("valid"), size=n, replace=False)
    res = measure_framing(data.images[np.sort(idx)])
    res["command"] = "python -m emofusion.train.face_framing"
    Path(out).write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
