"""Engines: export trained models (ONNX, TensorRT, torch2trt) and run them behind one interface.

``load_engine(checkpoint_or_engine, backend="auto")`` returns an :class:`Engine` whose
``step(faces, spectrograms, state)`` runs one frame for a batch of faces; the hidden state
lives in a :class:`State` the caller keeps per face. See docs/engines.md.

The names are loaded on first use (PEP 562), so that building the command line does not
import torch and ONNX: ``avaffect --help`` stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from avaffect.lazy import lazy_exports

_EXPORTS = {
    "BACKENDS": "backends",
    "EngineOptions": "options",
    "PRECISIONS": "options",
    "Engine": "base",
    "EngineSpec": "base",
    "Outputs": "base",
    "State": "base",
    "export_onnx": "onnx_export",
    "load_engine": "loader",
    "calibrate_checkpoint": "calibration",
    "evaluate_engine": "evaluation",
}
__all__ = [
    "BACKENDS", "PRECISIONS", "Engine", "EngineOptions", "EngineSpec", "Outputs", "State",
    "calibrate_checkpoint", "evaluate_engine", "export_onnx", "load_engine",
]  # fmt: skip

if TYPE_CHECKING:
    from avaffect.engines.backends import BACKENDS
    from avaffect.engines.base import Engine, EngineSpec, Outputs, State
    from avaffect.engines.calibration import calibrate_checkpoint
    from avaffect.engines.evaluation import evaluate_engine
    from avaffect.engines.loader import load_engine
    from avaffect.engines.onnx_export import export_onnx
    from avaffect.engines.options import PRECISIONS, EngineOptions

__getattr__ = lazy_exports(__name__, _EXPORTS)
