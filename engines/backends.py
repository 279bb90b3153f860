"""The engine backends by name: a dispatch table of loaders (see avaffect.lazy).

A backend's module, and the optional library it needs (TensorRT, torch2trt, ONNX Runtime), is
imported only when that backend is chosen; this table itself imports nothing heavy.
"""

from __future__ import annotations

from avaffect.lazy import Loader


def _torch() -> type:
    from avaffect.engines.backend_torch import TorchEngine

    return TorchEngine


def _onnxruntime() -> type:
    from avaffect.engines.backend_onnxruntime import OnnxRuntimeEngine

    return OnnxRuntimeEngine


def _tensorrt() -> type:
    from avaffect.engines.backend_tensorrt import TensorRTEngine

    return TensorRTEngine


def _torch2trt() -> type:
    from avaffect.engines.backend_torch2trt import Torch2TRTEngine

    return Torch2TRTEngine


#: backend name -> the loader of its class; the class has ``load(source, options) -> Engine``.
BACKENDS: dict[str, Loader[type]] = {
    "torch": _torch,
    "onnxruntime": _onnxruntime,
    "tensorrt": _tensorrt,
    "torch2trt": _torch2trt,
}
