"""Small building blocks shared by the networks. Integer padding only and shape ops that trace,
so every model exports to ONNX with a dynamic batch (string padding and `.data.size()` do not)."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_relu(cin: int, cout: int, kernel: int = 1, stride: int = 1, padding: int = 0) -> nn.Sequential:
    """Conv2d (no bias) -> BN -> ReLU; indices 0/1/2 match the published EfficientFace keys."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def depthwise_conv(cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> nn.Conv2d:
    """Grouped conv with groups = cin (cout a multiple of cin), no bias."""
    return nn.Conv2d(cin, cout, kernel, stride, padding, bias=False, groups=cin)


def conv1d_bn_relu(cin: int, cout: int, padding: int, pool: bool) -> nn.Sequential:
    """Conv1d(k=3) -> BN -> ReLU [-> MaxPool1d(2, stride 1)]: the temporal stacks' block."""
    layers: list[nn.Module] = [
        nn.Conv1d(cin, cout, kernel_size=3, stride=1, padding=padding),
        nn.BatchNorm1d(cout),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool1d(kernel_size=2, stride=1))
    return nn.Sequential(*layers)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet channel shuffle on (N, C, H, W). Uses -1 for the batch so tracing keeps it dynamic."""
    _, c, h, w = x.shape
    x = x.reshape(-1, groups, c // groups, h, w).transpose(1, 2)
    return x.reshape(-1, c, h, w)


class InvertedResidual(nn.Module):
    """ShuffleNet-v2 unit. stride 1: split channels, transform one half; stride 2: both branches
    see the whole input and the map halves. Names (branch1/branch2) follow the published weights."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.stride = stride
        half = cout // 2
        if stride == 1 and cin != cout:
            raise ValueError("a stride-1 unit needs cin == cout")
        if stride > 1:
            self.branch1 = nn.Sequential(
                depthwise_conv(cin, cin, 3, stride, 1),
                nn.BatchNorm2d(cin),
                nn.Conv2d(cin, half, 1, 1, 0, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(inplace=True),
            )
        self.branch2 = nn.Sequential(
            nn.Conv2d(cin if stride > 1 else half, half, 1, 1, 0, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
            depthwise_conv(half, half, 3, stride, 1),
            nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, 1, 0, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ImageNetNorm(nn.Module):
    """[0, 1] RGB -> ImageNet-normalised, inside the graph so every backend gets the same input.
    `grey`: first replace each pixel by its luminance (ITU-R 601 weights) in all three channels."""

    def __init__(self, grey: bool = False):
        super().__init__()
        self.grey = grey
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("luma", torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.grey:
            x = (x * self.luma).sum(dim=1, keepdim=True).expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std


class ResBlock(nn.Module):
    """Basic residual block in 1D (audio_res) or 2D (audio_cnn2d): two k=3 convs with BN, ReLU
    between and after the sum; a 1x1 conv + BN on the skip when the stride or width changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1, dims: int = 1):
        super().__init__()
        if dims not in (1, 2):
            raise ValueError(f"dims must be 1 or 2, got {dims}")
        conv, bn = (nn.Conv1d, nn.BatchNorm1d) if dims == 1 else (nn.Conv2d, nn.BatchNorm2d)
        self.conv1 = conv(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = bn(cout)
        self.conv2 = conv(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = bn(cout)
        self.relu = nn.ReLU(inplace=True)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(conv(cin, cout, 1, stride, 0, bias=False), bn(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + self.skip(x))


def stats_pool(x: torch.Tensor) -> torch.Tensor:
    """(B, C, T) -> (B, 2C): mean and standard deviation over time."""
    mean = x.mean(dim=-1)
    std = (x.var(dim=-1, unbiased=False) + 1e-5).sqrt()
    return torch.cat([mean, std], dim=1)
