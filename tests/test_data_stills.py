"""Still-image databases in their real layouts: AffectNet, RAF-DB and an expression image folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec, template
from avaffect.labels import EXPRESSIONS
from avaffect.train.data import RAFDB, AffectNet, ImageFolder

FACE = FaceSpec(size=32)
BRIGHT, DARK = 230, 20
AFFECTNET_HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"


def scene(box: tuple[int, int, int, int], size: tuple[int, int] = (150, 200)) -> np.ndarray:
    """A dark image with a bright square "face" at ``box`` (x, y, w, h)."""
    image = np.full((*size, 3), DARK, np.uint8)
    x, y, w, h = box
    image[y : y + h, x : x + w] = BRIGHT
    return image


def mean_level(face: np.ndarray) -> float:
    return float((face.mean() + 1) * 127.5)


def landmarks68(box: tuple[int, int, int, int]) -> str:
    """68 points whose 5-point summary is the template placed on ``box``."""
    x, y, w, _ = box
    five = np.array([x, y]) + template(112) * (w / 112)
    points = np.repeat(five[2:3], 68, axis=0)
    points[36:42], points[42:48], points[30], points[48], points[54] = (
        five[0],
        five[1],
        five[2],
        five[3],
        five[4],
    )
    return ";".join(f"{v:.2f}" for v in points.ravel())


@pytest.fixture
def affectnet(tmp_path: Path) -> Path:
    box = (60, 40, 64, 64)
    (tmp_path / "Manually_Annotated_Images" / "1").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "Manually_Annotated_Images" / "1" / "a.jpg"), scene(box))
    rows = [  # expression, valence, arousal
        (1, 0.5, 0.3),  # Happy
        (7, -0.2, 0.4),  # Contempt: no class of ours, kept for VA
        (8, -2, -2),  # None without VA: dropped
        (10, -2, -2),  # No-Face: dropped
        (6, -2, -2),  # Anger without VA
    ]
    lines = [AFFECTNET_HEADER]
    lines += [
        f'1/a.jpg,{",".join(map(str, box))},"{landmarks68(box)}",{e},{v},{a}' for e, v, a in rows
    ]
    (tmp_path / "Manually_Annotated_file_lists").mkdir()
    (tmp_path / "Manually_Annotated_file_lists" / "validation.csv").write_text(
        "\n".join(lines) + "\n"
    )
    return tmp_path


def test_affectnet_labels_and_dropped_rows(affectnet: Path) -> None:
    data = AffectNet(affectnet, "validation", face=FACE)
    assert len(data) == 3 and data.stats["dropped"] == 2
    samples = [data[i] for i in range(3)]
    assert [int(s["expr"]) for s in samples] == [
        EXPRESSIONS.index("Happiness"),
        -1,
        EXPRESSIONS.index("Anger"),
    ]
    np.testing.assert_allclose(samples[0]["va"], [0.5, 0.3])
    np.testing.assert_allclose(samples[2]["va"], [-5, -5])
    assert (samples[0]["au"] == -1).all() and samples[0]["face"].shape == (3, 32, 32)


def test_affectnet_box_and_landmark_crops(affectnet: Path) -> None:
    tight = AffectNet(affectnet, "val", face=FACE, margin=0.0)[0]["face"]
    loose = AffectNet(affectnet, "val", face=FACE, margin=0.5)[0]["face"]
    aligned = AffectNet(affectnet, "val", face=FACE, crop="landmarks")[0]["face"]
    assert mean_level(tight) == pytest.approx(BRIGHT, abs=3)  # exactly the box
    assert mean_level(loose) < BRIGHT - 50  # margin brings in the dark surroundings
    assert mean_level(aligned) == pytest.approx(BRIGHT, abs=8)  # template placed on the box


def test_affectnet_errors(affectnet: Path) -> None:
    with pytest.raises(AvaffectError, match="no AffectNet train list"):
        AffectNet(affectnet, "train")
    with pytest.raises(AvaffectError, match="crop 'eyes' is unknown"):
        AffectNet(affectnet, "validation", crop="eyes")
    (affectnet / "Manually_Annotated_Images" / "1" / "a.jpg").write_bytes(b"")
    with pytest.raises(AvaffectError, match="a.jpg: image missing or unreadable"):
        AffectNet(affectnet, "validation")[0]


@pytest.fixture
def rafdb(tmp_path: Path) -> Path:
    basic = tmp_path / "basic"
    (basic / "EmoLabel").mkdir(parents=True)
    (basic / "EmoLabel" / "list_patition_label.txt").write_text(
        "train_00001.jpg 5\ntrain_00002.jpg 1\ntest_0001.jpg 7\n"
    )
    (basic / "Image" / "aligned").mkdir(parents=True)
    for stem, level in (("train_00001", 60), ("train_00002", 120), ("test_0001", 180)):
        cv2.imwrite(
            str(basic / "Image" / "aligned" / f"{stem}_aligned.jpg"),
            np.full((100, 100, 3), level, np.uint8),
        )
    return tmp_path


def test_rafdb_aligned(rafdb: Path) -> None:
    train = RAFDB(rafdb, "train", face=FACE)  # the parent of basic/ works too
    assert [int(e) for e in train.expression_targets()] == [
        EXPRESSIONS.index("Sadness"),
        EXPRESSIONS.index("Surprise"),
    ]
    assert mean_level(train[1]["face"]) == pytest.approx(120, abs=2)
    test = RAFDB(rafdb / "basic", "validation", face=FACE)  # RAF-DB's test set serves as validation
    assert len(test) == 1 and test[0]["expr"] == EXPRESSIONS.index("Neutral")


def test_rafdb_original_images_are_aligned_on_manual_landmarks(rafdb: Path) -> None:
    basic = rafdb / "basic"
    box = (60, 40, 64, 64)
    (basic / "Image" / "original").mkdir(parents=True)
    cv2.imwrite(str(basic / "Image" / "original" / "test_0001.jpg"), scene(box))
    five = np.array(box[:2]) + template(112) * (box[2] / 112)
    lines = [f"{x:.2f}\t{y:.2f}" for x, y in five] + ["0", "0", "2"]
    (basic / "Annotation" / "manual").mkdir(parents=True)
    (basic / "Annotation" / "manual" / "test_0001_manu_attri.txt").write_text(
        "\n".join(lines) + "\n"
    )
    data = RAFDB(rafdb, "test", face=FACE, images="original")
    assert mean_level(data[0]["face"]) == pytest.approx(BRIGHT, abs=8)
    (basic / "Annotation" / "manual" / "test_0001_manu_attri.txt").unlink()
    with pytest.raises(
        AvaffectError, match="test_0001_manu_attri.txt: missing or malformed landmarks"
    ):
        data[0]


def test_rafdb_errors(rafdb: Path, tmp_path: Path) -> None:
    with pytest.raises(AvaffectError, match="no RAF-DB"):
        RAFDB(rafdb / "basic" / "Image", "train")
    (rafdb / "basic" / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 9\n")
    with pytest.raises(AvaffectError, match="line 1 is not '<image> <label 1..7>'"):
        RAFDB(rafdb, "train")


def write_folder(root: Path, classes: dict[str, int]) -> None:
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            cv2.imwrite(str(root / name / f"{i}.png"), np.full((48, 48), 10 * i, np.uint8))


def test_image_folder_kaggle_layout(tmp_path: Path) -> None:
    write_folder(tmp_path / "train", {"happy": 2, "Sad": 1, "surprised": 3})
    write_folder(tmp_path / "test", {"angry": 1, "neutral": 1})
    train = ImageFolder(tmp_path, "train", face=FACE)
    expected = [
        EXPRESSIONS.index(e)
        for e in ("Happiness", "Happiness", "Sadness", "Surprise", "Surprise", "Surprise")
    ]
    assert train.expression_targets().tolist() == expected
    assert train[0]["face"].shape == (3, 32, 32) and (train[0]["va"] == -5).all()
    validation = ImageFolder(
        tmp_path, "validation", face=FACE
    )  # Kaggle's test/ serves as validation
    assert sorted(validation.expression_targets().tolist()) == [0, 1]
    assert len(ImageFolder(tmp_path / "train")) == 6  # no split: the folder of class folders


def test_image_folder_unknown_class_lists_accepted_names(tmp_path: Path) -> None:
    write_folder(tmp_path, {"happy": 1, "contempt": 1})
    with pytest.raises(
        AvaffectError, match="'contempt' is not an expression; use one of .*fearful"
    ):
        ImageFolder(tmp_path)
    assert len(ImageFolder(tmp_path, skip_folders=("Contempt",))) == 1
    with pytest.raises(AvaffectError, match="no folder for split 'train'"):
        ImageFolder(tmp_path, "train")
