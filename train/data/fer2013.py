"""FER2013: 48x48 grey faces with 7 expressions, from the original CSV or an npz of arrays.

Layouts read:
- the original ``fer2013.csv`` (``emotion,pixels,Usage``; pixels are 2304 space-separated
  grey levels; also the ``icml_face_data.csv`` variant whose column names have spaces);
- an npz with ``images`` uint8 [N, 48, 48], ``labels`` 0..6 and ``usage`` strings.

FER2013 labels 0=Angry 1=Disgust 2=Fear 3=Happy 4=Sad 5=Surprise 6=Neutral are mapped onto
avaffect's order. A split is chosen by its Usage string (Training, PublicTest, PrivateTest;
aliases train, val/validation/publictest, test/privatetest).

``priors=True`` also labels AUs and valence/arousal, derived from each expression through the
published tables of :mod:`avaffect.train.objectives.priors` (soft targets for the default models' AU and
VA heads; recipes set their loss weights low so that they cannot dominate the expression loss).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec, crops_to_input
from avaffect.train.objectives.priors import au_prior, va_prior

from .base import GREY_FACE, AffectDataset, Augment, class_counts, make_sample, normalize_split

# FER2013 index -> avaffect.labels.EXPRESSIONS index
FER_TO_OURS = np.array([1, 2, 3, 4, 5, 6, 0], np.int64)
USAGES = {
    "Training": ("train", "training"),
    "PublicTest": ("val", "valid", "validation", "publictest", "public_test"),
    "PrivateTest": ("test", "privatetest", "private_test"),
}
SIDE = 48


def find_fer2013_file(path: Path) -> Path:
    """``path`` itself, or the CSV / npz inside a folder."""
    if path.is_file():
        return path
    if path.is_dir():
        for name in ("fer2013.csv", "icml_face_data.csv"):
            if (path / name).is_file():
                return path / name
        npz = sorted(path.glob("*.npz"))
        if npz:
            return npz[0]
    raise AvaffectError(
        f"{path}: no FER2013 file (fer2013.csv, icml_face_data.csv or an .npz) found"
    )


def _parse_pixels(text: str, where: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # numpy warns, not raises, on junk
        try:
            pixels = np.fromstring(text, dtype=np.uint8, sep=" ")
        except (ValueError, DeprecationWarning):
            pixels = np.zeros(0, np.uint8)
    if pixels.size != SIDE * SIDE:
        raise AvaffectError(f"{where}: pixels are not {SIDE * SIDE} space-separated grey levels")
    return pixels.reshape(SIDE, SIDE)


def read_fer2013_csv(path: Path, usage: str) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Images [N, 48, 48] and FER labels [N] of one usage, plus the counts of every usage."""
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 20))
    images, labels, counts = [], [], {}
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip().lower() for name in next(reader, [])]
        if not {"emotion", "pixels", "usage"} <= set(header):
            raise AvaffectError(
                f"{path}: not a labelled FER2013 CSV (needs columns emotion, pixels, Usage; has {header})"
            )
        col = {name: header.index(name) for name in ("emotion", "pixels", "usage")}
        for line, row in enumerate(reader, start=2):
            row_usage = row[col["usage"]].strip()
            counts[row_usage] = counts.get(row_usage, 0) + 1
            if row_usage == usage:
                images.append(_parse_pixels(row[col["pixels"]], f"{path} line {line}"))
                labels.append(int(row[col["emotion"]]))
    return np.array(images, np.uint8).reshape(-1, SIDE, SIDE), np.array(labels, np.int64), counts


def read_fer2013_npz(path: Path, usage: str) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    try:
        with np.load(path) as data:
            usages = data["usage"].astype(str)
            keep = usages == usage
            images, labels = data["images"][keep], data["labels"][keep].astype(np.int64)
    except KeyError as err:
        raise AvaffectError(
            f"{path}: npz lacks the array {err}; it needs images, labels and usage"
        ) from None
    except (OSError, ValueError) as err:
        raise AvaffectError(f"{path}: unreadable npz ({err})") from None
    names, counts = np.unique(usages, return_counts=True)
    if images.shape[1:] != (SIDE, SIDE):
        raise AvaffectError(f"{path}: images are {images.shape[1:]}, FER2013's are {SIDE}x{SIDE}")
    return images, labels, dict(zip(names.tolist(), counts.tolist(), strict=True))


class FER2013(AffectDataset):
    """FER2013 faces: ``FER2013("fer2013.csv", "train")[0]["expr"]``; expression only, unless
    ``priors=True`` adds the prior-derived ``"au"`` and ``"va"`` targets."""

    name = "fer2013"
    tasks = ("expr",)

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        face: FaceSpec = GREY_FACE,
        augment: Augment | None = None,
        priors: bool = False,
    ):
        super().__init__(face, None, augment)
        source = find_fer2013_file(Path(path).expanduser())
        usage = normalize_split(split, USAGES, f"FER2013 {source}")
        reader = read_fer2013_npz if source.suffix.lower() == ".npz" else read_fer2013_csv
        self.images, fer_labels, counts = reader(source, usage)
        if not len(self.images):
            have = ", ".join(f"{name} ({n})" for name, n in sorted(counts.items())) or "none"
            raise AvaffectError(f"{source}: split {usage!r} is empty; the file has: {have}")
        if fer_labels.min() < 0 or fer_labels.max() > 6:
            raise AvaffectError(
                f"{source}: emotion labels must be 0..6, found {fer_labels.min()}..{fer_labels.max()}"
            )
        self.labels = FER_TO_OURS[fer_labels]
        self.priors = bool(priors)
        self.tasks = ("va", "au", "expr") if self.priors else ("expr",)
        self.source, self.usage = source, usage
        self.stats = {"samples": len(self.labels), **class_counts(self.labels)}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        face = self._augmented(crops_to_input(self.images[i][None], self.face_spec)[0])
        expr = self.labels[i]
        if not self.priors:
            return make_sample(face, expr=expr)
        return make_sample(face, va=va_prior(expr), au=au_prior(expr), expr=expr)

    def expression_targets(self) -> np.ndarray:
        return self.labels.copy()
