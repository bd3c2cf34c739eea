"""Leakage guard: scoring a checkpoint on actors it trained or was selected on is not a test.

A checkpoint's meta holds the split it was made with (`meta["split"]`: train / val / test actor
lists, written by every trainer). `evaluate --checkpoint` asks `check_leakage` before scoring.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from emofusion.errors import UsageError


class LeakageError(UsageError):
    """Evaluation actors overlap the checkpoint's training or validation actors."""


def leaked_actors(meta: dict[str, Any], actors: Iterable[int]) -> dict[str, list[int]]:
    """{"train": [...], "val": [...]}: the evaluated actors the checkpoint trained or was selected
    on (only non-empty roles; {} when none, or when the checkpoint records no split)."""
    split = (meta or {}).get("split") or {}
    wanted = set(int(a) for a in actors)
    out = {}
    for role in ("train", "val"):
        hit = sorted(wanted & set(int(a) for a in split.get(role) or ()))
        if hit:
            out[role] = hit
    return out


def describe(leaked: dict[str, list[int]]) -> str:
    roles = {"train": "training", "val": "validation"}
    return "; ".join(f"actor(s) {', '.join(map(str, v))} are among its {roles[k]} actors" for k, v in leaked.items())


def check_leakage(meta: dict[str, Any], actors: Iterable[int], allow: bool, name: str = "the checkpoint") -> str | None:
    """None when no evaluated actor was seen in training or validation. Otherwise raise
    LeakageError, or, with `allow`, return the one-line warning to show (the score is not a test)."""
    leaked = leaked_actors(meta, actors)
    if not leaked:
        return None
    what = f"{name}: {describe(leaked)}, so this score is not a test of unseen speakers"
    if not allow:
        raise LeakageError(f"{what}; evaluate on its test actors {list((meta.get('split') or {}).get('test') or [])} "
                           "or pass --allow-leak to score anyway")
    return f"warning: {what} (--allow-leak)"
