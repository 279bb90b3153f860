"""Open a training database by name: the one path from ``avaffect train``/``eval`` options to a dataset.

``open_dataset("affwild2", "/data/Aff-Wild2", "train", sequence=True, audio=SpectrogramConfig())``.
Extra keyword arguments go to the loader (e.g. ``tasks=("expr",)``, ``seq_len=90``,
``skip_corrupt=True``, ``augment=...``). Only Aff-Wild2 has video (and
``fer2013_video`` pseudo-video made from FER2013 stills); audio comes with Aff-Wild2, CREMA-D's
speech (``crema_d``) and FER2013 paired with it (``fer2013_crema_av``): sequences and audio
with a still-image database are errors, not silently ignored options.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.lazy import Loader

from .base import AffectDataset


@dataclass(frozen=True)
class DatasetClasses:
    """A database's loaders: one of frames (still images) and one of sequences (video, audio)."""

    frames: type[AffectDataset] | None = None
    sequences: type[AffectDataset] | None = None


def _affwild2() -> DatasetClasses:
    from .affwild2 import AffWild2Frames, AffWild2Sequences

    return DatasetClasses(AffWild2Frames, AffWild2Sequences)


def _fer2013() -> DatasetClasses:
    from .fer2013 import FER2013

    return DatasetClasses(frames=FER2013)


def _affectnet() -> DatasetClasses:
    from .affectnet import AffectNet

    return DatasetClasses(frames=AffectNet)


def _rafdb() -> DatasetClasses:
    from .rafdb import RAFDB

    return DatasetClasses(frames=RAFDB)


def _imagefolder() -> DatasetClasses:
    from .imagefolder import ImageFolder

    return DatasetClasses(frames=ImageFolder)


def _fer2013_video() -> DatasetClasses:
    from .pseudo_video import FER2013PseudoVideo

    return DatasetClasses(sequences=FER2013PseudoVideo)


def _crema_d() -> DatasetClasses:
    from .crema_d import CremaD

    return DatasetClasses(sequences=CremaD)


def _fer2013_crema_av() -> DatasetClasses:
    from .paired_av import FER2013CremaAV

    return DatasetClasses(sequences=FER2013CremaAV)


def _ravdess() -> DatasetClasses:
    from .ravdess import Ravdess

    return DatasetClasses(sequences=Ravdess)


def _crema_d_ravdess() -> DatasetClasses:
    from .crema_d_ravdess import CremaDRavdess

    return DatasetClasses(sequences=CremaDRavdess)


#: dataset name -> the loader of its classes (avaffect.lazy): a database's module is imported
#: only when it is opened.
DATASETS: dict[str, Loader[DatasetClasses]] = {
    "affwild2": _affwild2,
    "fer2013": _fer2013,
    "affectnet": _affectnet,
    "rafdb": _rafdb,
    "imagefolder": _imagefolder,
    # FER2013 stills moved along smooth trajectories, for the recurrent default model
    "fer2013_video": _fer2013_video,
    # CREMA-D speech clips as spectrogram sequences, for the audio stream
    "crema_d": _crema_d,
    # RAVDESS speech (eight emotions, Surprise among them), and the two corpora together
    "ravdess": _ravdess,
    "crema_d_ravdess": _crema_d_ravdess,
    # FER2013 pseudo-video paired with CREMA-D speech of the same expression (option crema_d)
    "fer2013_crema_av": _fer2013_crema_av,
}

#: datasets made of others: a model trained on one is scored on each part with the options
#: the part accepts (``avaffect eval --dataset ravdess`` of a crema_d_ravdess model)
PARTS: dict[str, tuple[str, ...]] = {"crema_d_ravdess": ("crema_d", "ravdess")}


def dataset_parts(name: str) -> tuple[str, ...]:
    """The datasets ``name`` is made of (none for a plain database)."""
    return PARTS.get(str(name).lower(), ())


def dataset_names() -> list[str]:
    return list(DATASETS)


def has_sequences(name: str) -> bool:
    """Whether ``name`` has a sequence loader (for recurrent models); unknown names: False."""
    name = str(name).lower()
    return name in DATASETS and DATASETS[name]().sequences is not None


def loader_class(name: str, sequence: bool = False) -> type[AffectDataset]:
    """The dataset class for ``name``; sequences exist for video databases only."""
    if name not in DATASETS:
        raise AvaffectError(f"unknown dataset {name!r}; use one of: {', '.join(DATASETS)}")
    classes = DATASETS[name]()
    if sequence and classes.sequences is None:
        raise AvaffectError(
            f"{name} has still images only; sequence (recurrent) models need affwild2, "
            "fer2013_video, crema_d, ravdess, crema_d_ravdess (audio) or fer2013_crema_av (audio-visual)"
        )
    if not sequence and classes.frames is None:
        raise AvaffectError(
            f"{name} is sequences only, for recurrent models; frame models train on a still "
            "database (fer2013, which fer2013_video and fer2013_crema_av are made from)"
        )
    return classes.sequences if sequence else classes.frames


def open_dataset(
    name: str,
    path: str | os.PathLike,
    split: str,
    *,
    sequence: bool = False,
    face: FaceSpec | None = None,
    audio: SpectrogramConfig | None = None,
    **kwargs,
) -> AffectDataset:
    """Open database ``name`` at ``path``; ``face=None`` keeps the loader's default face spec
    (grey for FER2013, RGB otherwise), which the returned ``dataset.face_spec`` reports."""
    name = str(name).lower()
    cls = loader_class(name, sequence)
    path = Path(path).expanduser()
    if not path.exists():
        raise AvaffectError(
            f"{path}: {name} data not found; pass the folder (or file) that holds it"
        )
    if face is not None:
        kwargs["face"] = face
    if audio is not None:
        if "audio" not in inspect.signature(cls).parameters:
            raise AvaffectError(
                f"{name} has no audio; audio models need affwild2, crema_d, ravdess, crema_d_ravdess or fer2013_crema_av"
            )
        kwargs["audio"] = audio
    signature = inspect.signature(cls)
    try:
        signature.bind(path, split, **kwargs)
    except TypeError as err:
        raise AvaffectError(f"dataset {name!r}: bad options {sorted(kwargs)} ({err})") from None
    for key, value in kwargs.items():  # a yes/no option: a bare word (priors=yes) is not one
        param = signature.parameters.get(key)  # None: taken by a loader's **kwargs
        if param is not None and isinstance(param.default, bool) and not isinstance(value, bool):
            raise AvaffectError(f"dataset {name!r}: option {key} must be true or false, got {value!r}")
    return cls(path, split, **kwargs)
