"""Shared by the test_webapp_* files: models to serve, one real server per pytest session, clips.

Not a conftest (that file belongs to everyone): the server is a module-level singleton started on
first use and stopped at interpreter exit, so all webapp test files share one server.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "emofusion" / "webapp" / "examples"
# Small so the oversized-upload test needs only a few MB.
TEST_MAX_UPLOAD_MB = 5.0
TRACEBACK_MARKERS = ("Traceback", 'File "', "Error:", "line ")

_STATE: dict = {}


def work_dir() -> Path:
    if "dir" not in _STATE:
        _STATE["dir"] = Path(tempfile.mkdtemp(prefix="emofusion-webapp-tests-"))
    return _STATE["dir"]


def models_dir() -> Path:
    """What the test server serves: every shipped model in models/ (EMOFUSION_TEST_MODELS overrides),
    plus an untrained stand-in `face` model (48 px grey, 5 frames, like the real one) while none is
    shipped, so the face-only paths (photos, clips without audio) run their real code. Without
    shipped IA and LT: untrained checkpoints with the same architecture (the web app's behaviour
    does not depend on the weights; tests/test_shipped_models.py checks the weights)."""
    from emofusion.infer.sources import has_model

    env = os.environ.get("EMOFUSION_TEST_MODELS")
    if env:
        return Path(env)
    out = work_dir() / "models"
    if out.is_dir():
        return out
    shipped = REPO / "models"
    if all(has_model(shipped / n) for n in ("ia", "lt")):
        out.mkdir(parents=True)
        for d in sorted(shipped.iterdir()):
            if d.is_dir() and has_model(d):
                (out / d.name).symlink_to(d.resolve(), target_is_directory=True)
    else:
        make_untrained_models(out)
    if not has_model(out / "face"):
        make_untrained_face_model(out / "face")
    return out


def make_untrained_models(out: Path) -> Path:
    import torch

    from emofusion.config import MediaConfig
    from emofusion.nets.checkpoint import save_checkpoint
    from emofusion.nets.registry import create_model

    torch.manual_seed(0)
    for name in ("ia", "lt"):
        (out / name).mkdir(parents=True, exist_ok=True)
        model = create_model(name).eval()
        save_checkpoint(out / name / "model.pt", model, model.cfg, MediaConfig(),
                        meta={"note": "untrained, for tests"})
    return out


def make_untrained_face_model(out: Path) -> Path:
    """An untrained `face` model in the shipped layout (model.safetensors + config.json)."""
    import torch

    from emofusion.config import MediaConfig, VideoConfig
    from emofusion.nets.checkpoint import convert_checkpoint, save_checkpoint
    from emofusion.nets.registry import create_model

    torch.manual_seed(0)
    model = create_model("face", face_size=48, face_grey=True).eval()
    media = MediaConfig(video=VideoConfig(n_frames=5, face_size=48))
    pt = save_checkpoint(work_dir() / "face_untrained.pt", model, model.cfg, media,
                         meta={"note": "untrained stand-in, for tests"})
    convert_checkpoint(pt, out)
    return out


def server_url() -> str:
    """Start `emofusion webapp` once (free loopback port, queue concurrency 2) and reuse it."""
    if "url" not in _STATE:
        from emofusion.webapp.server import running_server

        cm = running_server(models_dir(), work_dir() / "server.log",
                            max_upload_mb=TEST_MAX_UPLOAD_MB, concurrency=2)
        _STATE["url"] = cm.__enter__()
        atexit.register(lambda: cm.__exit__(None, None, None))
    return _STATE["url"]


def server_log() -> str:
    p = work_dir() / "server.log"
    return p.read_text(errors="replace") if p.exists() else ""


def client():
    from gradio_client import Client

    return Client(server_url(), verbose=False, analytics_enabled=False, download_files=False)


def analyze(path: str | Path, c=None) -> dict:
    from gradio_client import handle_file

    return (c or client()).predict(handle_file(str(path)), api_name="/analyze")


def example_clips() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*") if p.suffix.lower() in (".mp4", ".flv", ".webm", ".mov"))


def face_frame(clip: Path) -> np.ndarray:
    """One RGB frame of a real clip (a person, upright) to paste into generated clips."""
    import av

    with contextlib.closing(av.open(str(clip))) as c:
        for frame in c.decode(video=0):
            return frame.to_ndarray(format="rgb24")
    raise ValueError(f"no video frame in {clip}")


def assert_no_traceback(payload: dict) -> None:
    text = str(payload)
    for marker in ("Traceback", 'File "/', ".py\", line"):
        assert marker not in text, f"traceback text leaked to the user: {text[:500]}"


def source_clip() -> Path:
    """A real clip to derive test inputs from: a committed example, else a CREMA-D clip."""
    clips = example_clips()
    if clips:
        return clips[0]
    from conftest import shared_path

    return shared_path("cremad-av", "1001_DFA_HAP_XX.mp4")
