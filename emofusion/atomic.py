"""Writing a file so that readers see the old file or the whole new one, never half of it.

The one implementation behind cache entries and configs (data/cache.py), checkpoints and shipped
model files (nets/checkpoint.py, train/loop.py's last.pt) and remembered fingerprints
(provenance.py). A leaf module: it imports nothing of emofusion.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import BinaryIO, Callable


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call `write(f)` on a temporary file beside `path` (`.NAME.<pid>.<random>.tmp`, created with the
    umask's permissions), fsync it, then rename it over `path`. On any error the temporary file is
    removed and `path` is left as it was. A killed process can leave a `.NAME.*.tmp` behind; callers
    that care sweep `.*.tmp` (data/cache.py does)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))
