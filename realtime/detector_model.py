"""The YuNet face detector's ONNX file: shipped inside the package, never fetched.

The file is OpenCV Zoo's ``face_detection_yunet_2023mar.onnx`` (MIT licence; the notice is
``face_detector/LICENSE.txt`` beside it). It is package data, so avaffect needs no network at
run time, ever. The shipped copy is checked by size and sha256 when it is found, so a
damaged install is one clear error rather than a detector that finds nothing.
``--detector-model PATH`` and ``$AVAFFECT_YUNET`` still point at another file (another
YuNet build is allowed there, so it is not checked against the shipped hash).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2

from avaffect.errors import AvaffectError

YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_SIZE = 232_589
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
ENV_VAR = "AVAFFECT_YUNET"

#: The shipped copy (package data of ``avaffect.realtime``).
SHIPPED_YUNET = Path(__file__).resolve().parent / "face_detector" / YUNET_FILE


def is_genuine(path: Path) -> bool:
    """True when ``path`` is byte-identical to the published YuNet file."""
    if not path.is_file() or path.stat().st_size != YUNET_SIZE:
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == YUNET_SHA256


def shipped_yunet(path: Path | None = None) -> Path:
    """The packaged YuNet file (or ``path``), after its size and sha256 check."""
    path = path or SHIPPED_YUNET
    if not path.is_file():
        raise AvaffectError(
            f"{path}: the shipped YuNet face detector is missing from this install; reinstall "
            "avaffect, or pass --detector-model PATH (or --detector haar)"
        )
    if not is_genuine(path):
        raise AvaffectError(
            f"{path}: the shipped YuNet face detector failed its sha256 check (damaged install); "
            "reinstall avaffect, or pass --detector-model PATH (or --detector haar)"
        )
    return path


def find_yunet_model(explicit: str | os.PathLike | None = None) -> Path:
    """The YuNet file to use, in order: ``explicit``, ``$AVAFFECT_YUNET``, the shipped copy.

    A path the user named must exist (an error otherwise). Nothing is ever downloaded.
    """
    for named, what in ((explicit, "--detector-model"), (os.environ.get(ENV_VAR), f"${ENV_VAR}")):
        if named:
            path = Path(named).expanduser()
            if not path.is_file():
                raise AvaffectError(
                    f"{what} {path}: no such file; pass the YuNet .onnx file or leave it out"
                )
            return path
    return shipped_yunet()


def yunet_unsupported() -> str | None:
    """Why this OpenCV cannot run YuNet at all (None when it can)."""
    if not hasattr(cv2, "FaceDetectorYN"):
        return (
            f"this OpenCV ({cv2.__version__}) has no cv2.FaceDetectorYN, which YuNet needs "
            "(opencv-python >= 4.8, built with its dnn module)"
        )
    return None
