"""What a figure was made with: the machine, the library versions, and a fingerprint of a cache.

Recorded beside results so that two runs of one command that disagree can be told apart: a fixed
seed repeats a run exactly on one machine, but another machine or another set of libraries (which
the features are computed with) may not.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

from emofusion.atomic import atomic_write_bytes

FINGERPRINT = "fingerprint.json"


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform()}


def versions() -> dict[str, Any]:
    """The libraries that decode, compute features and train."""
    from importlib.metadata import PackageNotFoundError, version

    import av
    import torch

    out: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "torch_threads": torch.get_num_threads(), "av": av.__version__,
                           "libavcodec": ".".join(map(str, av.library_versions["libavcodec"]))}
    for dist in ("facenet-pytorch", "librosa", "numpy", "scipy", "soxr", "numba"):
        try:
            out[dist.replace("-", "_")] = version(dist)
        except PackageNotFoundError:
            out[dist.replace("-", "_")] = None
    return out


def cache_fingerprint(cache) -> str:
    """sha256 over every ok entry's id, label and array contents (not the .npz bytes, which carry
    zip timestamps). Kept in the cache directory, keyed by the manifest's size and mtime, so a
    cache is hashed once per state."""
    from emofusion.data.cache import MANIFEST

    manifest = cache.root / MANIFEST
    stat = manifest.stat() if manifest.exists() else None
    key = [stat.st_size, stat.st_mtime_ns] if stat else None
    store = cache.root / FINGERPRINT
    if key is not None and store.exists():
        try:
            saved = json.loads(store.read_text())
            if saved.get("manifest") == key:
                return saved["sha256"]
        except (OSError, ValueError, KeyError):
            pass
    h = hashlib.sha256()
    for rec in cache.entries:
        h.update(f"{rec['id']}:{rec['label']};".encode())
        for name, arr in sorted(cache.load(rec["id"]).items()):
            if arr is not None:
                h.update(f"{name}:{arr.dtype}:{arr.shape};".encode())
                h.update(arr.tobytes())
    digest = h.hexdigest()
    if key is not None:
        try:
            atomic_write_bytes(store, (json.dumps({"manifest": key, "sha256": digest}) + "\n").encode())
        except OSError:  # a read-only cache is still fingerprinted, just not remembered
            pass
    return digest


def data_summary(cache) -> dict[str, Any]:
    """What a run really trained and tested on: the actors present in the cache, its clip count
    (per actor too) and its content fingerprint; the cache is named, not located (no absolute path)."""
    per_actor: dict[str, int] = {}
    for rec in cache.entries:
        per_actor[str(rec["actor"])] = per_actor.get(str(rec["actor"]), 0) + 1
    return {"actors": list(cache.actors), "clips": len(cache), "clips_per_actor": per_actor,
            "cache_fingerprint": cache_fingerprint(cache), "cache": cache.root.name}


def portable(obj: Any, root: str | Path | None = None) -> Any:
    """`obj` (JSON-like) with every absolute path string made relative to `root` (default: the
    working directory, the project root when run from it) or, outside it, cut to its file name: a
    shipped config.json or model card must not carry the path of one machine's disk."""
    base = Path(root or Path.cwd()).resolve()

    def fix(v: Any) -> Any:
        if isinstance(v, dict):
            return {fix(k): fix(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(fix(x) for x in v)
        if isinstance(v, str) and v.startswith("/") and "\n" not in v:
            try:
                return str(Path(v).resolve().relative_to(base))
            except ValueError:
                return Path(v).name
        return v

    return fix(obj)


HELP = "this machine, its libraries and caches' content fingerprints as JSON (to compare sessions)"


def add_arguments(p) -> None:
    p.add_argument("caches", nargs="*", type=Path, help="feature caches to fingerprint")
    p.add_argument("--out", type=Path, help="also write the JSON here")


def run(args) -> int:
    from emofusion.data.cache import FeatureCache

    caches = {str(c): cache_fingerprint(FeatureCache(c)) for c in args.caches}  # CacheError: one line
    text = json.dumps({"machine": machine(), "versions": versions(), "caches": caches}, indent=1) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text, end="")
    return 0
