"""A fake torch2trt (its ``torch2trt`` and ``TRTModule`` entry points, with the real
signatures) that converts by running the part in PyTorch, and fails where the real one
would, read from torch2trt's source: ``flip`` has no converter (the real one warns and
bakes the flipped tensor in as a constant: wrong numbers), and a ``matmul`` of tensors of
unequal rank reaches TensorRT's matrix multiply with unequal batch ranks (a crash). Its
plans are deserialized by the fake TensorRT's ``Runtime`` (engine_fakes.py)."""

from __future__ import annotations

import types
from pathlib import Path

import torch
from engine_fakes import check_argument


class Unconvertible(RuntimeError):
    """What torch2trt cannot convert: a fake conversion fails loudly where the real one
    would bake a constant in (``flip`` has no converter) or crash (``matmul`` of tensors of
    unequal rank reaches TensorRT's matrix multiply with unequal batch ranks)."""


class _ConversionCheck(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func, types_, args=(), kwargs=None):
        name = getattr(func, "__name__", str(func))
        if name == "flip":
            raise Unconvertible("torch2trt has no converter for flip")
        if name == "matmul" and len(args) == 2 and args[0].dim() != args[1].dim():
            raise Unconvertible(
                f"matmul of a {args[0].dim()}-D by a {args[1].dim()}-D tensor: unequal batch ranks"
            )
        return func(*args, **(kwargs or {}))


class FakePartEngine:
    """A converted part: the module itself (what a perfect conversion computes)."""

    def __init__(self, module, max_batch: int, key: bytes) -> None:
        self.module, self.max_batch, self.key = module, max_batch, key

    def serialize(self):
        return self.key


def fake_torch2trt(trt) -> types.ModuleType:
    """A ``torch2trt`` module with the real entry points' signatures (``torch2trt`` and
    ``TRTModule``); ``mod.converted`` lists what was converted, with its shapes."""
    mod = types.ModuleType("torch2trt")
    mod.converted = []

    def torch2trt(module, inputs, input_names=None, output_names=None, log_level=None,
                  fp16_mode=False, max_workspace_size=1 << 25, strict_type_constraints=False,
                  keep_network=True, int8_mode=False, min_shapes=None, max_shapes=None,
                  opt_shapes=None, **kwargs):  # fmt: skip
        check_argument(module, torch.nn.Module, "torch2trt(module)")
        check_argument(inputs, (list, tuple), "torch2trt(inputs)")
        shapes = [min_shapes, opt_shapes, max_shapes]
        for group in shapes:
            check_argument(group, list, "torch2trt(min/opt/max_shapes)")
            if len(group) != len(inputs):
                raise ValueError("one (min, opt, max) shape per input")
        with torch.inference_mode(), _ConversionCheck():
            module(*inputs)
        key = f"t2t-part-{len(trt.part_plans)}".encode()
        engine = FakePartEngine(module, max_shapes[0][0], key)
        trt.part_plans[key] = engine
        mod.converted.append((module, [list(g[0]) for g in shapes], fp16_mode))
        return types.SimpleNamespace(engine=engine, input_names=["input_0"], output_names=["output_0"])

    class TRTModule(torch.nn.Module):
        def __init__(self, engine=None, input_names=None, output_names=None):
            super().__init__()
            check_argument(engine, FakePartEngine, "TRTModule(engine)")
            self.engine, self.input_names, self.output_names = engine, input_names, output_names

        def forward(self, x):
            if x.shape[0] > self.engine.max_batch:
                raise RuntimeError(f"batch {x.shape[0]} exceeds the profile's {self.engine.max_batch}")
            if not x.is_contiguous():
                raise RuntimeError("TRTModule binds data_ptr(): the input must be contiguous")
            with _ConversionCheck():
                return self.engine.module(x)

    mod.torch2trt, mod.TRTModule = torch2trt, TRTModule
    return mod


def torch2trt_failing_import(folder: Path) -> Path:
    """A ``torch2trt`` package on disk that reads ``trt.CalibrationAlgoType`` at import, as
    the real one does (its calibrator's default): under TensorRT 11 importing it raises
    ``AttributeError``. Returns the folder to put on ``sys.path``."""
    package = folder / "torch2trt"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(
        "import tensorrt as trt\n"
        "DEFAULT_CALIBRATION_ALGORITHM = trt.CalibrationAlgoType.ENTROPY_CALIBRATION_2\n"
    )
    return folder
