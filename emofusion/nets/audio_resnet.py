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
from emofusion.nets.registry import register_model


class ResBlock1d(nn.Module):
    """Two Conv1d(k=3)+BN, ReLU between and after; 1x1 conv on the skip when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv1d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(cout)
        self.conv2 = nn.Conv1d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv1d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm1d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + self.skip(x))


def stats_pool(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T) -> (B, 2C): mean and standard deviation over time."""
    mean = x.mean(dim=-1)
    std = (x.var(dim=-1, unbiased=False) + 1e-5).sqrt()
    return torch.cat([mean, std], dim=1)


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
            ResBlock1d(w, w),
            ResBlock1d(w, 2 * w, stride=2),
            ResBlock1d(2 * w, 2 * w),
            ResBlock1d(2 * w, 4 * w, stride=2),
            ResBlock1d(4 * w, 4 * w),
        )

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        x = self.audio_tcn(self.stem(self.input_norm(audio)))
        return self.classify(stats_pool(x))


@register_model("audio_res")
def audio_res_model(cfg: ModelConfig) -> AudioResNet:
    return AudioResNet(cfg)
