"""iResNet, the ArcFace backbone family (Deng et al., CVPR 2019; "improved" residual units of
Duta et al., 2020, as in insightface's arcface_torch).

A 3x3 stride-1 stem, four stages that each halve the resolution (112 -> 7), residual units
BN-conv3x3-BN-PReLU-conv3x3(stride)-BN, and the "BN-Dropout-FC-BN1d" embedding head (the output
block "E" of the ArcFace paper) that flattens the 7x7 map into a D-dimensional embedding.
"""

from __future__ import annotations

import torch
from torch import nn

from facetrust.models.face._common import face_preprocess
from facetrust.registry import MODELS


class IBasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels, eps=1e-5),
            nn.Conv2d(in_channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels, eps=1e-5),
            nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(channels, eps=1e-5),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(channels, eps=1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class IResNet(nn.Module):
    """iResNet with ``layers`` units per stage and ``widths`` channels; input ``input_size`` square."""

    def __init__(self, layers: tuple[int, ...], widths: tuple[int, ...] = (64, 128, 256, 512),
                 embedding_size: int = 512, input_size: int = 112, dropout: float = 0.0) -> None:
        super().__init__()
        if input_size % 16:
            raise ValueError(f"iResNet input_size must be a multiple of 16 (four stride-2 stages), got {input_size}")
        self.embedding_size = embedding_size
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0], eps=1e-5), nn.PReLU(widths[0]))
        stages, in_channels = [], widths[0]
        for count, channels in zip(layers, widths, strict=True):
            units = [IBasicBlock(in_channels, channels, 2)]
            units += [IBasicBlock(channels, channels, 1) for _ in range(count - 1)]
            stages.append(nn.Sequential(*units))
            in_channels = channels
        self.stages = nn.Sequential(*stages)
        side = input_size // 16
        self.bn = nn.BatchNorm2d(in_channels, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_channels * side * side, embedding_size)
        self.features = nn.BatchNorm1d(embedding_size, eps=1e-5)
        self.preprocess = face_preprocess(input_size)
        self.task = "face"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, H/16, W/16) feature map."""
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """Feature map -> (B, D) raw embedding (BN-Dropout-FC-BN1d)."""
        return self.features(self.fc(torch.flatten(self.dropout(self.bn(x)), 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _build(layers: tuple[int, ...], widths=(64, 128, 256, 512), embedding_size: int = 512,
           input_size: int = 112, dropout: float = 0.0, pretrained=None) -> IResNet:
    if pretrained:
        raise ValueError("iResNet has no pretrained weights to load by name; load a checkpoint folder instead")
    return IResNet(layers, tuple(widths), embedding_size, input_size, dropout)


@MODELS.register("iresnet18")
def iresnet18(**kwargs) -> IResNet:
    """iResNet-18 (2, 2, 2, 2 units), 512-d embedding at 112x112."""
    return _build((2, 2, 2, 2), **kwargs)


@MODELS.register("iresnet34")
def iresnet34(**kwargs) -> IResNet:
    """iResNet-34 (3, 4, 6, 3 units)."""
    return _build((3, 4, 6, 3), **kwargs)


@MODELS.register("iresnet50")
def iresnet50(**kwargs) -> IResNet:
    """iResNet-50 (3, 4, 14, 3 units), the r50 of arcface_torch."""
    return _build((3, 4, 14, 3), **kwargs)


@MODELS.register("test_iresnet")
def test_iresnet(embedding_size: int = 32, input_size: int = 32, **kwargs) -> IResNet:
    """A tiny iResNet for tests: one unit per stage, widths 8-64, 32x32 input."""
    return _build((1, 1, 1, 1), widths=(8, 16, 32, 64), embedding_size=embedding_size,
                  input_size=input_size, **kwargs)
