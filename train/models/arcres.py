"""ArcRes (the paper's Fig. 5): a residual backbone with batch norm, as ArcFace's IR nets.

Stem conv 3x3 + BN + PReLU, then four stages (64, 128, 256, 512 channels) of residual units
BN -> conv 3x3 -> BN -> PReLU -> conv 3x3 -> BN, the first unit of each stage with stride 2
and a 1x1 conv + BN shortcut (the shape changes there), identity elsewhere. The output layer
starts with BN on the last map (96x96 face: 6x6x512), flattened: those are the features the
VA and AU heads read and that the embedding fc (dropout -> fc -> BN, in arcface.py) maps to d.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import Trunk
from .options import check_counts, check_width, halved, scaled

ARCRES_CHANNELS = (64, 128, 256, 512)
#: units per stage; an IR-34-like depth, a sane default (the count is configurable)
ARCRES_UNITS = (3, 4, 6, 3)


class ResidualUnit(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_ch),
            nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.PReLU(out_ch),
            nn.Conv2d(out_ch, out_ch, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_ch),
        )
        if stride == 1 and in_ch == out_ch:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.body(x)


class ArcResTrunk(Trunk):
    """ArcRes convs -> BN -> flatten; ``out_features`` = 512 * width * (S / 16)^2."""

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        width: float = 1.0,
        units: Sequence[int] = ARCRES_UNITS,
    ) -> None:
        super().__init__()
        width = check_width(width)
        units = check_counts("units", units, len(ARCRES_CHANNELS), minimum=1)
        self.input_shape = tuple(input_shape)
        channels = scaled(ARCRES_CHANNELS[0], width)
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.PReLU(channels),
        )
        stages = []
        for stage_channels, count in zip(ARCRES_CHANNELS, units, strict=True):
            out = scaled(stage_channels, width)
            stage = [ResidualUnit(channels, out, 2)] + [
                ResidualUnit(out, out, 1) for _ in range(count - 1)
            ]
            stages.append(nn.Sequential(*stage))
            channels = out
        self.stages = nn.Sequential(*stages)
        self.norm = nn.BatchNorm2d(channels)
        self.out_features = channels * halved(input_shape[1], 4) * halved(input_shape[2], 4)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.stages(self.stem(x)))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return features.flatten(1)
