"""FER2013 from the shared npz (the real data) and from a CSV in the original format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avaffect.errors import AvaffectError
from avaffect.labels import EXPRESSIONS
from avaffect.train.data import FER2013

SHARED_NPZ = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "fer2013"
    / "fer2013_train_publictest.npz"
)


def write_csv(
    path: Path, rows: list[tuple[int, np.ndarray, str]], header: str = "emotion,pixels,Usage"
) -> Path:
    lines = [header] + [
        f'{label},"{" ".join(map(str, pixels.ravel()))}",{usage}' for label, pixels, usage in rows
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def grey(level: int) -> np.ndarray:
    return np.full((48, 48), level, np.uint8)


@pytest.mark.skipif(
    not SHARED_NPZ.is_file(), reason=f"shared FER2013 data not found at {SHARED_NPZ}"
)
def test_shared_npz_public_test_split() -> None:
    data = FER2013(SHARED_NPZ, "val")
    assert len(data) == 3589 and data.usage == "PublicTest"
    # the published class counts, in avaffect's order (FER2013 Neutral 607 -> our index 0, ...)
    counts = {EXPRESSIONS[i]: int((data.expression_targets() == i).sum()) for i in range(7)}
    assert counts == {
        "Neutral": 607,
        "Anger": 467,
        "Disgust": 56,
        "Fear": 496,
        "Happiness": 895,
        "Sadness": 653,
        "Surprise": 415,
    }
    sample = data[0]
    assert sample["face"].shape == (3, 96, 96) and sample["face"].dtype == np.float32
    assert -1 <= sample["face"].min() < sample["face"].max() <= 1
    np.testing.assert_array_equal(sample["face"][0], sample["face"][1])  # grey: channels equal
    assert (sample["va"] == -5).all() and (sample["au"] == -1).all()
    assert data.face_spec.color == "gray"
    with pytest.raises(
        AvaffectError, match=r"'PrivateTest' is empty.*PublicTest \(3589\), Training \(28709\)"
    ):
        FER2013(SHARED_NPZ, "test")


def test_csv_splits_labels_and_pixels(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "fer2013.csv",
        [
            (3, grey(200), "Training"),
            (6, grey(50), "Training"),
            (0, grey(10), "PublicTest"),
            (5, grey(90), "PrivateTest"),
        ],
    )
    train = FER2013(tmp_path, "Train")  # a folder holding fer2013.csv; split names any case
    assert len(train) == 2
    assert [int(s) for s in train.expression_targets()] == [
        EXPRESSIONS.index("Happiness"),
        EXPRESSIONS.index("Neutral"),
    ]
    assert train[0]["face"].mean() == pytest.approx(200 / 127.5 - 1, abs=1e-5)
    assert FER2013(path, "publictest")[0]["expr"] == EXPRESSIONS.index("Anger")
    assert FER2013(path, "privatetest")[0]["expr"] == EXPRESSIONS.index("Surprise")


def test_icml_variant_and_augment_hook(tmp_path: Path) -> None:
    path = tmp_path / "icml_face_data.csv"  # columns reordered, names with leading spaces
    path.write_text(f'emotion, Usage, pixels\n1,Training,"{" ".join(["100"] * 2304)}"\n')
    flipped = FER2013(path, "train", augment=lambda face: -face)
    assert flipped[0]["face"].mean() == pytest.approx(-(100 / 127.5 - 1), abs=1e-5)
    assert flipped[0]["expr"] == EXPRESSIONS.index("Disgust")


def test_csv_errors_name_the_problem(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "fer2013.csv", [(3, grey(1), "Training")])
    with pytest.raises(
        AvaffectError, match="'PublicTest' is empty; the file has: Training \\(1\\)"
    ):
        FER2013(path, "validation")
    with pytest.raises(AvaffectError, match="unknown split 'holdout'"):
        FER2013(path, "holdout")
    path.write_text('emotion,pixels,Usage\n3,"1 2 3",Training\n')
    with pytest.raises(AvaffectError, match="line 2: pixels are not 2304"):
        FER2013(path, "train")
    path.write_text("pixels\n")
    with pytest.raises(AvaffectError, match="not a labelled FER2013 CSV"):
        FER2013(path, "train")
    with pytest.raises(AvaffectError, match="no FER2013 file"):
        FER2013(tmp_path / "empty", "train")
