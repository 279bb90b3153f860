"""`avaffect pack`: an fp16 copy of a checkpoint is half the size and predicts what the fp32
original does, through the same loading path every command uses."""

from __future__ import annotations

import pytest
import torch

from avaffect.checkpoint import CheckpointConfig, load_checkpoint, save_checkpoint
from avaffect.cli import main
from avaffect.face import FaceSpec
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
