"""Where a model's runnable files live: the weights, its ONNX graph, a TensorRT engine.

A shipped model dir holds `model.safetensors` + `config.json` (a trainer's `model.pt` also works),
optionally `model.onnx`; anything missing or stale is made on demand into a user cache keyed by the
model's sha256 (`emofusion.export.onnx.onnx_for_checkpoint`), so a retrained model never runs an
old graph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from emofusion.export.onnx import onnx_for_checkpoint, onnx_metadata  # noqa: F401 - re-exported
from emofusion.nets.checkpoint import CARD, CONFIG, LEGACY, WEIGHTS, card_matches, remove_stale_card  # noqa: F401 - re-exported
from emofusion.paths import cache_dir  # noqa: F401 - re-exported

CHECKPOINT = LEGACY
ONNX = "model.onnx"
ONNX_INT8 = "model.int8.onnx"
ENGINE = "model.plan"


@dataclass(frozen=True)
class ModelFiles:
    """The files one model source resolves to (any may be None). `checkpoint` is the weights file
    `load_checkpoint` reads: model.safetensors (config.json beside it) or a `.pt`."""

    checkpoint: Path | None = None
    onnx: Path | None = None
    engine: Path | None = None
    card: Path | None = None

    @classmethod
    def resolve(cls, source: str | Path) -> "ModelFiles":
        """A model dir, a `.pt` / `.safetensors` checkpoint, an `.onnx` graph or a `.plan`/`.engine` file."""
        p = Path(source)
        if p.is_dir():
            found = {name: p / name for name in (WEIGHTS, CHECKPOINT, ONNX, ENGINE, CARD) if (p / name).is_file()}
            weights = found.get(WEIGHTS) if (p / CONFIG).is_file() else None
            weights = weights or found.get(CHECKPOINT)
            if not weights and not found.get(ONNX):
                raise FileNotFoundError(f"{p} has none of {WEIGHTS} (+ {CONFIG}), {CHECKPOINT}, {ONNX}")
            return cls(weights, found.get(ONNX), found.get(ENGINE), found.get(CARD))
        if not p.is_file():
            raise FileNotFoundError(f"no such model file or dir: {p}")
        suffix = p.suffix.lower()
        if suffix == ".onnx":
            return cls(onnx=p)
        if suffix in (".plan", ".engine"):
            return cls(engine=p)
        card = p.parent / CARD
        return cls(checkpoint=p, card=card if card.is_file() else None)


def read_card(path: Path | None) -> dict:
    if path is None or not path.is_file():
        return {}
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return card if isinstance(card, dict) else {}


def has_model(d: str | Path) -> bool:
    """`d` is a model dir something can run from (weights + config, a `.pt` or an ONNX graph)."""
    d = Path(d)
    return ((d / WEIGHTS).is_file() and (d / CONFIG).is_file()) or (d / CHECKPOINT).is_file() or (d / ONNX).is_file()
