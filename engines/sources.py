"""What ``load_engine`` was given (a checkpoint, an exported ONNX graph, a TensorRT plan)
and how to get an up-to-date ONNX graph from it, exporting into the cache when needed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from avaffect.engines.cache import cache_root, cached_path, ensure_built
from avaffect.engines.manifest import Expected, Manifest, read_manifest
from avaffect.errors import AvaffectError

#: Engine files by suffix; anything else is taken for a checkpoint (path or shipped name).
ENGINE_SUFFIXES = {
    ".onnx": "onnx",
    ".plan": "tensorrt",
    ".engine": "tensorrt",
    ".trt": "tensorrt",
    ".torch2trt": "torch2trt",
}


@dataclass(frozen=True)
class Source:
    kind: str  # "checkpoint" | "onnx" | "tensorrt" | "torch2trt"
    path: Path
    manifest: Manifest | None = None  # engine files only


@dataclass(frozen=True)
class LoadOptions:
    device: str | None = None
    precision: str = "fp32"
    max_faces: int = 8
    cache_dir: str | os.PathLike | None = None
    rebuild: bool = True
    opset: int = 17
    cuda_graphs: bool = False
    threads: int | None = None  # ONNX Runtime's intra-op threads; None: the cores (or $AVAFFECT_THREADS)


def resolve_source(path_or_name: str | os.PathLike) -> Source:
    """A checkpoint path or shipped name, or an engine file with its manifest."""
    path = Path(path_or_name).expanduser()
    if path.suffix.lower() in ENGINE_SUFFIXES:
        if not path.is_file():
            raise AvaffectError(f"{path}: engine file not found")
        manifest = read_manifest(path)
        return Source(manifest.artifact, path, manifest)
    from avaffect.shipped import resolve_checkpoint

    return Source("checkpoint", resolve_checkpoint(path_or_name))


def ensure_onnx(source: Source, options: LoadOptions, *, fp16: bool) -> Path:
    """An ONNX graph for ``source`` that is up to date with its checkpoint.

    A checkpoint is exported into the cache (reused while its manifest matches). An ONNX
    file given directly is used as is, unless its source checkpoint is at hand and has
    changed since: then it is re-exported in place (or refused with ``rebuild=False``).
    """
    if source.kind == "checkpoint":
        return _cached_export(source.path, options, fp16)
    if source.kind != "onnx":
        raise AvaffectError(
            f"{source.path} is a {source.kind} engine, not an ONNX graph nor a checkpoint"
        )
    return _given_onnx(source, options, fp16)


def _cached_export(checkpoint: Path, options: LoadOptions, fp16: bool) -> Path:
    from avaffect.checkpoint import file_sha256, read_config
    from avaffect.engines.onnx_export import export_onnx

    precision = "fp16" if fp16 else "fp32"
    sha = file_sha256(checkpoint)
    model = read_config(checkpoint).model
    key = {"artifact": "onnx", "precision": precision, "opset": options.opset}
    path = cached_path(cache_root(options.cache_dir), model, sha, key, "model.onnx")
    expected = Expected("onnx", precision, opset=options.opset, source_sha256=sha)
    build = lambda: export_onnx(checkpoint, path, opset=options.opset, fp16=fp16)  # noqa: E731
    ensure_built(path, expected, build, rebuild=options.rebuild, what="ONNX graph")
    return path


def _given_onnx(source: Source, options: LoadOptions, fp16: bool) -> Path:
    from avaffect.checkpoint import file_sha256
    from avaffect.engines.onnx_export import export_onnx

    manifest, precision = source.manifest, ("fp16" if fp16 else "fp32")
    if manifest.precision != precision:
        raise AvaffectError(
            f"{source.path} is a {manifest.precision} graph but {precision} was asked for; "
            f"pass --precision {manifest.precision} or export the checkpoint again"
        )
    checkpoint = Path(manifest.source_path)
    sha = file_sha256(checkpoint) if checkpoint.is_file() else None

    def rebuild_in_place() -> Manifest:
        if sha is None:
            raise AvaffectError(
                f"{source.path}: cannot rebuild, its source checkpoint {checkpoint} is gone; "
                "export it again"
            )
        opset = manifest.opset or options.opset
        return export_onnx(
            checkpoint, source.path, opset=opset, fp16=fp16, max_faces=manifest.max_faces
        )

    expected = Expected("onnx", precision, source_sha256=sha)
    ensure_built(
        source.path, expected, rebuild_in_place, rebuild=options.rebuild, what="ONNX graph"
    )
    return source.path
