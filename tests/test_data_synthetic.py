"""The synthetic database: written in the Aff-Wild2 layout, read back by the real loaders."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.labels import AUS, EXPRESSIONS
from avaffect.train.data import AffWild2Frames, AffWild2Sequences, write_synthetic_affwild2
from avaffect.train.data.synthetic_faces import PROTOTYPE_AUS

pytest.importorskip("av")

FACE = FaceSpec(size=48)
AUDIO = SpectrogramConfig(sample_rate=16000, context_s=0.5)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    started = time.perf_counter()
    root = write_synthetic_affwild2(tmp_path_factory.mktemp("synthetic"))
    assert time.perf_counter() - started < 10  # "a couple of seconds"; slack for a busy CI core
    return root


def test_layout_is_aff_wild2s(root: Path) -> None:
    for task in ("VA_Set", "AU_Set", "EXPR_Set"):
        assert (root / task / "Training_Set").is_dir() and (root / task / "Validation_Set").is_dir()
    assert (root / "cropped_aligned" / "synth_000" / "00001.jpg").is_file()
    assert {p.name for p in (root / "videos").iterdir()} == {
        "synth_000.mp4",
        "synth_001.avi",
        "synth_002.mp4",
        "synth_003.avi",
    }
    assert (root / "cropped_aligned" / "synth_001_left").is_dir() and (
        root / "cropped_aligned" / "synth_001_right"
    ).is_dir()
    assert not (root / "AU_Set" / "Training_Set" / "synth_001_right.txt").exists()
    assert (
        (root / "EXPR_Set" / "Training_Set" / "synth_000.txt")
        .read_text()
        .startswith(",".join((*EXPRESSIONS, "Other")))
    )


def test_frames_read_back_with_missing_labels_and_frames(root: Path) -> None:
    train = AffWild2Frames(root, "train", face=FACE)
    validation = AffWild2Frames(root, "validation", face=FACE)
    assert train.stats["videos"] == 4 and validation.stats["videos"] == 1
    assert train.stats["annotated_frames"] == 4 * 60
    assert train.stats["annotated_frames_without_image"] == 4  # one per face
    for data in (train, validation):
        stats = data.stats
        kept = stats["annotated_frames"] - stats["annotated_frames_without_image"]
        assert len(data) == kept - stats["frames_without_valid_label"]
        assert stats["frames_without_valid_label"] <= 2
    va = np.stack([train[i]["va"] for i in range(len(train))])
    expr = train.expression_targets()
    assert (va == -5).any() and (expr == -1).any()
    assert set(expr[expr >= 0]) == set(range(len(EXPRESSIONS)))  # every class appears


def test_aus_follow_the_expression_prototypes(root: Path) -> None:
    data = AffWild2Frames(root, "train", face=FACE, tasks=("au", "expr"))
    for i in range(0, len(data), 7):
        sample = data[i]
        if sample["expr"] < 0 or (sample["au"] < 0).any():
            continue
        active = {name for name, on in zip(AUS, sample["au"], strict=True) if on == 1}
        assert active - {"AU25"} == set(PROTOTYPE_AUS[EXPRESSIONS[sample["expr"]]]) - {"AU25"}


def test_spectrogram_loudness_tracks_arousal(root: Path) -> None:
    data = AffWild2Frames(root, "train", face=FACE, tasks=("va",), audio=AUDIO)
    loudness, arousal = [], []
    for i in range(len(data)):
        sample = data[i]
        assert sample["spectrogram"].shape == AUDIO.shape
        if sample["va"][1] != -5:
            loudness.append(sample["spectrogram"][0, :, -3:].mean())  # the window's last 66 ms
            arousal.append(sample["va"][1])
    assert np.corrcoef(loudness, arousal)[0, 1] > 0.6


def test_sequences_read_back_with_audio(root: Path) -> None:
    data = AffWild2Sequences(root, "train", face=FACE, audio=AUDIO, seq_len=16)
    sample = data[0]
    assert sample["face"].shape == (16, 3, 48, 48)
    assert sample["spectrogram"].shape == (16, *AUDIO.shape)
    assert (
        sample["va"].shape == (16, 2)
        and sample["au"].shape == (16, 8)
        and sample["expr"].shape == (16,)
    )
    # the missing image splits each face's 60 frames into two runs: at least 2 windows per face
    assert len(data) >= 2 * 4


def test_left_and_right_faces_hear_the_same_recording(root: Path) -> None:
    data = AffWild2Frames(root, "train", face=FACE, tasks=("va",), audio=AUDIO)
    frames: dict[str, dict[int, int]] = {"synth_001_left": {}, "synth_001_right": {}}
    for i in range(len(data)):
        name, frame = data.frame_of(i)
        if name in frames:
            frames[name][frame] = i
    common = sorted(set(frames["synth_001_left"]) & set(frames["synth_001_right"]))
    assert len(common) >= 50
    for frame in common[::10]:
        left, right = data[frames["synth_001_left"][frame]], data[frames["synth_001_right"][frame]]
        np.testing.assert_array_equal(left["spectrogram"], right["spectrogram"])


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(AvaffectError, match="videos >= 1"):
        write_synthetic_affwild2(tmp_path, videos=0)
