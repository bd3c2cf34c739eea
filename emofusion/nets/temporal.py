"""Temporal Conv1d stacks for both streams, split in two stages so IA/IT can fuse in between."""

from __future__ import annotations

import torch
from torch import nn

from emofusion.nets.layers import conv1d_bn_relu

# Audio blocks lose 3 frames each (conv k3 no pad: -2, max-pool 2 stride 1: -1): 156 -> 150 -> 144.
AUDIO_MIN_FRAMES = 9
AUDIO_STAGE1_DIM = 128
AUDIO_DIM = 128
VIDEO_STAGE1_DIM = 64
VIDEO_DIM = 128
FACE_DIM = 1024


class AudioStack(nn.Module):
    """(B, C, T) MFCC -> stage 1 (B, 128, T-6) -> stage 2 (B, 128, T-12). No padding, as the reference."""

    def __init__(self, in_channels: int = 10):
        super().__init__()
        self.stage1 = nn.Sequential(
            conv1d_bn_relu(in_channels, 64, padding=0, pool=True),
            conv1d_bn_relu(64, AUDIO_STAGE1_DIM, padding=0, pool=True),
        )
        self.stage2 = nn.Sequential(
            conv1d_bn_relu(AUDIO_STAGE1_DIM, 256, padding=0, pool=True),
            conv1d_bn_relu(256, AUDIO_DIM, padding=0, pool=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage2(self.stage1(x))


class VisualStack(nn.Module):
    """(B, 1024, F) per-frame face features -> stage 1 (B, 64, F) -> stage 2 (B, 128, F); pad 1 keeps F."""

    def __init__(self, in_channels: int = FACE_DIM):
        super().__init__()
        self.stage1 = nn.Sequential(
            conv1d_bn_relu(in_channels, 64, padding=1, pool=False),
            conv1d_bn_relu(64, VIDEO_STAGE1_DIM, padding=1, pool=False),
        )
        self.stage2 = nn.Sequential(
            conv1d_bn_relu(VIDEO_STAGE1_DIM, 128, padding=1, pool=False),
            conv1d_bn_relu(128, VIDEO_DIM, padding=1, pool=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage2(self.stage1(x))
