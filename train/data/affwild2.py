"""Aff-Wild2 in its published layout: frames for the CNNs, windows of frames for the CNN-RNNs.

Frame time: frame ``k`` (file ``0000k.jpg``, 1-based) is shown at ``(k - 1) / fps`` seconds,
its presentation time in the raw video, and its spectrogram is the audio window that ends
there (the first frame sees silence before the recording starts). ``fps`` is the raw video
stream's. The synthetic generator uses the same definition.

Frames whose annotation line has no image (no face found) are skipped; frames without any
valid label among the requested tasks are not samples of :class:`AffWild2Frames` (they
would add nothing to any loss). Both are counted in ``dataset.stats``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

from avaffect.audio import SpectrogramConfig, frame_end_samples, spectrogram_windows
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec, crops_to_input
from avaffect.labels import INVALID_LABEL

from .affwild2_index import AffWild2Index, VideoIndex, build_index
from .base import (
    RGB_FACE,
    TRAIN_ALIASES,
    VALIDATION_ALIASES,
    AffectDataset,
    Augment,
    mask_labels,
    normalize_split,
)
from .images import try_read_image
from .video_audio import AudioCache, import_av

DEFAULT_TASKS = ("va", "au", "expr")


class _AffWild2(AffectDataset):
    """What frames and sequences share: the index, image and audio reading, label lookup."""

    name = "affwild2"

    def __init__(
        self,
        root: str | Path,
        split: str,
        tasks: tuple[str, ...],
        face: FaceSpec,
        audio: SpectrogramConfig | None,
        skip_corrupt: bool,
        augment: Augment | None,
    ):
        super().__init__(face, audio, augment)
        root = Path(root).expanduser()
        if not root.is_dir():
            raise AvaffectError(
                f"{root}: Aff-Wild2 root not found; pass the folder that holds cropped_aligned/"
            )
        if audio is not None:
            import_av()  # fail now, not in a DataLoader worker
        split = normalize_split(
            split, {"train": TRAIN_ALIASES, "validation": VALIDATION_ALIASES}, f"Aff-Wild2 {root}"
        )
        self.tasks = (tasks,) if isinstance(tasks, str) else tuple(tasks)
        self.skip_corrupt = skip_corrupt
        self.index: AffWild2Index = build_index(
            root, split, self.tasks, need_raw_video=audio is not None
        )
        self.stats = {**self.index.stats(), "corrupt_images": 0}
        # decoded raw-video audio of this process (each DataLoader worker has its own)
        self.audio_cache = AudioCache(audio.sample_rate) if audio is not None else None

    def _faces(self, video: VideoIndex, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Face inputs [T, 3, S, S] of 0-based ``frames``, and which of them decoded."""
        crops, ok = [], np.ones(len(frames), bool)
        for i, frame in enumerate(frames):
            path = video.images.path(int(frame) + 1)
            image = try_read_image(path)
            if image is None:
                if not self.skip_corrupt:
                    raise AvaffectError(
                        f"{path}: image unreadable (corrupt?); replace it, or open the dataset "
                        "with skip_corrupt=True"
                    )
                warnings.warn(
                    f"{path}: unreadable image skipped (its labels are masked)", stacklevel=2
                )
                self.stats["corrupt_images"] += 1
                ok[i] = False
                image = np.zeros((self.face_spec.size, self.face_spec.size, 3), np.uint8)
            crops.append(image)
        return crops_to_input(_same_size(crops), self.face_spec), ok

    def _spectrograms(self, video: VideoIndex, frames: np.ndarray) -> np.ndarray:
        """[T, 1, F, W]: the audio windows ending at the frames' presentation times."""
        assert (
            self.audio is not None and self.audio_cache is not None and video.raw_video is not None
        )
        track = self.audio_cache.get(video.raw_video)
        ends = frame_end_samples(np.asarray(frames, np.float64) / track.fps, self.audio)
        return spectrogram_windows(track.samples, ends, self.audio)

    def _labels(
        self, video: VideoIndex, frames: np.ndarray, ok: np.ndarray
    ) -> dict[str, np.ndarray]:
        at = video.offset + np.asarray(frames, np.int64)
        # Tasks not requested were never read, so they are masked in the index already.
        labels = {"va": self.index.va[at], "au": self.index.au[at], "expr": self.index.expr[at]}
        mask_labels(labels, ~ok)
        return labels

    def _sample(self, video: VideoIndex, frames: np.ndarray) -> dict[str, np.ndarray]:
        """The [T, ...] sample of ``frames`` of one video."""
        faces, ok = self._faces(video, frames)
        sample = {"face": self._augmented(faces), **self._labels(video, frames, ok)}
        if self.audio is not None:
            sample["spectrogram"] = self._spectrograms(video, frames)
        return sample


def _same_size(crops: list[np.ndarray]) -> np.ndarray:
    """Stack crops; one of another size (a replaced corrupt frame) is resized to the first's."""
    height, width = crops[0].shape[:2]
    if any(c.shape[:2] != (height, width) for c in crops):
        crops = [
            c if c.shape[:2] == (height, width) else cv2.resize(c, (width, height)) for c in crops
        ]
    return np.stack(crops)


