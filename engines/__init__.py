"""Engines: export trained models (ONNX, TensorRT, torch2trt) and run them behind one interface.

``load_engine(checkpoint_or_engine, backend="auto")`` returns an :class:`Engine` whose
``step(faces, spectrograms, state)`` runs one frame for a batch of faces; the hidden state
lives in a :class:`State` the caller keeps per face. See docs/engines.md.
"""

from avaffect.engines.base import Engine, EngineSpec, Outputs, State
from avaffect.engines.loader import BACKENDS, load_engine
from avaffect.engines.onnx_export import export_onnx

__all__ = ["BACKENDS", "Engine", "EngineSpec", "Outputs", "State", "export_onnx", "load_engine"]
