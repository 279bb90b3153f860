"""Build a TensorRT plan from an exported ONNX graph (TensorRT 10 and 11 Python API).

- The network comes from the ONNX file through ``OnnxParser``; every parser error is
  reported with its node.
- One optimisation profile covers the face batch: (1, ``opt_faces``, ``max_faces``).
- Precision is the graph's own, on TensorRT 10 and 11 alike: the network is strongly typed
  and an fp16 plan is built from the fp16 ONNX export (convolutions in fp16, the GRU and
  its hidden state in fp32). TensorRT 11 removed the weak-typing ``BuilderFlag.FP16`` and
  10.12 deprecated it; with it TensorRT 10 may also run the GRU and its state in fp16,
  which the export takes care to avoid. One path, one set of numbers for both versions.
- TF32 is cleared: TensorRT enables it by default, so an "fp32" plan would round the
  inputs of every fp32 matrix product to 10 mantissa bits (as fp16 does) on Ampere and
  later, and the GRU kept in fp32 in an fp16 plan would be no better off.
- A timing cache per GPU and TensorRT version is loaded before and saved after each build,
  so a rebuild (another ``max_faces``, a retrained checkpoint) skips most kernel timing.
- The plan is not portable: its manifest records the TensorRT version and the GPU, and a
  mismatch means rebuild.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from avaffect.checkpoint import write_atomic
from avaffect.engines.cache import cache_root, cached_path, ensure_built
from avaffect.engines.graph import BATCH
from avaffect.engines.manifest import (
    Expected,
    Manifest,
    TensorSpec,
    current_versions,
    read_manifest,
    write_manifest,
)
from avaffect.engines.sources import LoadOptions, Source, ensure_onnx
from avaffect.errors import AvaffectError

log = logging.getLogger("avaffect")

INSTALL_HINT = "TensorRT backend needs an NVIDIA GPU and `pip install tensorrt` (>=10)"
DEFAULT_WORKSPACE_MIB = 1024
DEFAULT_OPT_FACES = 1  # the common live case: one face in view


def import_tensorrt():
    """``import tensorrt``, or one line saying what to install and what to use instead."""
    try:
        import tensorrt as trt
    except ImportError:
        raise AvaffectError(
            f"{INSTALL_HINT}; tensorrt is not installed: use --backend onnxruntime"
        ) from None
    except OSError as err:  # the wheel is there but its CUDA libraries are not
        raise AvaffectError(
            f"{INSTALL_HINT}; tensorrt failed to load ({err}): check the CUDA driver, or use --backend onnxruntime"
        ) from None
    if not isinstance(getattr(trt, "__version__", None), str):
        # `pip install tensorrt-stubs` alone makes `import tensorrt` a namespace package of
        # type stubs: importable, but no library behind it.
        raise AvaffectError(
            f"{INSTALL_HINT}; only type stubs (tensorrt-stubs) are installed, not TensorRT: "
            "`pip install tensorrt`, or use --backend onnxruntime"
        )
    if tensorrt_major(trt) < 10:
        raise AvaffectError(
            f"TensorRT {trt.__version__} is too old; avaffect needs >= 10 (`pip install -U tensorrt`)"
        )
    return trt


def tensorrt_major(trt) -> int:
    return int(str(trt.__version__).split(".")[0])


def gpu_identity() -> dict:
    """The GPU a plan is built for: name and compute capability (what makes plans non-portable)."""
    import torch

    if not torch.cuda.is_available():
        raise AvaffectError(f"{INSTALL_HINT}; no CUDA GPU found: use --backend onnxruntime")
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return {"name": props.name, "compute_capability": f"{props.major}.{props.minor}"}


@dataclass(frozen=True)
class PrecisionPlan:
    onnx_fp16: bool  # export the ONNX graph in fp16 (the GRU and its state stay fp32)


def precision_plan(trt, precision: str) -> PrecisionPlan:
    """How to get ``precision`` out of TensorRT 10 or 11: a strongly typed network built
    from a graph exported in that precision (see the module docstring)."""
    if precision not in ("fp32", "fp16"):
        raise AvaffectError(f"the TensorRT backend builds fp32 or fp16 engines, not {precision}")
    return PrecisionPlan(onnx_fp16=precision == "fp16")


def profile_shapes(
    inputs: Sequence[TensorSpec], max_faces: int, opt_faces: int = DEFAULT_OPT_FACES
) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """(min, opt, max) shape per input: the face batch spans 1..max_faces, all else is fixed."""
    if max_faces < 1:
        raise AvaffectError(f"max_faces must be at least 1, got {max_faces}")
    opt = min(max(1, opt_faces), max_faces)

    def shape(spec: TensorSpec, batch: int) -> tuple[int, ...]:
        return tuple(batch if d == BATCH else int(d) for d in spec.shape)

    return {t.name: (shape(t, 1), shape(t, opt), shape(t, max_faces)) for t in inputs}


def parser_errors(parser) -> str:
    """Every ONNX parser error on one line, each with its node index, name and operator."""
    parts = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        node = _call(err, "node")
        where = f"node {node}" if node not in (None, -1) else "graph"
        name, op = _call(err, "node_name"), _call(err, "node_operator")
        if name or op:
            where += f" ({name or '?'}: {op or '?'})"
        parts.append(f"{where}: {_call(err, 'desc') or err}")
    return "; ".join(parts) or "no error recorded"


def _call(obj, method: str):
    fn = getattr(obj, method, None)
    return fn() if callable(fn) else None


def timing_cache_path(root: Path, trt, gpu: dict) -> Path:
    safe_gpu = "".join(c if c.isalnum() else "-" for c in gpu["name"])
    return root / f"timing-{safe_gpu}-sm{gpu['compute_capability']}-trt{trt.__version__}.cache"


def build_plan(
    onnx_path: Path,
    plan_path: Path,
    *,
    precision: str,
    max_faces: int,
    opt_faces: int = DEFAULT_OPT_FACES,
    workspace_mib: int = DEFAULT_WORKSPACE_MIB,
    timing_cache: Path | None = None,
) -> Manifest:
    """Parse ``onnx_path``, build and serialize the plan to ``plan_path`` with its manifest."""
    trt = import_tensorrt()
    gpu = gpu_identity()
    onnx_manifest = read_manifest(onnx_path)
    plan = precision_plan(trt, precision)
    _check_graph_precision(onnx_path, onnx_manifest, plan, precision)
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        raise AvaffectError(f"TensorRT cannot parse {onnx_path.name}: {parser_errors(parser)}")
    config = _builder_config(
        trt,
        builder,
        profile_shapes(onnx_manifest.inputs, max_faces, opt_faces),
        workspace_mib,
    )
    cache = _load_timing_cache(config, timing_cache)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise AvaffectError(
            f"TensorRT failed to build an engine from {onnx_path.name} (its log above says why); "
            "try a larger workspace or --precision fp32"
        )
    _save_timing_cache(cache, timing_cache)
    write_atomic(plan_path, bytes(serialized))
    notes = {
        "onnx_sha256": onnx_manifest.file_sha256,
        "onnx_precision": onnx_manifest.precision,
        "opt_faces": opt_faces,
        "workspace_mib": workspace_mib,
        "strongly_typed": True,
    }
    manifest = replace(
        onnx_manifest,
        artifact="tensorrt",
        file=plan_path.name,
        file_sha256=_sha256(plan_path),
        precision=precision,
        max_faces=max_faces,
        gpu=gpu,
        versions=current_versions(),
        notes=notes,
        created="",
    )
    write_manifest(manifest, plan_path)
    return manifest


def _builder_config(trt, builder, shapes: dict, workspace_mib: int):
    """Workspace limit, no TF32 (fp32 layers run in fp32) and the face-batch profile."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mib) << 20)
    config.clear_flag(trt.BuilderFlag.TF32)
    profile = builder.create_optimization_profile()
    for name, (low, opt, high) in shapes.items():
        profile.set_shape(name, low, opt, high)
    config.add_optimization_profile(profile)
    return config


