"""TensorRT and torch2trt: the pure-Python logic runs everywhere against a fake ``tensorrt``
module (API shapes of TensorRT 10 and 11); the real GPU paths run only where there is an
NVIDIA GPU with TensorRT / torch2trt, and skip with the reason elsewhere."""

from __future__ import annotations

import importlib.util
import logging
import sys
import types

import numpy as np
import pytest
import torch

from avaffect.checkpoint import CheckpointConfig, save_checkpoint
from avaffect.engines import load_engine
from avaffect.engines import tensorrt_build as tb
from avaffect.engines.backend_torch2trt import convertible_parts
from avaffect.engines.graph import StepGraph, describe, example_inputs
from avaffect.engines.manifest import Expected, TensorSpec, mismatches, read_manifest
from avaffect.engines.sources import LoadOptions, Source
from avaffect.errors import AvaffectError
from avaffect.train.models import create_model

TINY = {"width": 0.0625}
GPU = {"name": "NVIDIA Fake 100", "compute_capability": "9.0"}
HAS_CUDA = torch.cuda.is_available()
HAS_TRT = importlib.util.find_spec("tensorrt") is not None


def save_tiny(path, name="mt_vgg_rnn_lite", seed=0):
    torch.manual_seed(seed)
    model = create_model(name, **TINY)
    return save_checkpoint(
        path, model.state_dict(), CheckpointConfig(model=name, model_kwargs=TINY)
    )


# -- a fake tensorrt module: just the API surface tensorrt_build uses ---------------------


def fake_tensorrt(version: str = "10.9.0", parse_ok: bool = True) -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.calls = []
    weak = version.startswith("10.")
    trt.BuilderFlag = types.SimpleNamespace(TF32=0, **({"FP16": 1} if weak else {}))
    trt.NetworkDefinitionCreationFlag = types.SimpleNamespace(STRONGLY_TYPED=1)
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="WORKSPACE")

    class Logger:
        WARNING = 2

        def __init__(self, level):
            self.level = level

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
            self.num_errors = 0 if parse_ok else 1

        def parse_from_file(self, path):
            trt.calls.append(("parse", path))
            return parse_ok

        def get_error(self, i):
            return ParserError()

    class Cache:
        def serialize(self):
            return b"TIMING"

    class Config:
        def set_memory_pool_limit(self, pool, size):
            trt.calls.append(("workspace", pool, size))

        def set_flag(self, flag):
            trt.calls.append(("flag", flag))

        def add_optimization_profile(self, profile):
            trt.calls.append(("profile", profile.shapes))

        def create_timing_cache(self, data):
            trt.calls.append(("timing_cache_loaded", bytes(data)))
            return Cache()

        def set_timing_cache(self, cache, ignore_mismatch):
            pass

    class Profile:
        def __init__(self):
            self.shapes = {}

        def set_shape(self, name, low, opt, high):
            self.shapes[name] = (tuple(low), tuple(opt), tuple(high))

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            trt.calls.append(("network_flags", flags))
            return object()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            trt.calls.append(("build",))
            return b"PLAN-" + version.encode()

    trt.Logger, trt.OnnxParser, trt.Builder = Logger, OnnxParser, Builder
    return trt


@pytest.fixture
def fake_trt(monkeypatch):
    """Install a fake TensorRT 10 on a fake GPU; returns a function to swap the version."""

    def install(version="10.9.0", parse_ok=True, gpu=GPU):
        trt = fake_tensorrt(version, parse_ok)
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        monkeypatch.setattr(tb, "gpu_identity", lambda: dict(gpu))
        return trt

    return install


def calls(trt, kind):
    return [c for c in trt.calls if c[0] == kind]


def test_precision_plan_follows_the_tensorrt_api_in_hand():
    trt10, trt11 = fake_tensorrt("10.9.0"), fake_tensorrt("11.0.1")
    assert tb.precision_plan(trt10, "fp16") == tb.PrecisionPlan(
        onnx_fp16=False, builder_fp16=True, strongly_typed=False
    )
    assert tb.precision_plan(trt11, "fp16") == tb.PrecisionPlan(
        onnx_fp16=True, builder_fp16=False, strongly_typed=True
    )
    assert tb.precision_plan(trt11, "fp32") == tb.PrecisionPlan(
        onnx_fp16=False, builder_fp16=False, strongly_typed=True
    )
    with pytest.raises(AvaffectError, match="fp32 or fp16"):
        tb.precision_plan(trt10, "bf16")


def test_profile_spans_one_face_to_max_faces():
    inputs = (
        TensorSpec("face", ("N", 3, 96, 96), "float32"),
        TensorSpec("hidden", (2, "N", 128), "float32"),
    )
    shapes = tb.profile_shapes(inputs, max_faces=8, opt_faces=2)
    assert shapes["face"] == ((1, 3, 96, 96), (2, 3, 96, 96), (8, 3, 96, 96))
    assert shapes["hidden"] == ((2, 1, 128), (2, 2, 128), (2, 8, 128))
    assert tb.profile_shapes(inputs, max_faces=1, opt_faces=4)["face"][1] == (1, 3, 96, 96)
    with pytest.raises(AvaffectError, match="at least 1"):
        tb.profile_shapes(inputs, max_faces=0)


