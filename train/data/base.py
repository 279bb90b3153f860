"""The sample contract every training dataset keeps, and the base class they share.

A sample is a dict of numpy arrays the default collate stacks:

- ``"face"``: float32 [3, S, S] in [-1, 1] ([T, 3, S, S] for sequence datasets);
- ``"spectrogram"``: float32 [1, F, W] ([T, 1, F, W]), only when the dataset was opened
  with ``audio=SpectrogramConfig(...)``;
- ``"va"``: float32 [2] ([T, 2]), ``-5`` where missing;
- ``"au"``: float32 [8] ([T, 8]), ``-1`` where missing;
- ``"expr"``: int64 scalar ([T]), ``-1`` where missing.

Every sample carries all three label keys, fully masked for the tasks its database does
not annotate, so databases and Aff-Wild2's per-task sets mix in one batch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from torch.utils.data import Dataset

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.labels import EXPRESSIONS, INVALID_LABEL, INVALID_VA, NUM_AUS

#: an augmentation takes the model's face input (float32 [3, S, S] or [T, 3, S, S] in
#: [-1, 1]) and returns one of the same shape; the trainer supplies it.
Augment = Callable[[np.ndarray], np.ndarray]

#: default face inputs (module-level: frozen dataclasses, shared safely as defaults)
RGB_FACE = FaceSpec()
GREY_FACE = FaceSpec(color="gray")

TRAIN_ALIASES = ("train", "training")
VALIDATION_ALIASES = ("validation", "val", "valid")


def missing_va(length: int | None = None) -> np.ndarray:
    shape = (2,) if length is None else (length, 2)
    return np.full(shape, INVALID_VA, np.float32)


def missing_au(length: int | None = None) -> np.ndarray:
    shape = (NUM_AUS,) if length is None else (length, NUM_AUS)
    return np.full(shape, INVALID_LABEL, np.float32)


def mask_labels(labels: dict[str, np.ndarray], where: np.ndarray) -> None:
    """Mark every task missing at ``where`` (an index over a sequence's frames), in place."""
    labels["va"][where] = INVALID_VA
    labels["au"][where] = INVALID_LABEL
    labels["expr"][where] = INVALID_LABEL


def make_sample(
    face: np.ndarray,
    *,
    va: np.ndarray | None = None,
    au: np.ndarray | None = None,
    expr: int | np.ndarray | None = None,
    spectrogram: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """One frame's sample with the tasks not given fully masked."""
    sample = {
        "face": np.asarray(face, np.float32),
        "va": missing_va() if va is None else np.asarray(va, np.float32),
        "au": missing_au() if au is None else np.asarray(au, np.float32),
        "expr": np.asarray(INVALID_LABEL if expr is None else expr, np.int64),
    }
    if spectrogram is not None:
        sample["spectrogram"] = np.asarray(spectrogram, np.float32)
    return sample


def class_counts(expr: np.ndarray) -> dict[str, int]:
    """Samples per expression, for ``dataset.stats`` (imbalance is worth seeing)."""
    return {
        f"expr_{name}": int((np.asarray(expr) == i).sum()) for i, name in enumerate(EXPRESSIONS)
    }


def normalize_split(split: str, allowed: dict[str, tuple[str, ...]], source: str) -> str:
    """Map a user's split name (any case, common aliases) onto one key of ``allowed``."""
    wanted = str(split).strip().lower()
    for key, aliases in allowed.items():
        if wanted == key or wanted in aliases:
            return key
    names = ", ".join(sorted({a for aliases in allowed.values() for a in aliases} | set(allowed)))
    raise AvaffectError(f"{source}: unknown split {split!r}; use one of: {names}")


class AffectDataset(Dataset):
    """What the trainer may rely on besides ``len`` and ``[i]``.

    ``tasks``: the tasks this dataset can label (others are always masked);
    ``face_spec`` / ``audio``: the input definitions its samples follow (go into the
    checkpoint); ``stats``: counts of what indexing kept, skipped and why;
    ``augment``: optional hook applied to every sample's face input.
    """

    name: str = "dataset"
    tasks: tuple[str, ...] = ()
    sequence: bool = False

    def __init__(self, face: FaceSpec, audio: SpectrogramConfig | None, augment: Augment | None):
        self.face_spec = face
        self.audio = audio
        self.augment = augment
        self.stats: dict[str, int] = {}

    def expression_targets(self) -> np.ndarray:
        """The expression label of every sample (-1 where missing), e.g. for class weights."""
        raise NotImplementedError

    def _augmented(self, face: np.ndarray) -> np.ndarray:
        if self.augment is None:
            return face
        out = np.asarray(self.augment(face), np.float32)
        if out.shape != face.shape:
            raise AvaffectError(
                f"augmentation changed the face shape {face.shape} -> {out.shape}; it must keep it"
            )
        return out

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.stats.items())
        return f"{type(self).__name__}({len(self)} samples; {counts})"
