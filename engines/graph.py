"""The single-step graph every engine runs, described once.

``StepGraph`` wraps a model's ``step`` as a module with positional tensor inputs and a tuple
of outputs in a fixed order (``(face, [spectrogram], [hidden]) -> (valence_arousal,
au_logits, expr_logits, [hidden_out], [embedding])``, only the tasks the model has), which
is what the ONNX exporter, torch2trt and the PyTorch backend all see. ``describe`` reads
off a model what an engine needs to know (I/O names, shapes, dtypes, tasks) by running it
once, so nothing model-specific lives in the engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from avaffect.audio import SpectrogramConfig
from avaffect.checkpoint import Checkpoint, CheckpointConfig, file_sha256
from avaffect.engines.base import (
    EMBEDDING_OUTPUT,
    FACE_INPUT,
    HIDDEN_INPUT,
    HIDDEN_OUTPUT,
    SPECTROGRAM_INPUT,
    TASK_OUTPUTS,
)
from avaffect.engines.manifest import Manifest, TensorSpec, current_versions
from avaffect.errors import AvaffectError

BATCH = "N"  # the dynamic face-batch dimension in TensorSpec shapes


@dataclass(frozen=True)
class GraphInfo:
    """What the single-step graph of one model takes and gives."""

    tasks: tuple[str, ...]
    uses_face: bool
    uses_audio: bool
    recurrent: bool
    arcface: bool
    hidden_shape: tuple[int, int] | None  # (layers, units) per face
    face_shape: tuple[int, int, int] | None  # None for audio-only models
    spectrogram_shape: tuple[int, int, int] | None
    embedding_dim: int | None
    arcface_scale: float | None

    @property
    def input_names(self) -> tuple[str, ...]:
        names = [FACE_INPUT] if self.uses_face else []
        names += [SPECTROGRAM_INPUT] if self.uses_audio else []
        names += [HIDDEN_INPUT] if self.recurrent else []
        return tuple(names)

    @property
    def output_names(self) -> tuple[str, ...]:
        names = [TASK_OUTPUTS[t] for t in self.tasks]
        names += [HIDDEN_OUTPUT] if self.recurrent else []
        names += [EMBEDDING_OUTPUT] if self.arcface else []
        return tuple(names)

    def input_specs(self, half: bool = False) -> tuple[TensorSpec, ...]:
        """Hidden state stays float32 even in a half-precision graph (the GRU runs in fp32)."""
        io = "float16" if half else "float32"
        specs = {
            FACE_INPUT: TensorSpec(FACE_INPUT, (BATCH, *(self.face_shape or ())), io),
            SPECTROGRAM_INPUT: TensorSpec(
                SPECTROGRAM_INPUT, (BATCH, *(self.spectrogram_shape or ())), io
            ),
            HIDDEN_INPUT: TensorSpec(HIDDEN_INPUT, self._hidden_dims(), "float32"),
        }
        return tuple(specs[name] for name in self.input_names)

    def output_specs(self, half: bool = False) -> tuple[TensorSpec, ...]:
        io = "float16" if half else "float32"
        widths = {"va": 2, "au": 8, "expr": 7}
        specs = [TensorSpec(TASK_OUTPUTS[t], (BATCH, widths[t]), io) for t in self.tasks]
        if self.recurrent:
            specs.append(TensorSpec(HIDDEN_OUTPUT, self._hidden_dims(), "float32"))
        if self.arcface:
            specs.append(TensorSpec(EMBEDDING_OUTPUT, (BATCH, self.embedding_dim), io))
        return tuple(specs)

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        """The face batch is dim 0 of every tensor except the hidden state's dim 1."""
        names = self.input_names + self.output_names
        return {n: {1 if n in (HIDDEN_INPUT, HIDDEN_OUTPUT) else 0: BATCH} for n in names}

    def _hidden_dims(self) -> tuple:
        layers, units = self.hidden_shape or (0, 0)
        return (layers, BATCH, units)


class StepGraph(nn.Module):
    """``model.step`` as a module with positional inputs and ordered tuple outputs."""

    def __init__(self, model: nn.Module, info: GraphInfo) -> None:
        super().__init__()
        self.model = model
        self.info = info

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        named = dict(zip(self.info.input_names, inputs, strict=True))
        outputs, hidden = self.model.step(
            named.get(FACE_INPUT), named.get(SPECTROGRAM_INPUT), named.get(HIDDEN_INPUT)
        )
        result = [outputs[t] for t in self.info.tasks]
        if self.info.recurrent:
            result.append(hidden.float())
        if self.info.arcface:
            result.append(outputs["embedding"])
        return tuple(result)


