"""Fakes of TensorRT (10.13 and 11.x Python bindings) and of the CUDA place an engine runs
on, so that the GPU engines' Python runs on the CPU (torch2trt's fake: torch2trt_fakes.py).

They follow the real bindings, read from TensorRT's pybind11 sources and the 10-to-11
migration guide: the same names, the same enum values per version (``STRONGLY_TYPED`` is 1
in 10.x, where ``EXPLICIT_BATCH`` is 0, and 0 in 11.x; ``BuilderFlag.FP16`` exists only in
10.x; ``TF32`` is 6 and on by default in both), the same argument order and types (a
wrong one raises ``TypeError`` as pybind11 does), and the same ways to fail (a rejected
timing-cache blob gives ``None``; a corrupt plan deserializes to ``None``).

The fake plan is JSON naming the ONNX file it was built from; the fake engine runs that
file with ONNX Runtime, reading its inputs from and writing its outputs to the addresses
given to ``set_tensor_address``, so a wrong or stale address gives wrong numbers, as on a GPU.

What they cannot stand in for (kernels, precision on a real GPU, the CUDA stream itself)
is covered by the GPU tests, which skip with the reason elsewhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import enum
import json
import types

import numpy as np
import torch

PLAN_MAGIC = "avaffect-fake-tensorrt-plan"
TIMING_MAGIC = b"FAKE-TIMING-CACHE"


def check_argument(value, kind, what: str) -> None:
    """pybind11's refusal of an argument of the wrong type."""
    if kind is bool:
        ok = isinstance(value, bool)
    elif isinstance(kind, type) and issubclass(kind, int) and not issubclass(kind, enum.Enum):
        ok = isinstance(value, int) and not isinstance(value, (bool, enum.Enum))
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise TypeError(f"incompatible function arguments: {what} got {type(value).__name__} {value!r}")


def check_dims(value, what: str) -> tuple[int, ...]:
    check_argument(value, (tuple, list), what)
    for d in value:
        check_argument(d, int, what)
    return tuple(value)


def _enums(major: int) -> dict:
    """The enums the engines use, with the values of TensorRT 10.13 or 11.x."""
    if major >= 11:
        flags = dict(DEBUG=2, GPU_FALLBACK=3, REFIT=4, DISABLE_TIMING_CACHE=5, TF32=6)
        network = dict(STRONGLY_TYPED=0)  # deprecated in 11: always on, flag ignored
    else:
        flags = dict(FP16=0, INT8=1, DEBUG=2, GPU_FALLBACK=3, REFIT=4, DISABLE_TIMING_CACHE=5)
        flags.update(TF32=6, BF16=17)
        network = dict(EXPLICIT_BATCH=0, STRONGLY_TYPED=1)
    return {
        "BuilderFlag": enum.IntEnum("BuilderFlag", flags),
        "NetworkDefinitionCreationFlag": enum.IntEnum("NetworkDefinitionCreationFlag", network),
        "MemoryPoolType": enum.IntEnum("MemoryPoolType", dict(WORKSPACE=0)),
        "DataType": enum.IntEnum("DataType", dict(FLOAT=0, HALF=1, INT8=2, INT32=3, BOOL=4)),
        "TensorIOMode": enum.IntEnum("TensorIOMode", dict(NONE=0, INPUT=1, OUTPUT=2)),
    }


NUMPY_OF = {"FLOAT": np.float32, "HALF": np.float16, "INT8": np.int8, "INT32": np.int32}
ONNX_TYPES = {"tensor(float)": "FLOAT", "tensor(float16)": "HALF"}


