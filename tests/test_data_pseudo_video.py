"""FER2013 pseudo-video: still faces moved along smooth trajectories, in labelled segments."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.train.data import FER2013PseudoVideo, open_dataset
from avaffect.train.data.fer2013 import FER_TO_OURS
from avaffect.train.objectives.priors import AU_PRIOR, VA_PRIOR

SMALL = FaceSpec(size=48, color="gray")


def cartoon_face(background: int, features: int) -> np.ndarray:
    """A 48x48 grey face with a head, eyes and a mouth: structure for the motion to move."""
    img = np.full((48, 48), background, np.uint8)
    cv2.ellipse(img, (24, 26), (14, 18), 0, 0, 360, 255 - background, -1)
    for x in (18, 30):
        cv2.circle(img, (x, 20), 3, features, -1)
    cv2.line(img, (17, 34), (31, 34), features, 2)
    return img


@pytest.fixture(scope="module")
def fer_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 distinct faces, FER labels 0..6 in turn, all in Training."""
    faces = np.stack([cartoon_face(20 + 15 * i, (37 * i) % 256) for i in range(12)])
    path = tmp_path_factory.mktemp("fer") / "fer.npz"
    np.savez(path, images=faces, labels=np.arange(12) % 7, usage=np.array(["Training"] * 12))
    return path


def open_video(path: Path, **kwargs) -> FER2013PseudoVideo:
    options = {"face": SMALL, "seq_len": 20, "segments": (4, 8), **kwargs}
    return FER2013PseudoVideo(path, "train", **options)


def test_sequences_have_the_sample_contract_shapes(fer_npz: Path) -> None:
    data = open_dataset("fer2013_video", fer_npz, "train", sequence=True, seq_len=20, face=SMALL)
    assert isinstance(data, FER2013PseudoVideo) and data.sequence and len(data) >= 2
    sample = data[0]
    assert sample["face"].shape == (20, 3, 48, 48) and sample["face"].dtype == np.float32
    assert -1 <= sample["face"].min() < sample["face"].max() <= 1
    assert sample["va"].shape == (20, 2) and sample["au"].shape == (20, 8)
    assert sample["expr"].shape == (20,) and sample["expr"].dtype == np.int64
    assert data.tasks == ("va", "au", "expr") and data.stats["sequences"] == len(data)


def test_labels_are_constant_over_each_segment_and_follow_the_priors(fer_npz: Path) -> None:
    data = open_video(fer_npz)
    labels = FER_TO_OURS[np.load(fer_npz)["labels"]]
    for i in range(len(data)):
        faces, lengths = data.plan[i]
        assert lengths.sum() == 20 and (lengths[:-1] >= 4).all() and (lengths <= 8).all()
        sample = data[i]
        np.testing.assert_array_equal(sample["expr"], np.repeat(labels[faces], lengths))
        np.testing.assert_array_equal(sample["au"], AU_PRIOR[sample["expr"]])
        np.testing.assert_array_equal(sample["va"], VA_PRIOR[sample["expr"]])
    every_face = np.concatenate([faces for faces, _ in data.plan])
    assert len(set(every_face.tolist())) == len(every_face)  # a shuffled pass: no face twice


def test_without_priors_only_expressions_are_labelled(fer_npz: Path) -> None:
    sample = open_video(fer_npz, priors=False)[0]
    assert (sample["au"] == -1).all() and (sample["va"] == -5).all() and (sample["expr"] >= 0).all()


def test_frames_of_a_segment_move_smoothly_and_segments_change_the_face(fer_npz: Path) -> None:
    data = open_video(fer_npz)
    within, across = [], []
    for i in range(len(data)):
        step = np.abs(np.diff(data[i]["face"], axis=0)).mean(axis=(1, 2, 3))
        boundary = np.cumsum(data.plan[i][1])[:-1] - 1  # step k goes from frame k to k + 1
        is_boundary = np.isin(np.arange(len(step)), boundary)
        within += step[~is_boundary].tolist()
        across += step[is_boundary].tolist()
    assert min(within) > 0  # the trajectory moves: no two frames of a segment are identical
    assert np.mean(within) < 0.5 * np.mean(across)  # ... but neighbours look alike


def test_motion_can_be_set_like_a_recipe_does(fer_npz: Path) -> None:
    still = open_video(
        fer_npz,
        motion={
            "shift": 0,
            "scale": 0,
            "rotation": 0,
            "brightness": 0,
            "blur": 0,
            "occlusion_probability": 0,
        },
    )
    face = still[0]["face"]
    np.testing.assert_array_equal(face[0], face[1])  # no motion at all: the segment stands still


def test_same_seed_same_sequences_other_seed_others(fer_npz: Path) -> None:
    a, b, c = open_video(fer_npz), open_video(fer_npz), open_video(fer_npz, seed=1)
    np.testing.assert_array_equal(a[1]["face"], b[1]["face"])
    np.testing.assert_array_equal(a[1]["face"], a[1]["face"])  # reading twice: the same clip
    assert not np.array_equal(a[0]["face"], c[0]["face"])
    np.testing.assert_array_equal(a[-1]["face"], b[len(b) - 1]["face"])


def test_mistakes_are_one_line_errors(fer_npz: Path) -> None:
    with pytest.raises(AvaffectError, match="segments must be"):
        open_video(fer_npz, segments=(5, 2))
    with pytest.raises(AvaffectError, match="motion .* use a table of shift, scale"):
        open_video(fer_npz, motion={"shfit": 0.1})
    with pytest.raises(AvaffectError, match="seed must be 0 or more"):
        open_video(fer_npz, seed=-1)
    with pytest.raises(AvaffectError, match="too few for one sequence"):
        open_video(fer_npz, seq_len=1000)
    with pytest.raises(AvaffectError, match="fer2013_video is sequences only"):
        open_dataset("fer2013_video", fer_npz, "train")
