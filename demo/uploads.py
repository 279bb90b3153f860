"""Checks on what users upload, before any analysis: size, then type by decoding it.

The extension says nothing (anyone can rename a file), so a photo is whatever OpenCV can
decode and a video is whatever has a decodable video stream with at least one frame. Every
failure is one :class:`AvaffectError` line meant to be shown to the user as is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avaffect.errors import AvaffectError

IMAGE_TYPES = "photo (JPEG, PNG, WebP, BMP or TIFF)"
VIDEO_TYPES = "video (MP4, WebM, MOV, MKV or AVI)"


def check_size(path: str | os.PathLike, max_bytes: int) -> int:
    """The file's size in bytes; an error when it is missing, empty or over ``max_bytes``."""
    path = Path(path)
    if not path.is_file():
        raise AvaffectError("the upload did not arrive; please upload the file again")
    size = path.stat().st_size
    if size == 0:
        raise AvaffectError(f"{path.name} is empty (0 bytes); upload another file")
    if size > max_bytes:
        raise AvaffectError(
            f"{path.name} is {size / 2**20:.1f} MB, over this server's limit of "
            f"{max_bytes / 2**20:.0f} MB; upload a smaller file"
        )
    return size


def read_image(path: str | os.PathLike, max_bytes: int, max_pixels: int) -> np.ndarray:
    """Decode an uploaded photo to BGR uint8 (EXIF orientation applied)."""
    check_size(path, max_bytes)
    name = Path(path).name
    # The header first: a small file can declare a gigantic image (a decompression bomb).
    width, height = _declared_size(path)
    if width * height > max_pixels:
        raise AvaffectError(
            f"{name} is {width}x{height} pixels, over this server's limit of "
            f"{max_pixels / 1e6:.0f} megapixels; upload a smaller photo"
        )
    image = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise AvaffectError(f"unsupported file type: {name} is not a photo; upload a {IMAGE_TYPES}")
    return image


def _declared_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) from the image header alone; (0, 0) when it is not an image Pillow
    knows (OpenCV then gets the last word). Pillow comes with Gradio."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.size
    except Image.DecompressionBombError:
        raise AvaffectError(
            f"{Path(path).name} declares an enormous image (a decompression bomb?); upload a photo"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError):
        return 0, 0


@dataclass(frozen=True)
class VideoInfo:
    frames: int | None  # as the container says (None when it does not say)
    fps: float
    width: int
    height: int


def probe_video(path: str | os.PathLike, max_bytes: int, max_seconds: float) -> VideoInfo:
    """Open an uploaded video with PyAV and decode its first frame; an error naming what is
    wrong (not a video, a still picture, no frames, too long)."""
    from avaffect.realtime.file_audio import import_av

    av = import_av()
    check_size(path, max_bytes)
    name = Path(path).name
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError):
        raise AvaffectError(
            f"unsupported file type: {name} is not a video; upload a {VIDEO_TYPES}"
        ) from None
    with container:
        if not container.streams.video:
            raise AvaffectError(f"this video has no frames ({name} has no picture track)")
        stream = container.streams.video[0]
        first = _first_frame(av, container, stream)
        still = _is_still_picture(container.format.name)
        if first is None:
            if still:
                raise AvaffectError(
                    f"unsupported file type: {name} is not a video; upload a {VIDEO_TYPES}"
                )
            raise AvaffectError(f"this video has no frames ({name}); upload another video")
        if still:
            raise AvaffectError(
                f"unsupported file type: {name} is a still picture; use the Image tab for photos"
            )
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        fps = fps if 1.0 <= fps <= 1000.0 else 30.0
        duration = _duration_s(container, stream)
        info = VideoInfo(stream.frames or None, fps, first.width, first.height)
    if duration is not None and duration > max_seconds:
        raise AvaffectError(
            f"{name} lasts {duration:.0f} s, over this server's limit of {max_seconds:.0f} s; "
            "trim it, or run `avaffect analyze` on it"
        )
    return info


def _is_still_picture(format_name: str) -> bool:
    """FFmpeg opens a PNG or JPEG as a one-frame "video" (image2, png_pipe, jpeg_pipe...)."""
    return format_name == "image2" or format_name.endswith("_pipe")


def _first_frame(av, container, stream):
    try:
        return next(container.decode(stream), None)
    except (av.error.FFmpegError, ValueError):
        return None


def _duration_s(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None