def test_old_or_missing_tensorrt_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt("8.6.1"))
    with pytest.raises(AvaffectError, match="TensorRT 8.6.1 is too old; avaffect needs >= 10"):
        tb.import_tensorrt()
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(
        AvaffectError,
        match=r"needs an NVIDIA GPU and `pip install tensorrt` \(>=10\).*use --backend onnxruntime",
    ):
        tb.import_tensorrt()


@pytest.mark.parametrize("version", ["10.9.0", "11.0.1"])
def test_build_flow_against_the_tensorrt_api(fake_trt, tmp_path, version, caplog):
    trt = fake_trt(version)
    ckpt = save_tiny(tmp_path / "model.safetensors")
    options = LoadOptions(precision="fp16", max_faces=4, cache_dir=tmp_path / "cache")
    caplog.set_level(logging.INFO, logger="avaffect")
    plan = tb.ensure_plan(Source("checkpoint", ckpt), options)
    assert plan.read_bytes() == b"PLAN-" + version.encode()
    manifest = read_manifest(plan)
    assert manifest.artifact == "tensorrt" and manifest.gpu == GPU and manifest.max_faces == 4
    assert manifest.versions["tensorrt"] == version and manifest.precision == "fp16"
    (profile,) = calls(trt, "profile")
    assert profile[1]["face"] == ((1, 3, 96, 96), (1, 3, 96, 96), (4, 3, 96, 96))
    assert profile[1]["hidden"][2] == (2, 4, 128)
    if version.startswith("10."):  # weak typing: fp32 graph + the FP16 builder flag
        assert calls(trt, "flag") == [("flag", trt.BuilderFlag.FP16)] and calls(
            trt, "network_flags"
        ) == [("network_flags", 0)]
        assert manifest.notes["onnx_precision"] == "fp32"
    else:  # strongly typed: the graph itself is fp16 (its GRU state fp32)
        assert calls(trt, "flag") == [] and calls(trt, "network_flags") == [("network_flags", 2)]
        assert (
            manifest.notes["onnx_precision"] == "fp16"
            and manifest.input("hidden").dtype == "float32"
        )
    assert calls(trt, "workspace")[0][2] == tb.DEFAULT_WORKSPACE_MIB << 20
    timing = tb.timing_cache_path(tmp_path / "cache", trt, GPU)
    assert timing.read_bytes() == b"TIMING"
    # Built once: loading again reuses the plan (and would have fed the timing cache in).
    trt.calls.clear()
    assert tb.ensure_plan(Source("checkpoint", ckpt), options) == plan and not calls(trt, "build")


def test_plan_is_rebuilt_for_another_tensorrt_or_gpu_and_refused_without_rebuild(
    fake_trt, tmp_path, caplog
):
    fake_trt("10.9.0")
    ckpt = save_tiny(tmp_path / "model.safetensors")
    options = LoadOptions(max_faces=2, cache_dir=tmp_path / "cache")
    plan = tb.ensure_plan(Source("checkpoint", ckpt), options)
    trt = fake_trt("10.10.1")
    with pytest.raises(AvaffectError, match=r"stale \(tensorrt version 10.9.0 != 10.10.1\)"):
        tb.ensure_plan(
            Source("checkpoint", ckpt),
            LoadOptions(max_faces=2, cache_dir=tmp_path / "cache", rebuild=False),
        )
    caplog.set_level(logging.INFO, logger="avaffect")
    tb.ensure_plan(Source("checkpoint", ckpt), options)
    assert calls(trt, "build") and "rebuilding TensorRT plan" in caplog.text
    # A plan given directly, on another GPU: rebuilt in place from its source checkpoint.
    trt = fake_trt("10.10.1", gpu={"name": "NVIDIA Other", "compute_capability": "8.6"})
    given = Source("tensorrt", plan, read_manifest(plan))
    assert tb.ensure_plan(given, options) == plan and calls(trt, "build")
    assert read_manifest(plan).gpu["compute_capability"] == "8.6"


def test_parser_errors_name_their_nodes(fake_trt, tmp_path):
    fake_trt(parse_ok=False)
    ckpt = save_tiny(tmp_path / "model.safetensors")
    with pytest.raises(
        AvaffectError,
        match=r"cannot parse model.onnx: node 12 \(/gru/GRU: GRU\): unsupported attribute",
    ):
        tb.ensure_plan(Source("checkpoint", ckpt), LoadOptions(cache_dir=tmp_path / "cache"))