class AffWild2Frames(_AffWild2):
    """One sample per annotated frame that has an image and a valid label (every ``stride``-th).

    ``tasks``: the annotation sets to read (the others are masked; a video missing from a
    set has that task masked); ``face``/``audio``: the input definitions; ``skip_corrupt``:
    an unreadable image is not an error but a black face with all labels masked, warned
    about and counted in ``stats["corrupt_images"]`` when met (each DataLoader worker
    counts its own); ``augment``: applied to every face input.

    Example: ``AffWild2Frames("/data/Aff-Wild2", "train", audio=SpectrogramConfig())[0]`` is a
    dict with "face" [3, 96, 96], "spectrogram" [1, F, W], "va" [2], "au" [8] and "expr".
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        tasks: tuple[str, ...] = DEFAULT_TASKS,
        face: FaceSpec = RGB_FACE,
        audio: SpectrogramConfig | None = None,
        skip_corrupt: bool = False,
        stride: int = 1,
        augment: Augment | None = None,
    ):
        super().__init__(root, split, tasks, face, audio, skip_corrupt, augment)
        if stride < 1:
            raise AvaffectError(f"frame stride must be at least 1, got {stride}")
        usable = np.concatenate([v.has_image for v in self.index.videos] or [np.zeros(0, bool)])
        usable &= self.index.labelled()
        self._flat = np.flatnonzero(usable)[::stride]  # into the index's flat label arrays
        offsets = np.array([v.offset for v in self.index.videos], np.int64)
        self._video_ids = (np.searchsorted(offsets, self._flat, side="right") - 1).astype(np.int32)
        self._frames = (self._flat - offsets[self._video_ids]).astype(np.int32)  # 0-based
        self.stats["samples"] = len(self._flat)

    def __len__(self) -> int:
        return len(self._flat)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        i = _checked_index(i, len(self))
        video = self.index.videos[self._video_ids[i]]
        sample = self._sample(video, self._frames[i : i + 1])
        return {key: value[0] for key, value in sample.items()}

    def frame_of(self, i: int) -> tuple[str, int]:
        """Which frame sample ``i`` is: (video name, 1-based frame number as in 00001.jpg)."""
        i = _checked_index(i, len(self))
        return self.index.videos[self._video_ids[i]].name, int(self._frames[i]) + 1

    def expression_targets(self) -> np.ndarray:
        return self.index.expr[self._flat]


class AffWild2Sequences(_AffWild2):
    """Windows of ``seq_len`` consecutive frames of one video, for the CNN-RNNs.

    Windows never cross a gap (a frame without an image) nor a video's end: each run of
    consecutive frames with images is cut into windows starting every ``stride`` frames
    (default ``seq_len``: no overlap). The last window of a run that is shorter than
    ``seq_len`` is padded at the end by repeating its last frame with all labels masked (a
    causal GRU's earlier outputs are unaffected), or dropped with ``drop_last=True``.
    Windows with no valid label at all are dropped. Samples are [T, ...].
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        tasks: tuple[str, ...] = DEFAULT_TASKS,
        face: FaceSpec = RGB_FACE,
        audio: SpectrogramConfig | None = None,
        skip_corrupt: bool = False,
        seq_len: int = 90,
        stride: int | None = None,
        drop_last: bool = False,
        augment: Augment | None = None,
    ):
        super().__init__(root, split, tasks, face, audio, skip_corrupt, augment)
        stride = seq_len if stride is None else stride
        if seq_len < 1 or stride < 1:
            raise AvaffectError(
                f"seq_len and stride must be at least 1, got {seq_len} and {stride}"
            )
        self.seq_len, self.stride, self.drop_last = seq_len, stride, drop_last
        self._windows = self._cut_windows()
        self.stats["samples"] = len(self._windows)

    def _cut_windows(self) -> np.ndarray:
        """int64 [N, 3]: video id, first frame (0-based), real length."""
        labelled = self.index.labelled()
        windows, without_labels = [], 0
        for vid, video in enumerate(self.index.videos):
            for start, stop in _runs(video.has_image):
                for first in range(start, stop, self.stride):
                    length = min(self.seq_len, stop - first)
                    if length < self.seq_len and self.drop_last:
                        break
                    if not labelled[video.offset + first : video.offset + first + length].any():
                        without_labels += 1
                    else:
                        windows.append((vid, first, length))
                    if first + length >= stop:
                        break
        self.stats["windows_without_valid_label"] = without_labels
        return np.array(windows, np.int64).reshape(-1, 3)

    def __len__(self) -> int:
        return len(self._windows)

    def window_of(self, i: int) -> tuple[str, int, int]:
        """Which frames sample ``i`` holds: (video name, 1-based first frame, real length)."""
        vid, first, length = (int(v) for v in self._windows[_checked_index(i, len(self))])
        return self.index.videos[vid].name, first + 1, length

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        vid, first, length = (int(v) for v in self._windows[_checked_index(i, len(self))])
        frames = first + np.minimum(np.arange(self.seq_len), length - 1)  # pad: repeat the last
        sample = self._sample(self.index.videos[vid], frames)
        mask_labels(sample, np.arange(self.seq_len) >= length)
        return sample

    def expression_targets(self) -> np.ndarray:
        """The expression of each window's last labelled frame (-1 if none), for sampling weights."""
        out = np.full(len(self), INVALID_LABEL, np.int64)
        if "expr" not in self.tasks:
            return out
        for i, (vid, first, length) in enumerate(self._windows):
            at = self.index.videos[vid].offset + first
            valid = self.index.expr[at : at + length]
            valid = valid[valid != INVALID_LABEL]
            out[i] = valid[-1] if len(valid) else INVALID_LABEL
        return out


def _checked_index(i: int, length: int) -> int:
    i = int(i)
    if not -length <= i < length:
        raise IndexError(f"sample {i} out of range for {length} samples")
    return i % length


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of each run of True in ``mask``."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True)
    )