def fake_tensorrt(
    version: str = "10.13.3", parse_ok: bool = True, log: list | None = None
) -> types.ModuleType:
    """A ``tensorrt`` module of ``version`` (10.x or 11.x); ``trt.calls`` logs what was done."""
    major = int(version.split(".")[0])
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = [] if log is None else log
    trt.part_plans = {}  # torch2trt's converted parts, by plan bytes (torch2trt_fakes.py)
    vars(trt).update(_enums(major))
    if major < 11:  # what torch2trt reads at import; removed in 11
        trt.CalibrationAlgoType = enum.IntEnum("CalibrationAlgoType", dict(ENTROPY_CALIBRATION_2=2))
    Flag = trt.BuilderFlag
    StronglyTyped = trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED

    class ILogger:
        pass

    class Logger(ILogger):
        Severity = enum.IntEnum("Severity", dict(INTERNAL_ERROR=0, ERROR=1, WARNING=2, INFO=3, VERBOSE=4))
        WARNING = Severity.WARNING

        def __init__(self, min_severity=Severity.WARNING):
            check_argument(min_severity, Logger.Severity, "Logger(min_severity)")

    class INetworkDefinition:
        def __init__(self, flags: int):
            self.flags = flags
            self.onnx = None

    class ParserError:
        def node(self):
            return 12

        def node_name(self):
            return "/gru/GRU"

        def node_operator(self):
            return "GRU"

        def desc(self):
            return "unsupported attribute"

    class OnnxParser:
        def __init__(self, network, logger):
            check_argument(network, INetworkDefinition, "OnnxParser(network)")
            check_argument(logger, ILogger, "OnnxParser(logger)")
            self.network = network
            self.num_errors = 0

        def parse_from_file(self, model):
            check_argument(model, str, "parse_from_file(model)")
            trt.calls.append(("parse", model))
            self.num_errors = 0 if parse_ok else 1
            self.network.onnx = model
            return parse_ok

        def get_error(self, index):
            check_argument(index, int, "get_error(index)")
            return ParserError()

    class ITimingCache:
        def serialize(self):
            return TIMING_MAGIC

    class IOptimizationProfile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, input, min, opt, max):  # noqa: A002 (the bindings' names)
            check_argument(input, str, "set_shape(input)")
            low, mid, high = (check_dims(d, "set_shape(dims)") for d in (min, opt, max))
            if not all(a <= b <= c for a, b, c in zip(low, mid, high, strict=True)):
                raise ValueError(f"set_shape({input}): min <= opt <= max does not hold")
            self.shapes[input] = (low, mid, high)

    class IBuilderConfig:
        def __init__(self):
            self.flags = {Flag.TF32}  # TensorRT's default: TF32 allowed
            self.profiles = []
            self.timing_cache = None

        def set_flag(self, flag):
            check_argument(flag, Flag, "set_flag(flag)")
            trt.calls.append(("set_flag", flag))
            self.flags.add(flag)

        def clear_flag(self, flag):
            check_argument(flag, Flag, "clear_flag(flag)")
            trt.calls.append(("clear_flag", flag))
            self.flags.discard(flag)

        def get_flag(self, flag):
            check_argument(flag, Flag, "get_flag(flag)")
            return flag in self.flags

        def set_memory_pool_limit(self, pool, pool_size):
            check_argument(pool, trt.MemoryPoolType, "set_memory_pool_limit(pool)")
            check_argument(pool_size, int, "set_memory_pool_limit(pool_size)")
            trt.calls.append(("workspace", pool, pool_size))

        def add_optimization_profile(self, profile):
            check_argument(profile, IOptimizationProfile, "add_optimization_profile(profile)")
            trt.calls.append(("profile", dict(profile.shapes)))
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, serialized_timing_cache):
            check_argument(serialized_timing_cache, (bytes, bytearray, memoryview), "create_timing_cache")
            blob = bytes(serialized_timing_cache)
            trt.calls.append(("timing_cache_loaded", blob))
            return ITimingCache() if blob in (b"", TIMING_MAGIC) else None  # rejected: None

        def set_timing_cache(self, cache, ignore_mismatch):
            check_argument(cache, ITimingCache, "set_timing_cache(cache)")
            check_argument(ignore_mismatch, bool, "set_timing_cache(ignore_mismatch)")
            self.timing_cache = cache
            return True

    class Builder:
        def __init__(self, logger):
            check_argument(logger, ILogger, "Builder(logger)")

        def create_network(self, flags=0):
            check_argument(flags, int, "create_network(flags)")
            known = sum(1 << int(f) for f in trt.NetworkDefinitionCreationFlag)
            if flags & ~known:
                raise ValueError(f"create_network: unknown flag bits {flags:#x}")
            trt.calls.append(("network_flags", flags))
            return INetworkDefinition(flags)

        def create_builder_config(self):
            return IBuilderConfig()

        def create_optimization_profile(self):
            return IOptimizationProfile()

        def build_serialized_network(self, network, config):
            check_argument(network, INetworkDefinition, "build_serialized_network(network)")
            check_argument(config, IBuilderConfig, "build_serialized_network(config)")
            strongly = major >= 11 or bool(network.flags & (1 << int(StronglyTyped)))
            weak_flags = {f for f in config.flags if f.name in ("FP16", "BF16", "INT8")}
            trt.calls.append(("build", sorted(f.name for f in config.flags), strongly))
            if strongly and weak_flags:  # precision flags are refused on strongly typed networks
                return None
            if network.onnx is None or len(config.profiles) != 1:
                return None
            profile = {k: [list(d) for d in v] for k, v in config.profiles[0].shapes.items()}
            plan = {"magic": PLAN_MAGIC, "version": version, "onnx": network.onnx, "profile": profile}
            return json.dumps(plan).encode()

    class Runtime:
        def __init__(self, logger):
            check_argument(logger, ILogger, "Runtime(logger)")

        def deserialize_cuda_engine(self, serialized_engine):
            check_argument(serialized_engine, (bytes, bytearray, memoryview), "deserialize_cuda_engine")
            blob = bytes(serialized_engine)
            if blob in trt.part_plans:  # a torch2trt part (torch2trt_fakes.py)
                return trt.part_plans[blob]
            try:
                plan = json.loads(blob)
            except ValueError:
                return None
            if plan.get("magic") != PLAN_MAGIC or plan["version"] != version:
                return None
            return FakeEngine(trt, plan)

    def nptype(trt_type):
        check_argument(trt_type, trt.DataType, "nptype(trt_type)")
        return NUMPY_OF[trt_type.name]

    trt.ILogger, trt.Logger, trt.OnnxParser, trt.Builder, trt.Runtime = (
        ILogger, Logger, OnnxParser, Builder, Runtime,
    )  # fmt: skip
    trt.nptype = nptype
    return trt


