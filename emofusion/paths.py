"""Where emofusion keeps files it makes on demand (ONNX graphs, TensorRT engines, ORT caches).

A leaf module (no emofusion imports), so export/ and infer/ can both use it without depending on
each other.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(kind: str) -> Path:
    """`$EMOFUSION_CACHE/<kind>` or `~/.cache/emofusion/<kind>` (created)."""
    root = Path(os.environ.get("EMOFUSION_CACHE", Path.home() / ".cache" / "emofusion"))
    path = root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path
