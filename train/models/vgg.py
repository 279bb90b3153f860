"""VGGFace-style VGG16 up to its first fc, and the ST-VGG / MT-VGG networks on it.

13 conv 3x3 + ReLU in 5 stages (64, 128, 256, 512, 512 channels), a 2x2 max-pool after each;
at a 96x96 face conv5 ends at 3x3x512, flattened into the first fc (4096). The heads read that
first fc: the paper's MT-VGG-RNN puts its GRU there, so MT-VGG's trunk is exactly the CNN part
of MT-VGG-RNN and initialises it. Later fcs of VGG-FACE would only be dropped again.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Trunk
from .heads import FrameModel
from .options import check_flag, check_task, check_width, face_input_shape, halved, scaled

#: (channels, convs) per stage
VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
FC1_FEATURES = 4096


def adaptive_pool_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """[size_out, size_in] averaging weights with exactly AdaptiveAvgPool's bins."""
    rows = torch.arange(size_out)
    starts = (rows * size_in) // size_out
    ends = ((rows + 1) * size_in + size_out - 1) // size_out
    cols = torch.arange(size_in)
    inside = (cols[None, :] >= starts[:, None]) & (cols[None, :] < ends[:, None])
    return inside.float() / (ends - starts).float()[:, None]


class FixedAdaptiveAvgPool2d(nn.Module):
    """AdaptiveAvgPool2d for an input size known when the model is built, as two matrix
    products: it exports to ONNX for any sizes (the exporter refuses adaptive pooling when
    the output size does not divide the input size, as for a 23-bin spectrogram map)."""

    def __init__(self, size_in: tuple[int, int], size_out: tuple[int, int]) -> None:
        super().__init__()
        self.size_out = tuple(size_out)
        self.register_buffer(
            "rows", adaptive_pool_matrix(size_in[0], size_out[0]), persistent=False
        )
        self.register_buffer(
            "cols", adaptive_pool_matrix(size_in[1], size_out[1]), persistent=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(torch.matmul(self.rows, x), self.cols.transpose(0, 1))


class VGGTrunk(Trunk):
    """VGG16 convs -> (pooling) -> flatten -> fc1 + ReLU; output ``out_features`` = 4096 * width.

    ``input_shape`` is the per-frame input [C, H, W]. With ``pool_to`` (the spectrogram stream,
    whose size follows the audio config) conv5 is average-pooled to at most that size first,
    which bounds fc1; without it (the 96x96 face) conv5 is flattened as in VGG-FACE.

    ``batch_norm`` puts BN after every conv (VGG16-BN). VGG-FACE has none and starts from its
    pretrained weights; from scratch on a CPU budget (the shipped defaults) BN converges in a
    fraction of the epochs, and at inference it folds into the conv (ONNX/TensorRT do so).

    ``mirror_average`` (faces only): in eval mode the features are the mean of the face's and
    its mirror image's, the flip test-time augmentation of the FER literature, as part of the
    model so that eval, every engine and real time compute the same thing. Training is
    unchanged (flip augmentation already shows it both sides); inference costs twice the convs.
    On FER2013 PublicTest it lifted the frame model 0.661 -> 0.675 at width 0.25, and at width 0.5
    0.681 -> 0.699 (35 epochs) and 0.688 -> 0.700 (50, stronger augmentation; docs/defaults.md).
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        width: float = 1.0,
        pool_to: tuple[int, int] | None = None,
        batch_norm: bool = False,
        mirror_average: bool = False,
    ) -> None:
        super().__init__()
        width = check_width(width)
        self.mirror_average = check_flag("mirror_average", mirror_average)
        self.input_shape = tuple(input_shape)
        layers: list[nn.Module] = []
        channels = input_shape[0]
        for stage_channels, convs in VGG16_STAGES:
            for _ in range(convs):
                out = scaled(stage_channels, width)
                layers.append(nn.Conv2d(channels, out, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.ReLU(inplace=True))
                channels = out
            # ceil mode: a short spectrogram axis shrinks to 1, never to 0
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        conv5 = (halved(input_shape[1], 5), halved(input_shape[2], 5))
        if pool_to is None:
            self.pool: nn.Module = nn.Identity()
            spatial = conv5
        else:
            spatial = (min(pool_to[0], conv5[0]), min(pool_to[1], conv5[1]))
            self.pool = FixedAdaptiveAvgPool2d(conv5, spatial)
        self.out_features = scaled(FC1_FEATURES, width)
        self.fc1 = nn.Linear(channels * spatial[0] * spatial[1], self.out_features)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """He init with zero biases (as VGG implementations do): with PyTorch's default init a
        13-conv ReLU stack without batch norm lets the signal fade and barely trains."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The 13 convs to conv5 (max-pooled): what torch2trt compiles."""
        return self.features(x)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """(spectrogram pooling) -> flatten -> fc1 + ReLU, in PyTorch under torch2trt: its
        pooling multiplies a 2-D matrix by the 4-D map, which torch2trt cannot convert."""
        return torch.relu(self.fc1(self.pool(features).flatten(1)))


def st_vgg(
    task: str = "expr",
    width: float = 1.0,
    dropout: float = 0.4,
    face_size: int = 96,
    in_channels: int = 3,
    batch_norm: bool = False,
    mirror_average: bool = False,
) -> FrameModel:
    tasks = check_task(task)
    shape = face_input_shape(face_size, in_channels)
    trunk = VGGTrunk(shape, width, batch_norm=batch_norm, mirror_average=mirror_average)
    return FrameModel(trunk, tasks, dropout, shape)


def mt_vgg(
    width: float = 1.0,
    dropout: float = 0.4,
    face_size: int = 96,
    in_channels: int = 3,
    batch_norm: bool = False,
    mirror_average: bool = False,
) -> FrameModel:
    """``batch_norm``: VGG16-BN instead of VGG-FACE's plain convs; ``mirror_average``: average
    each face with its mirror image at inference (both: see VGGTrunk)."""
    shape = face_input_shape(face_size, in_channels)
    trunk = VGGTrunk(shape, width, batch_norm=batch_norm, mirror_average=mirror_average)
    return FrameModel(trunk, ("va", "au", "expr"), dropout, shape)
