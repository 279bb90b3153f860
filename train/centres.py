"""The last stage of an ArcFace run: class centres from the training embeddings.

At test time the paper classifies an expression by the cosine between a face's embedding and
each class's centre (the normalised mean embedding of that class on the training set). The
centres are buffers of the model, so fitting them and re-saving the checkpoint is all it takes
for every later user (eval, export, real time) to use them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from avaffect.checkpoint import load_checkpoint, save_checkpoint
from avaffect.train import distributed
from avaffect.train.evaluate import predict

if TYPE_CHECKING:
    from avaffect.train.trainer import Trainer


def fit_centres_in_checkpoints(trainer: Trainer, paths: list[Path]) -> None:
    """Fit the centres for the weights in each of ``paths`` and save them there. The last path
    is fitted last, so the trainer's model ends with those weights (and centres)."""
    dataset = trainer.train_set
    augment = getattr(dataset, "augment", None)
    distributed.barrier(trainer.ctx)  # every rank reads what rank 0 wrote
    try:
        if augment is not None:
            dataset.augment = None  # centres of the faces as they are, not of augmented ones
        for path in sorted(paths, key=lambda p: p.name == "last.safetensors"):
            ckpt = load_checkpoint(path)
            trainer.model.load_state_dict(ckpt.state_dict)
            samples = fit_centres(trainer.model, dataset, trainer)
            if trainer.ctx.is_main:
                cfg = trainer.config
                extra = {**ckpt.config.extra, "centres": {"dataset": cfg.data.dataset, "split": cfg.data.train_split,
                                                          "samples": samples}}
                save_checkpoint(path, trainer.model.state_dict(), replace(ckpt.config, extra=extra))
                print(f"{path}: class centres fitted on {samples} training embeddings")
    finally:
        if augment is not None:
            dataset.augment = augment


def fit_centres(model, dataset, trainer: Trainer) -> int:
    """Embed ``dataset`` and set ``model``'s centres; returns how many labelled samples it used."""
    outputs, targets = predict(
        model, dataset, device=trainer.device, batch_size=trainer.per_rank_batch,
        num_workers=trainer.config.num_workers, ctx=trainer.ctx, keys=("embedding",), amp=trainer.use_amp,
        progress=trainer.progress, desc="class centres",
    )
    labels = torch.from_numpy(targets["expr"]).long()
    model.fit_centres(torch.from_numpy(outputs["embedding"]).to(trainer.device), labels.to(trainer.device))
    return int((labels >= 0).sum())
