"""AffectNet (manually annotated part): expression and valence/arousal of in-the-wild faces.

Layout: ``Manually_Annotated_file_lists/{training,validation}.csv`` (or the CSVs at the
root) with columns ``subDirectory_filePath,face_x,face_y,face_width,face_height,
facial_landmarks,expression,valence,arousal``, and the images under
``Manually_Annotated_Images/`` (or ``Manually_Annotated/Manually_Annotated_Images/``,
``images/``). The test set is not public, so the splits are train and validation.

Labels: expression 0 Neutral, 1 Happy, 2 Sad, 3 Surprise, 4 Fear, 5 Disgust, 6 Anger are
mapped onto avaffect's order. 7 Contempt, 8 None and 9 Uncertain have no class of ours:
their expression is -1 (missing) and the image is kept for its valence/arousal when it has
them, else dropped; 10 No-Face is always dropped. Valence/arousal -2 (not annotated) -> -5.

Faces are cut either by the CSV's face box (``crop="box"``: a square with ``margin`` of
the side added on every side, then resized), or aligned on five points taken from the 68
landmarks (``crop="landmarks"``), exactly as real time aligns detected faces.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec, align_faces, crops_to_input
from avaffect.labels import INVALID_LABEL, INVALID_VA

from .base import (
    RGB_FACE,
    TRAIN_ALIASES,
    VALIDATION_ALIASES,
    AffectDataset,
    Augment,
    class_counts,
    make_sample,
    normalize_split,
)
from .images import crop_square, read_image

AFFECTNET_TO_OURS = np.array([0, 4, 5, 6, 3, 2, 1], np.int64)
NO_FACE = 10
AFFECTNET_MISSING_VA = -2.0
COLUMNS = (
    "subdirectory_filepath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)
CSV_NAMES = {"train": "training.csv", "validation": "validation.csv"}
IMAGE_FOLDERS = (
    "Manually_Annotated_Images",
    "Manually_Annotated/Manually_Annotated_Images",
    "images",
)
CROPS = ("box", "landmarks")


def _five_points(landmarks68: np.ndarray) -> np.ndarray:
    """iBUG 68 points [68, 2] -> our 5 (image-left eye, image-right eye, nose tip, mouth corners)."""
    return np.stack(
        [
            landmarks68[36:42].mean(0),
            landmarks68[42:48].mean(0),
            landmarks68[30],
            landmarks68[48],
            landmarks68[54],
        ]
    )


def _find(root: Path, candidates: tuple[str, ...], what: str) -> Path:
    for name in candidates:
        if (root / name).exists():
            return root / name
    raise AvaffectError(f"{root}: no AffectNet {what} (looked for {', '.join(candidates)})")


def read_affectnet_csv(path: Path, with_landmarks: bool) -> dict[str, np.ndarray]:
    """The CSV's columns as arrays (``landmarks`` [N, 5, 2] only when asked for)."""
    rows = {"path": [], "box": [], "expr": [], "va": [], "landmarks": []}
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip().lower() for name in next(reader, [])]
        if list(header[: len(COLUMNS)]) != list(COLUMNS):
            raise AvaffectError(
                f"{path}: not an AffectNet CSV (header {header}; expected {','.join(COLUMNS)})"
            )
        for line, row in enumerate(reader, start=2):
            try:
                rows["box"].append([float(v) for v in row[1:5]])
                rows["expr"].append(int(row[6]))
                rows["va"].append([float(row[7]), float(row[8])])
                if with_landmarks:
                    rows["landmarks"].append(
                        _five_points(np.array(row[5].split(";"), np.float64).reshape(68, 2))
                    )
            except (ValueError, IndexError):
                raise AvaffectError(f"{path}: line {line} is malformed") from None
            rows["path"].append(row[0])
    return {
        "path": np.array(rows["path"], dtype=object),
        "box": np.array(rows["box"], np.float32).reshape(-1, 4),
        "expr": np.array(rows["expr"], np.int64),
        "va": np.array(rows["va"], np.float32).reshape(-1, 2),
        "landmarks": np.array(rows["landmarks"], np.float32).reshape(-1, 5, 2),
    }


def map_labels(expr: np.ndarray, va: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AffectNet codes -> (our expression, our VA, which rows to keep); see the module docstring."""
    ours = np.full(len(expr), INVALID_LABEL, np.int64)
    basic = (expr >= 0) & (expr < len(AFFECTNET_TO_OURS))
    ours[basic] = AFFECTNET_TO_OURS[expr[basic]]
    va = va.copy()
    va[va == AFFECTNET_MISSING_VA] = INVALID_VA
    has_va = (va != INVALID_VA).all(1)
    keep = (expr != NO_FACE) & (basic | has_va)
    return ours, va, keep


class AffectNet(AffectDataset):
    """AffectNet images with expression and VA: ``AffectNet("/data/AffectNet", "validation")``."""

    name = "affectnet"
    tasks = ("va", "expr")

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        face: FaceSpec = RGB_FACE,
        crop: str = "box",
        margin: float = 0.1,
        augment: Augment | None = None,
    ):
        super().__init__(face, None, augment)
        if crop not in CROPS:
            raise AvaffectError(f"AffectNet crop {crop!r} is unknown; use one of {CROPS}")
        root = Path(root).expanduser()
        if not root.is_dir():
            raise AvaffectError(f"{root}: AffectNet root not found")
        split = normalize_split(
            split, {"train": TRAIN_ALIASES, "validation": VALIDATION_ALIASES}, f"AffectNet {root}"
        )
        lists = (f"Manually_Annotated_file_lists/{CSV_NAMES[split]}", CSV_NAMES[split])
        table = read_affectnet_csv(
            _find(root, lists, f"{split} list"), with_landmarks=crop == "landmarks"
        )
        self.image_dir = _find(root, IMAGE_FOLDERS, "image folder")
        self.crop, self.margin = crop, margin
        expr, va, keep = map_labels(table["expr"], table["va"])
        self.paths, self.boxes, self.expr, self.va = (
            table["path"][keep],
            table["box"][keep],
            expr[keep],
            va[keep],
        )
        self.landmarks = table["landmarks"][keep] if crop == "landmarks" else None
        self.stats = {
            "samples": int(keep.sum()),
            "dropped": int((~keep).sum()),
            **class_counts(self.expr),
        }

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        image = read_image(self.image_dir / self.paths[i])
        if self.landmarks is not None:
            face = align_faces(image, self.landmarks[i][None], self.face_spec)[0]
        else:
            face = crops_to_input(
                crop_square(image, self.boxes[i], self.margin)[None], self.face_spec
            )[0]
        return make_sample(self._augmented(face), va=self.va[i], expr=self.expr[i])

    def expression_targets(self) -> np.ndarray:
        return self.expr.copy()
