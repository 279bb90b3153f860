"""Where things are in an Aff-Wild2 root, across the releases' folder names.

A root holds ``cropped_aligned/<video>/00001.jpg`` (1-based frame numbers; later releases
add more ``cropped_aligned*`` folders), one annotation folder per task (at the root, under
``annotations/`` or under a folder whose name contains "annotation", e.g. "Third ABAW
Annotations"), each with a training and a validation folder of ``<video>.txt`` files, and
optionally the raw videos (``videos/``, ``raw_videos/``, ``batch1/``, ``batch2/``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avaffect.errors import AvaffectError

from .images import IMAGE_SUFFIXES

TASK_FOLDERS: dict[str, tuple[str, ...]] = {
    "va": ("VA_Set", "VA_Estimation_Challenge"),
    "au": ("AU_Set", "AU_Detection_Challenge"),
    "expr": ("EXPR_Set", "EXPR_Classification_Challenge", "EXPR_Recognition_Challenge"),
}
SPLIT_FOLDERS: dict[str, tuple[str, ...]] = {
    "train": ("Training_Set", "Train_Set"),
    "validation": ("Validation_Set",),
}
RAW_VIDEO_FOLDERS = ("videos", "raw_videos", "batch1", "batch2", "new_vids")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm")
# Two annotated faces in one recording are the videos "<name>_left" and "<name>_right".
SIDE_SUFFIXES = ("_left", "_right")


def annotation_bases(root: Path) -> list[Path]:
    bases = [root, root / "annotations"]
    bases += sorted(d for d in root.iterdir() if d.is_dir() and "annotation" in d.name.lower())
    return [b for i, b in enumerate(bases) if b.is_dir() and b not in bases[:i]]


def task_split_dir(root: Path, task: str, split: str) -> Path:
    """The folder of ``<video>.txt`` files for one task and split; an error says what was looked for."""
    for base in annotation_bases(root):
        for task_name in TASK_FOLDERS[task]:
            for split_name in SPLIT_FOLDERS[split]:
                folder = base / task_name / split_name
                if folder.is_dir():
                    return folder
    wanted = f"{'|'.join(TASK_FOLDERS[task])}/{'|'.join(SPLIT_FOLDERS[split])}"
    raise AvaffectError(
        f"{root}: no {task.upper()} {split} annotations ({wanted} at the root or under "
        f"annotations/); pass tasks= with only the tasks you have"
    )


def image_roots(root: Path) -> list[Path]:
    roots = sorted(d for d in root.iterdir() if d.is_dir() and d.name.startswith("cropped_aligned"))
    if not roots:
        raise AvaffectError(f"{root}: no cropped_aligned/ folder; is this an Aff-Wild2 root?")
    return roots


@dataclass(frozen=True)
class VideoImages:
    """The frames of one video that have a face image, and how their files are named."""

    folder: Path | None
    frames: np.ndarray  # sorted 1-based frame numbers with an image
    width: int = 5  # zero padding of the file names: 00001.jpg
    suffix: str = ".jpg"

    def path(self, frame: int) -> Path:
        assert self.folder is not None
        return self.folder / f"{frame:0{self.width}d}{self.suffix}"


def scan_images(roots: list[Path], video: str) -> VideoImages:
    """List ``<root>/<video>/`` (scandir: no per-file stat, quick on 10^6 files)."""
    for root in roots:
        folder = root / video
        if not folder.is_dir():
            continue
        frames, width, suffix = [], 5, ".jpg"
        with os.scandir(folder) as entries:
            for entry in entries:
                stem, dot, ext = entry.name.rpartition(".")
                if dot and stem.isdigit() and f".{ext.lower()}" in IMAGE_SUFFIXES:
                    frames.append(int(stem))
                    width, suffix = len(stem), f".{ext}"
        return VideoImages(folder, np.array(sorted(frames), np.int64), width, suffix)
    return VideoImages(None, np.zeros(0, np.int64))


def raw_video_name(video: str) -> str:
    """The recording a video's face comes from: ``_left``/``_right`` share one raw video."""
    for side in SIDE_SUFFIXES:
        if video.endswith(side):
            return video[: -len(side)]
    return video


def raw_video_folders(root: Path) -> list[Path]:
    folders = []
    for name in RAW_VIDEO_FOLDERS:
        top = root / name
        if top.is_dir():
            folders.append(top)
            folders += sorted(
                d for d in top.iterdir() if d.is_dir() and d.name in RAW_VIDEO_FOLDERS
            )
    return folders


def find_raw_videos(root: Path) -> dict[str, Path]:
    """Raw recording name -> video file, from the conventional folders (first found wins)."""
    found: dict[str, Path] = {}
    for folder in raw_video_folders(root):
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
                found.setdefault(path.stem, path)
    return found
