"""The training loop on a small synthetic Aff-Wild2: learning, checkpoints, logs, exact resume,
masking. Models are the lite nets at width 0.125 on 48x48 faces, so every run takes seconds."""

from __future__ import annotations

import csv

import pytest
import torch

from avaffect import shipped
from avaffect.checkpoint import CheckpointConfig, load_checkpoint, read_config, save_checkpoint
from avaffect.cli import main
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.train.config import build_config
from avaffect.train.data import write_synthetic_affwild2
from avaffect.train.loop.precision import native_cpu_bf16
from avaffect.train.loop.trainer import train
from avaffect.train.models import create_model, model_from_checkpoint

TINY = ["model.name=mt_vgg_lite", "model.kwargs.width=0.125", "face.size=48", "batch_size=16",
        "optim.lr=1e-3", "num_workers=0", "checkpoint_every=1000"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """6 recordings of 60 frames: about 350 training frames, one held-out recording."""
    return write_synthetic_affwild2(tmp_path_factory.mktemp("affwild2"), videos=6, frames=60, audio=False, seed=1)


def tiny(data, out, *overrides: str):
    return build_config("mt_vgg", [*TINY, *overrides], **{"data.path": str(data), "out": str(out)})[1]


@pytest.fixture(scope="module")
def trained(synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "mt_vgg_lite"
    return train(tiny(synthetic, out, "steps=80", "eval_every=20"), recipe="mt_vgg", progress=False)


def test_mt_vgg_lite_learns_the_synthetic_database(trained):
    metrics = trained.metrics  # on the held-out recording, a face the net never saw
    assert metrics["va_ccc"] > 0.3  # chance: 0
    assert metrics["expr_acc"] > 0.3  # chance: 1/7; the most frequent class is 1/4 of the frames


def test_run_folder_holds_checkpoints_log_and_config(trained):
    out = trained.out_dir
    assert {p.name for p in out.iterdir()} >= {
        "best.safetensors", "last.safetensors", "last.state.safetensors", "metrics.csv", "config.toml"}
    config = read_config(out / "last.safetensors")
    assert config.model == "mt_vgg_lite" and config.model_kwargs["face_size"] == 48
    assert config.face == FaceSpec(size=48) and config.audio is None
    assert config.training["step"] == 80 and config.training["recipe"] == "mt_vgg"
    assert config.training["config"]["optim"]["lr"] == 1e-3
    assert config.metrics == trained.metrics
    best = read_config(out / "best.safetensors")
    assert best.metrics and best.training["step"] % 20 == 0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    validated = [r for r in rows if r["val_va_ccc"]]
    assert [int(r["step"]) for r in validated] == [20, 40, 60, 80]
    assert all(float(r["samples_per_s"]) > 0 and float(r["train_loss"]) > 0 for r in rows)
    model, _ = model_from_checkpoint(out / "best.safetensors")
    assert model(torch.zeros(2, 3, 48, 48))["expr"].shape == (2, 7)


def test_resume_ends_with_the_same_weights_as_an_uninterrupted_run(synthetic, tmp_path):
    settings = ["steps=12", "checkpoint_every=4", "eval_every=4", "data.val_limit=16"]
    straight = train(tiny(synthetic, tmp_path / "straight", *settings), progress=False)

    def stop_at_6(info):
        if info.step == 6:
            raise KeyboardInterrupt  # as if Ctrl-C: the last checkpoint is step 4's

    with pytest.raises(KeyboardInterrupt):
        train(tiny(synthetic, tmp_path / "cut", *settings), callbacks=[stop_at_6], progress=False)
    assert read_config(tmp_path / "cut" / "last.safetensors").training["step"] == 4
    resumed = train(tiny(synthetic, tmp_path / "cut", *settings), resume=True, progress=False)

    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    steps = [int(r["step"]) for r in csv.DictReader((tmp_path / "cut" / "metrics.csv").open())]
    assert steps == sorted(set(steps)), "rows of the cut-off steps were not replaced"


def test_a_weight_average_is_what_validation_scores_and_survives_a_resume(synthetic, tmp_path):
    settings = ["steps=12", "checkpoint_every=4", "eval_every=4", "data.val_limit=16", "ema_decay=0.9"]
    straight = train(tiny(synthetic, tmp_path / "straight", *settings), progress=False)
    best = load_checkpoint(straight.best_path).state_dict
    trained_weights = load_checkpoint(straight.last_path).state_dict
    name = "heads.layers.expr.weight"
    assert not torch.equal(best[name], trained_weights[name])  # best holds the average, last the trained weights
    model, _ = model_from_checkpoint(straight.best_path)  # the average is a model like any other
    assert model(torch.zeros(1, 3, 48, 48))["expr"].shape == (1, 7)

    def stop_at_6(info):
        if info.step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny(synthetic, tmp_path / "cut", *settings), callbacks=[stop_at_6], progress=False)
    resumed = train(tiny(synthetic, tmp_path / "cut", *settings), resume=True, progress=False)
    again = load_checkpoint(resumed.best_path).state_dict
    assert all(torch.equal(best[k], again[k]) for k in best), "the resumed run's average differs"
    with pytest.raises(AvaffectError, match="ema_decay must be in"):
        tiny(synthetic, tmp_path / "bad", "ema_decay=1.0")


def test_a_run_folder_is_not_overwritten_and_resume_needs_a_run(synthetic, trained, tmp_path):
    with pytest.raises(AvaffectError, match="already holds a run; pass --resume"):
        train(tiny(synthetic, trained.out_dir, "steps=1"), progress=False)
    with pytest.raises(AvaffectError, match="no last.safetensors to resume from"):
        train(tiny(synthetic, tmp_path / "empty", "steps=1"), resume=True, progress=False)


def test_an_earlier_stage_that_is_missing_or_damaged_is_named_as_such(synthetic, tmp_path, monkeypatch):
    with pytest.raises(AvaffectError, match="not found; train that stage first"):
        train(tiny(synthetic, tmp_path / "a", "steps=1", f"model.init_from={tmp_path / 'nope.safetensors'}"))
    name, file = "default_audio_crema_d", "default_audio_crema_d.safetensors"
    weights = tmp_path / "weights"
    weights.mkdir()
    data = bytearray((shipped.WEIGHTS_DIR / file).read_bytes())
    data[-100] ^= 0xFF  # one flipped byte: the sums still name the good file
    (weights / file).write_bytes(bytes(data))
    (weights / "SHA256SUMS").write_text((shipped.WEIGHTS_DIR / "SHA256SUMS").read_text())
    monkeypatch.setattr(shipped, "WEIGHTS_DIR", weights)
    with pytest.raises(AvaffectError, match="damaged.*reinstall avaffect"):
        train(tiny(synthetic, tmp_path / "b", "steps=1", f"model.init_from={name}"))


def test_a_task_without_labels_trains_nothing_of_its_head(synthetic, tmp_path):
    """Every expression label masked: the loss still runs, the expression head stays as it was."""
    start = create_model("mt_vgg_lite", width=0.125, face_size=48)
    save_checkpoint(tmp_path / "start.safetensors", start.state_dict(),
                    CheckpointConfig(model="mt_vgg_lite", model_kwargs={"width": 0.125, "face_size": 48}))
    result = train(tiny(synthetic, tmp_path / "run", "steps=6", "data.options={tasks=['va', 'au']}",
                        f"model.init_from={tmp_path / 'start.safetensors'}"), progress=False)
    before = load_checkpoint(tmp_path / "start.safetensors").state_dict
    after = result.model.state_dict()
    assert torch.equal(after["heads.layers.expr.weight"], before["heads.layers.expr.weight"])
    assert not torch.equal(after["heads.layers.va.weight"], before["heads.layers.va.weight"])
    assert "expr_acc" not in result.metrics and "va_ccc" in result.metrics


def test_cli_trains_then_resumes_from_the_saved_config_with_more_steps(synthetic, tmp_path, capsys):
    out = tmp_path / "cli_run"
    assert main(["train", "mt_vgg", "--data", str(synthetic), "--out", str(out), *TINY, "steps=3",
                 "data.val_limit=16", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "trained 3 steps, best validation score" in printed and str(out / "best.safetensors") in printed
    assert main(["train", str(out / "config.toml"), "--resume", "steps=5", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "resuming with changed settings: steps" in printed and "trained 5 steps" in printed
    training = read_config(out / "last.safetensors").training
    assert training["step"] == 5 and training["recipe"] == "mt_vgg"


@pytest.mark.skipif(not native_cpu_bf16(), reason="this CPU has no native bfloat16 (AMX / AVX512-BF16)")
def test_cpu_bf16_trains_as_well_where_the_cpu_has_it(synthetic, tmp_path, capsys):
    run = train(tiny(synthetic, tmp_path / "bf16", "steps=80", "eval_every=80", "cpu_bf16=true",
                     "device=cpu"), progress=False)
    assert "autocast to bfloat16" in capsys.readouterr().out
    assert run.metrics["va_ccc"] > 0.3 and run.metrics["expr_acc"] > 0.3  # as the fp32 run's bars
    weights = run.model.state_dict()
    assert all(w.dtype == torch.float32 for w in weights.values() if w.is_floating_point())


def test_cpu_bf16_falls_back_to_fp32_on_a_cpu_without_it(synthetic, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("avaffect.train.loop.precision.native_cpu_bf16", lambda: False)
    train(tiny(synthetic, tmp_path / "old_cpu", "steps=2", "eval_every=2", "data.val_limit=8",
               "cpu_bf16=true", "device=cpu"), progress=False)
    assert "no native bfloat16" in capsys.readouterr().out
