"""Training-time face augmentation: what each setting does to a face, and its seeding."""

from __future__ import annotations

import numpy as np
import pytest

from avaffect.errors import AvaffectError
from avaffect.train.config import AugmentSection, TrainConfig
from avaffect.train.loop.augment import FaceAugment, shift_edge, warp_edge

ALL_ON = AugmentSection(rotation=10.0, scale=0.1, erase=1.0, erase_area=0.2)


def grey_face(size: int = 48, seed: int = 0) -> np.ndarray:
    """A grey face as the FER2013 models see it: one plane replicated to three channels."""
    plane = np.random.default_rng(seed).uniform(-1, 1, (size, size)).astype(np.float32)
    return np.repeat(plane[None], 3, axis=0)


def augmented(settings: AugmentSection, face: np.ndarray, seed: int) -> np.ndarray:
    augment = FaceAugment(settings)
    augment.reseed(seed)
    return augment(face)


def test_same_seed_same_face_and_grey_stays_grey() -> None:
    face = grey_face()
    first, again = augmented(ALL_ON, face, 7), augmented(ALL_ON, face, 7)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, augmented(ALL_ON, face, 8))
    assert first.shape == face.shape and first.dtype == np.float32
    assert first.min() >= -1.0 and first.max() <= 1.0
    # the erased patch's noise too is the same in every channel
    np.testing.assert_array_equal(first[0], first[1])
    np.testing.assert_array_equal(first[0], first[2])


def test_parts_left_off_draw_nothing() -> None:
    """Adding rotation/zoom/erasing to AugmentSection changed no recipe that does not use them:
    with them off, a face gets exactly the flip + whole-pixel shift + photometry of before."""
    face = grey_face()
    plain = AugmentSection(brightness=0.0, contrast=0.0)
    for seed in range(20):
        out = augmented(plain, face, seed)
        rng = np.random.default_rng(seed)
        expected = face[..., ::-1] if rng.random() < 0.5 else face
        dy, dx = (int(v) for v in rng.integers(-4, 5, size=2))
        rows = np.clip(np.arange(48) - dy, 0, 47)
        cols = np.clip(np.arange(48) - dx, 0, 47)
        np.testing.assert_array_equal(out, expected[..., rows[:, None], cols[None, :]])


def test_warp_turns_and_zooms_about_the_centre() -> None:
    # a quarter turn of an odd-sized face moves every pixel onto the grid: it is np.rot90
    face = grey_face(size=9)
    np.testing.assert_allclose(warp_edge(face, 90.0, 1.0, 0, 0), np.rot90(face, 1, axes=(-2, -1)), atol=1e-5)
    np.testing.assert_allclose(warp_edge(face, -90.0, 1.0, 0, 0), np.rot90(face, -1, axes=(-2, -1)), atol=1e-5)
    # a zoom keeps the centre pixel; a whole-pixel warp shift is the plain shift
    np.testing.assert_allclose(warp_edge(face, 0.0, 1.3, 0, 0)[:, 4, 4], face[:, 4, 4], atol=1e-5)
    np.testing.assert_allclose(warp_edge(face, 0.0, 1.0, 2, -1), shift_edge(face, 2, -1), atol=1e-5)


def test_erasing_blanks_one_rectangle_within_the_area_bound() -> None:
    face = np.zeros((3, 48, 48), np.float32)
    erase_only = AugmentSection(flip=False, max_shift=0, brightness=0.0, contrast=0.0, erase=1.0, erase_area=0.2)
    for seed in range(30):
        changed = np.argwhere(augmented(erase_only, face, seed)[0] != 0)
        top, left = changed.min(0)
        bottom, right = changed.max(0)
        box = (bottom - top + 1) * (right - left + 1)
        assert len(changed) == box  # one rectangle (noise is never exactly 0)
        assert 0.01 * 48 * 48 <= box <= 0.25 * 48 * 48


def test_a_clip_gets_one_transform_for_all_its_frames() -> None:
    clip = np.repeat(grey_face()[None], 5, axis=0)
    out = augmented(ALL_ON, clip, 11)
    for frame in out[1:]:
        np.testing.assert_array_equal(frame, out[0])
    np.testing.assert_array_equal(out[0], augmented(ALL_ON, clip[0], 11))


@pytest.mark.parametrize(
    "setting, message",
    [
        ({"erase": 2.0}, "augment: erase is a probability in \\[0, 1\\], got 2.0"),
        ({"rotation": -5.0}, "augment: rotation must not be negative"),
        ({"scale": 1.5}, "augment: scale must be below 1"),
        ({"erase_area": 0.0}, "augment: erase_area must be in \\[0.02, 1\\]"),
    ],
)
def test_bad_settings_are_one_line_errors(setting: dict, message: str) -> None:
    with pytest.raises(AvaffectError, match=message):
        TrainConfig.from_dict({"augment": setting})
