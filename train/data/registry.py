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
from importlib import import_module
from pathlib import Path

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec

from .base import AffectDataset

# name -> (module, frame dataset class or None, sequence dataset class or None); imported when used
LOADERS: dict[str, tuple[str, str | None, str | None]] = {
    "affwild2": ("affwild2", "AffWild2Frames", "AffWild2Sequences"),
    "fer2013": ("fer2013", "FER2013", None),
    "affectnet": ("affectnet", "AffectNet", None),
    "rafdb": ("rafdb", "RAFDB", None),
    "imagefolder": ("imagefolder", "ImageFolder", None),
    # FER2013 stills moved along smooth trajectories, for the recurrent default model
    "fer2013_video": ("pseudo_video", None, "FER2013PseudoVideo"),
    # CREMA-D speech clips as spectrogram sequences, for the audio stream
    "crema_d": ("crema_d", None, "CremaD"),
    # RAVDESS speech (eight emotions, Surprise among them), and the two corpora together
    "ravdess": ("ravdess", None, "Ravdess"),
    "crema_d_ravdess": ("crema_d_ravdess", None, "CremaDRavdess"),
    # FER2013 pseudo-video paired with CREMA-D speech of the same expression (option crema_d)
    "fer2013_crema_av": ("paired_av", None, "FER2013CremaAV"),
}

#: datasets made of others: a model trained on one is scored on each part with the options
#: the part accepts (``avaffect eval --dataset ravdess`` of a crema_d_ravdess model)
PARTS: dict[str, tuple[str, ...]] = {"crema_d_ravdess": ("crema_d", "ravdess")}


def dataset_parts(name: str) -> tuple[str, ...]:
    """The datasets ``name`` is made of (none for a plain database)."""
    return PARTS.get(str(name).lower(), ())


def dataset_names() -> list[str]:
    return list(LOADERS)


def has_sequences(name: str) -> bool:
    """Whether ``name`` has a sequence loader (for recurrent models); unknown names: False."""
    return LOADERS.get(str(name).lower(), ("", None, None))[2] is not None


def loader_class(name: str, sequence: bool = False) -> type[AffectDataset]:
    """The dataset class for ``name``; sequences exist for video databases only."""
    if name not in LOADERS:
        raise AvaffectError(f"unknown dataset {name!r}; use one of: {', '.join(LOADERS)}")
    module, frames, sequences = LOADERS[name]
    if sequence and sequences is None:
        raise AvaffectError(
            f"{name} has still images only; sequence (recurrent) models need affwild2, "
            "fer2013_video, crema_d, ravdess, crema_d_ravdess (audio) or fer2013_crema_av (audio-visual)"
        )
    if not sequence and frames is None:
        raise AvaffectError(
            f"{name} is sequences only, for recurrent models; frame models train on a still "
            "database (fer2013, which fer2013_video and fer2013_crema_av are made from)"
        )
    return getattr(import_module(f"{__package__}.{module}"), sequences if sequence else frames)


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
    try:
        inspect.signature(cls).bind(path, split, **kwargs)
    except TypeError as err:
        raise AvaffectError(f"dataset {name!r}: bad options {sorted(kwargs)} ({err})") from None
    return cls(path, split, **kwargs)
