"""``load_engine``: one call from a checkpoint or an engine file to a running :class:`Engine`.

Backends are named in a dispatch table of loaders (engines/backends.py), so a backend's
module, and the optional library it needs (TensorRT, torch2trt, ONNX Runtime), is imported
only when it is chosen.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys

from avaffect.engines.backends import BACKENDS
from avaffect.engines.base import Engine
from avaffect.engines.manifest import library_version
from avaffect.engines.options import PRECISION_CHOICES
from avaffect.engines.sources import LoadOptions, Source, resolve_source
from avaffect.errors import AvaffectError

log = logging.getLogger("avaffect")


def load_engine(
    path_or_name: str | os.PathLike,
    backend: str = "auto",
    device: str | None = None,
    *,
    precision: str = "auto",
    max_faces: int = 8,
    cache_dir: str | os.PathLike | None = None,
    rebuild: bool = True,
    opset: int = 17,
    cuda_graphs: bool = False,
    threads: int | None = None,
) -> Engine:
    """Load a checkpoint (path or shipped name), an exported ``.onnx`` or a TensorRT plan.

    ``backend="auto"`` picks TensorRT on an NVIDIA GPU where it is installed, then PyTorch
    CUDA, then ONNX Runtime, then PyTorch CPU, and logs why. Non-torch backends given a
    checkpoint export/build into the cache (``cache_dir``, ``$AVAFFECT_CACHE`` or
    ``~/.cache/avaffect/engines``) and reuse the result while its manifest matches; with
    ``rebuild=False`` a stale engine is refused instead of rebuilt. ``max_faces`` bounds the
    face batch of TensorRT engines; ``cuda_graphs`` applies to the torch backend on CUDA;
    ``threads`` sets ONNX Runtime's intra-op threads (default: the physical cores).
    ``precision="auto"`` is int8 where that is calibrated and fast, else fp32
    (:func:`choose_precision`).
    """
    if precision not in PRECISION_CHOICES:
        raise AvaffectError(
            f"unknown precision {precision!r}; use one of {', '.join(PRECISION_CHOICES)}"
        )
    if int(max_faces) < 1:
        raise AvaffectError(f"max_faces must be at least 1, got {max_faces}")
    source = resolve_source(path_or_name)
    if backend == "auto":
        backend, reason = choose_backend(source, device)
        log.info("engine backend: %s (%s)", backend, reason)
    if precision == "auto":
        precision, reason = choose_precision(source, backend, device)
        log.info("engine precision: %s (%s)", precision, reason)
    engine_class = backend_class(backend)
    options = LoadOptions(
        device, precision, int(max_faces), cache_dir, rebuild, opset, cuda_graphs, threads
    )
    return engine_class.load(source, options)


def backend_class(name: str) -> type:
    if name not in BACKENDS:
        raise AvaffectError(f"unknown backend {name!r}; use auto or one of {', '.join(BACKENDS)}")
    return BACKENDS[name]()


def choose_backend(source: Source, device: str | None = None) -> tuple[str, str]:
    """The ``auto`` rule: (backend, one-line reason)."""
    if source.kind in ("tensorrt", "torch2trt"):
        return source.kind, f"{source.path.name} is a {source.kind} plan"
    wants_cpu = device is not None and str(device).startswith("cpu")
    gpu = None if wants_cpu else nvidia_gpu()
    has_ort = installed("onnxruntime")
    if gpu is not None:
        if installed("tensorrt"):
            return "tensorrt", f"NVIDIA GPU {gpu} and TensorRT {library_version('tensorrt')} found"
        if source.kind == "checkpoint":
            return "torch", f"NVIDIA GPU {gpu} found but TensorRT is not installed: PyTorch CUDA"
        if has_ort:
            return (
                "onnxruntime",
                f"NVIDIA GPU {gpu} found but TensorRT is not installed: ONNX Runtime runs the ONNX file",
            )
    why_no_gpu = "CPU requested" if wants_cpu else "no NVIDIA GPU visible to PyTorch"
    if has_ort:
        return (
            "onnxruntime",
            f"{why_no_gpu}; ONNX Runtime {library_version('onnxruntime')} is installed and is the faster CPU backend",
        )
    if source.kind == "onnx":
        raise AvaffectError(
            f"{source.path} needs ONNX Runtime (`pip install onnxruntime`) or TensorRT to run"
        )
    return "torch", f"{why_no_gpu} and ONNX Runtime is not installed: PyTorch CPU"


def choose_precision(source: Source, backend: str, device: str | None) -> tuple[str, str]:
    """The ``auto`` precision: (precision, one-line reason). int8 for ONNX Runtime on the
    CPU when the checkpoint carries int8 ranges (`avaffect calibrate`; the shipped models
    do): 2.4 times faster there, with the expression agreeing with fp32 on about 98% of
    frames (docs/engines.md). fp32 everywhere else: a GPU's fp16 is asked for by name."""
    if source.kind == "onnx" and source.manifest is not None:
        return source.manifest.precision, f"{source.path.name} is an {source.manifest.precision} graph"
    if backend != "onnxruntime" or source.kind != "checkpoint":
        return "fp32", f"int8 is for a checkpoint on ONNX Runtime, and this is {backend}"
    if device is not None and not str(device).startswith("cpu"):
        return "fp32", f"int8 runs on the CPU, and the device is {device}"
    from avaffect.checkpoint import read_config
    from avaffect.engines.int8 import calibration_of

    if calibration_of(read_config(source.path)) is None:
        return "fp32", f"{source.path.name} carries no int8 calibration (`avaffect calibrate`)"
    return "int8", "ONNX Runtime on the CPU and a calibrated checkpoint"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (it may be heavy).

    A namespace package does not count: ``tensorrt-stubs`` alone makes ``tensorrt`` one,
    importable but with no library behind it."""
    if module in sys.modules:
        found = sys.modules[module]
        if found is None:  # import blocked (as tests simulate)
            return False
        return getattr(found, "__file__", None) is not None or not hasattr(found, "__path__")
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.origin not in (None, "namespace")


def nvidia_gpu() -> str | None:
    """The name of the first CUDA GPU PyTorch sees (NVIDIA, not ROCm), else None."""
    import torch

    if not torch.cuda.is_available() or getattr(torch.version, "hip", None):
        return None
    return torch.cuda.get_device_name(0)
