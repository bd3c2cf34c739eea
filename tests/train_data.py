"""Generated feature caches for the training tests, written with emofusion.data.cache's own writer.

Feature arrays are generated directly (not decoded from media files) so a test trains in seconds;
from the cache onward everything is the real path (CacheDataset -> model_inputs -> loop).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emofusion.config import AudioConfig, MediaConfig, VideoConfig
from emofusion.data.cache import append_manifest, open_for_writing, write_entry

# 1 s windows: 1 + 22050 // 512 = 44 feature frames (the nets need >= 9).
SMALL_AUDIO_WINDOW_S = 1.0


def small_media(face_size: int = 64, n_frames: int = 2) -> MediaConfig:
    return MediaConfig(window_s=SMALL_AUDIO_WINDOW_S, video=VideoConfig(n_frames=n_frames, face_size=face_size),
                       audio=AudioConfig())


def audio_cue(label: int, rng: np.random.Generator, cfg: MediaConfig, bit: int, strength: float) -> np.ndarray:
    """(C, T) noise; channel 1 carries +strength when `bit` is set."""
    a = rng.normal(size=(cfg.audio.channels, cfg.audio_frames)).astype(np.float32)
    a[1] += strength * (1.0 if bit else -1.0)
    return a


def face_cue(rng: np.random.Generator, cfg: MediaConfig, bit: int) -> np.ndarray:
    """(F, 3, S, S) uint8 noise, brighter overall when `bit` is set.

    A global cue on purpose: the face network ends in a global average pool, so a positional cue
    (top vs bottom half) is nearly invisible to it; brightness survives pooling, flips and rotation.
    """
    v = cfg.video
    low = 120 if bit else 40
    return rng.integers(low, low + 90, size=(v.n_frames, 3, v.face_size, v.face_size)).astype(np.uint8)


def write_cache(
    root: Path,
    actors: tuple[int, ...],
    per_class: int,
    classes: tuple[int, ...] = (0, 1, 2, 3),
    streams: tuple[str, ...] = ("audio",),
    cfg: MediaConfig | None = None,
    seed: int = 0,
    strength: float = 1.0,
    speed: float = 1.0,
) -> Path:
    """A cache whose label = 2 * audio_bit + face_bit for 4 classes.

    Audio alone tells {0,1} from {2,3}; faces alone tell {0,2} from {1,3}; so each stream alone
    tops out at 50 % and only the two together can name the class. With one stream (audio only)
    and more classes, the audio cue is the class itself (channel label+1 raised), a learnable task.
    """
    cfg = cfg or small_media()
    open_for_writing(root, cfg, streams, speed)
    rng = np.random.default_rng(seed)
    for actor in actors:
        for label in classes:
            for k in range(per_class):
                arrays: dict[str, np.ndarray] = {}
                if "faces" in streams:
                    arrays["audio"] = audio_cue(label, rng, cfg, label // 2, strength)
                    arrays["faces"] = face_cue(rng, cfg, label % 2)
                    arrays["face_found"] = np.ones(cfg.video.n_frames, dtype=bool)
                else:
                    a = rng.normal(size=(cfg.audio.channels, cfg.audio_frames)).astype(np.float32)
                    a[1 + label % (cfg.audio.channels - 1)] += strength
                    arrays["audio"] = a
                clip_id = f"a{actor:02d}-c{label}-{k:02d}"
                write_entry(root, clip_id, arrays)
                append_manifest(root, {"id": clip_id, "actor": actor, "label": label, "status": "ok"})
    return root
