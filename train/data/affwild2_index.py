"""The index of one Aff-Wild2 split: per video, its frames' labels (all tasks, our order) and images.

Tasks are annotated on different (overlapping) sets of videos. The index takes the union
of the videos over the requested tasks; a video a task does not annotate has that task
masked on every frame. A video's annotated frames are the lines of its longest file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avaffect.errors import AvaffectError
from avaffect.labels import INVALID_LABEL, INVALID_VA

from .affwild2_annotations import READERS
from .affwild2_layout import (
    TASK_FOLDERS,
    VideoImages,
    find_raw_videos,
    image_roots,
    raw_video_folders,
    raw_video_name,
    scan_images,
    task_split_dir,
)
from .base import missing_au, missing_va


@dataclass
class VideoIndex:
    name: str
    images: VideoImages
    offset: int  # of this video's first frame in the index's flat label arrays
    frames: int  # annotated frames (1..frames)
    has_image: np.ndarray  # bool [frames]: frame k+1 has a face image
    raw_video: Path | None = None


@dataclass
class AffWild2Index:
    root: Path
    split: str
    tasks: tuple[str, ...]
    videos: list[VideoIndex] = field(default_factory=list)
    # flat over all videos' annotated frames, in video order
    va: np.ndarray = field(default_factory=lambda: missing_va(0))
    au: np.ndarray = field(default_factory=lambda: missing_au(0))
    expr: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def labelled(self) -> np.ndarray:
        """bool [all frames]: the frame has at least one valid label among the index's tasks."""
        valid = np.zeros(len(self.expr), bool)
        if "va" in self.tasks:
            valid |= (self.va != INVALID_VA).any(1)
        if "au" in self.tasks:
            valid |= (self.au != INVALID_LABEL).any(1)
        if "expr" in self.tasks:
            valid |= self.expr != INVALID_LABEL
        return valid

    def stats(self) -> dict[str, int]:
        has_image = (
            np.concatenate([v.has_image for v in self.videos]) if self.videos else np.zeros(0, bool)
        )
        return {
            "videos": len(self.videos),
            "annotated_frames": int(len(has_image)),
            "annotated_frames_without_image": int((~has_image).sum()),
            "frames_without_valid_label": int((has_image & ~self.labelled()).sum()),
        }


def _label_files(root: Path, split: str, tasks: tuple[str, ...]) -> dict[str, dict[str, Path]]:
    """task -> {video name: annotation file}."""
    return {
        task: {p.stem: p for p in sorted(task_split_dir(root, task, split).glob("*.txt"))}
        for task in tasks
    }


def _video_labels(name: str, files: dict[str, dict[str, Path]]) -> dict[str, np.ndarray]:
    """One video's labels per task (tasks that lack the video are absent)."""
    return {
        task: READERS[task](by_video[name]) for task, by_video in files.items() if name in by_video
    }


def _pad(values: np.ndarray | None, frames: int, filler: np.ndarray) -> np.ndarray:
    """One task's labels over all ``frames`` of a video: missing (``filler``) past its file's end."""
    out = np.repeat(filler[None], frames, axis=0) if filler.ndim else np.full(frames, filler)
    if values is not None:
        out[: len(values)] = values
    return out


def build_index(
    root: Path, split: str, tasks: tuple[str, ...], need_raw_video: bool
) -> AffWild2Index:
    unknown = [t for t in tasks if t not in TASK_FOLDERS]
    if unknown or not tasks:
        raise AvaffectError(
            f"Aff-Wild2 tasks {tasks!r}: choose one or more of {tuple(TASK_FOLDERS)}"
        )
    files = _label_files(root, split, tasks)
    names = sorted(set().union(*(by_video.keys() for by_video in files.values())))
    images = image_roots(root)
    raw = find_raw_videos(root) if need_raw_video else {}
    index = AffWild2Index(root, split, tasks)
    va, au, expr, offset = [], [], [], 0
    for name in names:
        labels = _video_labels(name, files)
        frames = max(len(v) for v in labels.values())
        va.append(_pad(labels.get("va"), frames, missing_va()))
        au.append(_pad(labels.get("au"), frames, missing_au()))
        expr.append(_pad(labels.get("expr"), frames, np.int64(INVALID_LABEL)))
        video_images = scan_images(images, name)
        has_image = np.zeros(frames, bool)
        shown = video_images.frames[(video_images.frames >= 1) & (video_images.frames <= frames)]
        has_image[shown - 1] = True
        index.videos.append(
            VideoIndex(name, video_images, offset, frames, has_image, raw.get(raw_video_name(name)))
        )
        offset += frames
    if need_raw_video:
        _check_raw_videos(root, index)
    if names:
        index.va, index.au = np.concatenate(va), np.concatenate(au)
        index.expr = np.concatenate(expr).astype(np.int64)
    return index


def _check_raw_videos(root: Path, index: AffWild2Index) -> None:
    lacking = [v.name for v in index.videos if v.raw_video is None]
    if lacking:
        searched = ", ".join(str(p) for p in raw_video_folders(root)) or "none of them exist"
        raise AvaffectError(
            f"{root}: no raw video (with audio) for {len(lacking)} videos, e.g. {lacking[0]!r}; put "
            f"<name>.mp4|.avi in videos/, raw_videos/, batch1/ or batch2/ (searched: {searched}), "
            "or open the dataset without audio"
        )
