"""Any timm backbone as a face embedder: timm features -> global average pool -> FC -> BN1d."""

from __future__ import annotations

import torch
from torch import nn

from facetrust.models.face._common import face_preprocess
from facetrust.registry import MODELS


class TimmFace(nn.Module):
    def __init__(self, backbone: str, embedding_size: int = 512, input_size: int = 112,
                 pretrained: str | bool | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        import timm

        if pretrained:
            raise ValueError("face_timm loads no pretrained weights by name (nothing downloads); "
                             "train it or load a checkpoint folder")
        self.backbone = timm.create_model(backbone, pretrained=False, num_classes=0, global_pool="")
        self.embedding_size = embedding_size
        channels = self.backbone.num_features
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, embedding_size)
        self.features = nn.BatchNorm1d(embedding_size)
        self.preprocess = face_preprocess(input_size)
        self.task = "face"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3)) if x.ndim == 4 else x.mean(dim=1)  # CNN map or ViT tokens
        return self.features(self.fc(self.dropout(pooled)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@MODELS.register("face_timm")
def face_timm(backbone: str = "resnet18", embedding_size: int = 512, input_size: int = 112,
              pretrained=None, dropout: float = 0.0) -> TimmFace:
    """A timm backbone (by name, random weights) with a face-embedding head."""
    return TimmFace(backbone, embedding_size, input_size, pretrained, dropout)
