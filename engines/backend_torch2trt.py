"""torch2trt backend: the models' convolutions compiled by torch2trt, the rest in PyTorch.

torch2trt (https://github.com/NVIDIA-AI-IOT/torch2trt) is not on PyPI (install it from its
repository), needs TensorRT 10 (it reads ``trt.CalibrationAlgoType`` at import and builds
with ``EXPLICIT_BATCH`` and ``BuilderFlag.FP16``, all gone in TensorRT 11: there
``--backend tensorrt`` runs the whole step) and has no GRU converter. So it converts what
the model names as convertible: the ``forward_features`` of each of its trunks
(``model.trunks()``: the convolutions of the VGG / ArcRes trunks, both streams of the A/V
model), one image at a time. The mirror average, the trunks' heads (the spectrogram
pooling, a 2-D by 4-D matrix product torch2trt cannot convert; flatten; fc1), the GRUs and
the task heads stay in PyTorch on the GPU. With ``mirror_average`` a converted part sees
the faces and their mirror images in one batch, so its profile goes to 2 x ``max_faces``.

The compiled parts are saved as TensorRT plans inside one safetensors file (``.torch2trt``,
no pickle) with a manifest; the PyTorch parts come from the source checkpoint, which must
therefore stay at hand. Plans are tied to the TensorRT version and GPU, like TensorRT's.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import torch
from torch import nn

from avaffect.checkpoint import file_sha256, load_checkpoint
from avaffect.engines import tensorrt_build
from avaffect.engines.backend_torch import TorchEngine
from avaffect.engines.cache import cache_root, cached_path, ensure_built
from avaffect.engines.graph import graph_manifest
from avaffect.engines.manifest import Expected, Manifest, current_versions, write_manifest
from avaffect.engines.sources import LoadOptions, Source
from avaffect.engines.tensorrt_build import import_tensorrt, tensorrt_major
from avaffect.errors import AvaffectError

log = logging.getLogger("avaffect")

INSTALL_HINT = (
    "torch2trt backend needs an NVIDIA GPU, TensorRT 10 and torch2trt, which is not on PyPI: "
    "`pip install git+https://github.com/NVIDIA-AI-IOT/torch2trt`"
)
METADATA_KEY = "avaffect-torch2trt"
#: what a .torch2trt file holds: each trunk's forward_features (files before held whole
#: submodules found by hooks, which CompiledTrunk cannot use)
PART_FORMAT = "trunk.forward_features"
WORKSPACE_BYTES = 1 << 30


def import_torch2trt(trt):
    """``import torch2trt`` for this TensorRT, or one line saying what works instead."""
    version = str(trt.__version__)
    if tensorrt_major(trt) >= 11:
        raise AvaffectError(
            f"torch2trt needs TensorRT 10 and this is TensorRT {version}; "
            "use --backend tensorrt, which runs on TensorRT 10 and 11"
        )
    try:
        import torch2trt
    except ImportError:
        raise AvaffectError(
            f"{INSTALL_HINT}; it is not installed: use --backend tensorrt or onnxruntime"
        ) from None
    except Exception as err:  # e.g. AttributeError: a TensorRT API it reads at import is gone
        raise AvaffectError(
            f"torch2trt failed to import with TensorRT {version} ({type(err).__name__}: {err}); "
            "it supports TensorRT 10 only: use --backend tensorrt"
        ) from None
    return torch2trt


class TrunkFeatures(nn.Module):
    """A trunk's ``forward_features`` as a module: what torch2trt traces and converts."""

    def __init__(self, trunk: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk.forward_features(x)


class CompiledTrunk(nn.Module):
    """A trunk whose ``forward_features`` runs in TensorRT; the flip, the mirror average and
    its head stay the trunk's own (``Trunk.forward_using``), in PyTorch and in fp32."""

    def __init__(self, trunk: nn.Module, compiled: nn.Module) -> None:
        super().__init__()
        self.trunk = trunk
        self.compiled = compiled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk.forward_using(self._features, x)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.compiled(x.contiguous()).float()


def part_batch(trunk: nn.Module, max_faces: int) -> tuple[int, int]:
    """(opt, max) batch of a trunk's converted part: faces and their mirror images together."""
    sides = 2 if getattr(trunk, "mirror_average", False) else 1
    return sides, sides * max_faces


def convert_trunks(model: nn.Module, torch2trt, precision: str, max_faces: int, device):
    """Convert every trunk's ``forward_features``: ({name: plan bytes as uint8}, {name: I/O})."""
    trunks = model.trunks()
    if not trunks:
        raise AvaffectError(f"model {type(model).__name__} names no trunk torch2trt could convert")
    plans, meta = {}, {}
    for name, trunk in trunks.items():
        shape = tuple(trunk.input_shape)
        opt, high = part_batch(trunk, max_faces)
        with torch.inference_mode():
            converted = torch2trt.torch2trt(
                TrunkFeatures(trunk).eval(),
                [torch.zeros(opt, *shape, device=device)],
                fp16_mode=precision == "fp16",
                min_shapes=[(1, *shape)],
                opt_shapes=[(opt, *shape)],
                max_shapes=[(high, *shape)],
                max_workspace_size=WORKSPACE_BYTES,
            )
        plans[name] = torch.frombuffer(bytearray(converted.engine.serialize()), dtype=torch.uint8)
        meta[name] = {
            "inputs": list(converted.input_names),
            "outputs": list(converted.output_names),
            "max_batch": high,
            "format": PART_FORMAT,
        }
    return plans, meta


def install_trunks(model: nn.Module, torch2trt, runtime, artifact: Path) -> list[str]:
    """Swap each converted trunk of ``model`` for its TensorRT engine; returns their names."""
    from safetensors import safe_open

    trunks = model.trunks()
    with safe_open(str(artifact), "pt") as handle:
        meta = json.loads(handle.metadata()[METADATA_KEY])
        for name, io in meta.items():
            if name not in trunks or io.get("format") != PART_FORMAT:
                raise AvaffectError(
                    f"{artifact}: part {name!r} is not a trunk's forward_features of this model "
                    "(built by an older avaffect?); delete the file to rebuild it"
                )
            engine = runtime.deserialize_cuda_engine(handle.get_tensor(name).numpy().tobytes())
            if engine is None:
                raise AvaffectError(
                    f"{artifact}: TensorRT could not deserialize part {name!r}; delete the file to rebuild it"
                )
            module = torch2trt.TRTModule(
                engine=engine, input_names=io["inputs"], output_names=io["outputs"]
            )
            parent, _, child = name.rpartition(".")
            owner = model.get_submodule(parent) if parent else model
            setattr(owner, child, CompiledTrunk(trunks[name], module))
    return list(meta)


class Torch2TRTEngine(TorchEngine):
    """A checkpoint whose CNN parts run as torch2trt-built TensorRT engines."""

    @classmethod
    def load(cls, source: Source, options: LoadOptions) -> Torch2TRTEngine:
        if options.precision not in ("fp32", "fp16"):
            raise AvaffectError(
                f"the torch2trt backend builds fp32 or fp16 engines, not {options.precision}"
            )
        if source.kind == "torch2trt":
            checkpoint = Path(source.manifest.source_path)
            if not checkpoint.is_file():
                raise AvaffectError(
                    f"{source.path}: its source checkpoint {checkpoint} is gone; the torch2trt backend needs it for the GRU and heads"
                )
            artifact = source.path
        elif source.kind == "checkpoint":
            checkpoint, artifact = source.path, None
        else:
            raise AvaffectError(
                f"the torch2trt backend builds from a checkpoint, not from a {source.kind} file"
            )
        return cls(checkpoint, options, artifact)

    def __init__(
        self, checkpoint: Path, options: LoadOptions, artifact: Path | None = None
    ) -> None:
        trt = import_tensorrt()
        torch2trt = import_torch2trt(trt)
        gpu = tensorrt_build.gpu_identity()
        super().__init__(checkpoint, options.device or "cuda")
        check_device(self.device)
        sha = file_sha256(checkpoint)
        if artifact is None:
            key = {
                "artifact": "torch2trt",
                "precision": options.precision,
                "max_faces": options.max_faces,
                "parts": PART_FORMAT,
            }
            artifact = cached_path(
                cache_root(options.cache_dir), self.spec.model, sha, key, "model.torch2trt"
            )
        expected = Expected(
            "torch2trt",
            options.precision,
            options.max_faces,
            source_sha256=sha,
            versions={"tensorrt": current_versions().get("tensorrt")},
            gpu=gpu,
        )
        build = lambda: self._build(torch2trt, checkpoint, artifact, options, gpu)  # noqa: E731
        ensure_built(artifact, expected, build, rebuild=options.rebuild, what="torch2trt engine")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        names = install_trunks(self.graph.model, torch2trt, runtime, artifact)
        log.info("torch2trt: %s run in TensorRT, the rest in PyTorch", ", ".join(names))
        self.spec = dataclasses.replace(
            self.spec, backend="torch2trt", precision=options.precision, max_faces=options.max_faces
        )

    def _build(
        self, torch2trt, checkpoint: Path, artifact: Path, options: LoadOptions, gpu: dict
    ) -> Manifest:
        from safetensors.torch import save_file

        plans, meta = convert_trunks(
            self.graph.model, torch2trt, options.precision, options.max_faces, self.device
        )
        artifact.parent.mkdir(parents=True, exist_ok=True)
        save_file(plans, str(artifact), metadata={METADATA_KEY: json.dumps(meta)})
        manifest = graph_manifest(
            self.graph.model,
            self.info,
            load_checkpoint(checkpoint, weights=False),
            artifact,
            artifact="torch2trt",
            precision=options.precision,
            half_io=False,
            max_faces=options.max_faces,
            gpu=gpu,
            notes={"converted_parts": list(meta)},
        )
        write_manifest(manifest, artifact)
        return manifest


def check_device(device: torch.device) -> None:
    """TensorRT engines run on a CUDA device (the tests' fake torch2trt stands in on the CPU)."""
    if device.type != "cuda":
        raise AvaffectError(
            f"the torch2trt backend runs on a CUDA device, not {device}; use --backend onnxruntime for the CPU"
        )
