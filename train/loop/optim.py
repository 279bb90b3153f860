"""Optimiser and learning-rate schedule from the config's ``[optim]`` section.

The schedule is a function of the optimiser step alone (a LambdaLR), so its state is a step
count and a resumed run follows the same curve.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable

import torch

from avaffect.train.config import OptimSection


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: OptimSection) -> torch.optim.Optimizer:
    """Adam (the paper's CNNs and CNN-RNNs) or SGD with momentum (its ArcFace nets)."""
    params = [p for p in params if p.requires_grad]
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(step: int, cfg: OptimSection, total_steps: int) -> float:
    """Multiplier of ``cfg.lr`` at optimiser ``step``: linear warm-up, then the schedule."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        span = max(1, total_steps - cfg.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - cfg.warmup_steps) / span)))
    if cfg.schedule == "step":
        return cfg.gamma ** bisect.bisect_right(sorted(cfg.milestones), step)
    return 1.0


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimSection, total_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, cfg, total_steps))
