"""CIFAR-style ResNet8 (He et al., "Deep Residual Learning", CVPR 2016, §4.2) as a student.

Depth 6n + 2 with n = 1: a 3x3 stem with 16 channels, three stages of one basic block each
(16, 32, 64 channels, strides 1, 2, 2), global average pooling. Used by the deepfake seed as the
student of EfficientNet-B7 and here as the smallest FAS student.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facetrust.models.students import IMAGENET_MEAN, IMAGENET_STD, Student
from facetrust.registry import MODELS


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet8(nn.Module):
    """(B, 3, H, W) -> (B, 64) pooled features; ``layer1..3`` are the stages to tap."""

    def __init__(self, widths: tuple[int, int, int] = (16, 32, 64)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.layer1 = BasicBlock(widths[0], widths[0], 1)
        self.layer2 = BasicBlock(widths[0], widths[1], 2)
        self.layer3 = BasicBlock(widths[1], widths[2], 2)
        self.num_features = widths[2]
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return x.mean(dim=(2, 3))


@MODELS.register("resnet8")
def resnet8(
    embed_dim: int = 512,
    image_size: int = 224,
    widths: list[int] | tuple[int, int, int] = (16, 32, 64),
    pretrained: None = None,
) -> Student:
    """ResNet8 student; ``pretrained`` must stay None (there are no published weights)."""
    if pretrained:
        raise ValueError("resnet8 has no pretrained weights; train it or load a facetrust checkpoint")
    backbone = ResNet8(tuple(int(w) for w in widths))
    student = Student(backbone, backbone.num_features, embed_dim, ["layer1", "layer2", "layer3"])
    student.preprocess = {"input_size": (3, image_size, image_size), "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    return student
