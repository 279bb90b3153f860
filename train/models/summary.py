"""What each registered model is: size, cost per frame, inputs and outputs.

Models are built on the ``meta`` device (shapes without memory or initialisation), so
summarising all of them takes a moment even for the paper's 60M-parameter networks; FLOPs
are counted with ``torch.utils.flop_counter.FlopCounterMode`` over one frame at batch 1:
one step for recurrent models, a face and/or the model's spectrogram (1 s by default).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from .registry import ModelEntry, create_model, list_models

LITE_SUFFIX = "_lite"


@dataclass
class ModelSummary:
    name: str
    reproduces: str
    description: str
    parameters: int
    gflops: float  # per frame, batch 1
    inputs: dict[str, list[int]]  # per frame, without the batch dim; hidden as [layers, units]
    outputs: dict[str, list[int]]
    recurrent: bool
    uses_audio: bool
    arcface: bool
    defaults: dict

    def to_dict(self) -> dict:
        return asdict(self)


def reproduces(entry: ModelEntry, entries: dict[str, ModelEntry]) -> str:
    """The paper row; a lite variant names its full-size model's row."""
    if entry.paper_row:
        return entry.paper_row
    base = entries.get(entry.name.removesuffix(LITE_SUFFIX))
    if entry.name.endswith(LITE_SUFFIX) and base is not None and base.paper_row:
        return f"{base.paper_row}, lite"
    return "-"


def summarise(entry: ModelEntry, entries: dict[str, ModelEntry]) -> ModelSummary:
    with torch.device("meta"):
        model = create_model(entry.name).eval()
    inputs: dict[str, list[int]] = {}
    if model.face_shape is not None:
        inputs["face"] = list(model.face_shape)
    if model.uses_audio:
        inputs["spectrogram"] = list(model.spectrogram_shape)
    if model.recurrent:
        inputs["hidden"] = [model.hidden_layers, model.hidden_units]
    face = torch.zeros(1, *model.face_shape, device="meta") if "face" in inputs else None
    spectrogram = (
        torch.zeros(1, *model.spectrogram_shape, device="meta") if model.uses_audio else None
    )
    hidden = model.init_hidden(1, device="meta") if model.recurrent else None
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        outputs, _ = model.step(face, spectrogram, hidden)
    return ModelSummary(
        name=entry.name,
        reproduces=reproduces(entry, entries),
        description=entry.description,
        parameters=sum(p.numel() for p in model.parameters()),
        gflops=counter.get_total_flops() / 1e9,
        inputs=inputs,
        outputs={key: list(value.shape[1:]) for key, value in outputs.items()},
        recurrent=model.recurrent,
        uses_audio=model.uses_audio,
        arcface=model.arcface,
        defaults=dict(entry.defaults),
    )


def summarise_all() -> list[ModelSummary]:
    entries = {entry.name: entry for entry in list_models()}
    return [summarise(entry, entries) for entry in entries.values()]
