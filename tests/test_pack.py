"""`avaffect pack`: an fp16 copy of a checkpoint is half the size (int8 weights: a quarter)
and predicts what the fp32 original does, through the same loading path every command uses."""

from __future__ import annotations

import pytest
import torch

from avaffect.checkpoint import CheckpointConfig, load_checkpoint, save_checkpoint
from avaffect.cli import main
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.quantize import SCALE_SUFFIX, dequantize_int8, quantize_int8
from avaffect.train.models import create_model, model_from_checkpoint


@pytest.fixture
def trained_like(tmp_path):
    """A small BN VGG whose BN statistics are not the defaults (as after training)."""
    kwargs = {"width": 0.125, "face_size": 48, "batch_norm": True}
    torch.manual_seed(0)
    model = create_model("mt_vgg_lite", **kwargs)
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 48, 48))  # moves the BN running statistics
    config = CheckpointConfig(model="mt_vgg_lite", model_kwargs=kwargs, face=FaceSpec(48, "gray", "fer2013"))
    return save_checkpoint(tmp_path / "fp32.safetensors", model.state_dict(), config)


def test_pack_halves_the_file_and_keeps_the_predictions(trained_like, tmp_path):
    out = tmp_path / "fp16.safetensors"
    assert main(["pack", str(trained_like), "--out", str(out)]) == 0
    assert out.stat().st_size < 0.55 * trained_like.stat().st_size
    packed = load_checkpoint(out)
    assert packed.config.face == FaceSpec(48, "gray", "fer2013")  # the config travels unchanged
    assert packed.config.extra["packed"]["dtype"] == "float16"
    assert {t.dtype for t in packed.state_dict.values()} == {torch.float16, torch.int64}
    face = torch.rand(4, 3, 48, 48) * 2 - 1
    with torch.no_grad():
        want = model_from_checkpoint(trained_like)[0](face)
        got = model_from_checkpoint(out)[0](face)
    assert all(v.dtype == torch.float32 for v in got.values())  # loaded back into fp32 params
    for task in want:
        torch.testing.assert_close(got[task], want[task], atol=2e-2, rtol=2e-2)


def test_pack_refuses_to_overwrite_its_source(trained_like, capsys):
    assert main(["pack", str(trained_like), "--out", str(trained_like)]) == 2
    assert "is the checkpoint itself" in capsys.readouterr().err


def test_pack_refuses_values_fp16_cannot_hold(tmp_path, capsys):
    src = save_checkpoint(tmp_path / "big.safetensors", {"w": torch.tensor([1e6])}, CheckpointConfig(model="mt_vgg"))
    assert main(["pack", str(src), "--out", str(tmp_path / "o.safetensors")]) == 2
    assert "beyond torch.float16 range" in capsys.readouterr().err


def test_pack_mirror_average_turns_it_on_without_touching_the_weights(trained_like, tmp_path):
    out = tmp_path / "mirrored.safetensors"
    assert main(["pack", str(trained_like), "--out", str(out), "--mirror-average"]) == 0
    packed, original = load_checkpoint(out), load_checkpoint(trained_like)
    assert packed.config.model_kwargs == {**original.config.model_kwargs, "mirror_average": True}
    assert packed.config.extra["packed"]["added_model_kwargs"] == {"mirror_average": True}  # after its metrics
    for name, tensor in original.state_dict.items():
        assert torch.equal(packed.state_dict[name], tensor.to(packed.state_dict[name].dtype))
    model = model_from_checkpoint(out)[0]
    face = torch.rand(2, 3, 48, 48) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(model(face)["expr"], model(face.flip(-1))["expr"])


def test_pack_mirror_average_of_a_model_without_it_is_refused(tmp_path, capsys):
    kwargs = {"width": 0.0625, "spectrogram_shape": [1, 40, 12]}
    model = create_model("mt_vgg_rnn_audio", **kwargs)
    src = save_checkpoint(tmp_path / "audio.safetensors", model.state_dict(), CheckpointConfig("mt_vgg_rnn_audio", kwargs))
    assert main(["pack", str(src), "--out", str(tmp_path / "o.safetensors"), "--mirror-average"]) == 2
    assert "has no mirror_average option" in capsys.readouterr().err


def test_pack_int8_quarters_the_file_and_keeps_the_predictions(trained_like, tmp_path):
    out = tmp_path / "int8.safetensors"
    assert main(["pack", str(trained_like), "--out", str(out), "--int8"]) == 0
    assert out.stat().st_size < 0.3 * trained_like.stat().st_size
    packed = load_checkpoint(out)
    assert "int8" in packed.config.extra["packed"]["weights"]
    assert set(packed.state_dict) == set(load_checkpoint(trained_like).state_dict)  # scales folded back in
    face = torch.rand(4, 3, 48, 48) * 2 - 1
    with torch.no_grad():
        want = model_from_checkpoint(trained_like)[0](face)
        got = model_from_checkpoint(out)[0](face)
    for task in want:
        torch.testing.assert_close(got[task], want[task], atol=3e-2, rtol=3e-2)


def test_int8_round_trip_errs_by_at_most_half_a_step_of_each_channel():
    torch.manual_seed(0)
    weight = torch.randn(16, 8, 3, 3) * torch.logspace(-3, 0, 16).view(-1, 1, 1, 1)  # ranges differ
    codes, scale = quantize_int8(weight)
    assert codes.dtype == torch.int8 and codes.shape == weight.shape and scale.shape == (16,)
    restored = dequantize_int8({"w": codes, "w" + SCALE_SUFFIX: scale})["w"]
    error = (restored - weight).abs().flatten(1).amax(1)
    assert torch.all(error <= scale / 2 + 1e-9)  # each channel keeps its own resolution
    assert torch.equal(quantize_int8(torch.zeros(2, 4))[0], torch.zeros(2, 4, dtype=torch.int8))


def test_a_scale_without_its_weight_is_a_corrupt_file():
    with pytest.raises(AvaffectError, match="without its int8 weight"):
        dequantize_int8({"w" + SCALE_SUFFIX: torch.ones(2)})
