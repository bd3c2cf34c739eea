"""Typed model configuration: everything needed to rebuild a network from the registry.

It is saved (as a dict) inside every checkpoint, so a `.pt` file alone rebuilds its model.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from emofusion.config import from_dict, register_config
from emofusion.constants import NUM_CLASSES

# How IA's attention maps gate a stream over time (see attention.gate_stream):
#   "raw"     - the reference: stream * (attention summed over queries), unbounded; its mean scale
#               is n_queries / n_keys (10x for video, 0.1x for audio at the default sizes).
#   "sigmoid" - stream * (0.5 + sigmoid(log r)), r = attention relative to uniform; bounded in
#               (0.5, 1.5) and exactly the identity when attention is uniform (gate + residual).
GATES = ("sigmoid", "raw")


@register_config
@dataclass(frozen=True)
class ModelConfig:
    """Sizes and options of one network; defaults follow the reference design."""

    fusion: str = "ia"  # registry name: ia | it | lt | audio | video
    num_classes: int = NUM_CLASSES
    audio_channels: int = 10  # feature channels (MFCC-10 in the reference)
    audio_frames: int = 156  # feature frames per window (informational; the nets accept any T >= 9)
    n_frames: int = 15  # face frames per clip
    face_size: int = 224  # face crop side in pixels (224 or 112; any multiple of 16 works)
    # Faces seen as grey (luminance copied to 3 channels) inside the graph: the FER+-pretrained
    # face CNN learned on grey faces, so colour crops are turned grey the same way everywhere.
    face_grey: bool = False
    heads: int = 1  # attention heads in IA / IT / LT
    gate: str = "sigmoid"  # IA gating: "sigmoid" (bounded, residual) | "raw" (the reference)
    dropout: float = 0.0  # dropout before the classifier and inside attention MLPs
    it_blocks: int = 1  # IT: cross-attention blocks per direction
    lt_blocks: int = 1  # LT: cross-attention blocks per direction (the reference: one each way)
    mlp_ratio: float = 2.0  # hidden width of the attention-block MLPs, relative to the stream width
    audio_width: int = 64  # audio_res / audio_cnn2d only: channels of the first stage (then 2x, 4x...)
    audio_planes: int = 1  # audio_cnn2d only: feature blocks stacked in audio_channels (3 with deltas)
    tuned_layers: int = 0  # audio_whisper*: top encoder blocks trained (and saved); the rest stay frozen
    # ia_fw / lt_fw: how Whisper's hidden states are normalised before the layer mix: "layer" (LayerNorm
    # per frame) or "standard" (per state and dimension, training-clip statistics; see nets/whisper.py)
    audio_norm: str = "layer"
    # ia_fw / lt_fw: what the visual stream reads per frame: "features" (the face backbone's 256) or
    # "probs" (the face model's own frozen head: its 8 RAVDESS log-probabilities)
    face_input: str = "features"

    def __post_init__(self) -> None:
        if self.face_input not in ("features", "probs"):
            raise ValueError(f"face_input must be 'features' or 'probs', got {self.face_input!r}")
        if self.gate not in GATES:
            raise ValueError(f"unknown gate {self.gate!r}; known: {', '.join(GATES)}")
        if self.face_size % 16 or self.face_size < 48:
            raise ValueError(f"face_size must be a multiple of 16 and >= 48, got {self.face_size}")
        if self.heads < 1 or 64 % self.heads:
            raise ValueError(f"heads must divide 64 (the video stage-1 width), got {self.heads}")
        if self.audio_planes < 1:
            raise ValueError(f"audio_planes must be >= 1, got {self.audio_planes}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")

    def replace(self, **overrides: Any) -> "ModelConfig":
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        return from_dict(cls, d)
