"""Export a checkpoint's single-step graph to ONNX, with its manifest.

Exporter: the TorchScript-based ``torch.onnx.export(..., dynamo=False)``. It is deprecated
since torch 2.9 but still present and correct in torch 2.13, and it exports ``nn.GRU`` as
one ONNX ``GRU`` node with ``linear_before_reset=1`` (PyTorch's GRU semantics), which ONNX
Runtime and TensorRT both run natively. The dynamo exporter needs ``torch.export`` to trace
the model, which brings no benefit for these plain CNN+GRU graphs. ``check_gru_semantics``
guards the GRU attribute on every export, and the parity tests prove the numbers.

``fp16=True`` writes half-precision weights and I/O but keeps every GRU and the hidden state
in float32: a recurrent state rounded to fp16 on every frame drifts over a long stream,
while the convolutions lose nothing that matters (see docs/engines.md for the measurement).
"""

from __future__ import annotations

import copy
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from avaffect.checkpoint import Checkpoint, load_checkpoint
from avaffect.engines.graph import StepGraph, describe, example_inputs, graph_manifest
from avaffect.engines.manifest import Manifest, current_versions, write_manifest
from avaffect.errors import AvaffectError
from avaffect.shipped import resolve_checkpoint

DEFAULT_OPSET = 17


def export_onnx(
    ckpt: str | os.PathLike | Checkpoint,
    out_path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    max_faces: int | None = None,
) -> Manifest:
    """Export ``ckpt`` (a path, a shipped name or a loaded Checkpoint with a path) to ONNX.

    Writes ``out_path`` and ``out_path.manifest.json``; returns the manifest. The face batch
    is dynamic; ``max_faces`` is only recorded (a TensorRT build from this file uses it).
    """
    checkpoint = _as_checkpoint(ckpt)
    from avaffect.train.models import model_from_checkpoint

    model, checkpoint = model_from_checkpoint(checkpoint)
    info = describe(model, checkpoint.config)
    graph = StepGraph(_half_except_gru(model) if fp16 else model, info).eval()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _export_checked(graph, example_inputs(info, batch=2, half=fp16), out_path, info, opset)
    manifest = graph_manifest(
        model,
        info,
        checkpoint,
        out_path,
        artifact="onnx",
        precision="fp16" if fp16 else "fp32",
        half_io=fp16,
        max_faces=max_faces,
        opset=opset,
        versions=current_versions({"exporter": "torch.onnx.export(dynamo=False)"}),
    )
    write_manifest(manifest, out_path)
    return manifest


def _export_checked(graph: nn.Module, inputs: tuple, out_path: Path, info, opset: int) -> None:
    """Export to a temporary file, check it (onnx.checker, GRU semantics), then rename."""
    import onnx  # the exporter needs it; imported here so the engines load without it

    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    os.close(fd)
    try:
        _torch_export(graph, inputs, tmp, info, opset)
        proto = onnx.load(tmp)
        onnx.checker.check_model(proto)
        check_gru_semantics(proto)
        os.replace(tmp, out_path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _as_checkpoint(ckpt: str | os.PathLike | Checkpoint) -> Checkpoint:
    if isinstance(ckpt, Checkpoint):
        if ckpt.path is None:
            raise AvaffectError(
                "export needs a checkpoint loaded from a file (its hash goes in the manifest)"
            )
        return ckpt
    return load_checkpoint(resolve_checkpoint(ckpt))


def _torch_export(graph: nn.Module, inputs: tuple, path: str, info, opset: int) -> None:
    with warnings.catch_warnings():
        # The legacy exporter's deprecation notice, tracer notes about shape checks inside
        # nn.GRU, and its batch-size caveat (which our explicit hidden input answers).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*batch_size other than 1.*")
        try:
            torch.onnx.export(
                graph,
                inputs,
                path,
                dynamo=False,
                opset_version=opset,
                input_names=list(info.input_names),
                output_names=list(info.output_names),
                dynamic_axes=info.dynamic_axes(),
                do_constant_folding=True,
            )
        except (RuntimeError, torch.onnx.errors.OnnxExporterError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise AvaffectError(
                f"ONNX export failed at opset {opset}: {first}; try --opset 17 or report the model"
            ) from None


def _half_except_gru(model: nn.Module) -> nn.Module:
    """A half-precision copy whose GRUs (weights, inputs, hidden state) stay float32."""
    half = copy.deepcopy(model).half()
    for module in half.modules():
        if isinstance(module, nn.GRU):
            module.float()
            module.register_forward_pre_hook(_gru_inputs_to_float)
            module.register_forward_hook(_gru_output_to_half)
    return half


def _gru_inputs_to_float(module: nn.Module, args: tuple) -> tuple:
    return tuple(a.float() if isinstance(a, torch.Tensor) else a for a in args)


def _gru_output_to_half(module: nn.Module, args: tuple, output: tuple) -> tuple:
    sequence, hidden = output
    return sequence.half(), hidden


def check_gru_semantics(proto) -> int:
    """Fail unless every ONNX GRU node has ``linear_before_reset=1`` (PyTorch's GRU).

    ONNX's default (0) applies the reset gate before the recurrent matmul; PyTorch applies it
    after. A graph with the default would run and be subtly wrong. Returns the GRU count (0 is
    fine: an exporter that decomposes the GRU into matmuls keeps the semantics by
    construction, and the parity tests check the numbers).
    """
    grus = [node for node in proto.graph.node if node.op_type == "GRU"]
    for node in grus:
        flag = next((a.i for a in node.attribute if a.name == "linear_before_reset"), 0)
        if flag != 1:
            raise AvaffectError(
                f"exported GRU node {node.name!r} has linear_before_reset={flag}, not PyTorch's 1; "
                "this exporter is incompatible, please report it"
            )
    return len(grus)
