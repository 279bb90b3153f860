"""torch2trt: the models name the part it converts (each trunk's ``forward_features``), the
rest stays in PyTorch. On the CPU a fake torch2trt (tests/torch2trt_fakes.py) converts by
running the part, and fails where the real one would (``flip``, a 2-D by 4-D ``matmul``);
the real conversion is marked ``gpu`` and skips with the reason elsewhere."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
import torch
from engine_fakes import fake_tensorrt
from engine_parity import assert_engines_agree
from torch2trt_fakes import Unconvertible, fake_torch2trt, torch2trt_failing_import

from avaffect.checkpoint import CheckpointConfig, read_config, save_checkpoint
from avaffect.engines import backend_torch2trt as bt2
from avaffect.engines import load_engine
from avaffect.engines import tensorrt_build as tb
from avaffect.errors import AvaffectError
from avaffect.shipped import available_shipped
from avaffect.train.models import create_model, model_from_checkpoint
from avaffect.train.models.base import Trunk

TINY = {"width": 0.0625}
GPU = {"name": "NVIDIA Fake 100", "compute_capability": "9.0"}
SHIPPED = available_shipped()


def save_tiny(path, name="mt_vgg_rnn_lite"):
    torch.manual_seed(0)
    model = create_model(name, **TINY)
    return save_checkpoint(path, model.state_dict(), CheckpointConfig(model=name, model_kwargs=TINY))


@pytest.fixture
def fakes(monkeypatch):
    """A fake TensorRT 10.13 and torch2trt on a fake GPU, the engine allowed on the CPU."""
    trt = fake_tensorrt("10.13.3")
    torch2trt = fake_torch2trt(trt)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "torch2trt", torch2trt)
    monkeypatch.setattr(tb, "gpu_identity", lambda: dict(GPU))
    monkeypatch.setattr(bt2, "check_device", lambda device: None)
    return trt, torch2trt


@pytest.mark.parametrize(
    "name, parts",
    [
        ("mt_vgg_lite", ["trunk"]),
        ("mt_arcres_lite", ["trunk"]),
        ("mt_vgg_rnn_lite", ["frame"]),
        ("av_mt_vgg_rnn_lite", ["face_stream.frame", "audio_stream.frame"]),
    ],
)
def test_models_name_their_trunks_and_the_gru_is_not_in_them(name, parts):
    model = create_model(name, **TINY, **({} if "arcres" in name else {"mirror_average": True}))
    model.eval()
    assert list(model.trunks()) == parts
    for part in parts:
        trunk = model.get_submodule(part)
        assert isinstance(trunk, Trunk) and not any(isinstance(m, torch.nn.GRU) for m in trunk.modules())
        x = torch.rand(2, *trunk.input_shape)
        with torch.inference_mode():
            one_side = trunk.forward_head(trunk.forward_features(x))
            expected = one_side
            if trunk.mirror_average:  # the mean of the face's and its mirror's features
                expected = 0.5 * (one_side + trunk.forward_head(trunk.forward_features(x.flip(-1))))
            torch.testing.assert_close(trunk(x), expected)


def test_torch2trt_under_tensorrt_11_says_what_works(monkeypatch, tmp_path):
    """`pip install tensorrt` gives TensorRT 11, under which torch2trt's import raises
    AttributeError (trt.CalibrationAlgoType is gone): one line, not a traceback."""
    trt = fake_tensorrt("11.4.0")
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.delitem(sys.modules, "torch2trt", raising=False)
    monkeypatch.syspath_prepend(str(torch2trt_failing_import(tmp_path)))
    with pytest.raises(AttributeError):  # what the real package does under 11
        __import__("torch2trt")
    monkeypatch.delitem(sys.modules, "torch2trt", raising=False)
    ckpt = save_tiny(tmp_path / "model.safetensors")
    with pytest.raises(
        AvaffectError,
        match=r"^torch2trt needs TensorRT 10 and this is TensorRT 11.4.0; use --backend tensorrt",
    ):
        load_engine(ckpt, "torch2trt", cache_dir=tmp_path / "cache")


def test_torch2trt_failing_to_import_is_one_line(monkeypatch, tmp_path):
    trt = fake_tensorrt("10.13.3")
    del trt.CalibrationAlgoType  # some other TensorRT 10 build without what torch2trt reads
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.delitem(sys.modules, "torch2trt", raising=False)
    monkeypatch.syspath_prepend(str(torch2trt_failing_import(tmp_path)))
    with pytest.raises(
        AvaffectError,
        match=r"torch2trt failed to import with TensorRT 10.13.3 \(AttributeError: .*\); "
        "it supports TensorRT 10 only: use --backend tensorrt",
    ):
        bt2.import_torch2trt(trt)
    monkeypatch.setitem(sys.modules, "torch2trt", None)
    with pytest.raises(AvaffectError, match="it is not installed: use --backend tensorrt"):
        bt2.import_torch2trt(trt)


@pytest.mark.skipif(not SHIPPED, reason="no shipped model in this install")
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_whole_trunks_of_the_shipped_models_do_not_convert(fakes, name):
    """Why only forward_features is converted: the whole trunk of a shipped model flips the
    face (mirror average) or pools the spectrogram by a 2-D x 4-D matmul."""
    _, torch2trt = fakes
    model, _ = model_from_checkpoint(SHIPPED[name])
    for trunk in model.trunks().values():
        x = torch.zeros(1, *trunk.input_shape)
        shapes = [tuple(x.shape)]
        if trunk.mirror_average or not isinstance(trunk.pool, torch.nn.Identity):
            with pytest.raises(Unconvertible):
                torch2trt.torch2trt(trunk, [x], min_shapes=shapes, opt_shapes=shapes, max_shapes=shapes)
        torch2trt.torch2trt(
            bt2.TrunkFeatures(trunk), [x], min_shapes=shapes, opt_shapes=shapes, max_shapes=shapes
        )


@pytest.mark.skipif(not SHIPPED, reason="no shipped model in this install")
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_torch2trt_engine_of_each_shipped_model_matches_pytorch(fakes, tmp_path, name):
    trt, torch2trt = fakes
    engine = load_engine(name, "torch2trt", "cpu", max_faces=3, cache_dir=tmp_path / "cache")
    assert engine.spec.backend == "torch2trt" and engine.spec.max_faces == 3
    model, _ = model_from_checkpoint(SHIPPED[name])
    trunks = model.trunks()
    assert [type(m).__name__ for m, _, _ in torch2trt.converted] == ["TrunkFeatures"] * len(trunks)
    for (module, (low, opt, high), fp16), trunk in zip(torch2trt.converted, trunks.values(), strict=True):
        assert module.trunk.input_shape == trunk.input_shape
        sides = 2 if trunk.mirror_average else 1  # faces and mirror images in one batch
        assert low == [1, *trunk.input_shape] and high == [3 * sides, *trunk.input_shape]
        assert opt[0] == sides and not fp16
    assert read_config(SHIPPED[name]).model == engine.spec.model
    assert_engines_agree(engine, load_engine(name, "torch", "cpu"), atol=1e-5, steps=8)
    # Built once: the next load installs the saved parts without converting again.
    torch2trt.converted.clear()
    again = load_engine(name, "torch2trt", "cpu", max_faces=3, cache_dir=tmp_path / "cache")
    assert torch2trt.converted == [] and again.spec.backend == "torch2trt"


def test_torch2trt_engine_needs_a_cuda_device(monkeypatch, tmp_path):
    trt = fake_tensorrt("10.13.3")
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "torch2trt", fake_torch2trt(trt))
    monkeypatch.setattr(tb, "gpu_identity", lambda: dict(GPU))
    ckpt = save_tiny(tmp_path / "model.safetensors")
    with pytest.raises(AvaffectError, match="torch2trt backend runs on a CUDA device, not cpu"):
        load_engine(ckpt, "torch2trt", "cpu", cache_dir=tmp_path / "cache")


# -- the real torch2trt: an NVIDIA GPU with TensorRT 10 and torch2trt ----------------------


def _torch2trt_ready() -> str | None:
    if not torch.cuda.is_available():
        return "needs a CUDA GPU (PyTorch sees none)"
    if importlib.util.find_spec("torch2trt") is None:
        return "needs torch2trt (pip install git+https://github.com/NVIDIA-AI-IOT/torch2trt)"
    try:
        trt = tb.import_tensorrt()
    except AvaffectError as err:
        return str(err)
    if tb.tensorrt_major(trt) >= 11:
        return f"torch2trt needs TensorRT 10; this is {trt.__version__}"
    return None


@pytest.mark.gpu
@pytest.mark.skipif(not SHIPPED, reason="no shipped model in this install")
@pytest.mark.parametrize("name", sorted(SHIPPED))
# fp32 within 5e-3, not 1e-3: torch2trt leaves TensorRT's default TF32 on (docs/engines.md)
@pytest.mark.parametrize("precision, tol", [("fp32", 5e-3), ("fp16", 2e-2)])
def test_real_torch2trt_matches_pytorch(tmp_path, name, precision, tol):
    reason = _torch2trt_ready()
    if reason:
        pytest.skip(reason)
    engine = load_engine(name, "torch2trt", precision=precision, max_faces=4, cache_dir=tmp_path)
    assert_engines_agree(engine, load_engine(name, "torch", "cpu"), atol=tol, steps=20)


def test_a_torch2trt_file_of_whole_submodules_is_refused(tmp_path):
    """Files built before the models named their parts hold whole submodules (mirror
    average and head included): installing one as forward_features would give wrong numbers."""
    from safetensors.torch import save_file

    path = tmp_path / "old.torch2trt"
    meta = {"frame": {"inputs": ["input_0"], "outputs": ["output_0"]}}
    save_file(
        {"frame": torch.zeros(4, dtype=torch.uint8)},
        str(path),
        metadata={bt2.METADATA_KEY: json.dumps(meta)},
    )
    with pytest.raises(AvaffectError, match="built by an older avaffect"):
        bt2.install_trunks(create_model("mt_vgg_rnn_lite", **TINY), None, None, path)
