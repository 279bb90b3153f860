"""TensorRT backend: runs a serialized plan on an NVIDIA GPU (TensorRT 10 and 11).

Runtime design:
- name-based I/O: ``set_input_shape`` / ``set_tensor_address`` / ``execute_async_v3`` on a
  stream of our own (never the legacy default stream, which would serialise with
  everything else on the GPU);
- every buffer is a torch CUDA tensor preallocated for ``max_faces`` (torch is always
  there and frees them with the engine); a step with N faces uses the first N rows; input
  shapes are set before any address, and every address is a live buffer's;
- the CUDA device and stream are a :class:`CudaPlace`, the run path's only CUDA calls (the
  tests put a CPU stand-in there to run this module against fake TensorRT objects);
- the hidden state ping-pongs between two preallocated buffers: a step reads the state
  where the previous step wrote it and writes into the other one, so a face batch whose
  rows do not change (``State.take`` with identity rows) never leaves the GPU nor gets
  copied. The price: a State from step *k* is overwritten by step *k+2*. Each buffer
  carries a generation count, and a state used after its buffer was reused is refused with
  a clear message instead of silently reading another step's numbers. ``State.take`` with
  a different row order and ``State.numpy`` both copy, and their results never expire.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import numpy as np

from avaffect.engines import tensorrt_build
from avaffect.engines.base import HIDDEN_INPUT, HIDDEN_OUTPUT, State, StepEngine
from avaffect.engines.manifest import (
    Expected,
    mismatches,
    read_manifest,
    spec_from_manifest,
    verify_file,
)
from avaffect.engines.sources import LoadOptions, Source
from avaffect.engines.tensorrt_build import ensure_plan, import_tensorrt
from avaffect.errors import AvaffectError

log = logging.getLogger("avaffect")


class CudaPlace:
    """The CUDA device an engine runs on and its own stream.

    The device always carries its index: ``torch.device("cuda")`` is not equal to the
    ``cuda:0`` a CUDA tensor reports, and comparing the two would send the hidden state
    through the host on every step.
    """

    def __init__(self, device: str | None = None) -> None:
        import torch

        place = torch.device(device or "cuda")
        if place.type != "cuda":
            raise AvaffectError(
                f"the TensorRT backend runs on a CUDA device, not {device!r}; use --backend onnxruntime for the CPU"
            )
        if place.index is None:
            place = torch.device("cuda", torch.cuda.current_device())
        self.device = place
        with torch.cuda.device(place):
            self.stream = torch.cuda.Stream(place)

    def scope(self):
        """Make this device current (for allocation and deserialization)."""
        import torch

        return torch.cuda.device(self.device)

    @contextlib.contextmanager
    def launch(self):
        """Run on our stream, after the work already queued on the default stream (e.g. a
        State's zeros); copies to the host made inside wait for the launch."""
        import torch

        with torch.cuda.device(self.device), torch.cuda.stream(self.stream):
            self.stream.wait_stream(torch.cuda.default_stream(self.device))
            yield self.stream.cuda_stream

    def holds(self, tensor) -> bool:
        """Whether ``tensor`` lives on this device (then it is bound where it is)."""
        return tensor.device == self.device


class TensorRTEngine(StepEngine):
    """A TensorRT plan (with its manifest) run on one CUDA device."""

    @classmethod
    def load(cls, source: Source, options: LoadOptions) -> TensorRTEngine:
        return cls(ensure_plan(source, options), options.device)

    def __init__(
        self, plan_path: str | os.PathLike, device: str | None = None, *, place=None
    ) -> None:
        trt = import_tensorrt()
        self.path = Path(plan_path)
        self.manifest = read_manifest(self.path)
        verify_file(self.path, self.manifest)
        self.place = place if place is not None else CudaPlace(device)
        self.device = self.place.device
        with self.place.scope():
            self._check_built_here(trt)
            self.logger = trt.Logger(trt.Logger.WARNING)
            self.runtime = trt.Runtime(self.logger)
            self.engine = self.runtime.deserialize_cuda_engine(self.path.read_bytes())
            if self.engine is None:
                raise AvaffectError(
                    f"{self.path}: TensorRT could not deserialize this plan (corrupt, or built by "
                    "another TensorRT); delete it or load the checkpoint to rebuild it"
                )
            self.context = self.engine.create_execution_context()
            self.max_faces = self._profile_max_faces()
            # The hidden state has buffers of its own (below): none here for it.
            names = [n for n in self._io_names() if n not in (HIDDEN_INPUT, HIDDEN_OUTPUT)]
            self.buffers = {name: self._allocate(trt, name) for name in names}
            self._hidden = None
            if self.manifest.recurrent:
                self._hidden = [self._allocate(trt, HIDDEN_OUTPUT) for _ in range(2)]
                self._generation = [0, 0]
                self._last = 1
        self.spec = spec_from_manifest(self.manifest, "tensorrt", str(self.device), self.max_faces)
        self.arcface_scale = self.manifest.arcface_scale
        self.embedding_dim = self.manifest.embedding_dim
        self._outputs = [t.name for t in self.manifest.outputs if t.name != HIDDEN_OUTPUT]

    def _check_built_here(self, trt) -> None:
        expected = Expected(
            "tensorrt",
            self.manifest.precision,
            versions={"tensorrt": str(trt.__version__)},
            gpu=tensorrt_build.gpu_identity(),
        )
        problems = mismatches(self.manifest, expected)
        if problems:
            raise AvaffectError(
                f"{self.path}: plan was built for another setup ({'; '.join(problems)}); "
                "load the checkpoint instead to rebuild it for this one"
            )

    def _io_names(self) -> list[str]:
        return [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]

    def _profile_max_faces(self) -> int:
        first = self.manifest.inputs[0]
        batch_dim = list(first.shape).index("N")
        _, _, high = self.engine.get_tensor_profile_shape(first.name, 0)
        return int(high[batch_dim])

    def _allocate(self, trt, name: str):
        """A flat buffer for ``max_faces``; a step views its first N faces' worth of it."""
        import torch

        shape = [self.max_faces if d == "N" else int(d) for d in self._spec_of(name).shape]
        dtype = torch.from_numpy(np.empty(0, trt.nptype(self.engine.get_tensor_dtype(name)))).dtype
        return torch.empty(int(np.prod(shape)), dtype=dtype, device=self.device)

    def _spec_of(self, name: str):
        for spec in (*self.manifest.inputs, *self.manifest.outputs):
            if spec.name == name:
                return spec
        raise AvaffectError(
            f"{self.path}: engine tensor {name!r} is not in its manifest; rebuild the plan"
        )

    def _view(self, name: str, n: int, buffer=None):
        shape = [n if d == "N" else int(d) for d in self._spec_of(name).shape]
        flat = self.buffers[name] if buffer is None else buffer
        return flat[: int(np.prod(shape))].view(shape)

    def _zeros(self, shape):
        import torch

        return torch.zeros(shape, device=self.device)

    def _run(self, faces, spectrograms, state: State):
        import torch

        n = len(state)
        with self.place.launch() as stream:
            inputs = {}
            for name, array in (("face", faces), ("spectrogram", spectrograms)):
                if name in self.spec.input_names:
                    view = self._view(name, n)
                    view.copy_(torch.from_numpy(np.ascontiguousarray(array)).to(view.dtype))
                    inputs[name] = view
            hidden = self._hidden_buffers(state, n) if self._hidden is not None else None
            if hidden is not None:
                inputs[HIDDEN_INPUT] = hidden[0]
            outputs = {name: self._view(name, n) for name in self._outputs}
            if hidden is not None:
                outputs[HIDDEN_OUTPUT] = hidden[1].data
            # Every input shape first (they fix the output shapes), then every address.
            for name, view in inputs.items():
                self._set_shape(name, view)
            for name, view in (*inputs.items(), *outputs.items()):
                self.context.set_tensor_address(name, view.data_ptr())
            self._keepalive = inputs  # what the launch reads must outlive it
            if not self.context.execute_async_v3(stream):
                raise AvaffectError(
                    f"{self.path}: TensorRT execution failed (see its log); rebuild the plan"
                )
            named = {k: v for k, v in outputs.items() if k != HIDDEN_OUTPUT}
            host = torch.cat([v.float().reshape(n, -1) for v in named.values()], 1).cpu().numpy()
        raw, start = {}, 0
        for name, view in named.items():
            width = view.reshape(n, -1).shape[1]
            raw[name] = host[:, start : start + width]
            start += width
        return raw, (hidden[1] if hidden is not None else state)

    def _set_shape(self, name: str, view) -> None:
        if not self.context.set_input_shape(name, tuple(view.shape)):
            raise AvaffectError(
                f"TensorRT refused input {name} of shape {tuple(view.shape)} (outside the plan's profile)"
            )

    def _hidden_buffers(self, state: State, n: int):
        """(the hidden input tensor, the State the step writes): the input is bound where it
        is when it already lives on the device (always so for our own last output), and the
        output goes to the other of our two buffers."""
        import torch

        source = state.data
        tag = state.tag
        ours = isinstance(tag, tuple) and len(tag) == 3 and tag[0] == id(self)
        if ours and self._generation[tag[1]] != tag[2]:
            raise AvaffectError(
                "this State was overwritten by a later step of the same TensorRT engine; pass the state "
                "returned by the previous step (or keep a copy with state.take(rows) / state.numpy())"
            )
        if not (
            isinstance(source, torch.Tensor)
            and source.dtype == torch.float32
            and source.is_contiguous()
            and self.place.holds(source)
        ):
            source = torch.as_tensor(state.numpy(), device=self.device).contiguous()
        target = 1 - tag[1] if ours else 1 - self._last
        self._generation[target] += 1
        self._last = target
        out = self._view(HIDDEN_OUTPUT, n, buffer=self._hidden[target])
        return source, State(out, tag=(id(self), target, self._generation[target]))
