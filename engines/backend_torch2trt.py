"""torch2trt backend: the CNN parts of the model compiled by torch2trt, the rest in PyTorch.

torch2trt (https://github.com/NVIDIA-AI-IOT/torch2trt) is not on PyPI (install it from its
repository) and has no GRU converter, so only the convolutional parts are converted: every
top-most submodule without a GRU that takes one 4-D tensor (a face or a spectrogram) and
returns one tensor, found by running the model once with hooks (VGG/ArcRes trunks, both
streams of the A/V model). The GRUs, heads and ArcFace cosine stay in PyTorch on the GPU.

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
from avaffect.engines.backend_torch import TorchEngine
from avaffect.engines.cache import cache_root, cached_path, ensure_built
from avaffect.engines.graph import example_inputs, graph_manifest
from avaffect.engines.manifest import Expected, Manifest, current_versions, write_manifest
from avaffect.engines.sources import LoadOptions, Source
from avaffect.engines.tensorrt_build import gpu_identity, import_tensorrt
from avaffect.errors import AvaffectError

log = logging.getLogger("avaffect")

INSTALL_HINT = (
    "torch2trt backend needs an NVIDIA GPU, TensorRT and torch2trt, which is not on PyPI: "
    "`pip install git+https://github.com/NVIDIA-AI-IOT/torch2trt`"
)
METADATA_KEY = "avaffect-torch2trt"


def import_torch2trt():
    try:
        import torch2trt
    except ImportError:
        raise AvaffectError(
            f"{INSTALL_HINT}; it is not installed: use --backend tensorrt or onnxruntime"
        ) from None
    return torch2trt


def convertible_parts(model: nn.Module, inputs: tuple[torch.Tensor, ...], run) -> list[str]:
    """Names of the top-most GRU-free submodules called once with one 4-D tensor -> tensor."""
    calls: dict[str, list] = {}
    hooks = [
        module.register_forward_hook(
            lambda _m, args, out, name=name: calls.setdefault(name, []).append((args, out))
        )
        for name, module in model.named_modules()
        if name
    ]
    try:
        with torch.inference_mode():
            run(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    chosen: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(parent + ".") for parent in chosen):
            continue
        record = calls.get(name, [])
        if len(record) != 1 or any(isinstance(m, nn.RNNBase) for m in module.modules()):
            continue
        args, out = record[0]
        if (
            len(args) == 1
            and isinstance(args[0], torch.Tensor)
            and args[0].dim() == 4
            and isinstance(out, torch.Tensor)
        ):
            chosen.append(name)
    return chosen


class _Float32Output(nn.Module):
    """Keeps the PyTorch side in fp32 whatever precision the compiled part runs in."""

    def __init__(self, part: nn.Module) -> None:
        super().__init__()
        self.part = part

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.part(x.contiguous()).float()


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
        import_tensorrt()
        torch2trt = import_torch2trt()
        gpu = gpu_identity()
        super().__init__(checkpoint, options.device or "cuda")
        sha = file_sha256(checkpoint)
        if artifact is None:
            key = {
                "artifact": "torch2trt",
                "precision": options.precision,
                "max_faces": options.max_faces,
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
        self._install(torch2trt, artifact)
        self.spec = dataclasses.replace(
            self.spec, backend="torch2trt", precision=options.precision, max_faces=options.max_faces
        )

    def _build(
        self, torch2trt, checkpoint: Path, artifact: Path, options: LoadOptions, gpu: dict
    ) -> Manifest:
        from safetensors.torch import save_file

        inputs = example_inputs(self.info, batch=1, device=str(self.device))
        names = convertible_parts(self.graph.model, inputs, self.graph)
        if not names:
            raise AvaffectError(
                f"model {self.spec.model} has no convolutional part torch2trt could convert"
            )
        shapes = self._part_input_shapes(names, inputs)
        plans, meta = {}, {}
        for name in names:
            plans[name], meta[name] = self._convert(torch2trt, name, shapes[name][1:], options)
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
            notes={"converted_parts": names},
        )
        write_manifest(manifest, artifact)
        return manifest

    def _convert(self, torch2trt, name: str, shape: tuple, options: LoadOptions):
        """One part -> (its serialized TensorRT engine as uint8, its I/O names)."""
        converted = torch2trt.torch2trt(
            self.graph.model.get_submodule(name),
            [torch.zeros(1, *shape, device=self.device)],
            fp16_mode=options.precision == "fp16",
            min_shapes=[(1, *shape)],
            opt_shapes=[(1, *shape)],
            max_shapes=[(options.max_faces, *shape)],
            max_workspace_size=1 << 30,
        )
        plan = torch.frombuffer(bytearray(converted.engine.serialize()), dtype=torch.uint8)
        return plan, {
            "inputs": list(converted.input_names),
            "outputs": list(converted.output_names),
        }

    def _part_input_shapes(self, names: list[str], inputs) -> dict[str, tuple]:
        shapes = {}
        hooks = [
            self.graph.model.get_submodule(n).register_forward_hook(
                lambda _m, args, _o, n=n: shapes.setdefault(n, tuple(args[0].shape))
            )
            for n in names
        ]
        try:
            with torch.inference_mode():
                self.graph(*inputs)
        finally:
            for hook in hooks:
                hook.remove()
        return shapes

    def _install(self, torch2trt, artifact: Path) -> None:
        """Swap each converted part of the PyTorch model for its TensorRT module."""
        from safetensors import safe_open

        trt = import_tensorrt()
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        with safe_open(str(artifact), "pt") as handle:
            meta = json.loads(handle.metadata()[METADATA_KEY])
            for name, io in meta.items():
                engine = runtime.deserialize_cuda_engine(handle.get_tensor(name).numpy().tobytes())
                if engine is None:
                    raise AvaffectError(
                        f"{artifact}: TensorRT could not deserialize part {name!r}; delete the file to rebuild it"
                    )
                module = torch2trt.TRTModule(
                    engine=engine, input_names=io["inputs"], output_names=io["outputs"]
                )
                parent, _, child = name.rpartition(".")
                owner = self.graph.model.get_submodule(parent) if parent else self.graph.model
                setattr(owner, child, _Float32Output(module))
        log.info("torch2trt: %s run in TensorRT, the rest in PyTorch", ", ".join(meta))
