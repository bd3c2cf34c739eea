"""`audio_res`: a wider audio-only baseline than the reference Conv1d stack.

Why another audio net: the reference stack (temporal.AudioStack) sees about 13 feature frames
(0.3 s) per output step and then averages, so it is close to a bag of frames, and it takes raw
MFCCs whose scales differ by two orders of magnitude. This one normalises its input with a
BatchNorm (statistics of the training clips, stored in the checkpoint), downsamples in time with
residual stride-2 blocks (receptive field ~1.5 s), and pools mean and standard deviation over time,
so how a feature varies across the utterance counts as well as its average.
Integer padding and plain shape ops only: it exports to ONNX with a dynamic batch like the rest.
"""

from __future__ import annotations

import torch
from torch import nn

from emofusion.constants import AUDIO
from emofusion.nets.config import ModelConfig
from emofusion.nets.fusion import EmotionNet
from emofusion.nets.layers import ResBlock, stats_pool
from emofusion.nets.registry import register_model


class AudioResNet(EmotionNet):
    """Input BN -> stem Conv1d(k=5) -> residual stages (w, 2w /2, 4w /2) -> mean+std pool -> Linear."""

    inputs = (AUDIO,)

    def __init__(self, cfg: ModelConfig):
        w = cfg.audio_width
        super().__init__(cfg, 8 * w)
        self.input_norm = nn.BatchNorm1d(cfg.audio_channels)
        self.stem = nn.Sequential(
            nn.Conv1d(cfg.audio_channels, w, 5, 1, 2, bias=False), nn.BatchNorm1d(w), nn.ReLU(inplace=True)
        )
        self.audio_tcn = nn.Sequential(
            ResBlock(w, w),
            ResBlock(w, 2 * w, stride=2),
            ResBlock(2 * w, 2 * w),
            ResBlock(2 * w, 4 * w, stride=2),
            ResBlock(4 * w, 4 * w),
        )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = self.audio_tcn(self.stem(self.input_norm(audio)))
        return self.classify(stats_pool(x))


@register_model("audio_res")
def audio_res_model(cfg: ModelConfig) -> AudioResNet:
    return AudioResNet(cfg)
