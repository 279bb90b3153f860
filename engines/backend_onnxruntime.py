"""ONNX Runtime backend: runs an exported single-step graph on the CPU (or the CUDA EP).

On the CPU the inputs are plain numpy arrays handed to ``session.run`` (IOBinding buys
nothing there: the data is already in host memory). The intra-op thread pool is sized to
the physical cores this process may use: hyper-threads share one core's vector units, so
more threads than cores only add synchronisation to these small convolutions. A process
that shares the machine with others of its kind (a corpus run's workers) sets
``$AVAFFECT_THREADS`` to its share instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from avaffect.engines.base import HIDDEN_INPUT, HIDDEN_OUTPUT, State, StepEngine
from avaffect.engines.manifest import Manifest, read_manifest, spec_from_manifest, verify_file
from avaffect.engines.sources import LoadOptions, Source, ensure_onnx
from avaffect.errors import AvaffectError

log = logging.getLogger("avaffect")

INSTALL_HINT = "ONNX Runtime backend needs `pip install onnxruntime` (or onnxruntime-gpu for CUDA)"


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise AvaffectError(f"{INSTALL_HINT}; it is not installed: use --backend torch") from None
    return onnxruntime


def physical_cores() -> int:
    """Physical cores available to this process (hyper-threads counted once)."""
    try:
        allowed = os.sched_getaffinity(0)
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    try:
        topology = Path("/sys/devices/system/cpu")
        for cpu in allowed:
            base = topology / f"cpu{cpu}" / "topology"
            cores.add(
                (
                    (base / "physical_package_id").read_text().strip(),
                    (base / "core_id").read_text().strip(),
                )
            )
    except OSError:
        return len(allowed)
    return max(1, len(cores))


def thread_share() -> int:
    """The cores this process may use for compute: ``$AVAFFECT_THREADS`` (a corpus worker's
    share) when set, else the physical cores."""
    return _threads_from_env() or physical_cores()


def _threads_from_env() -> int | None:
    """``$AVAFFECT_THREADS``, the thread share a corpus worker is given, if set and valid."""
    value = os.environ.get("AVAFFECT_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


class OnnxRuntimeEngine(StepEngine):
    """An exported ``.onnx`` (with its manifest) run by ONNX Runtime."""

    def __init__(
        self, onnx_path: str | os.PathLike, device: str | None = None, *, threads: int | None = None
    ) -> None:
        ort = import_onnxruntime()
        self.path = Path(onnx_path)
        self.manifest: Manifest = read_manifest(self.path)
        verify_file(self.path, self.manifest)
        if device is None:  # the GPU when onnxruntime-gpu offers it
            device = "cuda" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"
        providers = self._providers(ort, device)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _threads_from_env() or physical_cores()
        options.inter_op_num_threads = 1  # one small graph at a time: no parallel branches
        # Idle intra-op threads sleep instead of spinning: the pipeline's other threads
        # (decoding, detection, drawing, other streams) need those cores between steps, and
        # on a busy 2-core machine spinning doubled the CPU time of a step (20.9 -> 10.8 ms).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only; a user mistake is reported by us
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as err:  # ORT raises its own exception classes per failure kind
            raise AvaffectError(
                f"{self.path}: ONNX Runtime cannot load this graph ({_first_line(err)}); "
                "the file is corrupt or from another exporter: re-export it with `avaffect export`"
            ) from None
        self._check_io()
        if device != "cpu" and self.session.get_providers()[0] != "CUDAExecutionProvider":
            log.warning(
                "ONNX Runtime could not start its CUDA provider; running %s on the CPU",
                self.path.name,
            )
            device = "cpu"
        self.spec = spec_from_manifest(self.manifest, "onnxruntime", device, None)
        self.arcface_scale = self.manifest.arcface_scale
        self.embedding_dim = self.manifest.embedding_dim
        self._dtypes = {t.name: np.dtype(t.dtype) for t in self.manifest.inputs}
        self._outputs = [t.name for t in self.manifest.outputs]
        log.debug(
            "onnxruntime session %s, providers %s", self.path.name, self.session.get_providers()
        )

    @classmethod
    def load(cls, source: Source, options: LoadOptions) -> OnnxRuntimeEngine:
        """The loader's entry: a checkpoint is exported (cached), an ONNX file checked."""
        import_onnxruntime()  # fail on a missing library before any export work
        if options.precision not in ("fp32", "fp16", "int8"):
            raise AvaffectError(
                f"ONNX Runtime runs fp32, fp16 or int8 graphs, not {options.precision}; "
                "use --precision fp32"
            )
        if options.precision != "int8":
            path = ensure_onnx(source, options, fp16=options.precision == "fp16")
            return cls(path, options.device, threads=options.threads)
        if source.kind == "onnx" and source.manifest.precision == "int8":
            return cls(source.path, "cpu", threads=options.threads)  # `avaffect export --int8`
        if source.kind != "checkpoint":
            raise AvaffectError(
                f"{source.path.name}: int8 graphs are built from a calibrated checkpoint; pass "
                "the checkpoint (or its shipped name), or use --precision fp32"
            )
        if options.device is not None and not str(options.device).startswith("cpu"):
            raise AvaffectError(
                f"int8 runs on ONNX Runtime's CPU provider, not {options.device}; use --device "
                "cpu, or --precision fp16 on a GPU"
            )
        from avaffect.engines.int8 import checkpoint_ranges, ensure_int8_onnx

        ranges = checkpoint_ranges(source.path)  # no calibration: one line, before any export
        fp32 = ensure_onnx(source, options, fp16=False)
        path = ensure_int8_onnx(ranges, fp32, options.cache_dir, options.rebuild)
        return cls(path, "cpu", threads=options.threads)

    @staticmethod
    def _providers(ort, device: str) -> list[str]:
        available = ort.get_available_providers()
        if device == "cpu":
            return ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in available:
                raise AvaffectError(
                    "ONNX Runtime on CUDA needs `pip install onnxruntime-gpu` and an NVIDIA GPU; "
                    f"this install offers {available}: use --device cpu"
                )
            index = int(device.split(":")[1]) if ":" in device else 0
            return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        raise AvaffectError(f"unknown device {device!r} for ONNX Runtime; use cpu or cuda")

    def _check_io(self) -> None:
        have = (
            tuple(i.name for i in self.session.get_inputs()),
            tuple(o.name for o in self.session.get_outputs()),
        )
        want = (
            tuple(t.name for t in self.manifest.inputs),
            tuple(t.name for t in self.manifest.outputs),
        )
        if have != want:
            raise AvaffectError(
                f"{self.path}: graph I/O {have} differs from its manifest {want}; re-export it"
            )

    def _run(self, faces, spectrograms, state: State):
        feed = {}
        for name in self.spec.input_names:
            if name == HIDDEN_INPUT:
                value = state.data if isinstance(state.data, np.ndarray) else state.numpy()
            else:
                value = faces if name == "face" else spectrograms
            feed[name] = np.ascontiguousarray(value, dtype=self._dtypes[name])
        values = self.session.run(self._outputs, feed)
        raw = dict(zip(self._outputs, values, strict=True))
        hidden = raw.pop(HIDDEN_OUTPUT, None)
        new_state = State(hidden) if hidden is not None else state
        return raw, new_state


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__
