"""An exponential moving average of a model's weights, for validation and ``best.safetensors``.

Small validation sets (a few hundred speech clips from a handful of speakers) make the score
swing several points between two evaluations of the same run, so the checkpoint the best score
picks is partly chosen by noise. Averaging the weights over the last few hundred steps (Polyak
averaging; timm's ``ModelEmaV2``) gives a model that sits in the middle of where the optimiser
wandered, which usually scores as well as the best of its neighbours and varies far less.

``average = WeightAverage(model, decay=0.998)``; ``average.update(model)`` after each optimiser
step; ``average.model`` is the averaged copy (in eval mode, never trained). Floating-point
parameters and buffers (batch norm's running statistics too) are averaged; integer buffers
(``num_batches_tracked``) are copied.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from avaffect.errors import AvaffectError


class WeightAverage:
    """The exponential moving average of ``model``'s state, itself a model."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise AvaffectError(f"ema_decay must be in (0, 1) (0: off), got {decay}")
        self.decay = float(decay)
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current weights by ``1 - decay``."""
        current = model.state_dict()
        for name, average in self.model.state_dict().items():
            value = current[name].detach()
            if average.is_floating_point():
                average.lerp_(value.to(average.dtype), 1.0 - self.decay)
            else:
                average.copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
