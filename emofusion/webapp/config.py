"""Typed settings for the web app and `emofusion predict` (one place, no global options)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from emofusion.media.still import IMAGE_EXTENSIONS

# Containers the upload box advertises; anything else is still tried (the media layer decides).
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".flv")
# Still photos get a face-only answer (emofusion.media.still).
PHOTO_EXTENSIONS: tuple[str, ...] = IMAGE_EXTENSIONS

PACKAGE_DIR = Path(__file__).resolve().parent
EXAMPLES_DIR = PACKAGE_DIR / "examples"


@dataclass(frozen=True)
class WebAppConfig:
    """What the server loads and how it serves."""

    models_dir: Path = Path("models")
    names: tuple[str, ...] | None = None  # None: every model in models_dir
    backend: str = "auto"
    device: str = "auto"  # auto | cpu | cuda | cuda:N (emofusion.infer.device)
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False  # public gradio.live link: opt-in only
    # Uploads above this are refused by Gradio itself (HTTP 413) and by our own check.
    max_upload_mb: float = 100.0
    # Analyses running at once (2 cores: more only queues inside torch); the rest wait in the queue.
    concurrency: int = 2
    queue_size: int = 64
    examples_dir: Path = EXAMPLES_DIR
    bench_md: Path = Path("results") / "bench" / "bench_backends.md"
    extensions: tuple[str, ...] = field(default=VIDEO_EXTENSIONS)
    photo_extensions: tuple[str, ...] = field(default=PHOTO_EXTENSIONS)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
