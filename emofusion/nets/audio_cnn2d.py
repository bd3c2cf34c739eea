"""`audio_cnn2d`: an audio-only baseline that reads the features as an image (bands x time).

Why a 2D net: the Conv1d nets treat every feature band as an unrelated channel, so a pattern that
moves up or down in frequency (a raised pitch, a shifted formant, as with another speaker) looks
like a different input to them. 2D convolutions share weights along the frequency axis as well as
time. The natural input is log-mel bands (`preprocess --audio-kind logmel`); with `--deltas` the
static, delta and delta-delta blocks become three input planes (`ModelConfig.audio_planes`).
Each band is first normalised by a BatchNorm (training-clip statistics, kept in the checkpoint);
then a stem and residual stride-2 stages (w, 2w, 4w, 8w), frequency averaged away, and mean and
standard deviation pooled over time as in audio_res. Integer padding only, for ONNX export.
"""

from __future__ import annotations

import torch
from torch import nn

from emofusion.constants import AUDIO
from emofusion.nets.config import ModelConfig
from emofusion.nets.fusion import EmotionNet
from emofusion.nets.layers import ResBlock, stats_pool
from emofusion.nets.registry import register_model


class AudioCNN2d(EmotionNet):
    """Band BN -> (B, planes, bands, T) -> stem -> 4 stride-2 residual stages -> freq mean ->
    mean+std over time -> Linear."""

    inputs = (AUDIO,)

    def __init__(self, cfg: ModelConfig):
        if cfg.audio_channels % cfg.audio_planes:
            raise ValueError(f"audio_channels ({cfg.audio_channels}) must be a multiple of "
                             f"audio_planes ({cfg.audio_planes})")
        w = cfg.audio_width
        super().__init__(cfg, 16 * w)
        self.planes = cfg.audio_planes
        self.input_norm = nn.BatchNorm1d(cfg.audio_channels)
        self.stem = nn.Sequential(
            nn.Conv2d(cfg.audio_planes, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)
        )
        self.stages = nn.Sequential(
            ResBlock(w, w, stride=2, dims=2),
            ResBlock(w, 2 * w, stride=2, dims=2),
            ResBlock(2 * w, 4 * w, stride=2, dims=2),
            ResBlock(4 * w, 8 * w, stride=2, dims=2),
        )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = self.input_norm(audio)
        x = x.unflatten(1, (self.planes, -1))
        x = self.stages(self.stem(x))  # (B, 8w, bands/16, T/16)
        return self.classify(stats_pool(x.mean(dim=2)))


@register_model("audio_cnn2d")
def audio_cnn2d_model(cfg: ModelConfig) -> AudioCNN2d:
    return AudioCNN2d(cfg)
