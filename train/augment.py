"""Training-time augmentation of the face input, seeded per sample.

The trainer hands a :class:`FaceAugment` to the dataset (``augment=``); before each sample
:class:`avaffect.train.sampling.SeededSamples` reseeds it with a seed derived from (run seed,
epoch, position in the epoch). So the augmentation of a sample never depends on which loader
worker drew it, nor on whether the run was resumed half-way through an epoch: the exactness
``--resume`` promises holds with augmentation on.

A sequence ``[T, 3, S, S]`` gets one transform for all its frames (a clip does not flicker).
"""

from __future__ import annotations

import numpy as np

from avaffect.train.config import AugmentSection


class FaceAugment:
    """Mirror, shift and brightness/contrast jitter of inputs in [-1, 1]."""

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
        if s.max_shift > 0:
            dy, dx = rng.integers(-s.max_shift, s.max_shift + 1, size=2)
            out = shift_edge(out, int(dy), int(dx))
        if s.contrast > 0 or s.brightness > 0:
            gain = 1.0 + rng.uniform(-s.contrast, s.contrast)
            offset = rng.uniform(-s.brightness, s.brightness)
            mean = out.mean(axis=(-3, -2, -1), keepdims=True)
            out = np.clip((out - mean) * gain + mean + offset, -1.0, 1.0)
        return np.ascontiguousarray(out, np.float32)


def shift_edge(face: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Translate the last two axes by (dy, dx) pixels, repeating the edge into the gap."""
    if dy == 0 and dx == 0:
        return face
    height, width = face.shape[-2:]
    rows = np.clip(np.arange(height) - dy, 0, height - 1)
    cols = np.clip(np.arange(width) - dx, 0, width - 1)
    return face[..., rows[:, None], cols[None, :]]
