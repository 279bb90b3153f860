"""Reading database images and cutting face boxes, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from avaffect.errors import AvaffectError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def try_read_image(path: str | Path) -> np.ndarray | None:
    """A BGR uint8 [H, W, 3] image, or None when the file is missing, empty or undecodable."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        return None
    return image


def read_image(path: str | Path) -> np.ndarray:
    """A BGR uint8 [H, W, 3] image; an unreadable file is an error naming it."""
    image = try_read_image(path)
    if image is None:
        raise AvaffectError(f"{path}: image missing or unreadable (corrupt?); replace or delete it")
    return image


def crop_square(
    image: np.ndarray, box: tuple[float, float, float, float], margin: float
) -> np.ndarray:
    """The square around ``box`` (x, y, w, h), grown by ``margin`` of its side on every side.

    Parts outside the image are filled by replicating the border, so a face at the edge
    keeps its position in the crop instead of being stretched.
    """
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1.0 + 2.0 * margin)
    if side < 1:
        raise AvaffectError(f"face box {box} is empty")
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = int(round(cx - side / 2.0)), int(round(cy - side / 2.0))
    x1, y1 = x0 + int(round(side)), y0 + int(round(side))
    height, width = image.shape[:2]
    pad = max(0, -x0, -y0, x1 - width, y1 - height)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return image[y0 + pad : y1 + pad, x0 + pad : x1 + pad]
