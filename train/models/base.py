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
"""

from __future__ import annotations

import torch
from torch import nn

TASKS = ("va", "au", "expr")


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