class FakeEngine:
    """ICudaEngine of a fake plan: the ONNX file it names, run by ONNX Runtime."""

    def __init__(self, trt, plan: dict) -> None:
        import onnxruntime as ort

        self.trt = trt
        self.profile = {k: [tuple(d) for d in v] for k, v in plan["profile"].items()}
        self.session = ort.InferenceSession(plan["onnx"], providers=["CPUExecutionProvider"])
        io = [(t, trt.TensorIOMode.INPUT) for t in self.session.get_inputs()]
        io += [(t, trt.TensorIOMode.OUTPUT) for t in self.session.get_outputs()]
        self.tensors = {t.name: (mode, trt.DataType[ONNX_TYPES[t.type]], t.shape) for t, mode in io}
        self.names = [t.name for t, _ in io]

    @property
    def num_io_tensors(self) -> int:
        return len(self.names)

    def get_tensor_name(self, index):
        check_argument(index, int, "get_tensor_name(index)")
        return self.names[index]

    def get_tensor_mode(self, name):
        check_argument(name, str, "get_tensor_mode(name)")
        return self.tensors[name][0]

    def get_tensor_dtype(self, name):
        check_argument(name, str, "get_tensor_dtype(name)")
        return self.tensors[name][1]

    def get_tensor_profile_shape(self, name, profile_index):
        check_argument(name, str, "get_tensor_profile_shape(name)")
        check_argument(profile_index, int, "get_tensor_profile_shape(profile_index)")
        return [list(d) for d in self.profile[name]]

    def create_execution_context(self):
        return FakeContext(self)


class FakeContext:
    """IExecutionContext: shapes and addresses by name, a launch reads and writes memory."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.calls = engine.trt.calls
        self.shapes: dict[str, tuple] = {}
        self.addresses: dict[str, int] = {}

    def set_input_shape(self, name, shape):
        check_argument(name, str, "set_input_shape(name)")
        shape = check_dims(shape, "set_input_shape(shape)")
        self.calls.append(("set_input_shape", name, shape))
        low, _, high = self.engine.profile.get(name, (None, None, None))
        if low is None or len(shape) != len(low):
            return False
        if not all(a <= d <= b for a, d, b in zip(low, shape, high, strict=True)):
            return False
        self.shapes[name] = shape
        return True

    def set_tensor_address(self, name, memory):
        check_argument(name, str, "set_tensor_address(name)")
        check_argument(memory, int, "set_tensor_address(memory)")
        if name not in self.engine.tensors or memory == 0:
            return False
        self.calls.append(("set_tensor_address", name, memory))
        self.addresses[name] = memory
        return True

    def execute_async_v3(self, stream_handle):
        check_argument(stream_handle, int, "execute_async_v3(stream_handle)")
        engine = self.engine
        inputs = [n for n in engine.names if engine.tensors[n][0] == engine.trt.TensorIOMode.INPUT]
        missing = [n for n in engine.names if n not in self.addresses]
        missing += [n for n in inputs if n not in self.shapes]
        self.calls.append(("execute", stream_handle))
        if missing:
            return False
        feed = {n: self._memory(n, self.shapes[n]).copy() for n in inputs}
        outputs = engine.session.run(None, feed)
        for meta, value in zip(engine.session.get_outputs(), outputs, strict=True):
            self._memory(meta.name, value.shape)[...] = value
        return True

    def _memory(self, name: str, shape) -> np.ndarray:
        dtype = np.dtype(NUMPY_OF[self.engine.tensors[name][1].name])
        count = int(np.prod(shape)) * dtype.itemsize
        raw = (ctypes.c_uint8 * count).from_address(self.addresses[name])
        return np.ctypeslib.as_array(raw).view(dtype).reshape(shape)


class CpuPlace:
    """Stands in for ``backend_tensorrt.CudaPlace`` on the CPU: buffers on the CPU, a stream
    with a non-zero handle, and the order of the stream work in ``log``."""

    STREAM = 0x5EED

    def __init__(self, log: list) -> None:
        self.device = torch.device("cpu")
        self.log = log

    def scope(self):
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def launch(self):
        self.log.append(("wait_default_stream",))
        yield self.STREAM
        self.log.append(("stream_done",))

    def holds(self, tensor) -> bool:
        return tensor.device == self.device
