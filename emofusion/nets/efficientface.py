"""EfficientFace (Zhao et al., AAAI 2021): a ShuffleNet-v2 face CNN with a local branch and a modulator.

Per frame: conv1 3->29 (s2) + max-pool; stage 2 (4 units, 116 ch) through the Modulator, ADDED to
the Local Feature Extractor run on the pooled map in four patches; stages 3/4 (8/4 units, 232/464 ch);
conv5 -> 1024; global average pool. Submodule names equal the published checkpoint's keys
(conv1, stage2-4, local, modulator, conv5), so pretrained loading is a prefix strip.
Any face size that is a multiple of 16 works (224 -> 56x56 pooled map, 112 -> 28x28).
"""

from __future__ import annotations

import torch
from torch import nn

from emofusion.nets.layers import InvertedResidual, conv_bn_relu, depthwise_conv

STAGE_REPEATS = (4, 8, 4)
STAGE_CHANNELS = (29, 116, 232, 464, 1024)


class LocalFeatureExtractor(nn.Module):
    """Four quadrants of the pooled map, each through two depthwise convs (the first strided),
    stitched back: local detail at stage-2 resolution. Names conv{i}_{j}/bn{i}_{j} as published."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.relu = nn.ReLU()
        for i in range(1, 5):
            setattr(self, f"conv{i}_1", depthwise_conv(cin, cout, 3, 2, 1))
            setattr(self, f"bn{i}_1", nn.BatchNorm2d(cout))
            setattr(self, f"conv{i}_2", depthwise_conv(cout, cout, 3, 1, 1))
            setattr(self, f"bn{i}_2", nn.BatchNorm2d(cout))

    def _patch(self, i: int, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(x)))
        return self.relu(getattr(self, f"bn{i}_2")(getattr(self, f"conv{i}_2")(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2] // 2, x.shape[3] // 2
        # Patch order as published: 1 top-left, 2 bottom-left, 3 top-right, 4 bottom-right.
        left = torch.cat([self._patch(1, x[:, :, :h, :w]), self._patch(2, x[:, :, h:, :w])], dim=2)
        right = torch.cat([self._patch(3, x[:, :, :h, w:]), self._patch(4, x[:, :, h:, w:])], dim=2)
        return torch.cat([left, right], dim=3)


class ChannelGate(nn.Module):
    """Channel attention logits: GAP -> FC (C -> C/16) -> BN -> ReLU -> FC (-> C)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        mid = channels // reduction
        self.gate_c = nn.Sequential()
        self.gate_c.add_module("flatten", nn.Flatten())
        self.gate_c.add_module("gate_c_fc_0", nn.Linear(channels, mid))
        self.gate_c.add_module("gate_c_bn_1", nn.BatchNorm1d(mid))
        self.gate_c.add_module("gate_c_relu_1", nn.ReLU())
        self.gate_c.add_module("gate_c_fc_final", nn.Linear(mid, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate_c(x.mean(dim=(2, 3))).unsqueeze(2).unsqueeze(3)


class SpatialGate(nn.Module):
    """Spatial attention logits: 1x1 reduce, two dilated 3x3 convs (dilation 4), 1x1 to one map."""

    def __init__(self, channels: int, reduction: int = 16, dilation: int = 4):
        super().__init__()
        mid = channels // reduction
        self.gate_s = nn.Sequential()
        self.gate_s.add_module("gate_s_conv_reduce0", nn.Conv2d(channels, mid, kernel_size=1))
        self.gate_s.add_module("gate_s_bn_reduce0", nn.BatchNorm2d(mid))
        self.gate_s.add_module("gate_s_relu_reduce0", nn.ReLU())
        for i in range(2):
            self.gate_s.add_module(
                f"gate_s_conv_di_{i}", nn.Conv2d(mid, mid, 3, padding=dilation, dilation=dilation)
            )
            self.gate_s.add_module(f"gate_s_bn_di_{i}", nn.BatchNorm2d(mid))
            self.gate_s.add_module(f"gate_s_relu_di_{i}", nn.ReLU())
        self.gate_s.add_module("gate_s_conv_final", nn.Conv2d(mid, 1, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate_s(x)


class Modulator(nn.Module):
    """x * sigmoid(channel logits x spatial logits): re-weights the global stage-2 features."""

    def __init__(self, channels: int):
        super().__init__()
        self.channel_att = ChannelGate(channels)
        self.spatial_att = SpatialGate(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.channel_att(x) * self.spatial_att(x))


class EfficientFace(nn.Module):
    """(N, 3, S, S) normalised faces -> (N, 1024) features. No classifier: the fusion models add theirs."""

    out_dim = STAGE_CHANNELS[-1]

    def __init__(self, repeats: tuple[int, ...] = STAGE_REPEATS, channels: tuple[int, ...] = STAGE_CHANNELS):
        super().__init__()
        self.conv1 = conv_bn_relu(3, channels[0], kernel=3, stride=2, padding=1)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin = channels[0]
        for name, n, cout in zip(("stage2", "stage3", "stage4"), repeats, channels[1:4]):
            units = [InvertedResidual(cin, cout, 2)] + [InvertedResidual(cout, cout, 1) for _ in range(n - 1)]
            setattr(self, name, nn.Sequential(*units))
            cin = cout
        self.local = LocalFeatureExtractor(channels[0], channels[1])
        self.modulator = Modulator(channels[1])
        self.conv5 = conv_bn_relu(cin, channels[4], kernel=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.modulator(self.stage2(x)) + self.local(x)
        x = self.conv5(self.stage4(self.stage3(x)))
        return x.mean(dim=(2, 3))