def spectrogram_config(model: nn.Module, config: CheckpointConfig) -> SpectrogramConfig | None:
    """The spectrogram an audio model is fed: the checkpoint's, checked against the model."""
    if not getattr(model, "uses_audio", False):
        return None
    audio = config.audio or SpectrogramConfig()
    expected = getattr(model, "spectrogram_shape", None)
    if expected is not None and tuple(expected) != audio.shape:
        raise AvaffectError(
            f"model {config.model} expects spectrograms {tuple(expected)} but its checkpoint's audio "
            f"config gives {audio.shape}; save the checkpoint with the SpectrogramConfig it was trained on"
        )
    return audio


def describe(model: nn.Module, config: CheckpointConfig) -> GraphInfo:
    """Read the graph's I/O off the model by running one step on zeros (batch 1, eval mode)."""
    audio = spectrogram_config(model, config)
    uses_audio = audio is not None
    recurrent = bool(model.recurrent)
    spec_shape = audio.shape if uses_audio else None
    face_shape = getattr(model, "face_shape", None)
    uses_face = face_shape is not None
    if uses_face and tuple(face_shape) != tuple(config.face.shape):
        raise AvaffectError(
            f"model {config.model} takes faces {tuple(face_shape)} but its checkpoint's face spec gives "
            f"{config.face.shape}; save the checkpoint with the FaceSpec it was trained on"
        )
    face = torch.zeros(1, *face_shape) if uses_face else None
    spectrogram = torch.zeros(1, *spec_shape) if uses_audio else None
    hidden = torch.zeros(model.hidden_shape(1)) if recurrent else None
    with torch.inference_mode():
        outputs, _ = model.step(face, spectrogram, hidden)
    arcface = bool(getattr(model, "arcface", False))
    return GraphInfo(
        tasks=tuple(t for t in ("va", "au", "expr") if t in outputs),
        uses_face=uses_face,
        uses_audio=uses_audio,
        recurrent=recurrent,
        arcface=arcface,
        hidden_shape=(model.hidden_layers, model.hidden_units) if recurrent else None,
        face_shape=tuple(face_shape) if uses_face else None,
        spectrogram_shape=spec_shape,
        embedding_dim=int(outputs["embedding"].shape[-1]) if arcface else None,
        arcface_scale=float(model.scale) if arcface else None,
    )


def example_inputs(
    info: GraphInfo, batch: int, half: bool = False, device: str = "cpu"
) -> tuple[torch.Tensor, ...]:
    """Deterministic non-trivial inputs for tracing and parity checks."""
    generator = torch.Generator().manual_seed(0)
    dtype = torch.float16 if half else torch.float32
    tensors = []
    for spec in info.input_specs(half):
        shape = tuple(batch if d == BATCH else d for d in spec.shape)
        value = torch.rand(shape, generator=generator) * 2 - 1
        if spec.name == HIDDEN_INPUT:
            value = value * 0.5
            tensors.append(value.to(device))
        else:
            tensors.append(value.to(device=device, dtype=dtype))
    return tuple(tensors)


def effective_config(model: nn.Module, checkpoint: Checkpoint) -> dict:
    """The checkpoint's config with the spectrogram an audio model is really fed filled in."""
    audio = spectrogram_config(model, checkpoint.config)
    return {**checkpoint.config.to_dict(), "audio": None if audio is None else audio.to_dict()}


def graph_manifest(
    model: nn.Module,
    info: GraphInfo,
    checkpoint: Checkpoint,
    engine_file: Path,
    *,
    artifact: str,
    precision: str,
    half_io: bool,
    max_faces: int | None,
    opset: int | None = None,
    gpu: dict | None = None,
    versions: dict | None = None,
    notes: dict | None = None,
) -> Manifest:
    """The manifest of an engine file built from ``checkpoint``'s single-step graph."""
    return Manifest(
        artifact=artifact,
        file=engine_file.name,
        file_sha256=file_sha256(engine_file),
        model=checkpoint.config.model,
        model_kwargs=checkpoint.config.model_kwargs,
        checkpoint_config=effective_config(model, checkpoint),
        source_sha256=file_sha256(checkpoint.path),
        source_path=str(Path(checkpoint.path).resolve()),
        precision=precision,
        max_faces=max_faces,
        opset=opset,
        inputs=info.input_specs(half_io),
        outputs=info.output_specs(half_io),
        tasks=info.tasks,
        uses_face=info.uses_face,
        uses_audio=info.uses_audio,
        recurrent=info.recurrent,
        arcface=info.arcface,
        hidden_shape=info.hidden_shape,
        arcface_scale=info.arcface_scale,
        embedding_dim=info.embedding_dim,
        versions=versions or current_versions(),
        gpu=gpu,
        notes=notes or {},
    )
