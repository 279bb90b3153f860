"""The last stage of an ArcFace run: class centres from the training embeddings.

At test time the paper classifies an expression by the cosine between a face's embedding and
each class's centre (the normalised mean embedding of that class on the training set). The
centres are buffers of the model, so fitting them and re-saving the checkpoint is all it takes
for every later user (eval, export, real time) to use them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import Dataset

from avaffect.checkpoint import load_checkpoint, save_checkpoint
from avaffect.train.evaluation.evaluate import Predicting, predict
from avaffect.train.loop import distributed
from avaffect.train.models.base import AffectModel


def fit_centres_in_checkpoints(
    model: AffectModel, dataset: Dataset, paths: list[Path], how: Predicting, source: dict
) -> None:
    """Fit the centres for the weights in each of ``paths`` and save them there, noting
    ``source`` (the dataset's name and split) in the checkpoint. The last path is fitted last,
    so ``model`` ends with those weights (and centres)."""
    augment = getattr(dataset, "augment", None)
    distributed.barrier(how.ctx)  # every rank reads what rank 0 wrote
    try:
        if augment is not None:
            dataset.augment = None  # centres of the faces as they are, not of augmented ones
        for path in sorted(paths, key=lambda p: p.name == "last.safetensors"):
            ckpt = load_checkpoint(path)
            model.load_state_dict(ckpt.state_dict)
            samples = fit_centres(model, dataset, how)
            if how.ctx.is_main:
                extra = {**ckpt.config.extra, "centres": {**source, "samples": samples}}
                save_checkpoint(path, model.state_dict(), replace(ckpt.config, extra=extra))
                print(f"{path}: class centres fitted on {samples} training embeddings")
    finally:
        if augment is not None:
            dataset.augment = augment


def fit_centres(model: AffectModel, dataset: Dataset, how: Predicting) -> int:
    """Embed ``dataset`` and set ``model``'s centres; returns how many labelled samples it used."""
    outputs, targets = predict(model, dataset, how, keys=("embedding",), desc="class centres")
    labels = torch.from_numpy(targets["expr"]).long()
    model.fit_centres(torch.from_numpy(outputs["embedding"]).to(how.device), labels.to(how.device))
    return int((labels >= 0).sum())
