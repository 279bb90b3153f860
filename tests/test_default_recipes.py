"""The recipes of the embedded default models run end to end through ``avaffect train``.

Two steps each, on a slice of the shared FER2013 (10 Training faces of each expression, so that
every ArcFace class centre can be fitted, and 16 PublicTest faces) with the
nets at width 0.125 on 32x32 faces: this proves the recipes, the priors and the pseudo-video
wire together, not that they reach the accuracy bars (that is the GPU session's job,
docs/defaults.md).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from avaffect.checkpoint import load_checkpoint
from avaffect.cli import main
from avaffect.train.config import list_recipes

SHARED_NPZ = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "fer2013"
    / "fer2013_train_publictest.npz"
)
RECIPES = (
    "default_frame_fer2013",
    "default_stream_fer2013",
    "default_arcvgg_fer2013",
    "default_arcres_fer2013",
)
TINY = [
    "steps=2",
    "batch_size=8",
    "face.size=32",
    "model.kwargs.width=0.125",
    "num_workers=0",
    "data.sequence_length=8",
    "--no-progress",
]

pytestmark = pytest.mark.skipif(
    not SHARED_NPZ.is_file(), reason=f"shared FER2013 data not found at {SHARED_NPZ}"
)


@pytest.fixture(scope="module")
def fer_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with np.load(SHARED_NPZ) as data:
        usage = data["usage"].astype(str)
        training = [
            np.flatnonzero((usage == "Training") & (data["labels"] == c))[:10] for c in range(7)
        ]
        keep = np.concatenate([*training, np.flatnonzero(usage == "PublicTest")[:16]])
        arrays = {key: data[key][keep] for key in ("images", "labels", "usage")}
    path = tmp_path_factory.mktemp("fer2013") / "fer2013_slice.npz"
    np.savez(path, **arrays)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


def train(recipe: str, data: Path, out: Path, *overrides: str) -> Path:
    assert main(["train", recipe, "--data", str(data), "--out", str(out), *TINY, *overrides]) == 0
    return out / "best.safetensors"


def last_metrics(out: Path) -> dict[str, str]:
    with (out / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))[-1]


def test_the_default_recipes_are_listed() -> None:
    shipped = list_recipes()
    for name in RECIPES:
        assert name in shipped and "Default" in shipped[name]


@pytest.fixture(scope="module")
def frame(fer_slice: Path, runs: Path) -> Path:
    return train("default_frame_fer2013", fer_slice, runs / "frame")


def test_frame_then_stream_recipes_run(
    frame: Path, fer_slice: Path, runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = load_checkpoint(frame)
    assert ckpt.config.model == "mt_vgg_lite" and ckpt.config.face.color == "gray"
    row = last_metrics(runs / "frame")
    assert float(row["loss_au"]) > 0 and float(row["loss_va"]) > 0  # the priors reach the loss
    assert row["val_expr_acc"] != ""  # what selects the best checkpoint

    stream = train("default_stream_fer2013", fer_slice, runs / "stream", f"model.init_from={frame}")
    assert "CNN trunk initialised from" in capsys.readouterr().out
    assert load_checkpoint(stream).config.model == "mt_vgg_rnn_lite"
    assert float(last_metrics(runs / "stream")["loss_au"]) > 0


def test_arcres_recipe_runs_and_fits_class_centres(fer_slice: Path, runs: Path) -> None:
    ckpt = load_checkpoint(train("default_arcres_fer2013", fer_slice, runs / "arcres"))
    assert ckpt.config.model == "mt_arcres_lite"
    assert ckpt.config.extra["centres"]["samples"] == 70


def test_arcvgg_recipe_starts_from_the_frame_trunk_and_fits_centres(
    frame: Path, fer_slice: Path, runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    arcvgg = train("default_arcvgg_fer2013", fer_slice, runs / "arcvgg", f"model.init_from={frame}")
    assert "CNN trunk initialised from" in capsys.readouterr().out
    ckpt = load_checkpoint(arcvgg)
    assert ckpt.config.model == "mt_arcvgg_lite" and ckpt.config.face.color == "gray"
    assert ckpt.config.extra["centres"]["samples"] == 70
    assert bool(ckpt.state_dict["centres_fitted"])
