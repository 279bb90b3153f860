"""TensorRT: the plan builder and the runtime run everywhere against fakes of the TensorRT
10.13 and 11.x bindings (tests/engine_fakes.py: real names, enum values and signatures;
the fake engine runs the plan's ONNX graph through the addresses it is given); the real
GPU paths are marked ``gpu`` and skip with the reason where there is no NVIDIA GPU with
TensorRT (``pytest -m gpu`` selects them)."""

from __future__ import annotations

import importlib.util
import logging
import sys
import types

import numpy as np
import pytest
import torch
from engine_fakes import TIMING_MAGIC, CpuPlace, fake_tensorrt
from engine_parity import assert_engines_agree

from avaffect.checkpoint import CheckpointConfig, save_checkpoint
from avaffect.engines import backend_tensorrt as bt
from avaffect.engines import load_engine
from avaffect.engines import tensorrt_build as tb
from avaffect.engines.base import State
from avaffect.engines.manifest import Expected, TensorSpec, mismatches, read_manifest
from avaffect.engines.sources import LoadOptions, Source
from avaffect.errors import AvaffectError
from avaffect.train.models import create_model

TINY = {"width": 0.0625}
GPU = {"name": "NVIDIA Fake 100", "compute_capability": "9.0"}
HAS_CUDA = torch.cuda.is_available()
HAS_TRT = importlib.util.find_spec("tensorrt") is not None
TRT10, TRT11 = "10.13.3", "11.4.0"


def save_tiny(path, name="mt_vgg_rnn_lite", seed=0):
    torch.manual_seed(seed)
    model = create_model(name, **TINY)
    return save_checkpoint(
        path, model.state_dict(), CheckpointConfig(model=name, model_kwargs=TINY)
    )


@pytest.fixture
def fake_trt(monkeypatch):
    """Install a fake TensorRT (10.13 unless told) on a fake GPU; returns the installer."""

    def install(version=TRT10, parse_ok=True, gpu=GPU):
        trt = fake_tensorrt(version, parse_ok)
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        monkeypatch.setattr(tb, "gpu_identity", lambda: dict(gpu))
        return trt

    return install


def calls(trt, kind):
    return [c for c in trt.calls if c[0] == kind]


