"""Engines: export trained models (ONNX, TensorRT, torch2trt) and run them behind one interface.

``load_engine(checkpoint_or_engine, backend="auto")`` returns an :class:`Engine` whose
``step(faces, spectrograms, state)`` runs one frame for a batch of faces; the hidden state
lives in a :class:`State` the caller keeps per face. See docs/engines.md.

The names are loaded on first use (PEP 562), so that building the command line does not
import torch and ONNX: ``avaffect --help`` stays instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "BACKENDS": "avaffect.engines.loader",
    "Engine": "avaffect.engines.base",
    "EngineSpec": "avaffect.engines.base",
    "Outputs": "avaffect.engines.base",
    "State": "avaffect.engines.base",
    "export_onnx": "avaffect.engines.onnx_export",
    "load_engine": "avaffect.engines.loader",
}
__all__ = ["BACKENDS", "Engine", "EngineSpec", "Outputs", "State", "export_onnx", "load_engine"]

if TYPE_CHECKING:
    from avaffect.engines.base import Engine, EngineSpec, Outputs, State
    from avaffect.engines.loader import BACKENDS, load_engine
    from avaffect.engines.onnx_export import export_onnx


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
