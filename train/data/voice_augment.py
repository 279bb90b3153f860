"""Gain and noise on a training clip's waveform: the ways a laptop microphone differs from a studio.

The spectrogram (:mod:`avaffect.audio`) is in dB against a fixed full scale, so a voice's
level reaches the model as it is: a random gain (uniform in +/- ``gain_db`` dB) teaches it
that a quieter or louder microphone says nothing about the emotion by itself. White noise at
a random signal-to-noise ratio (uniform from ``noise_snr_db`` to ``noise_snr_db + 20`` dB
against the clip's own RMS, on half the clips) fills the silences and the quiet bins that a
studio recording leaves at the -80 dB floor. Both 0: the clip unchanged.

The draws come from torch's generator, which the trainer seeds (and a DataLoader seeds per
worker), so a seeded run augments the same way every time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from avaffect.errors import AvaffectError

NOISE_SPAN_DB = 20.0  # the SNR is drawn from [noise_snr_db, noise_snr_db + NOISE_SPAN_DB]
NOISE_PROBABILITY = 0.5


@dataclass(frozen=True)
class VoiceAugment:
    """``augment(samples)`` -> the float32 samples with a random gain and, maybe, noise."""

    gain_db: float = 0.0
    noise_snr_db: float = 0.0

    def __post_init__(self) -> None:
        if not (0.0 <= self.gain_db <= 40.0 and 0.0 <= self.noise_snr_db <= 80.0):
            raise AvaffectError(
                f"gain_db must be in [0, 40] and noise_snr_db in [0, 80] (0: off), got "
                f"{self.gain_db}, {self.noise_snr_db}"
            )

    @property
    def enabled(self) -> bool:
        return self.gain_db > 0 or self.noise_snr_db > 0

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        if not self.enabled or not len(samples):
            return samples
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,))))
        out = samples.astype(np.float32, copy=True)
        if self.noise_snr_db > 0 and rng.random() < NOISE_PROBABILITY:
            rms = float(np.sqrt(np.mean(out.astype(np.float64) ** 2)))
            snr = rng.uniform(self.noise_snr_db, self.noise_snr_db + NOISE_SPAN_DB)
            out += rng.standard_normal(len(out)).astype(np.float32) * np.float32(rms * 10 ** (-snr / 20))
        if self.gain_db > 0:
            out *= np.float32(10 ** (rng.uniform(-self.gain_db, self.gain_db) / 20))
        return np.clip(out, -1.0, 1.0)
