"""Everything a run writes to resume exactly, without pickle.

Beside the model checkpoint ``last.safetensors`` (the ordinary avaffect format, written by
:func:`avaffect.checkpoint.save_checkpoint`) sits ``last.state.safetensors``: the optimiser,
the learning-rate schedule, the GradScaler, the step, the data position and the RNG states of
every process. Nested state dicts are split into their tensors (stored as safetensors) and
the rest (stored as JSON in the file's metadata), with a marker where each tensor was, so the
round trip is exact and loading runs no code.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from avaffect.checkpoint import write_atomic
from avaffect.errors import AvaffectError

STATE_FORMAT = "avaffect-train-state"
_TENSOR, _TUPLE, _INTKEYS = "__tensor__", "__tuple__", "__intkeys__"


def state_path(checkpoint: str | os.PathLike) -> Path:
    """``run/last.safetensors`` -> ``run/last.state.safetensors``."""
    path = Path(checkpoint)
    return path.with_name(path.name.removesuffix(".safetensors") + ".state.safetensors")


# ---- nested state <-> (tensors, JSON) ---------------------------------------------------------


def flatten_state(tree, prefix: str = "", tensors: dict | None = None) -> tuple[object, dict[str, torch.Tensor]]:
    """Split a nested structure into a JSON-able skeleton and a flat dict of tensors."""
    tensors = {} if tensors is None else tensors
    if isinstance(tree, torch.Tensor):
        key = prefix or "tensor"
        tensors[key] = tree.detach().cpu().contiguous()
        return {_TENSOR: key}, tensors
    if isinstance(tree, dict):
        int_keys = bool(tree) and all(isinstance(k, int) for k in tree)  # optimiser state: {0: ...}
        body = {str(k): flatten_state(v, f"{prefix}.{k}" if prefix else str(k), tensors)[0] for k, v in tree.items()}
        return ({_INTKEYS: body} if int_keys else body), tensors
    if isinstance(tree, (list, tuple)):
        items = [flatten_state(v, f"{prefix}.{i}", tensors)[0] for i, v in enumerate(tree)]
        return ({_TUPLE: items} if isinstance(tree, tuple) else items), tensors
    if isinstance(tree, np.generic):
        return tree.item(), tensors
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree, tensors
    raise TypeError(f"cannot store {type(tree).__name__} at {prefix!r} in a training state")


def unflatten_state(skeleton, tensors: dict[str, torch.Tensor]):
    """Inverse of :func:`flatten_state`."""
    if isinstance(skeleton, dict):
        if set(skeleton) == {_TENSOR}:
            return tensors[skeleton[_TENSOR]]
        if set(skeleton) == {_TUPLE}:
            return tuple(unflatten_state(v, tensors) for v in skeleton[_TUPLE])
        if set(skeleton) == {_INTKEYS}:
            return {int(k): unflatten_state(v, tensors) for k, v in skeleton[_INTKEYS].items()}
        return {k: unflatten_state(v, tensors) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    return skeleton


def save_state(path: str | os.PathLike, state: dict) -> Path:
    """Write a nested training state atomically as safetensors + JSON metadata."""
    skeleton, tensors = flatten_state(state)
    data = save_bytes(tensors, metadata={"format": STATE_FORMAT, "state": json.dumps(skeleton)})
    return write_atomic(path, data)


def load_state(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise AvaffectError(f"{path}: training state not found; a run can only resume from its own folder")
    try:
        raw = path.read_bytes()
        tensors = load_bytes(raw)
        header_len = int.from_bytes(raw[:8], "little")
        metadata = json.loads(raw[8 : 8 + header_len]).get("__metadata__", {})
    except (SafetensorError, ValueError, OSError) as err:
        raise AvaffectError(f"{path}: training state unreadable ({err}); delete the run or start afresh") from None
    if metadata.get("format") != STATE_FORMAT:
        raise AvaffectError(f"{path}: not an avaffect training state")
    return unflatten_state(json.loads(metadata["state"]), tensors)


# ---- random number generators -----------------------------------------------------------------


def rng_state() -> dict:
    """The torch (CPU and CUDA), numpy and python RNG states of this process."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
