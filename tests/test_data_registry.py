"""``open_dataset``: the one way `avaffect train` and `avaffect eval` open a database by name."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.train.data import (
    AffWild2Sequences,
    ImageFolder,
    dataset_names,
    open_dataset,
    write_synthetic_affwild2,
)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_affwild2(
        tmp_path_factory.mktemp("synthetic"), videos=2, frames=20, audio=False
    )


def test_names() -> None:
    assert dataset_names() == [
        "affwild2", "fer2013", "affectnet", "rafdb", "imagefolder", "fer2013_video", "crema_d", "ravdess",
        "crema_d_ravdess", "fer2013_crema_av",
    ]  # fmt: skip


def test_affwild2_frames_and_sequences(synthetic: Path) -> None:
    frames = open_dataset("affwild2", synthetic, "train", face=FaceSpec(size=32), tasks=("expr",))
    assert frames.face_spec.size == 32 and frames.tasks == ("expr",)
    assert frames[0]["face"].shape == (3, 32, 32)
    sequences = open_dataset("AffWild2", synthetic, "validation", sequence=True, seq_len=5)
    assert isinstance(sequences, AffWild2Sequences) and sequences[0]["face"].shape == (5, 3, 96, 96)


def test_still_databases_keep_their_default_face(tmp_path: Path) -> None:
    (tmp_path / "happy").mkdir()
    cv2.imwrite(str(tmp_path / "happy" / "a.png"), np.zeros((8, 8), np.uint8))
    data = open_dataset("imagefolder", tmp_path, None)
    assert isinstance(data, ImageFolder) and data.face_spec == FaceSpec()
    csv = tmp_path / "fer2013.csv"
    csv.write_text(f'emotion,pixels,Usage\n3,"{" ".join(["7"] * 2304)}",Training\n')
    assert open_dataset("fer2013", csv, "train").face_spec.color == "gray"  # FER2013 is grey
    assert open_dataset("fer2013", csv, "train", face=FaceSpec()).face_spec.color == "rgb"


def test_user_mistakes_are_one_line_errors(synthetic: Path, tmp_path: Path) -> None:
    with pytest.raises(
        AvaffectError, match="unknown dataset 'mnist'; use one of: affwild2, fer2013"
    ):
        open_dataset("mnist", tmp_path, "train")
    with pytest.raises(AvaffectError, match="nowhere: rafdb data not found"):
        open_dataset("rafdb", tmp_path / "nowhere", "train")
    with pytest.raises(AvaffectError, match="fer2013 has still images only"):
        open_dataset("fer2013", tmp_path, "train", sequence=True)
    with pytest.raises(AvaffectError, match="imagefolder has no audio"):
        open_dataset("imagefolder", tmp_path, "train", audio=SpectrogramConfig())
    with pytest.raises(AvaffectError, match="bad options.*seq_len"):
        open_dataset("affwild2", synthetic, "train", seq_len=4)  # a sequence option for frames


def test_data_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from avaffect.cli import main

    out = tmp_path / "synthetic"
    assert (
        main(["data", "synthetic", str(out), "--videos", "2", "--frames", "12", "--no-audio"]) == 0
    )
    assert main(["data", "info", "affwild2", str(out), "--split", "validation"]) == 0
    printed = capsys.readouterr().out
    assert "annotated_frames_without_image: 1" in printed and "face [3, 96, 96] float32" in printed
    assert main(["data", "info", "rafdb", str(tmp_path / "nowhere")]) == 2
    assert "rafdb data not found" in capsys.readouterr().err
