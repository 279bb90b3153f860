"""Task heads, and the frame model every ST-* and MT-* network is: a backbone, dropout, heads.

Head sizes follow the contract: VA 2 (through tanh, so in [-1, 1]), AU 8 logits, Expr 7
logits. The heads read the backbone's feature vector (VGG: its first fc).
"""

from __future__ import annotations

import torch
from torch import nn

from avaffect.labels import NUM_AUS, NUM_EXPRESSIONS, VA

from .base import TASKS, AffectModel
from .inputs import require
from .options import check_dropout

HEAD_SIZES = {"va": len(VA), "au": NUM_AUS, "expr": NUM_EXPRESSIONS}


class TaskHeads(nn.Module):
    """One linear layer per task on a shared feature vector; works on [..., features]."""

    def __init__(self, in_features: int, tasks: tuple[str, ...] = TASKS) -> None:
        super().__init__()
        self.tasks = tuple(tasks)
        self.layers = nn.ModuleDict(
            {task: nn.Linear(in_features, HEAD_SIZES[task]) for task in self.tasks}
        )

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {task: self.layers[task](features) for task in self.tasks}
        if "va" in out:
            out["va"] = torch.tanh(out["va"])
        return out


class FrameModel(AffectModel):
    """Backbone -> dropout -> task heads; ``tasks`` is one task (ST-*) or all three (MT-*).

    ``trunk`` is any module mapping a face [B, C, S, S] to features [B, trunk.out_features].
    """

    def __init__(
        self,
        trunk: nn.Module,
        tasks: tuple[str, ...],
        dropout: float,
        face_shape: tuple[int, int, int],
    ) -> None:
        super().__init__()
        self.tasks = tuple(tasks)
        self.face_shape = tuple(face_shape)
        self.trunk = trunk
        self.dropout = nn.Dropout(check_dropout(dropout))
        self.heads = TaskHeads(trunk.out_features, self.tasks)

    def forward(self, face: torch.Tensor) -> dict[str, torch.Tensor]:
        require(face, "face", self.face_shape, "B", "this frame model")
        return self.heads(self.dropout(self.trunk(face)))
