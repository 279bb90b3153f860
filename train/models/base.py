"""What every avaffect model is, so that the trainer, the exporters and the engines need
nothing model-specific.

Outputs are a dict with fixed keys (only the model's tasks are present):
- ``"va"``: [..., 2] valence and arousal, already through tanh, in [-1, 1];
- ``"au"``: [..., 8] AU logits (sigmoid gives probabilities);
- ``"expr"``: [..., 7] expression logits (softmax gives probabilities);
- ``"embedding"``: [..., d] L2-normalised embedding (ArcFace models only).

Frame models: ``forward(face [B, 3, S, S]) -> outputs``.
Recurrent models: ``forward(face [B, T, 3, S, S], spectrogram [B, T, 1, F, W] | None, hidden)
-> (outputs [B, T, ...], hidden)``, and ``step(face [B, 3, S, S], spectrogram [B, 1, F, W] |
None, hidden) -> (outputs [B, ...], hidden)``. The step form, run frame by frame, equals the
sequence form; it is what engines export, so that no engine keeps hidden state of its own.
``hidden`` is always one tensor of shape :meth:`hidden_shape` (several GRUs stack their
layers along dim 0).

Every per-frame CNN is a :class:`Trunk` and names its parts after timm's convention:
``forward_features`` (the convolutions, one image at a time) and ``forward_head`` (pooling,
flatten, fc). :meth:`AffectModel.trunks` lists them by name, so an engine that compiles
convolutions (torch2trt) converts exactly ``forward_features`` and runs the rest in PyTorch.
"""

from __future__ import annotations

import torch
from torch import nn

TASKS = ("va", "au", "expr")


class Trunk(nn.Module):
    """A per-frame CNN mapping an image [B, C, H, W] to features [B, out_features].

    ``forward_features`` is the convolutional part (image -> feature map), ``forward_head``
    the rest (pooling / flatten / fc). With ``mirror_average`` (eval mode only) the features
    are the mean of the image's and its mirror image's: the flip and the mean stay outside
    ``forward_features``, which is therefore the same computation for both sides.
    """

    #: the per-frame input [C, H, W] the trunk was built for
    input_shape: tuple[int, int, int]
    #: the width of the feature vector ``forward`` returns
    out_features: int
    mirror_average: bool = False

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_using(self.forward_features, x)

    def forward_using(self, features, x: torch.Tensor) -> torch.Tensor:
        """``forward`` with the feature map computed by ``features`` (``forward_features`` or
        an engine's compiled copy of it): head and mirror average are always these."""
        if self.mirror_average and not self.training:
            # one pass over face and mirror together: a batch of 2B costs less than two of B
            both = self.forward_head(features(torch.cat([x, x.flip(-1)])))
            return 0.5 * (both[: x.shape[0]] + both[x.shape[0] :])
        return self.forward_head(features(x))


class AffectModel(nn.Module):
    """Base class: the attributes every registered model sets."""

    #: the tasks this model predicts, a subset of TASKS in that order
    tasks: tuple[str, ...] = TASKS
    #: whether the model takes a spectrogram input
    uses_audio: bool = False
    #: whether the model has a GRU (sequence and step forms, hidden state)
    recurrent: bool = False
    #: whether the model has an ArcFace head ("embedding" output, class centres)
    arcface: bool = False
    #: hidden state layout for recurrent models: (layers, units)
    hidden_layers: int = 0
    hidden_units: int = 0
    #: per-frame input shapes: face [C, S, S] (None for audio-only models) and spectrogram
    #: [1, bins, frames] (None for visual models); exporters and engines build inputs from these
    face_shape: tuple[int, int, int] | None = (3, 96, 96)
    spectrogram_shape: tuple[int, int, int] | None = None

    def trunks(self) -> dict[str, Trunk]:
        """The model's per-frame CNNs by their dotted names (``"trunk"``, ``"frame"``,
        ``"face_stream.frame"`` ...): the parts an engine may compile."""
        return {name: m for name, m in self.named_modules() if isinstance(m, Trunk)}

    def hidden_shape(self, batch: int) -> tuple[int, int, int]:
        return (self.hidden_layers, batch, self.hidden_units)

    def init_hidden(self, batch: int, device: torch.device | str | None = None) -> torch.Tensor:
        if not self.recurrent:
            raise TypeError(f"{type(self).__name__} is not recurrent and has no hidden state")
        return torch.zeros(self.hidden_shape(batch), device=device)

    def step(
        self,
        face: torch.Tensor,
        spectrogram: torch.Tensor | None = None,
        hidden: torch.Tensor | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """One frame for a batch of faces. Frame models ignore ``hidden`` and return None for it."""
        if self.recurrent:
            raise NotImplementedError
        return self(face), None
