"""RAF-DB (basic): 7 expressions, from ``EmoLabel/list_patition_label.txt`` and ``Image/``.

Layout (``root`` is the ``basic`` folder or the folder holding it): the label file has one
``train_00001.jpg 5`` line per image (the split is the name's prefix, train or test; RAF-DB
has no separate validation set, so "validation" means test), labels 1 Surprise, 2 Fear,
3 Disgust, 4 Happiness, 5 Sadness, 6 Anger, 7 Neutral. Images are
``Image/aligned/train_00001_aligned.jpg`` (100x100 aligned crops, resized), or
``Image/original/train_00001.jpg`` aligned with avaffect's 5-point template on the manual
landmarks of ``Annotation/manual/train_00001_manu_attri.txt`` (first five lines: eye
centres, nose tip, mouth corners).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec, align_faces, crops_to_input

from .base import RGB_FACE, AffectDataset, Augment, class_counts, make_sample, normalize_split
from .images import read_image

# RAF-DB label (1..7) -> avaffect index; index 0 unused
RAFDB_TO_OURS = np.array([-1, 6, 3, 2, 4, 5, 1, 0], np.int64)
LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"  # sic: RAF-DB's own spelling
SPLITS = {"train": ("training",), "test": ("validation", "val", "valid")}
IMAGE_KINDS = ("auto", "aligned", "original")


def find_basic_root(root: Path) -> Path:
    for candidate in (root, root / "basic"):
        if (candidate / LABEL_FILE).is_file():
            return candidate
    raise AvaffectError(
        f"{root}: no RAF-DB {LABEL_FILE} here or under basic/; pass the RAF-DB basic folder"
    )


def read_partition(path: Path, split: str) -> tuple[list[str], np.ndarray]:
    """Image names and RAF-DB labels of one split."""
    names, labels = [], []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= 7:
            raise AvaffectError(f"{path}: line {line_number} is not '<image> <label 1..7>'")
        if parts[0].startswith(f"{split}_"):
            names.append(parts[0])
            labels.append(int(parts[1]))
    return names, np.array(labels, np.int64)


def read_manual_landmarks(path: Path) -> np.ndarray:
    """The five manual landmarks [5, 2] of an ``_manu_attri.txt`` file."""
    try:
        lines = path.read_text().split("\n")[:5]
        return np.array([[float(v) for v in line.split()[:2]] for line in lines], np.float64)
    except (OSError, ValueError, IndexError):
        raise AvaffectError(
            f"{path}: missing or malformed landmarks (RAF-DB's Annotation/manual, unzip manual.zip), "
            "needed to align original images; or use images='aligned'"
        ) from None


class RAFDB(AffectDataset):
    """RAF-DB basic expressions: ``RAFDB("/data/RAF-DB", "train")``."""

    name = "rafdb"
    tasks = ("expr",)

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        face: FaceSpec = RGB_FACE,
        images: str = "auto",
        augment: Augment | None = None,
    ):
        super().__init__(face, None, augment)
        if images not in IMAGE_KINDS:
            raise AvaffectError(f"RAF-DB images {images!r} is unknown; use one of {IMAGE_KINDS}")
        self.root = find_basic_root(Path(root).expanduser())
        split = normalize_split(split, SPLITS, f"RAF-DB {self.root}")
        if images == "auto":
            images = "aligned" if (self.root / "Image" / "aligned").is_dir() else "original"
        if not (self.root / "Image" / images).is_dir():
            raise AvaffectError(
                f"{self.root}: no Image/{images}/ folder; unzip RAF-DB's {images} images there"
            )
        self.images = images
        self.names, raf_labels = read_partition(self.root / LABEL_FILE, split)
        if not self.names:
            raise AvaffectError(f"{self.root / LABEL_FILE}: no {split}_* images listed")
        self.labels = RAFDB_TO_OURS[raf_labels]
        self.stats = {"samples": len(self.names), **class_counts(self.labels)}

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        stem = Path(self.names[i]).stem
        if self.images == "aligned":
            image = read_image(self.root / "Image" / "aligned" / f"{stem}_aligned.jpg")
            face = crops_to_input(image[None], self.face_spec)[0]
        else:
            image = read_image(self.root / "Image" / "original" / self.names[i])
            points = read_manual_landmarks(
                self.root / "Annotation" / "manual" / f"{stem}_manu_attri.txt"
            )
            face = align_faces(image, points[None], self.face_spec)[0]
        return make_sample(self._augmented(face), expr=self.labels[i])

    def expression_targets(self) -> np.ndarray:
        return self.labels.copy()
