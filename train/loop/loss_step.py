"""The loss of one training step: the config's ``[loss]`` section as a :class:`MultiTaskLoss`,
and the model and that loss as one module for DDP."""

from __future__ import annotations

import torch
from torch import nn

from avaffect.train.config import LossSection
from avaffect.train.loop.batches import forward_batch, targets_of
from avaffect.train.objectives.losses import MultiTaskLoss


def build_loss(cfg: LossSection) -> MultiTaskLoss:
    return MultiTaskLoss(
        va_weight=cfg.weights.get("va", 1.0), au_weight=cfg.weights.get("au", 1.0),
        expr_weight=cfg.weights.get("expr", 1.0), va_loss=cfg.va_loss,
        label_smoothing=cfg.label_smoothing,
        expr_class_weights=tuple(cfg.expr_class_weights) or None,
        au_pos_weight=tuple(cfg.au_pos_weight) or None,
        margin_warmup_steps=cfg.margin_warmup_steps,
    )


class LossStep(nn.Module):
    """Model + loss as one module, so that DDP sees every parameter the loss uses (the ArcFace
    class weights enter only through the loss). The loss is computed in float32 under AMP."""

    def __init__(self, model: nn.Module, loss: MultiTaskLoss, device: torch.device):
        super().__init__()
        self.model, self.loss, self.device_type = model, loss, device.type

    def forward(self, batch: dict, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        outputs = forward_batch(self.model, batch)
        with torch.autocast(self.device_type, enabled=False):
            outputs = {key: value.float() for key, value in outputs.items()}
            return self.loss(outputs, targets_of(batch, self.model.recurrent), model=self.model, step=step)
