"""A still face turned into a short clip: smooth random head motion and imaging changes.

FER2013 has no video, but the recurrent default model needs sequences. One segment of a
pseudo-video is a single 48x48 face under a smooth random trajectory: shift, scale and
in-plane rotation (one ``cv2.warpAffine`` from the 48x48 face straight to the crop size, so
the face is upscaled once), brightness drift, a varying Gaussian blur (focus / motion) and,
for some segments, an occluding patch that drifts across the face (a hand, a cup).

Each parameter follows :func:`smooth_curve`: a random static offset (where the face sits in
this segment) plus two slow sinusoids (how it moves), so consecutive frames are close but the
face keeps moving. All randomness comes from the ``rng`` passed in, so a segment is a pure
function of its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SOURCE_SIDE = 48  # FER2013's faces


@dataclass(frozen=True)
class MotionRange:
    """Largest excursion of each trajectory parameter (defaults: what a seated webcam user does)."""

    shift: float = 0.08  # fraction of the crop side, in x and y
    scale: float = 0.08  # relative zoom, +/-
    rotation: float = 10.0  # degrees, in-plane
    brightness: float = 0.15  # offset in input units ([-1, 1] range)
    blur: float = 1.2  # largest Gaussian sigma, in crop pixels
    occlusion_probability: float = 0.25  # chance that a segment has a drifting patch
    occlusion_size: tuple[float, float] = (0.2, 0.35)  # patch side, fraction of the crop


def smooth_curve(rng: np.random.Generator, length: int) -> np.ndarray:
    """float64 [length] in [-1, 1]: half a random offset, half a slow two-tone oscillation
    (0.3 to 1.5 cycles over the segment, whatever its length, so short segments move too)."""
    t = np.linspace(0.0, 1.0, length)
    cycles = rng.uniform(0.3, 1.5, size=2)
    phases = rng.uniform(0.0, 2 * np.pi, size=2)
    weights = rng.uniform(0.3, 1.0, size=2)
    wave = (weights[:, None] * np.sin(2 * np.pi * cycles[:, None] * t + phases[:, None])).sum(0)
    wave /= weights.sum()
    return 0.5 * rng.uniform(-1.0, 1.0) + 0.5 * wave


def segment_frames(
    face: np.ndarray, length: int, size: int, rng: np.random.Generator, motion: MotionRange
) -> tuple[np.ndarray, np.ndarray]:
    """One grey uint8 face [48, 48] -> (grey uint8 frames [length, size, size], brightness
    offsets [length]); the offsets are applied by the caller in input units."""
    curves = {name: smooth_curve(rng, length) for name in ("dx", "dy", "scale", "angle", "blur")}
    brightness = motion.brightness * smooth_curve(rng, length)
    occluder = _occluder(rng, length, size, motion)
    frames = np.empty((length, size, size), np.uint8)
    for k in range(length):
        matrix = _affine(size, motion, {name: curve[k] for name, curve in curves.items()})
        frame = cv2.warpAffine(
            face, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        sigma = motion.blur * (curves["blur"][k] + 1.0) / 2.0
        if sigma > 0.3:  # below that a Gaussian kernel is (nearly) the identity
            frame = cv2.GaussianBlur(frame, (0, 0), sigma)
        if occluder is not None:
            occluder(frame, k)
        frames[k] = frame
    return frames, brightness.astype(np.float32)


def _affine(size: int, motion: MotionRange, at: dict[str, float]) -> np.ndarray:
    """The 2x3 matrix taking the 48x48 face to the crop: rotate and zoom about the face's
    centre, put that centre at the crop's centre plus the shift."""
    centre = (SOURCE_SIDE - 1) / 2.0
    zoom = size / SOURCE_SIDE * (1.0 + motion.scale * at["scale"])
    matrix = cv2.getRotationMatrix2D((centre, centre), motion.rotation * at["angle"], zoom)
    target = (size - 1) / 2.0
    matrix[:, 2] += target - centre
    matrix[:, 2] += np.array([at["dx"], at["dy"]]) * motion.shift * size
    return matrix


def _occluder(rng: np.random.Generator, length: int, size: int, motion: MotionRange):
    """A painter ``(frame, k) -> None`` for a patch drifting over the face, or None."""
    if rng.random() >= motion.occlusion_probability:
        return None
    low, high = motion.occlusion_size
    width, height = (rng.uniform(low, high, size=2) * size).astype(int).clip(2, size)
    level = int(rng.integers(0, 256))
    # the patch centre wanders over the middle of the crop, where the face is
    xs = (0.5 + 0.3 * smooth_curve(rng, length)) * size
    ys = (0.5 + 0.3 * smooth_curve(rng, length)) * size

    def paint(frame: np.ndarray, k: int) -> None:
        x0 = int(np.clip(xs[k] - width / 2, 0, size - width))
        y0 = int(np.clip(ys[k] - height / 2, 0, size - height))
        frame[y0 : y0 + height, x0 : x0 + width] = level

    return paint
