"""PyTorch backend: the model itself, on the CPU or a CUDA GPU.

On CUDA, ``precision="fp16"``/``"bf16"`` run under autocast (the GRU's hidden state is kept
float32 between steps), and ``cuda_graphs=True`` captures the fixed-shape step once per
face count and replays it. CUDA graphs help when the per-step work is small (lite models,
a few faces), where launching dozens of kernels from Python costs more than running them;
for a full-width VGG the GPU is busy anyway and they gain little. They cost one capture
(and its memory) per distinct face count.
"""

from __future__ import annotations

import contextlib
import logging
import os

import numpy as np
import torch

from avaffect.engines.base import EngineSpec, State, StepEngine
from avaffect.engines.graph import StepGraph, describe, spectrogram_config
from avaffect.engines.sources import LoadOptions, Source
from avaffect.errors import AvaffectError

log = logging.getLogger("avaffect")

AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(device: str | None) -> torch.device:
    """``None`` -> CUDA when there is a GPU, else CPU; a CUDA request without one is an error."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise AvaffectError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise AvaffectError(
            "device cuda requested but PyTorch sees no CUDA GPU (CPU-only torch, or no driver); use --device cpu"
        )
    if resolved.type not in ("cpu", "cuda"):
        raise AvaffectError(f"device {device!r} is not supported; use cpu or cuda")
    return resolved


class TorchEngine(StepEngine):
    """A checkpoint run by PyTorch under ``torch.inference_mode``."""

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        device: str | None = None,
        *,
        precision: str = "fp32",
        cuda_graphs: bool = False,
    ) -> None:
        from avaffect.train.models import model_from_checkpoint

        self.device = resolve_device(device)
        if precision == "int8":
            raise AvaffectError(
                "int8 runs on ONNX Runtime (the CPU), not the PyTorch backend; use --backend "
                "onnxruntime, or --precision fp32"
            )
        if precision != "fp32" and self.device.type != "cuda":
            raise AvaffectError(
                f"{precision} on the PyTorch backend needs a CUDA GPU; use --precision fp32 on the CPU"
            )
        if cuda_graphs and self.device.type != "cuda":
            raise AvaffectError(
                f"CUDA graphs need a CUDA GPU, not {self.device.type}; load with "
                "cuda_graphs=False on the CPU (`avaffect bench --no-cuda-graphs` skips those rows)"
            )
        model, ckpt = model_from_checkpoint(checkpoint)
        info = describe(model, ckpt.config)
        self.graph = StepGraph(model.to(self.device), info).eval()
        self.info = info
        self.precision = precision
        self.arcface_scale = info.arcface_scale
        self.embedding_dim = info.embedding_dim
        self.spec = EngineSpec(
            model=ckpt.config.model,
            backend="torch",
            device=str(self.device),
            precision=precision,
            face=ckpt.config.face,
            audio=spectrogram_config(model, ckpt.config),
            uses_face=info.uses_face,
            uses_audio=info.uses_audio,
            recurrent=info.recurrent,
            arcface=info.arcface,
            hidden_shape=info.hidden_shape,
            input_names=info.input_names,
            output_names=info.output_names,
            max_faces=None,
            step_rate=ckpt.config.step_rate,
        )
        self._graphs = CudaGraphCache(self._forward) if cuda_graphs else None

    @classmethod
    def load(cls, source: Source, options: LoadOptions) -> TorchEngine:
        """The loader's entry: the PyTorch backend runs checkpoints only."""
        if source.kind != "checkpoint":
            raise AvaffectError(
                f"{source.path} is an exported {source.kind} engine; the torch backend runs the "
                "checkpoint itself: pass the .safetensors file, or choose --backend onnxruntime/tensorrt"
            )
        return cls(
            source.path,
            options.device,
            precision=options.precision,
            cuda_graphs=options.cuda_graphs,
        )

    def _zeros(self, shape):
        return torch.zeros(shape, device=self.device)

    def _autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        # Autocast's weight-cast cache must be off while a CUDA graph is captured.
        return torch.autocast(
            self.device.type,
            dtype=AUTOCAST_DTYPES[self.precision],
            cache_enabled=self._graphs is None,
        )

    def _forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with self._autocast():
            return self.graph(*inputs)

    def _run(self, faces, spectrograms, state: State):
        inputs = []
        for name in self.spec.input_names:
            if name == "hidden":
                inputs.append(self._state_tensor(state))
            else:
                array = faces if name == "face" else spectrograms
                inputs.append(
                    torch.from_numpy(np.ascontiguousarray(array, np.float32)).to(
                        self.device, non_blocking=True
                    )
                )
        with torch.inference_mode():
            outputs = self._graphs(*inputs) if self._graphs is not None else self._forward(*inputs)
            named = dict(zip(self.spec.output_names, outputs, strict=True))
            hidden = named.pop("hidden_out", None)
            # One device->host copy for every output, not one per output.
            host = (
                torch.cat([v.float().reshape(len(v), -1) for v in named.values()], 1).cpu().numpy()
            )
        raw, start = {}, 0
        for name, value in named.items():
            width = value.reshape(len(value), -1).shape[1]
            raw[name] = host[:, start : start + width]
            start += width
        return raw, (State(hidden.float()) if hidden is not None else state)

    def _state_tensor(self, state: State) -> torch.Tensor:
        data = state.data
        if (
            isinstance(data, torch.Tensor)
            and data.device == self.device
            and data.dtype == torch.float32
        ):
            return data
        return torch.as_tensor(state.numpy(), device=self.device)


class CudaGraphCache:
    """Capture ``forward`` as a CUDA graph per input shape (the face count) and replay it.

    Inputs are copied into the captured graph's static buffers; outputs are cloned out of
    its static buffers, since the next replay overwrites them.
    """

    def __init__(self, forward) -> None:
        self.forward = forward
        self.graphs: dict[tuple, tuple] = {}

    def __call__(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        key = tuple(tuple(t.shape) for t in inputs)
        if key not in self.graphs:
            self.graphs[key] = self._capture(inputs)
            log.debug("captured a CUDA graph for input shapes %s", key)
        graph, static_inputs, static_outputs = self.graphs[key]
        for static, value in zip(static_inputs, inputs, strict=True):
            static.copy_(value)
        graph.replay()
        return tuple(out.clone() for out in static_outputs)

    def _capture(self, inputs: tuple[torch.Tensor, ...]) -> tuple:
        static_inputs = tuple(t.clone() for t in inputs)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up runs: cuDNN picks its algorithms outside capture
            for _ in range(3):
                self.forward(*static_inputs)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_outputs = self.forward(*static_inputs)
        return graph, static_inputs, static_outputs