def test_manifest_mismatch_lists_every_difference():
    from avaffect.engines.manifest import Manifest

    manifest = Manifest(
        artifact="tensorrt",
        file="m.plan",
        file_sha256="x",
        model="m",
        model_kwargs={},
        checkpoint_config={},
        source_sha256="aaa",
        source_path="m.safetensors",
        precision="fp16",
        max_faces=8,
        opset=17,
        inputs=(),
        outputs=(),
        tasks=("va",),
        uses_face=True,
        uses_audio=False,
        recurrent=False,
        arcface=False,
        hidden_shape=None,
        versions={"tensorrt": "10.9.0"},
        gpu=GPU,
    )
    same = Expected(
        "tensorrt", "fp16", 8, source_sha256="aaa", versions={"tensorrt": "10.9.0"}, gpu=GPU
    )
    assert mismatches(manifest, same) == []
    other = Expected(
        "tensorrt",
        "fp32",
        4,
        source_sha256="bbb",
        versions={"tensorrt": "11.0.0"},
        gpu={"name": "NVIDIA Fake 100", "compute_capability": "8.9"},
    )
    assert mismatches(manifest, other) == [
        "precision fp16 != fp32",
        "max faces 8 != 4",
        "source checkpoint changed (sha256 differs)",
        "tensorrt version 10.9.0 != 11.0.0",
        "GPU compute_capability 9.0 != 8.9",
    ]


@pytest.mark.parametrize(
    "name, parts",
    [
        ("mt_vgg_lite", ["trunk"]),
        ("mt_vgg_rnn_lite", ["frame"]),
        ("av_mt_vgg_rnn_lite", ["face_stream.frame", "audio_stream.frame"]),
    ],
)
def test_torch2trt_converts_the_cnn_parts_and_keeps_the_gru_in_pytorch(name, parts):
    model = create_model(name, **TINY).eval()
    info = describe(model, CheckpointConfig(model=name, model_kwargs=TINY))
    graph = StepGraph(model, info)
    found = convertible_parts(model, example_inputs(info, batch=1), graph)
    assert found == parts
    for part in found:
        assert not any(isinstance(m, torch.nn.GRU) for m in model.get_submodule(part).modules())


# -- real GPU paths: run only on an NVIDIA GPU with the library installed -----------------

needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU (PyTorch sees none)")
needs_trt = pytest.mark.skipif(
    not (HAS_CUDA and HAS_TRT), reason="needs an NVIDIA GPU and `pip install tensorrt`"
)


def run_tracks(engine, steps=30, seed=0):
    """A fixed walk of faces appearing/leaving; returns the VA of every step."""
    rng = np.random.default_rng(seed)
    state, n, history = engine.init_state(0), 0, []
    for _ in range(steps):
        rows = [i for i in range(n) if rng.random() > 0.1] + (
            [-1] if n < 3 and rng.random() < 0.4 else []
        )
        faces = rng.uniform(-1, 1, (len(rows), 3, 96, 96)).astype(np.float32)
        out, state = engine.step(faces, None, state.take(rows))
        n = len(rows)
        history.append(out.valence_arousal)
    return history


@needs_cuda
@pytest.mark.parametrize("cuda_graphs", [False, True])
def test_torch_cuda_matches_cpu(tmp_path, cuda_graphs):
    ckpt = save_tiny(tmp_path / "model.safetensors")
    cpu = run_tracks(load_engine(ckpt, "torch", "cpu"))
    gpu = run_tracks(load_engine(ckpt, "torch", "cuda", cuda_graphs=cuda_graphs))
    for a, b in zip(cpu, gpu, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-3)


@needs_trt
@pytest.mark.parametrize("precision, tol", [("fp32", 1e-3), ("fp16", 2e-2)])
def test_tensorrt_matches_torch(tmp_path, precision, tol):
    ckpt = save_tiny(tmp_path / "model.safetensors")
    engine = load_engine(
        ckpt, "tensorrt", precision=precision, max_faces=4, cache_dir=tmp_path / "cache"
    )
    assert engine.spec.backend == "tensorrt" and engine.spec.max_faces == 4
    reference = run_tracks(load_engine(ckpt, "torch", "cpu"))
    for a, b in zip(reference, run_tracks(engine), strict=True):
        np.testing.assert_allclose(a, b, atol=tol)


@needs_trt
def test_tensorrt_refuses_a_state_overwritten_by_later_steps(tmp_path):
    ckpt = save_tiny(tmp_path / "model.safetensors")
    engine = load_engine(ckpt, "tensorrt", max_faces=2, cache_dir=tmp_path / "cache")
    faces = np.zeros((1, 3, 96, 96), np.float32)
    _, old = engine.step(faces, None, engine.init_state(1))
    _, state = engine.step(faces, None, old)
    _, state = engine.step(faces, None, state)  # reuses old's buffer
    with pytest.raises(AvaffectError, match="overwritten by a later step"):
        engine.step(faces, None, old)
    assert engine.step(faces, None, state.take([0]))[0].valence_arousal.shape == (1, 2)
