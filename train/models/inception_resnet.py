"""Inception-ResNet v1 (Szegedy et al., AAAI 2017) and the ST / MT networks on it.

Stem, then Inception-ResNet-A blocks, Reduction-A, -B blocks, Reduction-B, -C blocks (each
block adds its scaled branch output to its input: 0.17, 0.10, 0.20), global average pool.
The paper's 299x299 stem uses unpadded convs; here every conv is padded so that a 96x96 face
keeps a usable map: 96 -> 12 (A) -> 6 (B) -> 3 (C). Block counts are configurable:
``blocks=[5, 10, 5]`` is the original; the lite variant uses fewer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .base import Trunk
from .heads import FrameModel
from .options import check_counts, check_task, check_width, face_input_shape, scaled


class ConvBN(nn.Sequential):
    """Conv (no bias) -> BN -> ReLU, "same" padding for odd kernels."""

    def __init__(self, in_ch: int, out_ch: int, kernel, stride: int = 1) -> None:
        kernel = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        padding = (kernel[0] // 2, kernel[1] // 2)
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel, stride, padding, bias=False),
            nn.BatchNorm2d(out_ch, eps=1e-3),
            nn.ReLU(inplace=True),
        )


class ResidualInception(nn.Module):
    """x + scale * conv1x1(concat(branches(x))), then ReLU: the A, B and C blocks."""

    def __init__(
        self, channels: int, branches: list[nn.Module], branch_out: int, scale: float
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.up = nn.Conv2d(branch_out, channels, 1)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = torch.cat([branch(x) for branch in self.branches], dim=1)
        return torch.relu(x + self.scale * self.up(mixed))


def block_a(c: int, w: float) -> ResidualInception:
    b = scaled(32, w)
    branches = [ConvBN(c, b, 1), nn.Sequential(ConvBN(c, b, 1), ConvBN(b, b, 3)),
                nn.Sequential(ConvBN(c, b, 1), ConvBN(b, b, 3), ConvBN(b, b, 3))]  # fmt: skip
    return ResidualInception(c, branches, 3 * b, 0.17)


def block_b(c: int, w: float) -> ResidualInception:
    b = scaled(128, w)
    branches = [
        ConvBN(c, b, 1),
        nn.Sequential(ConvBN(c, b, 1), ConvBN(b, b, (1, 7)), ConvBN(b, b, (7, 1))),
    ]
    return ResidualInception(c, branches, 2 * b, 0.10)


def block_c(c: int, w: float) -> ResidualInception:
    b = scaled(192, w)
    branches = [
        ConvBN(c, b, 1),
        nn.Sequential(ConvBN(c, b, 1), ConvBN(b, b, (1, 3)), ConvBN(b, b, (3, 1))),
    ]
    return ResidualInception(c, branches, 2 * b, 0.20)


class Reduction(nn.Module):
    """Stride-2 max pool beside stride-2 conv branches, concatenated."""

    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.pool(x), *(branch(x) for branch in self.branches)], dim=1)


def reduction_a(c: int, w: float) -> tuple[Reduction, int]:
    # Szegedy et al.'s k, l, m, n filter counts for Inception-ResNet v1
    k, el, m, n = scaled(192, w), scaled(192, w), scaled(256, w), scaled(384, w)
    branches = [
        ConvBN(c, n, 3, 2),
        nn.Sequential(ConvBN(c, k, 1), ConvBN(k, el, 3), ConvBN(el, m, 3, 2)),
    ]
    return Reduction(branches), c + n + m


def reduction_b(c: int, w: float) -> tuple[Reduction, int]:
    r, o1, o2 = scaled(256, w), scaled(384, w), scaled(256, w)
    branches = [nn.Sequential(ConvBN(c, r, 1), ConvBN(r, o1, 3, 2)),
                nn.Sequential(ConvBN(c, r, 1), ConvBN(r, o2, 3, 2)),
                nn.Sequential(ConvBN(c, r, 1), ConvBN(r, r, 3), ConvBN(r, o2, 3, 2))]  # fmt: skip
    return Reduction(branches), c + o1 + 2 * o2


def stem(in_ch: int, w: float) -> tuple[nn.Sequential, int]:
    c = [scaled(n, w) for n in (32, 32, 64, 80, 192, 256)]
    layers = nn.Sequential(
        ConvBN(in_ch, c[0], 3, 2), ConvBN(c[0], c[1], 3), ConvBN(c[1], c[2], 3),
        nn.MaxPool2d(3, 2, padding=1),
        ConvBN(c[2], c[3], 1), ConvBN(c[3], c[4], 3), ConvBN(c[4], c[5], 3, 2),
    )  # fmt: skip
    return layers, c[5]


class InceptionResNetTrunk(Trunk):
    """Inception-ResNet v1 -> global average pool; ``out_features`` = 1792 * width."""

    def __init__(
        self, input_shape: tuple[int, int, int], width: float = 1.0, blocks=(5, 10, 5)
    ) -> None:
        super().__init__()
        width = check_width(width)
        n_a, n_b, n_c = check_counts("blocks", blocks, 3)
        self.input_shape = tuple(input_shape)
        self.stem, c = stem(input_shape[0], width)
        self.blocks_a = nn.Sequential(*(block_a(c, width) for _ in range(n_a)))
        self.reduction_a, c = reduction_a(c, width)
        self.blocks_b = nn.Sequential(*(block_b(c, width) for _ in range(n_b)))
        self.reduction_b, c = reduction_b(c, width)
        self.blocks_c = nn.Sequential(*(block_c(c, width) for _ in range(n_c)))
        self.out_features = c

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduction_a(self.blocks_a(self.stem(x)))
        return self.blocks_c(self.reduction_b(self.blocks_b(x)))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return features.mean(dim=(2, 3))


def st_inception_resnet(
    task: str = "expr",
    width: float = 1.0,
    blocks: Sequence[int] = (5, 10, 5),
    dropout: float = 0.4,
    face_size: int = 96,
    in_channels: int = 3,
) -> FrameModel:
    tasks = check_task(task)
    shape = face_input_shape(face_size, in_channels)
    return FrameModel(InceptionResNetTrunk(shape, width, blocks), tasks, dropout, shape)


def mt_inception_resnet(
    width: float = 1.0,
    blocks: Sequence[int] = (5, 10, 5),
    dropout: float = 0.4,
    face_size: int = 96,
    in_channels: int = 3,
) -> FrameModel:
    shape = face_input_shape(face_size, in_channels)
    return FrameModel(
        InceptionResNetTrunk(shape, width, blocks), ("va", "au", "expr"), dropout, shape
    )
