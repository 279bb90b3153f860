"""``export_engine``: a checkpoint -> an engine file (ONNX, TensorRT plan, torch2trt) in a folder.

What ``avaffect export`` runs. A file already there whose manifest matches the checkpoint and
the options is kept (exporting twice is cheap); a stale one is rebuilt, or refused with
``rebuild=False``.
"""

from __future__ import annotations

import os
from pathlib import Path

from avaffect.checkpoint import file_sha256
from avaffect.engines.cache import ensure_built
from avaffect.engines.manifest import Expected, Manifest, current_versions, read_manifest
from avaffect.engines.onnx_export import DEFAULT_OPSET, export_onnx
from avaffect.engines.sources import LoadOptions, Source, ensure_onnx
from avaffect.errors import AvaffectError
from avaffect.shipped import resolve_checkpoint

TARGETS = {"onnx": ".onnx", "tensorrt": ".plan", "torch2trt": ".torch2trt"}


def export_engine(
    checkpoint: str | os.PathLike,
    to: str = "onnx",
    out_dir: str | os.PathLike = ".",
    *,
    fp16: bool = False,
    int8: bool = False,
    max_faces: int = 8,
    opset: int = DEFAULT_OPSET,
    rebuild: bool = True,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[Path, Manifest]:
    """Write ``<out_dir>/<checkpoint stem>[.fp16|.int8]<suffix>`` and its manifest; returns
    both. ``int8`` (ONNX only) needs a calibrated checkpoint (`avaffect calibrate`)."""
    if to not in TARGETS:
        raise AvaffectError(f"unknown export target {to!r}; use one of {', '.join(TARGETS)}")
    if int8 and (fp16 or to != "onnx"):
        raise AvaffectError(
            "--int8 is an ONNX graph for ONNX Runtime's CPU provider: use it with --to onnx "
            "and without --fp16"
        )
    if max_faces < 1:
        raise AvaffectError(f"--max-faces must be at least 1, got {max_faces}")
    source = resolve_checkpoint(checkpoint)
    precision = "fp16" if fp16 else "int8" if int8 else "fp32"
    stem = source.name.removesuffix(".safetensors") + ("" if precision == "fp32" else f".{precision}")
    path = Path(out_dir).expanduser() / (stem + TARGETS[to])
    path.parent.mkdir(parents=True, exist_ok=True)
    sha = file_sha256(source)
    options = LoadOptions(None, precision, max_faces, cache_dir, rebuild, opset)
    if int8:
        from avaffect.engines.int8 import checkpoint_ranges, ensure_int8_onnx

        ranges = checkpoint_ranges(source, "drop --int8")  # one line, before any export work
        fp32 = ensure_onnx(Source("checkpoint", source), options, fp16=False)
        ensure_int8_onnx(ranges, fp32, cache_dir, rebuild, path=path)
        return path, read_manifest(path)
    if to == "onnx":
        expected = Expected("onnx", precision, opset=opset, source_sha256=sha)
        build = lambda: export_onnx(source, path, opset=opset, fp16=fp16, max_faces=max_faces)  # noqa: E731
        return path, ensure_built(path, expected, build, rebuild=rebuild, what="ONNX graph")
    if to == "tensorrt":
        return path, _export_tensorrt(source, path, options, sha)
    from avaffect.engines.backend_torch2trt import Torch2TRTEngine

    Torch2TRTEngine(source, options, artifact=path)
    return path, read_manifest(path)


def _export_tensorrt(source: Path, path: Path, options: LoadOptions, sha: str) -> Manifest:
    from avaffect.engines.cache import cache_root
    from avaffect.engines.tensorrt_build import (
        build_plan,
        gpu_identity,
        import_tensorrt,
        precision_plan,
        timing_cache_path,
    )

    trt = import_tensorrt()
    gpu = gpu_identity()
    plan = precision_plan(trt, options.precision)
    onnx_path = ensure_onnx(Source("checkpoint", source), options, fp16=plan.onnx_fp16)
    expected = Expected(
        "tensorrt",
        options.precision,
        options.max_faces,
        source_sha256=sha,
        versions={"tensorrt": current_versions().get("tensorrt")},
        gpu=gpu,
    )
    timing = timing_cache_path(cache_root(options.cache_dir), trt, gpu)

    def build() -> Manifest:
        return build_plan(
            onnx_path,
            path,
            precision=options.precision,
            max_faces=options.max_faces,
            timing_cache=timing,
        )

    return ensure_built(path, expected, build, rebuild=options.rebuild, what="TensorRT plan")
