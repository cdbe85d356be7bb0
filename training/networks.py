"""Explicit registries of the networks a config may name (no import magic)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from monai.networks.nets import BasicUNet, FlexibleUNet, SegResNet
from torch import nn

from training.config import CompressibilityConfig, SegmentationConfig

N_LABELS = 4
N_CLASSES = 4


def _basic_unet(cfg: SegmentationConfig, in_channels: int) -> nn.Module:
    return BasicUNet(spatial_dims=2, in_channels=in_channels, out_channels=N_LABELS, features=cfg.features,
                     act=("LeakyReLU", {"negative_slope": 0.1, "inplace": True}), norm=("instance", {"affine": True}),
                     dropout=0.0)


def _segresnet(cfg: SegmentationConfig, in_channels: int) -> nn.Module:
    return SegResNet(spatial_dims=2, in_channels=in_channels, out_channels=N_LABELS, init_filters=cfg.features[0])


def _flexible_unet(cfg: SegmentationConfig, in_channels: int) -> nn.Module:
    return FlexibleUNet(in_channels=in_channels, out_channels=N_LABELS, backbone="efficientnet-b0",
                        pretrained=False, spatial_dims=2)


NETWORKS: dict[str, Callable[[SegmentationConfig, int], nn.Module]] = {
    "basic_unet": _basic_unet,
    "segresnet": _segresnet,
    "flexible_unet": _flexible_unet,
}


def segmentation_network(cfg: SegmentationConfig, in_channels: int) -> nn.Module:
    """Build the configured segmentation network."""
    if cfg.network not in NETWORKS:
        raise ValueError(f"unknown network {cfg.network!r}; valid: {', '.join(NETWORKS)}")
    return NETWORKS[cfg.network](cfg, in_channels)


class TemporalClassifier(nn.Module):
    """1-D convolutions over the clip's feature curves ``[batch, features, steps]`` → class logits."""

    def __init__(self, features: int, cfg: CompressibilityConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = features
        for width in cfg.channels:
            layers += [nn.Conv1d(channels, width, kernel_size=5, padding=2), nn.BatchNorm1d(width), nn.GELU()]
            channels = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(2 * channels, 64), nn.GELU(), nn.Dropout(0.1), nn.Linear(64, N_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
        return self.head(pooled)
