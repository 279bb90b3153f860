"""SphereFace-20 (Liu et al., CVPR 2017) and the ST / MT networks on it.

Four stages; each opens with a 3x3 conv of stride 2 + PReLU (64, 128, 256, 512 channels)
followed by 1, 2, 4, 1 residual units (two 3x3 conv + PReLU, identity shortcut): 4 + 2 * 8
= 20 conv layers. At a 96x96 face the last stage is 6x6x512, flattened into the fc (512)
that the heads read. No batch norm, as in the original.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Trunk
from .heads import FrameModel
from .options import check_task, check_width, face_input_shape, halved, scaled

SPHEREFACE20_STAGES = ((64, 1), (128, 2), (256, 4), (512, 1))
FC_FEATURES = 512


def conv_prelu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1), nn.PReLU(out_channels))


class SphereResidual(nn.Module):
    """x + PReLU(conv(PReLU(conv(x))))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_prelu(channels, channels), conv_prelu(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SphereFaceTrunk(Trunk):
    """SphereFace-20 convs -> flatten -> fc (512 * width)."""

    def __init__(self, input_shape: tuple[int, int, int], width: float = 1.0) -> None:
        super().__init__()
        width = check_width(width)
        self.input_shape = tuple(input_shape)
        stages: list[nn.Module] = []
        channels = input_shape[0]
        for stage_channels, units in SPHEREFACE20_STAGES:
            out = scaled(stage_channels, width)
            stages.append(
                nn.Sequential(
                    conv_prelu(channels, out, stride=2),
                    *(SphereResidual(out) for _ in range(units)),
                )
            )
            channels = out
        self.stages = nn.Sequential(*stages)
        spatial = halved(input_shape[1], 4) * halved(input_shape[2], 4)
        self.out_features = scaled(FC_FEATURES, width)
        self.fc = nn.Linear(channels * spatial, self.out_features)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features.flatten(1))


def st_sphereface(
    task: str = "expr",
    width: float = 1.0,
    dropout: float = 0.4,
    face_size: int = 96,
    in_channels: int = 3,
) -> FrameModel:
    tasks = check_task(task)
    shape = face_input_shape(face_size, in_channels)
    return FrameModel(SphereFaceTrunk(shape, width), tasks, dropout, shape)


def mt_sphereface(
    width: float = 1.0, dropout: float = 0.4, face_size: int = 96, in_channels: int = 3
) -> FrameModel:
    shape = face_input_shape(face_size, in_channels)
    return FrameModel(SphereFaceTrunk(shape, width), ("va", "au", "expr"), dropout, shape)
