"""The registered networks: audio / video baselines and the IA / IT / LT fusion models.

Every model follows docs/ARCHITECTURE.md: `inputs` names the forward arguments in order; audio is
(B, C, T) float32, faces (B, F, 3, S, S) float32 in [0, 1]; the output is logits (B, num_classes).
Submodules are named by part (`face`, `audio_tcn`, `video_tcn`, `fusion`, `head`) so the
parameter table and pretrained loading can address them.
"""

from __future__ import annotations

import torch
from torch import nn

from emofusion.constants import AUDIO, FACES
from emofusion.nets.config import ModelConfig
from emofusion.nets.registry import register_model
from emofusion.nets.temporal import AUDIO_DIM, VIDEO_DIM, AudioStack

PARTS = ("face", "audio_tcn", "video_tcn", "fusion", "head")


class EmotionNet(nn.Module):
    """Common base: the input contract and the classifier head."""

    inputs: tuple[str, ...] = ()

    def __init__(self, cfg: ModelConfig, head_dim: int):
        super().__init__()
        self.cfg = cfg
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(head_dim, cfg.num_classes)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.drop(features))


class AudioNet(EmotionNet):
    """Audio baseline: Conv1d stack, temporal mean, Linear(128, classes)."""

    inputs = (AUDIO,)

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg, AUDIO_DIM)
        self.audio_tcn = AudioStack(cfg.audio_channels)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.classify(self.audio_tcn(audio).mean(dim=-1))


@register_model("audio")
def audio_model(cfg: ModelConfig) -> AudioNet:
    return AudioNet(cfg)
