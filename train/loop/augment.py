"""Training-time augmentation of the face input, seeded per sample.

The trainer hands a :class:`FaceAugment` to the dataset (``augment=``); before each sample
:class:`avaffect.train.loop.sampling.SeededSamples` reseeds it with a seed derived from (run seed,
epoch, position in the epoch). So the augmentation of a sample never depends on which loader
worker drew it, nor on whether the run was resumed half-way through an epoch: the exactness
``--resume`` promises holds with augmentation on.

A sequence ``[T, 3, S, S]`` gets one transform for all its frames (a clip does not flicker).

Order: mirror, geometry (shift alone by whole pixels; with rotation or zoom, one affine warp
about the face centre, edges repeated), photometry, then random erasing last, so the erased
patch is noise the model cannot undo. The erasing noise is the same in every channel: the
grey FER2013 defaults see grey replicated to three channels, and colour noise would be a
kind of input they never meet at inference.
"""

from __future__ import annotations

import cv2
import numpy as np

from avaffect.train.config import AugmentSection


class FaceAugment:
    """Mirror, shift / rotation / zoom, brightness/contrast jitter and random erasing of
    inputs in [-1, 1]; each part is drawn only when its setting is on, so a recipe's
    augmentation stream does not change when an unused part is added."""

    def __init__(self, settings: AugmentSection) -> None:
        self.settings = settings
        self.rng = np.random.default_rng(0)

    def reseed(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def __call__(self, face: np.ndarray) -> np.ndarray:
        s, rng = self.settings, self.rng
        out = np.asarray(face, np.float32)
        if s.flip and rng.random() < 0.5:
            out = out[..., ::-1]
        dy = dx = 0
        if s.max_shift > 0:
            dy, dx = (int(v) for v in rng.integers(-s.max_shift, s.max_shift + 1, size=2))
        if s.rotation > 0 or s.scale > 0:
            angle = rng.uniform(-s.rotation, s.rotation) if s.rotation > 0 else 0.0
            zoom = 1.0 + rng.uniform(-s.scale, s.scale) if s.scale > 0 else 1.0
            out = warp_edge(out, angle, zoom, dy, dx)
        else:
            out = shift_edge(out, dy, dx)
        if s.contrast > 0 or s.brightness > 0:
            gain = 1.0 + rng.uniform(-s.contrast, s.contrast)
            offset = rng.uniform(-s.brightness, s.brightness)
            mean = out.mean(axis=(-3, -2, -1), keepdims=True)
            out = np.clip((out - mean) * gain + mean + offset, -1.0, 1.0)
        if s.erase > 0 and rng.random() < s.erase:
            out = erase_rectangle(out, rng, s.erase_area)
        return np.ascontiguousarray(out, np.float32)


def warp_edge(face: np.ndarray, angle: float, zoom: float, dy: int, dx: int) -> np.ndarray:
    """Rotate by ``angle`` degrees and zoom by ``zoom`` about the centre of the last two axes,
    then translate by (dy, dx) pixels: one bilinear warp, the edge repeated into the gap."""
    height, width = face.shape[-2:]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2.0, (height - 1) / 2.0), angle, zoom)
    matrix[:, 2] += (dx, dy)
    planes = face.reshape(-1, height, width)
    # cv2 warps [H, W, C] images of up to 4 channels at once; a clip has 3T planes
    warped = [
        cv2.warpAffine(p, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        for p in planes
    ]
    return np.stack(warped).reshape(face.shape)


def erase_rectangle(face: np.ndarray, rng: np.random.Generator, max_area: float) -> np.ndarray:
    """Random erasing (Zhong et al., AAAI 2020): a rectangle of 2% to ``max_area`` of the face,
    aspect ratio 0.3 to 3.3, filled with uniform noise in [-1, 1], the same in every channel
    and frame."""
    height, width = face.shape[-2:]
    area = rng.uniform(0.02, max_area) * height * width
    aspect = np.exp(rng.uniform(np.log(0.3), np.log(1 / 0.3)))
    h = int(min(height, max(1, round(np.sqrt(area * aspect)))))
    w = int(min(width, max(1, round(np.sqrt(area / aspect)))))
    top = int(rng.integers(0, height - h + 1))
    left = int(rng.integers(0, width - w + 1))
    out = face.copy()
    out[..., top : top + h, left : left + w] = rng.uniform(-1.0, 1.0, size=(h, w)).astype(np.float32)
    return out


def shift_edge(face: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate the last two axes by (dy, dx) pixels, repeating the edge into the gap."""
    if dy == 0 and dx == 0:
        return face
    height, width = face.shape[-2:]
    rows = np.clip(np.arange(height) - dy, 0, height - 1)
    cols = np.clip(np.arange(width) - dx, 0, width - 1)
    return face[..., rows[:, None], cols[None, :]]
