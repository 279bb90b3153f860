"""Run-time input checks: a tensor of the wrong shape is a one-line :class:`AvaffectError`
naming what was expected, instead of a matrix-size error deep inside a layer.

The checks read only shapes, never values, and step aside while a model is being traced,
exported or compiled, so they add no nodes to an exported graph.
"""

from __future__ import annotations

import torch

from avaffect.errors import AvaffectError


def _tracing() -> bool:
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling()


def require(
    tensor: torch.Tensor | None, name: str, per_item: tuple[int, ...], leading: str, model: str
) -> torch.Tensor:
    """Check ``tensor`` is ``[*leading, *per_item]``; ``leading`` names the batch dims ("B" or "B,T")."""
    expected = f"{name} [{leading},{','.join(map(str, per_item))}]"
    if tensor is None:
        raise AvaffectError(f"{model} needs {expected}, got None")
    if _tracing():
        return tensor
    n_leading = leading.count(",") + 1
    if tensor.dim() != n_leading + len(per_item) or tuple(tensor.shape[n_leading:]) != tuple(
        per_item
    ):
        raise AvaffectError(f"{model} expects {expected}, got shape {list(tensor.shape)}")
    return tensor


def require_hidden(
    hidden: torch.Tensor, layers: int, batch: int, units: int, model: str
) -> torch.Tensor:
    if _tracing():
        return hidden
    if tuple(hidden.shape) != (layers, batch, units):
        raise AvaffectError(
            f"{model} expects hidden [{layers},{batch},{units}] (layers, batch, units) or None, "
            f"got shape {list(hidden.shape)}"
        )
    return hidden