def _check_graph_precision(
    onnx_path: Path, onnx_manifest: Manifest, plan: PrecisionPlan, precision: str
) -> None:
    want = "fp16" if plan.onnx_fp16 else "fp32"
    if onnx_manifest.precision != want:
        raise AvaffectError(
            f"{onnx_path.name} is a {onnx_manifest.precision} graph, but this TensorRT builds "
            f"{precision} engines from {want} graphs; export the checkpoint again"
            + (" with --fp16" if plan.onnx_fp16 else " without --fp16")
        )


def _network_flags(trt) -> int:
    """The STRONGLY_TYPED bit (1 in TensorRT 10, where EXPLICIT_BATCH is 0; 0 in 11, where
    strong typing is always on and the flag is kept, ignored, for compatibility)."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 0 if flag is None else 1 << int(flag)


def _load_timing_cache(config, path: Path | None):
    """The timing cache kept at ``path`` (a fresh one if it is absent or rejected), set on
    ``config``; None when TensorRT gives none at all (the build then times every kernel)."""
    data = path.read_bytes() if path is not None and path.is_file() else b""
    cache = _create_timing_cache(config, data)
    if cache is None and data:  # a cache from another build of TensorRT: start afresh
        log.info("timing cache %s is not usable by this TensorRT; starting a new one", path)
        cache = _create_timing_cache(config, b"")
    if cache is None:
        log.info("TensorRT gave no timing cache; building without one")
        return None
    if not config.set_timing_cache(cache, False):
        log.info("TensorRT did not take the timing cache; building without one")
        return None
    return cache


def _create_timing_cache(config, data: bytes):
    # TensorRT answers a rejected blob with None (10.x and 11.x), older builds raised.
    try:
        return config.create_timing_cache(data)
    except Exception:
        return None


def _save_timing_cache(cache, path: Path | None) -> None:
    if cache is not None and path is not None:
        write_atomic(path, bytes(cache.serialize()))


def _sha256(path: Path) -> str:
    from avaffect.checkpoint import file_sha256

    return file_sha256(path)


def ensure_plan(
    source: Source, options: LoadOptions, *, opt_faces: int = DEFAULT_OPT_FACES
) -> Path:
    """A TensorRT plan for ``source`` that matches this TensorRT, this GPU and the checkpoint.

    A checkpoint or ONNX graph is built into the cache; a plan given directly is checked
    and, when stale, rebuilt in place from its source checkpoint (if still at hand).
    """
    trt = import_tensorrt()
    gpu = gpu_identity()
    plan = precision_plan(trt, options.precision)
    root = cache_root(options.cache_dir)
    timing = timing_cache_path(root, trt, gpu)
    versions = {"tensorrt": current_versions().get("tensorrt", str(trt.__version__))}
    if source.kind == "tensorrt":
        if source.manifest.precision != options.precision:
            raise AvaffectError(
                f"{source.path} is a {source.manifest.precision} plan but {options.precision} was asked for; "
                f"pass --precision {source.manifest.precision} or build the checkpoint again"
            )
        return _ensure_given_plan(source, options, plan, gpu, versions, timing, opt_faces)
    return _ensure_cached_plan(source, options, plan, gpu, versions, timing, opt_faces)


def _ensure_cached_plan(source, options, plan, gpu, versions, timing, opt_faces) -> Path:
    onnx_path = ensure_onnx(source, options, fp16=plan.onnx_fp16)
    onnx_manifest = read_manifest(onnx_path)
    key = {
        "artifact": "tensorrt",
        "precision": options.precision,
        "max_faces": options.max_faces,
        "opt": opt_faces,
    }
    root = cache_root(options.cache_dir)
    plan_path = cached_path(root, onnx_manifest.model, onnx_manifest.file_sha256, key, "model.plan")
    expected = Expected(
        "tensorrt",
        options.precision,
        options.max_faces,
        source_sha256=onnx_manifest.source_sha256,
        versions=versions,
        gpu=gpu,
    )

    def build() -> Manifest:
        return build_plan(
            onnx_path,
            plan_path,
            precision=options.precision,
            max_faces=options.max_faces,
            opt_faces=opt_faces,
            timing_cache=timing,
        )

    ensure_built(plan_path, expected, build, rebuild=options.rebuild, what="TensorRT plan")
    return plan_path


def _ensure_given_plan(source, options, plan, gpu, versions, timing, opt_faces) -> Path:
    manifest = source.manifest
    checkpoint = Path(manifest.source_path)
    sha = _sha256(checkpoint) if checkpoint.is_file() else None
    expected = Expected(
        "tensorrt",
        manifest.precision,
        manifest.max_faces,
        source_sha256=sha,
        versions=versions,
        gpu=gpu,
    )

    def rebuild_in_place() -> Manifest:
        if sha is None:
            raise AvaffectError(
                f"{source.path}: cannot rebuild, its source checkpoint {checkpoint} is gone; export it again"
            )
        onnx_path = ensure_onnx(Source("checkpoint", checkpoint), options, fp16=plan.onnx_fp16)
        return build_plan(
            onnx_path,
            source.path,
            precision=manifest.precision,
            max_faces=manifest.max_faces,
            opt_faces=manifest.notes.get("opt_faces", opt_faces),
            timing_cache=timing,
        )

    ensure_built(
        source.path, expected, rebuild_in_place, rebuild=options.rebuild, what="TensorRT plan"
    )
    return source.path
