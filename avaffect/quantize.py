"""Weight-only int8 storage for packed checkpoints (``avaffect pack --int8``).

The big matrices (conv, linear and GRU weights) are stored as int8 with one fp32 scale per
output channel, symmetric (zero maps to zero), so a file is about a quarter of its fp32 size;
everything else (biases, batch-norm statistics) is fp16 as in a plain pack. It is a storage
format only: :func:`dequantize_int8` turns the weights back into fp32 when the checkpoint is
loaded, so every model, backend and engine export runs in floating point as before. One scale
per output channel, not per tensor, because a trained conv's filters differ in range by an
order of magnitude and a single scale would flatten the small ones to a few levels.
"""

from __future__ import annotations

import torch

from avaffect.errors import AvaffectError

#: the scale of weight ``name`` is stored under ``name + SCALE_SUFFIX``; no module or parameter
#: name contains ":", so the key cannot collide with a real one
SCALE_SUFFIX = ":int8_scale"
#: smaller float tensors (biases, BN, small heads) are not worth a scale per row
MIN_ELEMENTS = 1024
LEVELS = 127


def quantizable(tensor: torch.Tensor) -> bool:
    return tensor.is_floating_point() and tensor.ndim >= 2 and tensor.numel() >= MIN_ELEMENTS


def quantize_int8(tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A weight [out, ...] -> (int8 codes of the same shape, fp32 scales [out])."""
    rows = tensor.detach().float().flatten(1)
    scale = rows.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / LEVELS
    codes = torch.round(rows / scale[:, None]).clamp(-LEVELS, LEVELS).to(torch.int8)
    return codes.view(tensor.shape), scale


def dequantize_int8(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A loaded state dict with every int8 weight and its scale turned back into one fp32
    tensor; a state dict without int8 weights is returned as it is."""
    scaled = [name for name in state if name.endswith(SCALE_SUFFIX)]
    if not scaled:
        return state
    out = dict(state)
    for scale_name in scaled:
        name = scale_name[: -len(SCALE_SUFFIX)]
        if out.get(name) is None or out[name].dtype != torch.int8:
            raise AvaffectError(f"int8 scale {scale_name!r} without its int8 weight (file corrupt?)")
        codes, scale = out[name], out.pop(scale_name)
        shape = (-1,) + (1,) * (codes.ndim - 1)
        out[name] = codes.float() * scale.float().view(shape)
    return out
