"""The models shipped inside the package, and the one function that turns a name or a path
into a checkpoint file, so every command accepts both the same way.

The weights are package data (``avaffect/weights/*.safetensors``, packed by ``avaffect pack`` in
fp16 or with int8 weight matrices): loading a default needs no flag and no network. How each
was trained, and how well it does, is in docs/defaults.md (the model card); ``avaffect models
--shipped`` lists them.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

from avaffect.errors import AvaffectError, CheckpointNotFound

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: ``sha256sum`` lines for every shipped file, checked before a shipped model is used, so a
#: file damaged in an install or a copy is refused instead of predicting nonsense.
#: After `avaffect pack` into avaffect/weights: ``(cd avaffect/weights && sha256sum *.safetensors > SHA256SUMS)``
CHECKSUMS = "SHA256SUMS"

#: shipped name -> (file in avaffect/weights, one-line description). The name is the recipe
#: that trained it (``avaffect train NAME``), so the name alone says how to reproduce it.
SHIPPED: dict[str, tuple[str, str]] = {
    "default_stream_fer2013": (
        "default_stream_fer2013.safetensors",
        "MT-VGG-RNN lite: VA, 8 AUs, 7 expressions per frame with GRU state (live default without sound)",
    ),
    "default_frame_fer2013": (
        "default_frame_fer2013.safetensors",
        "MT-VGG lite: VA, 8 AUs, 7 expressions from one frame",
    ),
    "default_av_fer2013_crema_d_ravdess": (
        "default_av_fer2013_crema_d_ravdess.safetensors",
        "A/V-MT-VGG-RNN lite: face and speech fused by a GRU, Surprise heard (live default when there is sound; non-commercial: RAVDESS)",
    ),
    "default_audio_crema_d_ravdess": (
        "default_audio_crema_d_ravdess.safetensors",
        "audio MT-VGG-RNN lite: VA, 8 AUs, 7 expressions from speech alone (non-commercial: RAVDESS)",
    ),
    "default_audio_crema_d": (
        "default_audio_crema_d.safetensors",
        "audio MT-VGG-RNN lite on CREMA-D alone: 6 expressions, no Surprise (starts the one above)",
    ),
    "default_arcvgg_fer2013": (
        "default_arcvgg_fer2013.safetensors",
        "MT-ArcVGG lite: VA, 8 AUs, 7 expressions by cosine to class centres, and its L2-normalised embedding",
    ),
}

#: what `avaffect live`, `analyze`, `serve` and `bench` run when no --checkpoint is given:
#: the streaming model, since real time keeps GRU state across frames per face
DEFAULT_MODEL = "default_stream_fer2013"

#: what `avaffect live` and `analyze` run instead when there is sound (the file's track or a
#: microphone) and no --checkpoint: the fused audio-visual model (used only if shipped)
DEFAULT_AV_MODEL = "default_av_fer2013_crema_d_ravdess"


def available_shipped() -> dict[str, Path]:
    """The shipped models present in this install, name -> file, in SHIPPED's order."""
    return {name: WEIGHTS_DIR / fname for name, (fname, _) in SHIPPED.items() if (WEIGHTS_DIR / fname).is_file()}


def default_checkpoint() -> Path:
    """The file of the default model (DEFAULT_MODEL, else the first shipped one present)."""
    shipped = available_shipped()
    if not shipped:
        raise AvaffectError(
            "no shipped model in this install; pass --checkpoint PATH "
            "(train one with `avaffect train`), or reinstall avaffect"
        )
    return verified(shipped.get(DEFAULT_MODEL, next(iter(shipped.values()))))


def expected_checksums(folder: Path | None = None) -> dict[str, str]:
    """file name -> sha256, from the weights folder's SHA256SUMS."""
    folder = WEIGHTS_DIR if folder is None else folder
    try:
        lines = (folder / CHECKSUMS).read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    pairs = (line.split(maxsplit=1) for line in lines if line.strip())
    return {name.strip().lstrip("*"): digest for digest, name in pairs}


def verified(path: Path) -> Path:
    """``path`` (a shipped file) once its sha256 matches SHA256SUMS; one line otherwise."""
    return _verified(path.resolve(), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _verified(path: Path, _mtime_ns: int) -> Path:
    expected = expected_checksums(path.parent).get(path.name)
    if expected is None:
        raise AvaffectError(
            f"{path}: no checksum for this shipped file in {CHECKSUMS}; reinstall avaffect"
        )
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise AvaffectError(
            f"{path}: the shipped file is damaged (its sha256 does not match {CHECKSUMS}); "
            "reinstall avaffect, or pass --checkpoint with a file of your own"
        )
    return path


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """A shipped model name or a path -> the checkpoint file; a clear error otherwise."""
    text = str(name_or_path)
    if text in SHIPPED:
        path = WEIGHTS_DIR / SHIPPED[text][0]
        if not path.is_file():
            raise AvaffectError(f"shipped model {text!r} is missing from this install ({path}); reinstall avaffect")
        return verified(path)
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    known = ", ".join(SHIPPED) or "none yet"
    raise CheckpointNotFound(f"{text!r} is neither a checkpoint file nor a shipped model name (shipped: {known})")
