"""Finding the YuNet face detector's ONNX file: a path, $AVAFFECT_YUNET, the cache, or a one-time fetch.

The file is OpenCV Zoo's ``face_detection_yunet_2023mar.onnx`` (MIT licence). A fetched file
is written to a temporary name, checked by size and sha256, then renamed into the cache, so
a broken download never sits where a good model is expected.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.request
from pathlib import Path

from avaffect.errors import AvaffectError

log = logging.getLogger("avaffect.realtime")

YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_SIZE = 232_589
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"
YUNET_URL = (
    "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/"
    "face_detection_yunet_2023mar.onnx"
)
ENV_VAR = "AVAFFECT_YUNET"


class DetectorModelUnavailable(AvaffectError):
    """YuNet's file could not be found nor fetched; the caller falls back to Haar."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "avaffect"


def is_genuine(path: Path) -> bool:
    """True when ``path`` is byte-identical to the published YuNet file."""
    if not path.is_file() or path.stat().st_size != YUNET_SIZE:
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == YUNET_SHA256


def find_yunet_model(
    explicit: str | os.PathLike | None = None,
    *,
    cache: Path | None = None,
    url: str = YUNET_URL,
    download: bool = True,
    timeout_s: float = 20.0,
) -> Path:
    """The YuNet file to use, in order: ``explicit``, ``$AVAFFECT_YUNET``, the cache, a fetch.

    A path the user named must exist (an error otherwise). Only the cache and the fetch
    are checked against the published size and sha256; a named file may be another build.
    """
    for named, what in ((explicit, "--detector-model"), (os.environ.get(ENV_VAR), f"${ENV_VAR}")):
        if named:
            path = Path(named).expanduser()
            if not path.is_file():
                raise AvaffectError(
                    f"{what} {path}: no such file; pass the YuNet .onnx file or leave it out"
                )
            return path
    target = (cache or cache_dir()) / YUNET_FILE
    if is_genuine(target):
        return target
    if not download:
        raise DetectorModelUnavailable(f"YuNet model not in {target.parent} and fetching is off")
    return fetch_yunet(target, url, timeout_s)


def fetch_yunet(target: Path, url: str = YUNET_URL, timeout_s: float = 20.0) -> Path:
    """Download YuNet once into ``target`` (temp file, size+sha256 check, atomic rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as response:
            out.write(response.read(YUNET_SIZE + 1))
        if not is_genuine(Path(tmp)):
            raise DetectorModelUnavailable(
                f"the YuNet file fetched from {url} failed its size/sha256 check"
            )
        os.replace(tmp, target)
    except OSError as err:  # URLError, timeouts and disk errors are all OSErrors
        raise DetectorModelUnavailable(f"could not fetch the YuNet face detector ({err})") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    log.info("fetched the YuNet face detector into %s", target)
    return target
