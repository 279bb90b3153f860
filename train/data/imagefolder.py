"""Expression images sorted into one folder per class: ``root/<Expression>/*.jpg|png``.

Class folders are matched case-insensitively to avaffect's expression names and common
aliases (angry, happy, sad, surprised, fearful, disgusted, ...). This is also the Kaggle
FER2013 image-folder layout, whose root holds ``train/`` and ``test/``: with a ``split``,
the images are read from the matching subfolder (train: train|training; validation:
validation|val|valid|test; test: test). Images are taken as already-cropped faces and
resized to the face size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec, crops_to_input

from .base import RGB_FACE, AffectDataset, Augment, class_counts, make_sample
from .expression_names import accepted_names, expression_index
from .images import IMAGE_SUFFIXES, read_image

SPLIT_FOLDERS = {
    "train": ("train", "training"),
    "validation": ("validation", "val", "valid", "test"),
    "test": ("test",),
}


def split_folder(root: Path, split: str) -> Path:
    """The subfolder of ``root`` that holds ``split`` (folder names matched case-insensitively)."""
    wanted = SPLIT_FOLDERS.get(split.lower(), (split.lower(),))
    folders = {d.name.lower(): d for d in root.iterdir() if d.is_dir()}
    for name in wanted:
        if name in folders:
            return folders[name]
    raise AvaffectError(
        f"{root}: no folder for split {split!r} (looked for {', '.join(wanted)}; found "
        f"{', '.join(sorted(folders)) or 'none'}); pass the folder of class folders itself with no split"
    )


def scan_classes(folder: Path, skip: tuple[str, ...] = ()) -> tuple[list[Path], np.ndarray]:
    """Every image under ``folder/<class>/`` and its expression index (sorted, reproducible)."""
    paths, labels = [], []
    skipped = {name.lower() for name in skip}
    for class_dir in sorted(
        (d for d in folder.iterdir() if d.is_dir()), key=lambda d: d.name.lower()
    ):
        if class_dir.name.lower() in skipped:
            continue
        index = expression_index(class_dir.name)
        if index is None:
            raise AvaffectError(
                f"{class_dir}: folder name {class_dir.name!r} is not an expression; use one of "
                f"{', '.join(accepted_names())} (or skip it with skip_folders)"
            )
        images = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        paths += images
        labels += [index] * len(images)
    if not paths:
        raise AvaffectError(
            f"{folder}: no images in class folders (expected {folder}/<Expression>/*.jpg)"
        )
    return paths, np.array(labels, np.int64)


class ImageFolder(AffectDataset):
    """Expression images in class folders: ``ImageFolder("/data/fer2013_images", "train")``."""

    name = "imagefolder"
    tasks = ("expr",)

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        face: FaceSpec = RGB_FACE,
        skip_folders: tuple[str, ...] = (),
        augment: Augment | None = None,
    ):
        super().__init__(face, None, augment)
        root = Path(root).expanduser()
        if not root.is_dir():
            raise AvaffectError(f"{root}: image folder not found")
        self.folder = root if split is None else split_folder(root, split)
        self.paths, self.labels = scan_classes(self.folder, tuple(skip_folders))
        self.stats = {"samples": len(self.paths), **class_counts(self.labels)}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        face = crops_to_input(read_image(self.paths[i])[None], self.face_spec)[0]
        return make_sample(self._augmented(face), expr=self.labels[i])

    def expression_targets(self) -> np.ndarray:
        return self.labels.copy()
