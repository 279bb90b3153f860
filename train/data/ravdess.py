"""RAVDESS speech as sequences of spectrograms: the voice of Surprise, which CREMA-D lacks.

``Ravdess(folder, "Training", audio=SpectrogramConfig(sample_rate=16000))[i]`` is one clip
(:mod:`.ravdess_clips`: which clips, split by actor, calm, intensity) in exactly the form of
:class:`~.crema_d.CremaD` (same steps, padding, masks and waveform augmentation). One extra:
with ``priors=True``, ``strong_arousal`` scales the arousal target of the strong-intensity
clips (1.0: the expression's prior as it is; 1.3: strong anger or fear 30% further from zero,
clipped to [-1, 1]), so the one arousal cue RAVDESS labels reaches the arousal head.

Open it by name as ``open_dataset("ravdess", folder, split, sequence=True, audio=...)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.train.objectives.priors import va_prior

from .base import RGB_FACE, Augment
from .crema_d import CremaD
from .ravdess_clips import RavdessClips


class Ravdess(CremaD):
    """Sequences ``"spectrogram"`` [T, 1, F, W], ``"va"`` [T, 2], ``"au"`` [T, 8], ``"expr"`` [T]."""

    name = "ravdess"

    def __init__(
        self,
        path: str | Path,
        split: str = "Training",
        face: FaceSpec = RGB_FACE,
        audio: SpectrogramConfig | None = None,
        augment: Augment | None = None,
        seq_len: int = 32,
        step_rate: float = 10.0,
        priors: bool = False,
        gain_db: float = 0.0,
        noise_snr_db: float = 0.0,
        calm: str = "neutral",
        strong_arousal: float = 1.0,
        freq_mask: int = 0,
        time_mask: int = 0,
        step_jitter: bool = False,
    ):
        if not 0.5 <= strong_arousal <= 2.0:
            raise AvaffectError(f"strong_arousal must be in [0.5, 2] (1: off), got {strong_arousal}")
        self.calm, self.strong_arousal = calm, float(strong_arousal)
        super().__init__(path, split, face, audio, augment, seq_len, step_rate, priors, gain_db, noise_snr_db,
                         freq_mask, time_mask, step_jitter)

    def _open_clips(self, path: str | Path, split: str, sample_rate: int) -> RavdessClips:
        return RavdessClips(path, split, sample_rate, calm=self.calm)

    def _va(self, i: int, expr: np.ndarray) -> np.ndarray:
        va = va_prior(expr)
        if self.clips.intensity[i]:
            va[:, 1] = np.clip(va[:, 1] * self.strong_arousal, -1.0, 1.0)
        return va

    def intensity_targets(self) -> np.ndarray:
        """The intensity of each clip (0 normal, 1 strong)."""
        return self.clips.intensity.copy()
