"""Shared by test_export_* and test_infer_*: small untrained checkpoints, their ONNX graphs, and
real model inputs decoded from real clips through `emofusion.media.clip.load_clip`.

Not a conftest (that file belongs to everyone). Everything is built once per pytest process
(module-level state) in a temp dir removed at exit. Faces are 64 px so five exports and the
parity runs stay cheap on 2 cores; the export path is the same at 224 px.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "emofusion" / "webapp" / "examples"
SHARED = Path(os.environ.get("EMOFUSION_SHARED", REPO.parent / "shared"))
MODELS = ("ia", "it", "lt", "audio", "video")
FACE = 64

_STATE: dict = {}


def work_dir() -> Path:
    if "dir" not in _STATE:
        d = Path(tempfile.mkdtemp(prefix="emofusion-export-tests-"))
        atexit.register(shutil.rmtree, d, ignore_errors=True)
        _STATE["dir"] = d
    return _STATE["dir"]


def media_config():
    from emofusion.config import MediaConfig, VideoConfig

    return MediaConfig(video=VideoConfig(face_size=FACE))


def real_clips() -> list[Path]:
    """The committed CREMA-D examples, plus the other ../shared CREMA-D clips when present."""
    clips = sorted(EXAMPLES.glob("*.mp4"))
    shared = SHARED / "data" / "cremad-av"
    if shared.is_dir():
        have = {c.name for c in clips}
        clips += [c for c in sorted(shared.glob("*.mp4")) if c.name not in have]
    assert clips, f"no example clips in {EXAMPLES}"
    return clips


def real_feeds() -> list[dict[str, np.ndarray]]:
    """One unbatched feed dict per real clip (load_clip -> model_inputs)."""
    if "feeds" not in _STATE:
        from emofusion.media.clip import load_clip

        cfg = media_config()
        _STATE["feeds"] = [load_clip(c, cfg).model_inputs(cfg) for c in real_clips()]
    return _STATE["feeds"]


def batch(names: tuple[str, ...], size: int) -> dict[str, np.ndarray]:
    """A batch of `size` real feeds (clips repeated in order when there are fewer clips)."""
    feeds = real_feeds()
    picks = [feeds[i % len(feeds)] for i in range(size)]
    return {k: np.stack([f[k] for f in picks]).astype(np.float32) for k in names}


def checkpoint(name: str) -> Path:
    """models/<name>/model.pt of an untrained network (seeded)."""
    path = work_dir() / "models" / name / "model.pt"
    if not path.is_file():
        import torch

        from emofusion.nets.checkpoint import save_checkpoint
        from emofusion.nets.registry import create_model

        torch.manual_seed(MODELS.index(name))
        model = create_model(name, face_size=FACE).eval()
        save_checkpoint(path, model, model.cfg, media_config(), meta={"note": "untrained, for tests"})
    return path


def loaded(name: str):
    key = f"loaded:{name}"
    if key not in _STATE:
        from emofusion.nets.checkpoint import load_checkpoint

        _STATE[key] = load_checkpoint(checkpoint(name))
    return _STATE[key]


def onnx_file(name: str) -> Path:
    """models/<name>/model.onnx exported (default exporter) from `checkpoint(name)`."""
    path = checkpoint(name).parent / "model.onnx"
    if not path.is_file():
        from emofusion.export.onnx import export_onnx

        export_onnx(loaded(name), path, check_parity=False)  # the tests check parity on real clips
    return path


def torch_logits(name: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
    import torch

    model = loaded(name).model
    with torch.inference_mode():
        return model(*[torch.from_numpy(feeds[k]) for k in model.inputs]).numpy()
