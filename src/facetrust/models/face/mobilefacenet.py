"""MobileFaceNet: Chen et al., "MobileFaceNets: Efficient CNNs for Accurate Real-Time Face
Verification on Mobile Devices", CCBR 2018.

MobileNetV2-style inverted residual bottlenecks (expansion 2 or 4) with PReLU, and a global
depthwise convolution (GDConv: a depthwise conv whose kernel covers the whole 7x7 map) instead of
global average pooling, so that the embedding weighs the face's centre and its border differently;
then a linear 1x1 conv to the embedding. 128-d as in the paper: 0.98M parameters without the
BatchNorm affine terms (which fold into the convolutions at inference), 1.003M with them.
"""

from __future__ import annotations

import torch
from torch import nn

from facetrust.models.face._common import face_preprocess
from facetrust.registry import MODELS

# (expansion t, output channels c, repeats n, first stride s): Table 1 of the paper
PAPER_SETTING = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))


def conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int, groups: int = 1,
            activation: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2,
                                         groups=groups, bias=False), nn.BatchNorm2d(out_channels)]
    if activation:
        layers.append(nn.PReLU(out_channels))
    return nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise (stride), linear 1x1 project; identity shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.residual = stride == 1 and in_channels == out_channels
        self.body = nn.Sequential(
            conv_bn(in_channels, hidden, 1, 1),
            conv_bn(hidden, hidden, 3, stride, groups=hidden),
            conv_bn(hidden, out_channels, 1, 1, activation=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileFaceNet(nn.Module):
    def __init__(self, embedding_size: int = 128, input_size: int = 112, width: int = 64,
                 setting: tuple[tuple[int, int, int, int], ...] = PAPER_SETTING, last_channels: int = 512) -> None:
        super().__init__()
        if input_size % 16:
            raise ValueError(f"MobileFaceNet input_size must be a multiple of 16, got {input_size}")
        self.embedding_size = embedding_size
        scale = width / 64
        stem = int(64 * scale)
        self.stem = nn.Sequential(conv_bn(3, stem, 3, 2), conv_bn(stem, stem, 3, 1, groups=stem))
        blocks, channels = [], stem
        for expansion, out, repeats, stride in setting:
            out = int(out * scale)
            for i in range(repeats):
                blocks.append(Bottleneck(channels, out, stride if i == 0 else 1, expansion))
                channels = out
        self.blocks = nn.Sequential(*blocks)
        last = int(last_channels * scale)
        self.expand = conv_bn(channels, last, 1, 1)
        side = input_size // 16
        self.gdconv = conv_bn(last, last, side, 1, groups=last, activation=False)  # global depthwise
        self.gdconv[0].padding = (0, 0)
        self.project = nn.Sequential(nn.Conv2d(last, embedding_size, 1, bias=False), nn.BatchNorm2d(embedding_size))
        self.preprocess = face_preprocess(input_size)
        self.task = "face"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 512, H/16, W/16)."""
        return self.expand(self.blocks(self.stem(x)))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """GDConv + linear 1x1 -> (B, D) raw embedding."""
        return torch.flatten(self.project(self.gdconv(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@MODELS.register("mobilefacenet")
def mobilefacenet(embedding_size: int = 128, input_size: int = 112, pretrained=None) -> MobileFaceNet:
    """MobileFaceNet as in the paper (0.99M parameters with a 128-d embedding at 112x112)."""
    if pretrained:
        raise ValueError("MobileFaceNet has no pretrained weights to load by name; load a checkpoint folder")
    return MobileFaceNet(embedding_size, input_size)


@MODELS.register("test_mobilefacenet")
def test_mobilefacenet(embedding_size: int = 32, input_size: int = 32, pretrained=None) -> MobileFaceNet:
    """A tiny MobileFaceNet for tests: width 16, one block per stage, 32x32 input."""
    setting = tuple((t, c, 1, s) for t, c, _, s in PAPER_SETTING)
    return MobileFaceNet(embedding_size, input_size, width=16, setting=setting)
