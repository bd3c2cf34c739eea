"""Where a model's runnable files live: the checkpoint, its ONNX graph, a TensorRT engine.

A model dir ships `model.pt` (+ `model.onnx`); anything missing or stale is made on demand into a
user cache keyed by the checkpoint's sha256, so a retrained checkpoint never runs an old graph.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from emofusion.nets.checkpoint import file_sha256

CHECKPOINT = "model.pt"
ONNX = "model.onnx"
ONNX_INT8 = "model.int8.onnx"
ENGINE = "model.plan"
CARD = "card.json"


def cache_dir(kind: str) -> Path:
    """`$EMOFUSION_CACHE/<kind>` or `~/.cache/emofusion/<kind>` (created)."""
    root = Path(os.environ.get("EMOFUSION_CACHE", Path.home() / ".cache" / "emofusion"))
    path = root / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class ModelFiles:
    """The files one model source resolves to (any may be None)."""

    checkpoint: Path | None = None
    onnx: Path | None = None
    engine: Path | None = None
    card: Path | None = None

    @classmethod
    def resolve(cls, source: str | Path) -> "ModelFiles":
        """A model dir, a `.pt` checkpoint, an `.onnx` graph or a `.plan`/`.engine` file."""
        p = Path(source)
        if p.is_dir():
            found = {name: p / name for name in (CHECKPOINT, ONNX, ENGINE, CARD) if (p / name).is_file()}
            if not found.get(CHECKPOINT) and not found.get(ONNX):
                raise FileNotFoundError(f"{p} has neither {CHECKPOINT} nor {ONNX}")
            return cls(found.get(CHECKPOINT), found.get(ONNX), found.get(ENGINE), found.get(CARD))
        if not p.is_file():
            raise FileNotFoundError(f"no such model file or dir: {p}")
        suffix = p.suffix.lower()
        if suffix == ".onnx":
            return cls(onnx=p)
        if suffix in (".plan", ".engine"):
            return cls(engine=p)
        card = p.parent / CARD
        return cls(checkpoint=p, card=card if card.is_file() else None)


def onnx_metadata(path: str | Path) -> dict[str, str]:
    """metadata_props of an ONNX file, without loading its weights."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


def onnx_for_checkpoint(checkpoint: str | Path, shipped: Path | None = None, loaded=None) -> Path:
    """An ONNX graph exported from exactly this checkpoint: the shipped one if its recorded
    source sha256 matches, else `<cache>/onnx/<sha>.onnx`, exported now if absent."""
    from emofusion.export.onnx import export_onnx

    sha = loaded.sha256 if loaded is not None else file_sha256(checkpoint)
    if shipped is not None and shipped.is_file():
        if onnx_metadata(shipped).get("source_sha256") == sha:
            return shipped
    target = cache_dir("onnx") / f"{sha}.onnx"
    if target.is_file() and onnx_metadata(target).get("source_sha256") == sha:
        return target
    export_onnx(checkpoint if loaded is None else loaded, target)
    return target


def read_card(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    return json.loads(path.read_text())
