"""One batch through any model: the only place that knows frame models take a face and
recurrent ones take (face, spectrogram, hidden) sequences.

Sequence outputs and targets ``[B, T, ...]`` are flattened to ``[B * T, ...]`` so that the
loss, the metrics and the ArcFace centre fitting see frames whatever the model.
"""

from __future__ import annotations

import torch

from avaffect.train.models.base import TASKS, AffectModel

INPUT_KEYS = ("face", "spectrogram")


def to_device(batch: dict, device: torch.device) -> dict:
    """Move the tensors of a collated batch to ``device`` (asynchronously from pinned memory)."""
    non_blocking = device.type == "cuda"
    return {k: v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def forward_batch(model: AffectModel, batch: dict) -> dict[str, torch.Tensor]:
    """The model's outputs for a batch, frame-flat: {task: [N, ...]}."""
    if not model.recurrent:
        return model(batch["face"])
    face = batch.get("face") if model.face_shape is not None else None
    spectrogram = batch.get("spectrogram") if model.uses_audio else None
    if model.uses_audio and spectrogram is None:
        raise ValueError("this model needs spectrograms, but the batch has none (dataset opened without audio)")
    outputs, _ = model(face, spectrogram, None)  # every training sequence starts from a zero state
    return {key: flat_frames(value) for key, value in outputs.items()}


def targets_of(batch: dict, recurrent: bool) -> dict[str, torch.Tensor]:
    """The label tensors of a batch ({va, au, expr} as present), frame-flat."""
    targets = {task: batch[task] for task in TASKS if task in batch}
    return {task: flat_frames(value) for task, value in targets.items()} if recurrent else targets


def flat_frames(value: torch.Tensor) -> torch.Tensor:
    """[B, T, ...] -> [B * T, ...]."""
    return value.reshape(value.shape[0] * value.shape[1], *value.shape[2:])
