"""Pair RAVDESS speech audio with face crops of the SAME actor's still photo -> a fusion cache.

RAVDESS video is not available on these machines, so the fusion models (IA, LT) are trained on
the 1440 speech clips with each actor's one still photo as the "video": the still is written into
a real clip (`emofusion.media.synth.write_clip`, face drifting over a background) and cut by the
real face path (`emofusion.media.clip.load_clip`: PyAV frames -> MTCNN -> crops). The faces
therefore look like deployment faces but carry NO emotion information; with face augmentation
and modality dropout the fusion learns to rely on the audio.

    python -m emofusion.data.stills --audio-cache CACHE --stills DIR --out CACHE2 [--face-size 112] [--n-frames 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

from emofusion.constants import FACES


def actor_faces(still: Path, cfg, seed: int, workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(F, 3, S, S) uint8 crops and (F,) found flags of one still, through the real clip path."""
    from PIL import Image

    from emofusion.media.clip import load_clip
    from emofusion.media.errors import ClipError
    from emofusion.media.synth import write_clip

    image = np.asarray(Image.open(still).convert("RGB"))
    clip = write_clip(workdir / f"{still.stem}.mp4", face_image=image, seconds=cfg.window_s, audio=None, seed=seed)
    res = load_clip(clip, cfg, want=(FACES,))
    if res.faces is None or res.face_found is None or not res.face_found.any():
        raise ClipError(ClipError.NO_STREAMS, f"{still.name}: no face found in the clip made from it")
    return np.asarray(res.faces, dtype=np.uint8), np.asarray(res.face_found, dtype=bool)


def build(audio_cache: str | Path, stills_dir: str | Path, out: str | Path, face_size: int = 112,
          n_frames: int | None = None, progress: bool = True) -> Path:
    """Write a cache with every audio entry of `audio_cache` plus its actor's still-photo faces."""
    from tqdm import tqdm

    from emofusion.data.cache import FeatureCache, append_manifest, finished_ids, open_for_writing, write_entry

    src = FeatureCache(audio_cache)
    if "audio" not in src.streams:
        raise ValueError(f"{audio_cache} has no audio stream")
    video = dataclasses.replace(src.config.video, face_size=face_size,
                                n_frames=n_frames or src.config.video.n_frames)
    cfg = dataclasses.replace(src.config, video=video)
    root = open_for_writing(out, cfg, ("audio", "faces"))
    stills = {int(p.stem.split("_")[-1]): p for p in sorted(Path(stills_dir).glob("Actor_*.png"))}
    missing = sorted(set(src.actors) - set(stills))
    if missing:
        raise FileNotFoundError(f"{stills_dir} has no still for actors {missing}")
    faces: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    with tempfile.TemporaryDirectory(prefix="emofusion-stills-") as tmp:
        for actor in tqdm(src.actors, desc="still faces", disable=not progress):
            faces[actor] = actor_faces(stills[actor], cfg, seed=actor, workdir=Path(tmp))
    done = finished_ids(root)
    todo = [r for r in src.entries if r["id"] not in done]
    for rec in tqdm(todo, desc="pair", disable=not progress):
        audio = src.load(rec["id"])["audio"]
        crops, found = faces[int(rec["actor"])]
        write_entry(root, rec["id"], {"audio": audio, "faces": crops, "face_found": found})
        append_manifest(root, {**rec, "fields": ["audio", "faces"], "frames_with_face": int(found.sum()),
                               "faces_from": str(stills[int(rec["actor"])])})
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emofusion.data.stills", description=__doc__.splitlines()[0])
    p.add_argument("--audio-cache", required=True, type=Path, help="audio cache made by `emofusion preprocess`")
    p.add_argument("--stills", required=True, type=Path, help="folder of Actor_XX.png stills")
    p.add_argument("--out", required=True, type=Path, help="fusion cache to write (resumable)")
    p.add_argument("--face-size", type=int, default=112)
    p.add_argument("--n-frames", type=int, help="face frames per clip (default: the audio cache's, 15)")
    args = p.parse_args(argv)
    from emofusion.data.cache import CacheError
    from emofusion.media.errors import ClipError

    try:
        root = build(args.audio_cache, args.stills, args.out, args.face_size, args.n_frames)
    except (ValueError, OSError, CacheError, ClipError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