def test_fakes_follow_the_real_bindings():
    """The values and signatures the fakes give are the real ones: a fake that accepted
    what TensorRT refuses would let a wrong call pass."""
    trt10, trt11 = fake_tensorrt(TRT10), fake_tensorrt(TRT11)
    assert int(trt10.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == 1
    assert int(trt10.NetworkDefinitionCreationFlag.EXPLICIT_BATCH) == 0
    assert int(trt11.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == 0
    assert not hasattr(trt11.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH")
    assert int(trt10.BuilderFlag.FP16) == 0 and not hasattr(trt11.BuilderFlag, "FP16")
    assert int(trt10.BuilderFlag.TF32) == int(trt11.BuilderFlag.TF32) == 6
    assert hasattr(trt10, "CalibrationAlgoType") and not hasattr(trt11, "CalibrationAlgoType")
    builder = trt11.Builder(trt11.Logger(trt11.Logger.WARNING))
    config = builder.create_builder_config()
    assert config.get_flag(trt11.BuilderFlag.TF32)  # on by default, as in TensorRT
    with pytest.raises(TypeError):
        config.set_flag(6)  # an int is not a BuilderFlag
    with pytest.raises(TypeError):
        config.set_memory_pool_limit(1 << 20, trt11.MemoryPoolType.WORKSPACE)  # order swapped
    with pytest.raises(TypeError):
        config.set_timing_cache(None, False)
    with pytest.raises(TypeError):
        builder.create_network(trt11.NetworkDefinitionCreationFlag.STRONGLY_TYPED)  # not a bit mask
    with pytest.raises(TypeError):
        trt11.Builder(object())


def test_precision_is_one_strongly_typed_path_on_tensorrt_10_and_11():
    for version in (TRT10, TRT11):
        trt = fake_tensorrt(version)
        assert tb.precision_plan(trt, "fp16") == tb.PrecisionPlan(onnx_fp16=True)
        assert tb.precision_plan(trt, "fp32") == tb.PrecisionPlan(onnx_fp16=False)
    with pytest.raises(AvaffectError, match="fp32 or fp16"):
        tb.precision_plan(fake_tensorrt(TRT10), "bf16")


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


def test_type_stubs_without_tensorrt_are_one_clear_line(monkeypatch):
    """`pip install tensorrt-stubs` alone: `import tensorrt` gives a namespace package of
    stubs with no __version__ (and `auto` does not take it for TensorRT)."""
    from avaffect.engines.loader import installed

    stubs = types.ModuleType("tensorrt")
    stubs.__path__ = []  # a namespace package: importable, nothing in it
    monkeypatch.setitem(sys.modules, "tensorrt", stubs)
    with pytest.raises(AvaffectError, match=r"only type stubs \(tensorrt-stubs\).*pip install tensorrt"):
        tb.import_tensorrt()
    assert not installed("tensorrt")


@pytest.mark.parametrize("version", [TRT10, TRT11])
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_build_flow_against_the_tensorrt_api(fake_trt, tmp_path, version, precision):
    """Strongly typed on 10 and 11 (no weak-typing FP16 flag), TF32 cleared, the graph
    exported in the plan's precision with its GRU state in fp32."""
    trt = fake_trt(version)
    ckpt = save_tiny(tmp_path / "model.safetensors")
    options = LoadOptions(precision=precision, max_faces=4, cache_dir=tmp_path / "cache")
    plan = tb.ensure_plan(Source("checkpoint", ckpt), options)
    manifest = read_manifest(plan)
    assert manifest.artifact == "tensorrt" and manifest.gpu == GPU and manifest.max_faces == 4
    assert manifest.versions["tensorrt"] == version and manifest.precision == precision
    (profile,) = calls(trt, "profile")
    assert profile[1]["face"] == ((1, 3, 96, 96), (1, 3, 96, 96), (4, 3, 96, 96))
    assert profile[1]["hidden"][2] == (2, 4, 128)
    strongly_typed = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert calls(trt, "network_flags") == [("network_flags", strongly_typed)]
    assert calls(trt, "set_flag") == []  # no FP16 (weak typing) on either version
    (build,) = calls(trt, "build")
    assert "TF32" not in build[1] and build[2]  # fp32 layers in fp32, strongly typed
    assert manifest.notes["onnx_precision"] == precision and manifest.notes["strongly_typed"]
    assert manifest.input("hidden").dtype == "float32"
    assert calls(trt, "workspace")[0][2] == tb.DEFAULT_WORKSPACE_MIB << 20
    timing = tb.timing_cache_path(tmp_path / "cache", trt, GPU)
    assert timing.read_bytes() == TIMING_MAGIC
    # Built once: loading again reuses the plan.
    trt.calls.clear()
    assert tb.ensure_plan(Source("checkpoint", ckpt), options) == plan and not calls(trt, "build")


def test_a_rejected_timing_cache_is_replaced(fake_trt, tmp_path, caplog):
    """TensorRT answers a timing cache it cannot read with None, not an exception."""
    trt = fake_trt()
    ckpt = save_tiny(tmp_path / "model.safetensors")
    timing = tb.timing_cache_path(tmp_path / "cache", trt, GPU)
    timing.parent.mkdir(parents=True)
    timing.write_bytes(b"a cache from another TensorRT build")
    caplog.set_level(logging.INFO, logger="avaffect")
    tb.ensure_plan(Source("checkpoint", ckpt), LoadOptions(cache_dir=tmp_path / "cache"))
    assert "is not usable by this TensorRT; starting a new one" in caplog.text
    assert [c[1] for c in calls(trt, "timing_cache_loaded")][-1] == b""
    assert timing.read_bytes() == TIMING_MAGIC


def test_plan_is_rebuilt_for_another_tensorrt_or_gpu_and_refused_without_rebuild(
    fake_trt, tmp_path, caplog
):
    fake_trt("10.12.0")
    ckpt = save_tiny(tmp_path / "model.safetensors")
    options = LoadOptions(max_faces=2, cache_dir=tmp_path / "cache")
    plan = tb.ensure_plan(Source("checkpoint", ckpt), options)
    trt = fake_trt("10.13.3")
    with pytest.raises(AvaffectError, match=r"stale \(tensorrt version 10.12.0 != 10.13.3\)"):
        tb.ensure_plan(
            Source("checkpoint", ckpt),
            LoadOptions(max_faces=2, cache_dir=tmp_path / "cache", rebuild=False),
        )
    caplog.set_level(logging.INFO, logger="avaffect")
    tb.ensure_plan(Source("checkpoint", ckpt), options)
    assert calls(trt, "build") and "rebuilding TensorRT plan" in caplog.text
    # A plan given directly, on another GPU: rebuilt in place from its source checkpoint.
    trt = fake_trt("10.13.3", gpu={"name": "NVIDIA Other", "compute_capability": "8.6"})
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


# -- the run path on the CPU: fake runtime objects, a CPU stand-in for the CUDA place -----


def cpu_engine(trt, tmp_path, name="mt_vgg_rnn_lite", precision="fp32", max_faces=4):
    """A plan built by the fake TensorRT, run by the real TensorRTEngine on the CPU."""
    ckpt = save_tiny(tmp_path / f"{name}.safetensors", name)
    options = LoadOptions(precision=precision, max_faces=max_faces, cache_dir=tmp_path / "cache")
    plan = tb.ensure_plan(Source("checkpoint", ckpt), options)
    return bt.TensorRTEngine(plan, place=CpuPlace(trt.calls)), ckpt


def launches(trt):
    """The calls of each launch: from after one execute to the next execute included."""
    steps, current = [], []
    for call in trt.calls:
        if call[0] in ("set_input_shape", "set_tensor_address", "wait_default_stream", "execute"):
            current.append(call)
        if call[0] == "execute":
            steps.append(current)
            current = []
    return steps


@pytest.mark.parametrize(
    "name, precision, tol",
    [
        ("mt_vgg_rnn_lite", "fp32", 1e-4),
        ("mt_vgg_lite", "fp32", 1e-4),
        ("av_mt_vgg_rnn_lite", "fp32", 1e-4),
        ("mt_vgg_rnn_lite", "fp16", 2e-2),
    ],
)
@pytest.mark.parametrize("version", [TRT10, TRT11])
def test_run_path_matches_pytorch_on_the_cpu(fake_trt, tmp_path, name, precision, tol, version):
    trt = fake_trt(version)
    engine, ckpt = cpu_engine(trt, tmp_path, name, precision)
    assert engine.spec.backend == "tensorrt" and engine.spec.max_faces == 4
    frames = assert_engines_agree(engine, load_engine(ckpt, "torch", "cpu"), atol=tol)
    assert {len(f.rows) for f in frames} >= {1, 2, 3}  # the face count changed on the way


def test_run_path_sets_shapes_then_live_addresses_then_launches_on_its_stream(
    fake_trt, tmp_path
):
    trt = fake_trt()
    engine, _ = cpu_engine(trt, tmp_path, "av_mt_vgg_rnn_lite")
    assert sorted(engine.buffers) == sorted(["face", "spectrogram", *engine._outputs])
    assert "hidden" not in engine.buffers and "hidden_out" not in engine.buffers
    rng = np.random.default_rng(0)
    state = engine.init_state(2)
    for n in (2, 2, 3, 1):
        faces = rng.uniform(-1, 1, (n, *engine.spec.face.shape)).astype(np.float32)
        audio = rng.uniform(-1, 1, (n, *engine.spec.audio.shape)).astype(np.float32)
        _, state = engine.step(faces, audio, state.take(list(range(len(state)))[:n] + [-1] * (n - len(state))))
    io = set(engine.spec.input_names) | set(engine.spec.output_names)
    live = {t.data_ptr() for t in engine.buffers.values()} | {t.data_ptr() for t in engine._hidden}
    for step in launches(trt):
        kinds = [c[0] for c in step]
        assert kinds[0] == "wait_default_stream" and kinds[-1] == "execute"
        last_shape = max(i for i, k in enumerate(kinds) if k == "set_input_shape")
        assert last_shape < kinds.index("set_tensor_address")  # every shape before any address
        assert {c[1] for c in step if c[0] == "set_input_shape"} == set(engine.spec.input_names)
        addresses = {c[1]: c[2] for c in step if c[0] == "set_tensor_address"}
        assert set(addresses) == io
        # Every output goes to a buffer of the engine's own (the state input may be a
        # caller's tensor on the device, e.g. after State.take with new rows).
        assert all(addresses[n] in live for n in io - {"hidden"})
        assert step[-1] == ("execute", CpuPlace.STREAM)


def test_state_stays_on_the_device_and_swaps_between_two_buffers(fake_trt, tmp_path, monkeypatch):
    """The state a step returns is bound as is by the next step (no copy through the host),
    which writes into the other buffer; faces coming and going change nothing to that."""
    trt = fake_trt()
    engine, _ = cpu_engine(trt, tmp_path)
    host_copies = []
    numpy = State.numpy
    monkeypatch.setattr(State, "numpy", lambda self: host_copies.append(1) or numpy(self))
    buffers = [t.data_ptr() for t in engine._hidden]
    faces = np.zeros((2, 3, 96, 96), np.float32)
    _, state = engine.step(faces, None, engine.init_state(2))
    seen = []
    for rows in ([0, 1], [0, 1], [1, 0, -1], [0, 1, 2], [2]):
        bound_in = state.data.data_ptr()
        out, state = engine.step(np.zeros((len(rows), 3, 96, 96), np.float32), None, state.take(rows))
        step = launches(trt)[-1]
        addresses = {c[1]: c[2] for c in step if c[0] == "set_tensor_address"}
        if rows == list(range(len(rows))):
            assert addresses["hidden"] == bound_in  # bound in place
        assert addresses["hidden_out"] in buffers and addresses["hidden_out"] != addresses["hidden"]
        seen.append(addresses["hidden_out"])
    assert host_copies == [] and set(seen) == set(buffers)


def test_state_overwritten_by_later_steps_is_refused(fake_trt, tmp_path):
    engine, _ = cpu_engine(fake_trt(), tmp_path, max_faces=2)
    faces = np.zeros((1, 3, 96, 96), np.float32)
    _, old = engine.step(faces, None, engine.init_state(1))
    _, state = engine.step(faces, None, old)
    _, state = engine.step(faces, None, state)  # reuses old's buffer
    with pytest.raises(AvaffectError, match="overwritten by a later step"):
        engine.step(faces, None, old)
    assert engine.step(faces, None, state.take([0]))[0].valence_arousal.shape == (1, 2)
    with pytest.raises(AvaffectError, match="exceed this engine's limit of 2"):
        engine.step(np.zeros((3, 3, 96, 96), np.float32), None, engine.init_state(3))


def test_cuda_place_carries_the_device_index(monkeypatch):
    """torch.device("cuda") != torch.device("cuda:0"), which a CUDA tensor reports: the
    place must say cuda:0, or every step copies the state through the host."""
    streams = []
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "device", lambda d: __import__("contextlib").nullcontext())
    monkeypatch.setattr(torch.cuda, "Stream", lambda d: streams.append(d) or object())
    place = bt.CudaPlace(None)
    assert place.device == torch.device("cuda:0") and streams == [torch.device("cuda:0")]
    on_gpu0 = types.SimpleNamespace(device=torch.device("cuda", 0))
    assert place.holds(on_gpu0)
    assert bt.CudaPlace("cuda:1").device == torch.device("cuda:1")
    assert not bt.CudaPlace("cuda:1").holds(on_gpu0)
    with pytest.raises(AvaffectError, match="runs on a CUDA device, not 'cpu'"):
        bt.CudaPlace("cpu")


# -- real GPU paths: run only on an NVIDIA GPU with the library installed -----------------

needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU (PyTorch sees none)")
needs_trt = pytest.mark.skipif(
    not (HAS_CUDA and HAS_TRT), reason="needs an NVIDIA GPU and `pip install tensorrt`"
)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("cuda_graphs", [False, True])
def test_torch_cuda_matches_cpu(tmp_path, cuda_graphs):
    ckpt = save_tiny(tmp_path / "model.safetensors")
    gpu = load_engine(ckpt, "torch", "cuda", cuda_graphs=cuda_graphs)
    assert_engines_agree(gpu, load_engine(ckpt, "torch", "cpu"), atol=1e-3, steps=30)


@pytest.mark.gpu
@needs_trt
@pytest.mark.parametrize("name", ["mt_vgg_rnn_lite", "av_mt_vgg_rnn_lite"])
@pytest.mark.parametrize("precision, tol", [("fp32", 1e-3), ("fp16", 2e-2)])
def test_tensorrt_matches_torch(tmp_path, name, precision, tol):
    ckpt = save_tiny(tmp_path / "model.safetensors", name)
    engine = load_engine(
        ckpt, "tensorrt", precision=precision, max_faces=4, cache_dir=tmp_path / "cache"
    )
    assert engine.spec.backend == "tensorrt" and engine.spec.max_faces == 4
    assert engine.device == torch.device("cuda", torch.cuda.current_device())
    assert_engines_agree(engine, load_engine(ckpt, "torch", "cpu"), atol=tol, steps=30)


@pytest.mark.gpu
@needs_trt
def test_tensorrt_state_stays_on_the_gpu(tmp_path, monkeypatch):
    ckpt = save_tiny(tmp_path / "model.safetensors")
    engine = load_engine(ckpt, "tensorrt", max_faces=2, cache_dir=tmp_path / "cache")
    host_copies = []
    numpy = State.numpy
    monkeypatch.setattr(State, "numpy", lambda self: host_copies.append(1) or numpy(self))
    faces = np.zeros((1, 3, 96, 96), np.float32)
    _, state = engine.step(faces, None, engine.init_state(1))
    for _ in range(3):
        _, state = engine.step(faces, None, state)
    assert host_copies == [] and state.data.is_cuda


@pytest.mark.gpu
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
