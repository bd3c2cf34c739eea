"""The feature cache: what `emofusion preprocess` writes and training reads.

Layout of a cache directory:
    config.json       the MediaConfig and streams every entry was made with (written once)
    entries/<id>.npz  one clip: `audio` float32 (C, T), `faces` uint8 (F, 3, S, S), `face_found` (F,)
    manifest.jsonl    one JSON line per processed clip (ok or error), appended by one process

An entry counts only when its manifest line says ok AND its .npz exists. Entry files are
written to a temporary name and renamed (atomic), manifest lines are appended whole and flushed,
and a torn last line is ignored, so a run killed at any moment leaves no half entry and a rerun
simply redoes what is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from emofusion.atomic import atomic_write, atomic_write_bytes
from emofusion.config import MediaConfig
from emofusion.errors import EmofusionError

FORMAT = 1
CONFIG = "config.json"
MANIFEST = "manifest.jsonl"
ENTRIES = "entries"
STREAMS = ("audio", "faces")


class CacheError(EmofusionError):
    """The directory is not a usable cache (missing, or made with different settings)."""


def cache_config(cfg: MediaConfig, streams: Iterable[str], speed: float = 1.0) -> dict[str, Any]:
    out = {"format": FORMAT, "media_config": cfg.to_dict(), "streams": sorted(streams)}
    if speed != 1.0:  # a speed-perturbed copy for training (preprocess --speed); absent = 1
        out["speed"] = speed
    return out


def feature_settings(media_config: dict[str, Any], streams: Iterable[str]) -> dict[str, Any]:
    """What shapes a cache's entries, for comparing two caches: its media settings and streams.
    Video settings do not shape an audio-only cache, so they are left out of one."""
    streams = sorted(streams)
    if "faces" not in streams:
        media_config = {k: v for k, v in media_config.items() if k != "video"}
    return {"media_config": media_config, "streams": streams}


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _diff(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix.rstrip('.')}: cache has {a!r}, asked for {b!r}"]


def open_for_writing(root: str | Path, cfg: MediaConfig, streams: Iterable[str], speed: float = 1.0) -> Path:
    """Create the cache or check that an existing one was made with the same settings."""
    root = Path(root)
    want = cache_config(cfg, streams, speed)
    cfg_path = root / CONFIG
    if cfg_path.exists():
        have = json.loads(cfg_path.read_text())
        have = {**have, **feature_settings(have.get("media_config", {}), have.get("streams", []))}
        diffs = _diff(have, {**want, **feature_settings(want["media_config"], want["streams"])})
        if diffs:
            raise CacheError(
                f"{root} was made with different settings; use another --out directory or delete it.\n  "
                + "\n  ".join(diffs)
            )
    else:
        if root.exists() and any(p.name != ".lock" for p in root.iterdir()):
            raise CacheError(f"{root} exists, is not empty and has no {CONFIG}: not a feature cache")
        (root / ENTRIES).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(cfg_path, (json.dumps(want, indent=2, sort_keys=True) + "\n").encode())
    (root / ENTRIES).mkdir(exist_ok=True)
    for stale in (root / ENTRIES).glob(".*.tmp"):  # left by a killed run
        stale.unlink(missing_ok=True)
    _cut_torn_line(root / MANIFEST)
    return root


def _cut_torn_line(path: Path) -> None:
    """Drop a last line without its newline (a killed append), or the next line would fuse with it."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    with open(path, "r+b") as f:
        f.truncate(data.rfind(b"\n") + 1)
        f.flush()
        os.fsync(f.fileno())


def write_entry(root: Path, clip_id: str, arrays: dict[str, np.ndarray]) -> Path:
    """Write one clip's arrays atomically (compressed: faces shrink several-fold)."""
    return atomic_write(root / ENTRIES / f"{clip_id}.npz", lambda f: np.savez_compressed(f, **arrays))


def append_manifest(root: Path, record: dict[str, Any]) -> None:
    """One whole line per write; O_APPEND keeps lines whole, fsync keeps them across a crash."""
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(root / MANIFEST, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(root: Path) -> dict[str, dict[str, Any]]:
    """id -> latest record. Torn or garbled lines (a killed writer) are skipped."""
    out: dict[str, dict[str, Any]] = {}
    path = Path(root) / MANIFEST
    if not path.exists():
        return out
    with open(path, "rb") as f:
        for raw in f:
            try:
                rec = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(rec, dict) and "id" in rec and "status" in rec:
                out[rec["id"]] = rec
    return out


def finished_ids(root: Path, retry_errors: bool = False) -> set[str]:
    """Clips a rerun can skip: ok with their file present, or recorded errors (unless retried)."""
    done = set()
    for cid, rec in read_manifest(root).items():
        if rec["status"] == "ok" and (root / ENTRIES / f"{cid}.npz").exists():
            done.add(cid)
        elif rec["status"] == "error" and not retry_errors:
            done.add(cid)
    return done


class FeatureCache:
    """Read side of a cache: its config, its ok entries and errors, and one clip's arrays."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        cfg_path = self.root / CONFIG
        if not cfg_path.exists():
            raise CacheError(f"{self.root} is not a feature cache (no {CONFIG}); run `emofusion preprocess`")
        meta = json.loads(cfg_path.read_text())
        if meta.get("format") != FORMAT:
            raise CacheError(f"{self.root}: cache format {meta.get('format')} (this code reads {FORMAT})")
        self.config = MediaConfig.from_dict(meta["media_config"])
        self.streams: tuple[str, ...] = tuple(meta["streams"])
        self.speed = float(meta.get("speed", 1.0))
        records = read_manifest(self.root)
        self.entries = [
            r for r in records.values() if r["status"] == "ok" and (self.root / ENTRIES / f"{r['id']}.npz").exists()
        ]
        self.entries.sort(key=lambda r: (r["actor"], r["id"]))
        self.errors = sorted((r for r in records.values() if r["status"] == "error"), key=lambda r: r["id"])
        self._by_id = {r["id"]: r for r in self.entries}

    def __len__(self) -> int:
        return len(self.entries)

    def same_features(self, other: FeatureCache) -> bool:
        """Both caches hold the same kind of entries (speed aside), so one model reads either."""
        return feature_settings(self.config.to_dict(), self.streams) == feature_settings(
            other.config.to_dict(), other.streams)

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self._by_id

    def record(self, clip_id: str) -> dict[str, Any]:
        return self._by_id[clip_id]

    def select(self, actors: Iterable[int] | None = None) -> list[dict[str, Any]]:
        """Ok entries of these actors (all when None), in a stable order."""
        if actors is None:
            return list(self.entries)
        keep = set(actors)
        return [r for r in self.entries if r["actor"] in keep]

    @property
    def actors(self) -> tuple[int, ...]:
        return tuple(sorted({r["actor"] for r in self.entries}))

    def load(self, clip_id: str) -> dict[str, Any]:
        """{"audio": (C, T) float32 | None, "faces": (F, 3, S, S) uint8 | None,
        "face_found": (F,) bool | None (None when the clip had no video)}."""
        if clip_id not in self._by_id:
            raise KeyError(f"{clip_id!r} is not an ok entry of {self.root}")
        with np.load(self.root / ENTRIES / f"{clip_id}.npz") as z:
            return {
                "audio": z["audio"] if "audio" in z.files else None,
                "faces": z["faces"] if "faces" in z.files else None,
                "face_found": z["face_found"] if "face_found" in z.files else None,
            }
