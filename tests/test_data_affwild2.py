"""Aff-Wild2 loaders on a small root written in the published layout (ABAW3 folder names,
the 12-AU header, the ``Other`` column, missing images, invalid values, a _left/_right pair)."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.labels import AUS
from avaffect.train.data import AffWild2Frames, AffWild2Sequences

AU12_HEADER = "AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26"
EXPR_HEADER = "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other"
FACE = FaceSpec(size=32)
AUDIO = SpectrogramConfig(sample_rate=8000, context_s=0.25)


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_frames(root: Path, video: str, frames: list[int]) -> None:
    folder = root / "cropped_aligned" / video
    folder.mkdir(parents=True, exist_ok=True)
    for k in frames:  # grey level encodes the frame number, so a test can tell frames apart
        cv2.imwrite(str(folder / f"{k:05d}.jpg"), np.full((112, 112, 3), 20 * k, np.uint8))


def write_raw_video(path: Path, seconds: float, level: float) -> None:
    """A small mp4 (mpeg4 + AAC) with a 440 Hz tone of amplitude ``level``."""
    av = pytest.importorskip("av")
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = 16000
    tone = (level * np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate) * 32767).astype(
        np.int16
    )
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=25)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for _ in range(int(seconds * 25)):
            frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="bgr24")
            container.mux(video.encode(frame))
        for start in range(0, len(tone), 1024):
            chunk = av.AudioFrame.from_ndarray(
                tone[None, start : start + 1024], format="s16", layout="mono"
            )
            chunk.sample_rate, chunk.pts = rate, start
            container.mux(audio.encode(chunk))
        container.mux(video.encode())
        container.mux(audio.encode())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """vid1: 6 annotated frames, frame 3 and 6 without image; frame 5 has no valid label.
    vid2: only in the EXPR set. pair_left/pair_right: VA only."""
    ann = tmp_path / "annotations"
    write_frames(tmp_path, "vid1", [1, 2, 4, 5])
    write_lines(
        ann / "VA_Estimation_Challenge" / "Train_Set" / "vid1.txt",
        ["valence,arousal", "0.5,0.25", "-0.5,0.75", "0.1,0.1", "-5,-5", "-5,-5", "0.2,0.2"],
    )
    au_rows = ["1,0,0,0,0,0,1,0,0,0,1,0", "0,1,1,0,0,0,0,1,0,0,0,0", "0,0,0,0,0,0,0,0,0,0,0,0"]
    write_lines(
        ann / "AU_Detection_Challenge" / "Train_Set" / "vid1.txt",
        [AU12_HEADER, *au_rows, *["-1," * 11 + "-1"] * 3],
    )
    write_lines(
        ann / "EXPR_Recognition_Challenge" / "Train_Set" / "vid1.txt",
        [EXPR_HEADER, "4", "7", "0", "1", "-1", "6"],
    )
    write_frames(tmp_path, "vid2", [1, 2, 3])
    write_lines(
        ann / "EXPR_Recognition_Challenge" / "Train_Set" / "vid2.txt", [EXPR_HEADER, "2", "2", "3"]
    )
    for side in ("left", "right"):
        write_frames(tmp_path, f"pair_{side}", [1, 2, 3, 4])
        write_lines(
            ann / "VA_Estimation_Challenge" / "Train_Set" / f"pair_{side}.txt",
            ["valence,arousal", *["0.3,0.6"] * 4],
        )
    for task in ("VA_Estimation_Challenge", "AU_Detection_Challenge", "EXPR_Recognition_Challenge"):
        (ann / task / "Validation_Set").mkdir(parents=True, exist_ok=True)
    return tmp_path


def by_frame(data: AffWild2Frames, video: str) -> dict[int, dict]:
    """Samples of one video keyed by their 1-based frame number."""
    return {
        frame: data[i]
        for i in range(len(data))
        for name, frame in [data.frame_of(i)]
        if name == video
    }


def test_frames_read_the_published_layout(root: Path) -> None:
    data = AffWild2Frames(root, "train", face=FACE)
    assert data.stats["videos"] == 4
    assert data.stats["annotated_frames"] == 6 + 3 + 4 + 4
    assert data.stats["annotated_frames_without_image"] == 2  # vid1 frames 3 and 6
    assert data.stats["frames_without_valid_label"] == 1  # vid1 frame 5
    assert len(data) == 3 + 3 + 4 + 4

    sample = data[0]
    assert sample["face"].shape == (3, 32, 32) and sample["face"].dtype == np.float32
    assert (
        sample["va"].shape == (2,)
        and sample["au"].shape == (8,)
        and sample["expr"].dtype == np.int64
    )
    assert "spectrogram" not in sample

    vid1 = by_frame(data, "vid1")
    assert sorted(vid1) == [1, 2, 4]
    assert vid1[1]["va"].tolist() == [0.5, 0.25]
    assert vid1[4]["va"].tolist() == [
        -5,
        -5,
    ]  # invalid VA stays masked, the frame is used for AU/expr
    assert vid1[4]["expr"] == 1 and (vid1[4]["au"] == -1).all()


def test_au_columns_are_mapped_by_name(root: Path) -> None:
    vid1 = by_frame(AffWild2Frames(root, "train", face=FACE), "vid1")
    first = dict(zip(AUS, vid1[1]["au"].tolist(), strict=True))
    assert first == {
        "AU1": 1,
        "AU2": 0,
        "AU4": 0,
        "AU6": 0,
        "AU12": 1,
        "AU15": 0,
        "AU20": -1,
        "AU25": 1,
    }
    second = dict(zip(AUS, vid1[2]["au"].tolist(), strict=True))
    assert (
        second["AU2"] == 1 and second["AU4"] == 1 and second["AU15"] == 1 and second["AU20"] == -1
    )


def test_other_expression_is_missing_and_classes_keep_their_names(root: Path) -> None:
    vid1 = by_frame(AffWild2Frames(root, "train", face=FACE), "vid1")
    assert vid1[1]["expr"] == 4  # Happiness
    assert vid1[2]["expr"] == -1  # Other
    assert vid1[4]["expr"] == 1  # Anger


def test_tasks_a_video_lacks_are_masked(root: Path) -> None:
    data = AffWild2Frames(root, "train", face=FACE)
    vid2 = by_frame(data, "vid2")
    assert [vid2[k]["expr"] for k in (1, 2, 3)] == [2, 2, 3]
    assert all((s["va"] == -5).all() and (s["au"] == -1).all() for s in vid2.values())
    only_va = AffWild2Frames(root, "train", tasks=("va",), face=FACE)
    assert all(
        (only_va[i]["au"] == -1).all() and only_va[i]["expr"] == -1 for i in range(len(only_va))
    )
    assert "vid2" not in {v.name for v in only_va.index.videos}
    assert (only_va.expression_targets() == -1).all()


def test_stride_subsamples_frames(root: Path) -> None:
    assert len(AffWild2Frames(root, "train", face=FACE, stride=2)) == 7


def test_images_are_the_annotated_frames(root: Path) -> None:
    vid1 = by_frame(AffWild2Frames(root, "train", face=FaceSpec(size=32, color="gray")), "vid1")
    for k, sample in vid1.items():  # grey level 20 * k, scaled to [-1, 1]
        assert sample["face"].mean() == pytest.approx(20 * k / 127.5 - 1, abs=0.03)


def test_header_that_does_not_match_its_folder_names_the_file(root: Path) -> None:
    bad = root / "annotations" / "VA_Estimation_Challenge" / "Train_Set" / "vid1.txt"
    write_lines(bad, [AU12_HEADER, "0,0,0,0,0,0,0,0,0,0,0,0"])
    with pytest.raises(AvaffectError, match="vid1.txt.*not a VA header"):
        AffWild2Frames(root, "train", face=FACE)


def test_values_out_of_range_name_file_and_line(root: Path) -> None:
    bad = root / "annotations" / "AU_Detection_Challenge" / "Train_Set" / "vid1.txt"
    write_lines(bad, [AU12_HEADER, "0,0,0,0,0,0,0,0,0,0,0,0", "0,2,0,0,0,0,0,0,0,0,0,0"])
    with pytest.raises(AvaffectError, match=r"vid1.txt: line 3"):
        AffWild2Frames(root, "train", face=FACE)


def test_missing_annotation_folder_says_which_and_how(root: Path) -> None:
    (root / "annotations" / "AU_Detection_Challenge" / "Validation_Set").rmdir()
    with pytest.raises(AvaffectError, match="no AU validation annotations.*tasks="):
        AffWild2Frames(root, "validation", face=FACE)
    with pytest.raises(AvaffectError, match="unknown split 'dev'"):
        AffWild2Frames(root, "dev")
    with pytest.raises(AvaffectError, match="root not found"):
        AffWild2Frames(root / "nowhere", "train")


def test_corrupt_image_is_an_error_or_skipped_and_counted(root: Path) -> None:
    corrupt = root / "cropped_aligned" / "vid2" / "00002.jpg"
    corrupt.write_bytes(b"\xff\xd8 this is not a jpeg")
    data = AffWild2Frames(root, "train", face=FACE)
    vid2 = [i for i in range(len(data)) if data.frame_of(i)[0] == "vid2"]
    with pytest.raises(AvaffectError, match="vid2/00002.jpg.*skip_corrupt=True"):
        data[vid2[1]]

    skipping = AffWild2Frames(root, "train", face=FACE, skip_corrupt=True)
    with pytest.warns(UserWarning, match="00002.jpg"):
        sample = skipping[vid2[1]]
    assert sample["expr"] == -1 and (sample["va"] == -5).all() and (sample["au"] == -1).all()
    assert skipping.stats["corrupt_images"] == 1
    assert skipping[vid2[0]]["expr"] == 2  # its neighbours are untouched


def test_sequences_stay_within_runs_of_frames_and_pad_masked(root: Path) -> None:
    data = AffWild2Sequences(root, "train", face=FACE, seq_len=3)
    # vid1 runs: [1, 2] and [4, 5] (frame 6 has no image); vid2: [1..3]; pairs: [1..3], [4]
    assert len(data) == 2 + 1 + 2 * 2
    windows = [data.window_of(i) for i in range(len(data))]
    assert ("vid1", 1, 2) in windows and ("vid1", 4, 2) in windows and ("vid2", 1, 3) in windows
    sample = data[windows.index(("vid1", 1, 2))]  # frames 1, 2 and one of padding
    assert sample["face"].shape == (3, 3, 32, 32)
    assert (
        sample["va"].shape == (3, 2)
        and sample["au"].shape == (3, 8)
        and sample["expr"].shape == (3,)
    )
    assert sample["va"][:2].tolist() == [[0.5, 0.25], [-0.5, 0.75]]
    assert (sample["va"][2] == -5).all() and sample["expr"][2] == -1  # padding is masked
    np.testing.assert_array_equal(
        sample["face"][2], sample["face"][1]
    )  # ... and repeats the last frame

    batch = default_collate([data[i] for i in range(2)])
    assert batch["face"].shape == (2, 3, 3, 32, 32) and batch["expr"].dtype == torch.int64

    dropped = AffWild2Sequences(root, "train", face=FACE, seq_len=3, drop_last=True)
    assert len(dropped) == 1 + 2  # only full windows: vid2 and the two pair videos
    overlapping = AffWild2Sequences(root, "train", face=FACE, seq_len=2, stride=1)
    assert len(overlapping) == (1 + 1) + 2 + 2 * 3


def test_left_and_right_share_the_raw_videos_audio(root: Path) -> None:
    pytest.importorskip("av")
    write_raw_video(root / "raw_videos" / "pair.mp4", seconds=1.0, level=0.5)
    write_raw_video(root / "videos" / "vid1.mp4", seconds=1.0, level=0.05)
    write_raw_video(root / "batch2" / "vid2.mp4", seconds=1.0, level=0.05)
    data = AffWild2Frames(root, "train", face=FACE, audio=AUDIO)
    pair = {
        data.frame_of(i): data[i]["spectrogram"]
        for i in range(len(data))
        if data.frame_of(i)[0].startswith("pair")
    }
    assert pair[("pair_left", 4)].shape == AUDIO.shape
    np.testing.assert_array_equal(pair[("pair_left", 4)], pair[("pair_right", 4)])
    # frame 1 is shown at t=0: its window is all silence; later frames hear the tone
    assert pair[("pair_left", 1)].max() == -1.0
    assert pair[("pair_left", 4)].max() > -0.5
    assert data.audio_cache is not None and len(data.audio_cache) == 1  # decoded once for both


def test_audio_without_raw_video_is_a_clear_error(root: Path) -> None:
    pytest.importorskip("av")
    with pytest.raises(AvaffectError, match="no raw video.*without audio"):
        AffWild2Frames(root, "train", face=FACE, audio=AUDIO)


def test_datasets_pickle_for_dataloader_workers(root: Path) -> None:
    data = AffWild2Sequences(root, "train", face=FACE, seq_len=2)
    clone = pickle.loads(pickle.dumps(data))
    np.testing.assert_array_equal(clone[1]["face"], data[1]["face"])
    loader = torch.utils.data.DataLoader(data, batch_size=2, num_workers=1)
    batch = next(iter(loader))
    assert batch["face"].shape == (2, 2, 3, 32, 32)
