"""int8 graphs for ONNX Runtime on the CPU, from activation ranges the checkpoint carries.

Static int8 (QDQ: int8 weights per output channel, uint8 activations) runs the convolutions
of the shipped models about 2.4 times faster than fp32 on an AVX-512 CPU (ONNX Runtime's
VNNI kernels), which is most of a frame's work. Static quantization needs the range of
every activation, measured on real inputs; a user's machine has no training data and
nothing is downloaded at run time, so the ranges are measured once, by `avaffect calibrate`
on the checkpoint's own training data (:mod:`avaffect.engines.calibration`), and stored in
the checkpoint's config (``extra["int8"]``: a few KB). Building the int8 graph then needs
only the checkpoint: the fp32 graph is exported as always, and ONNX Runtime's quantizer
reads the stored ranges as its calibration cache instead of running data through it.

The ranges are keyed by the names of the exported graph's tensors, which the exporter
derives from the model's module names: a checkpoint calibrated under another exporter that
names them differently is refused with the fix (calibrate it again), never quantized with
missing ranges.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from avaffect.checkpoint import CheckpointConfig, file_sha256, read_config
from avaffect.engines.cache import cache_root, cached_path, ensure_built
from avaffect.engines.manifest import Expected, Manifest, read_manifest, write_manifest
from avaffect.errors import AvaffectError

#: where a checkpoint's config keeps its calibration
CONFIG_KEY = "int8"
#: the quantized operators: every convolution and fully connected layer; the GRUs stay
#: float (a rounded recurrent state would drift over a long stream, as for fp16)
QUANTIZED_OPS = ("Conv", "Gemm", "MatMul")
CALIBRATION_METHOD = "MinMax"


def calibration_of(config: CheckpointConfig) -> dict | None:
    """The int8 calibration a checkpoint carries, or None."""
    found = config.extra.get(CONFIG_KEY)
    return found if isinstance(found, dict) and found.get("ranges") else None


def _quantize(onnx_in: Path, onnx_out: Path, cache: Path, batches: Iterable[dict] | None) -> None:
    """ONNX Runtime's static quantizer with our settings. With ``batches`` it measures the
    ranges and writes them to ``cache``; without, it reads them from ``cache``."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self, feeds: Iterable[dict]) -> None:
            self.feeds: Iterator[dict] = iter(feeds)

        def get_next(self) -> dict | None:
            return next(self.feeds, None)

    # The quantizer prints progress to stdout and advice through the root logger (which would
    # also set up the root logger for the rest of the run): a run's output is ours to write.
    with contextlib.redirect_stdout(io.StringIO()), _quiet_root_logger():
        quantize_static(
            str(onnx_in), str(onnx_out), None if batches is None else Reader(batches),
            quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            op_types_to_quantize=list(QUANTIZED_OPS),
            calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHOD),
            calibration_cache_path=str(cache),
        )  # fmt: skip


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    guard = logging.NullHandler()
    root.addHandler(guard)  # a handler there: logging.warning() won't call basicConfig()
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)
        root.removeHandler(guard)


def measure_ranges(onnx_fp32: Path, batches: Iterable[dict[str, np.ndarray]]) -> dict:
    """The activation ranges of ``onnx_fp32`` over ``batches`` (its input feeds), as the
    JSON-able calibration cache ONNX Runtime reads back."""
    with tempfile.TemporaryDirectory(prefix="avaffect-int8-") as tmp:
        cache = Path(tmp) / "ranges.json"
        _quantize(onnx_fp32, Path(tmp) / "int8.onnx", cache, batches)
        return json.loads(cache.read_text())


def quantize_with_ranges(onnx_fp32: Path, onnx_out: Path, ranges: dict) -> None:
    """Write the int8 graph of ``onnx_fp32`` using stored ``ranges`` (no data needed)."""
    _check_names(onnx_fp32, ranges)
    with tempfile.TemporaryDirectory(prefix="avaffect-int8-") as tmp:
        cache = Path(tmp) / "ranges.json"
        cache.write_text(json.dumps(ranges))
        _quantize(onnx_fp32, onnx_out, cache, None)


def _check_names(onnx_fp32: Path, ranges: dict) -> None:
    import onnx

    graph = onnx.load(str(onnx_fp32), load_external_data=False).graph
    names = {value for node in graph.node for value in (*node.input, *node.output)}
    names |= {tensor.name for tensor in graph.input}
    measured = set((ranges.get("data") or {}).keys())
    unknown = measured - names
    if not measured or unknown:
        raise AvaffectError(
            f"{onnx_fp32.name}: the checkpoint's int8 ranges name {len(unknown)} tensors this "
            "graph lacks (calibrated under another exporter?); run `avaffect calibrate` on the "
            "checkpoint again, or use --precision fp32"
        )


def checkpoint_ranges(checkpoint: Path, instead: str = "use --precision fp32") -> dict:
    """The int8 ranges ``checkpoint`` carries; one line with the fix (or what to do
    ``instead``) when it has none."""
    calibration = calibration_of(read_config(checkpoint))
    if calibration is None:
        raise AvaffectError(
            f"{checkpoint.name} carries no int8 calibration; run `avaffect calibrate "
            f"{checkpoint} --out CALIBRATED.safetensors` first, or {instead}"
        )
    return calibration["ranges"]


def ensure_int8_onnx(
    ranges: dict, fp32_onnx: Path, cache_dir, rebuild: bool, path: Path | None = None
) -> Path:
    """The int8 graph of the checkpoint ``fp32_onnx`` was exported from (up to date with it),
    built with its ``ranges`` (:func:`checkpoint_ranges`, read before any export work), at
    ``path`` (default: in the engine cache); reused while its manifest matches."""
    fp32 = read_manifest(fp32_onnx)
    sha = fp32.source_sha256
    if path is None:
        key = {"artifact": "onnx", "precision": "int8", "opset": fp32.opset}
        path = cached_path(cache_root(cache_dir), fp32.model, sha, key, "model.int8.onnx")
    expected = Expected("onnx", "int8", opset=fp32.opset, source_sha256=sha)

    def build() -> Manifest:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            quantize_with_ranges(fp32_onnx, tmp, ranges)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return _int8_manifest(fp32, path)

    ensure_built(path, expected, build, rebuild=rebuild, what="int8 ONNX graph")
    return path


def _int8_manifest(fp32: Manifest, path: Path) -> Manifest:
    """The fp32 graph's manifest, for the int8 file: same inputs and outputs (float32 I/O;
    the quantization is inside the graph)."""
    manifest = Manifest.from_dict({**fp32.to_dict(), "file": path.name, "precision": "int8"})
    manifest.file_sha256 = file_sha256(path)
    manifest.created = ""
    manifest.notes = {**manifest.notes, "int8": f"static QDQ of {', '.join(QUANTIZED_OPS)}"}
    write_manifest(manifest, path)
    return manifest
