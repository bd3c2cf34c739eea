"""Make tests/fixtures/faceapi_golden.npz: inputs + the ORIGINAL face-api.js network's outputs.

Inputs (all committable): the face of each RAVDESS actor still (../shared/data/ravdess-stills,
CC BY-NC-SA 4.0, Livingstone & Russo 2018), cut with our face-api framing (MTCNN box ->
media/faces.faceapi_boxes), left NON-square (longer side 112 px) so face-api's own padToSquare runs,
plus a few synthetic images (noise, gradients, flat, a mirrored face). golden.js runs the original
(`npm ci` here first) and the fixture keeps, per image, the 112x112 square our network receives,
the original's 7 probabilities and 256 pooled features.

    (cd scripts/faceapi_golden && npm ci) && python scripts/faceapi_golden/make_fixture.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = REPO / "tests" / "fixtures" / "faceapi_golden.npz"


def still_faces(root: Path) -> tuple[list[np.ndarray], list[str]]:
    from emofusion.config import VideoConfig
    from emofusion.media.faces import FaceCropper, faceapi_boxes

    cropper = FaceCropper(VideoConfig(detect_max_side=0))
    faces, names = [], []
    for p in sorted(root.glob("Actor_*.png")):
        frame = np.asarray(Image.open(p).convert("RGB"))
        box, _ = cropper.detect([frame])
        if np.isnan(box[0, 0]):
            continue
        x1, y1, x2, y2 = (int(round(v)) for v in faceapi_boxes(box)[0])
        h, w = frame.shape[:2]
        patch = frame[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)]
        s = 112 / max(patch.shape[:2])
        size = (max(1, round(patch.shape[1] * s)), max(1, round(patch.shape[0] * s)))
        faces.append(np.asarray(Image.fromarray(patch).resize(size, Image.BILINEAR)))
        names.append(p.stem)
    return faces, names


def synthetic(faces: list[np.ndarray]) -> tuple[list[np.ndarray], list[str]]:
    rng = np.random.default_rng(26)
    yy, xx = np.mgrid[0:112, 0:112]
    grad = np.stack([xx * 2, yy * 2, (xx + yy)], axis=-1).clip(0, 255).astype(np.uint8)
    return ([rng.integers(0, 256, (112, 112, 3), dtype=np.uint8), grad, np.full((112, 112, 3), 128, np.uint8),
             np.ascontiguousarray(faces[0][:, ::-1]), np.ascontiguousarray(faces[1][::-1])],
            ["noise", "gradient", "flat_grey", "mirrored_" + "0", "upside_down_1"])


def main(stills: Path = REPO.parent / "shared" / "data" / "ravdess-stills") -> None:
    from emofusion.media.faces import pad_square_resize

    faces, names = still_faces(stills)
    more, more_names = synthetic(faces)
    faces, names = faces + more, names + more_names
    with tempfile.TemporaryDirectory() as tmp:
        spec = {"images": []}
        for i, f in enumerate(faces):
            path = Path(tmp) / f"{i}.raw"
            path.write_bytes(np.ascontiguousarray(f).tobytes())
            spec["images"].append({"h": f.shape[0], "w": f.shape[1], "file": str(path)})
        (Path(tmp) / "in.json").write_text(json.dumps(spec))
        subprocess.run(["node", str(HERE / "golden.js"), str(Path(tmp) / "in.json"), str(Path(tmp) / "out.json")],
                       check=True, cwd=HERE)
        out = json.loads((Path(tmp) / "out.json").read_text())
    squares = np.stack([pad_square_resize(f, 112) for f in faces])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, images=squares, probs=np.array(out["probs"], np.float32),
                        features=np.array(out["features"], np.float32), names=np.array(names),
                        shapes=np.array([f.shape[:2] for f in faces]),
                        versions=np.array([f"face-api {out['face_api_version']}", f"tfjs {out['tfjs_version']}",
                                           f"backend {out['backend']}"]))
    print(f"{OUT}: {len(faces)} images ({sum(f.shape[0] != f.shape[1] for f in faces)} non-square), "
          f"{OUT.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:]))
