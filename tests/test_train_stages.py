"""The later stages of the paper's recipes, tiny: a CNN-RNN started from a frame model's trunk,
the audio-visual net started from its two streams, and an ArcFace net whose class centres are
fitted at the end. Then `avaffect eval` on what they produced."""

from __future__ import annotations

import json

import pytest
import torch

from avaffect.audio import SpectrogramConfig
from avaffect.checkpoint import load_checkpoint, read_config
from avaffect.cli import main
from avaffect.train.config import build_config
from avaffect.train.data import write_synthetic_affwild2
from avaffect.train.loop.trainer import train

SMALL = ["model.kwargs.width=0.125", "face.size=48", "optim.lr=1e-3", "num_workers=0", "checkpoint_every=1000"]
# A short audio window keeps the spectrogram stream small: 0.2 s at 16 kHz, 8 kHz band.
AUDIO = ["audio.sample_rate=16000", "audio.context_s=0.2", "audio.max_freq_hz=4000.0"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return write_synthetic_affwild2(tmp_path_factory.mktemp("affwild2"), videos=6, frames=60, audio=True, seed=1)


def run(recipe, data, out, *overrides, **kwargs):
    config = build_config(recipe, [*SMALL, *overrides], **{"data.path": str(data), "out": str(out)})[1]
    return train(config, recipe=recipe, progress=False, **kwargs)


@pytest.fixture(scope="module")
def frame_model(synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("mt_vgg")
    return run("mt_vgg", synthetic, out, "model.name=mt_vgg_lite", "batch_size=16", "steps=80", "eval_every=80")


def test_cnn_rnn_starts_from_the_frame_model_and_learns(synthetic, frame_model, tmp_path, capsys):
    result = run(
        "mt_vgg_rnn", synthetic, tmp_path / "rnn", "model.name=mt_vgg_rnn_lite", "batch_size=4",
        "data.sequence_length=16", "steps=40", "eval_every=20", "optim.lr=3e-4",
        f"model.init_from={frame_model.best_path}",
    )
    assert "CNN trunk initialised from" in capsys.readouterr().out
    # held out: a recording (and face) never seen; chance is 0 for CCC and 1/7 for accuracy
    assert result.metrics["va_ccc"] > 0.3 and result.metrics["expr_acc"] > 0.3
    config = read_config(result.last_path)
    assert config.training["sequence_length"] == 16 and config.model == "mt_vgg_rnn_lite"


def test_eval_reads_a_recurrent_checkpoint_with_its_own_settings(synthetic, frame_model, tmp_path, capsys):
    result = run(
        "mt_vgg_rnn", synthetic, tmp_path / "rnn", "model.name=mt_vgg_rnn_lite", "batch_size=4",
        "data.sequence_length=8", "steps=2", f"model.init_from={frame_model.best_path}",
    )
    capsys.readouterr()
    argv = ["eval", "--checkpoint", str(result.last_path), "--dataset", "affwild2", "--path", str(synthetic),
            "--json", "--no-progress"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frames"] == report["samples"] * 8  # windows of the checkpoint's 8 frames
    assert report["metrics"]["va_ccc"] == pytest.approx(result.metrics["va_ccc"], abs=1e-6)


def test_audio_visual_net_starts_from_both_streams(synthetic, frame_model, tmp_path):
    face = run("mt_vgg_rnn", synthetic, tmp_path / "face", "model.name=mt_vgg_rnn_lite", "batch_size=4",
               "data.sequence_length=8", "steps=2", "data.val_split=", "model.init_from=")
    audio = run("av_audio_stream", synthetic, tmp_path / "audio", "model.name=mt_vgg_rnn_audio_lite",
                "batch_size=4", "data.sequence_length=8", "steps=2", "data.val_split=", *AUDIO)
    assert read_config(audio.last_path).audio == SpectrogramConfig(sample_rate=16000, context_s=0.2, max_freq_hz=4000.0)
    fused = run("av_mt_vgg_rnn", synthetic, tmp_path / "av", "model.name=av_mt_vgg_rnn_lite", "batch_size=2",
                "data.sequence_length=8", "steps=1", "data.val_split=", "optim.lr=1e-9", *AUDIO,
                f"model.init_from={face.last_path}", f"model.init_audio_from={audio.last_path}")
    fused_state = fused.model.state_dict()
    face_state = load_checkpoint(face.last_path).state_dict
    audio_state = load_checkpoint(audio.last_path).state_dict
    # one step at lr 1e-9 leaves the loaded weights as they were, up to rounding
    torch.testing.assert_close(fused_state["face_stream.gru.weight_hh_l0"], face_state["gru.weight_hh_l0"])
    torch.testing.assert_close(fused_state["audio_stream.frame.fc1.weight"], audio_state["frame.fc1.weight"])


def test_arcface_net_gets_class_centres_from_its_training_embeddings(synthetic, tmp_path, capsys):
    result = run("mt_arcres", synthetic, tmp_path / "arc", "model.name=mt_arcres_lite", "batch_size=16",
                 "steps=12", "eval_every=6", "optim.lr=0.01", "optim.warmup_steps=0")
    assert "class centres fitted on" in capsys.readouterr().out
    for path in (result.best_path, result.last_path):
        ckpt = load_checkpoint(path)
        assert bool(ckpt.state_dict["centres_fitted"]) and ckpt.config.extra["centres"]["samples"] > 300
        norms = ckpt.state_dict["centres"].norm(dim=1)
        torch.testing.assert_close(norms, torch.ones(7))
    assert bool(result.model.centres_fitted)
