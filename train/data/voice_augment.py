"""Gain and noise on a training clip's waveform (the ways a laptop microphone differs from a
studio), and bands and stretches masked out of its spectrograms (SpecAugment).

The spectrogram (:mod:`avaffect.audio`) is in dB against a fixed full scale, so a voice's
level reaches the model as it is: a random gain (uniform in +/- ``gain_db`` dB) teaches it
that a quieter or louder microphone says nothing about the emotion by itself. White noise at
a random signal-to-noise ratio (uniform from ``noise_snr_db`` to ``noise_snr_db + 20`` dB
against the clip's own RMS, on half the clips) fills the silences and the quiet bins that a
studio recording leaves at the -80 dB floor. Both 0: the clip unchanged.

``freq_mask`` and ``time_mask`` (Park et al., *SpecAugment*, Interspeech 2019) blank
:data:`MASKS` bands of up to ``freq_mask`` frequency bins and as many stretches of up to
``time_mask`` frames in every spectrogram window, each filled with the window's mean, so no one
formant band or syllable decides the class; a few thousand clips from 41 speakers are easy to
learn by heart otherwise. 0: off.

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
MASKS = 2  # bands and stretches masked per window, each of a random width up to the maximum


@dataclass(frozen=True)
class VoiceAugment:
    """``augment(samples)`` -> the float32 samples with a random gain and, maybe, noise;
    ``augment.mask(windows)`` -> the spectrogram windows [N, 1, F, W] with bands masked."""

    gain_db: float = 0.0
    noise_snr_db: float = 0.0
    freq_mask: int = 0
    time_mask: int = 0

    def __post_init__(self) -> None:
        if not (0.0 <= self.gain_db <= 40.0 and 0.0 <= self.noise_snr_db <= 80.0):
            raise AvaffectError(
                f"gain_db must be in [0, 40] and noise_snr_db in [0, 80] (0: off), got "
                f"{self.gain_db}, {self.noise_snr_db}"
            )
        if not (0 <= self.freq_mask <= 100 and 0 <= self.time_mask <= 20):
            raise AvaffectError(
                f"freq_mask must be in [0, 100] bins and time_mask in [0, 20] frames (0: off), got "
                f"{self.freq_mask}, {self.time_mask}"
            )

    @property
    def enabled(self) -> bool:
        return self.gain_db > 0 or self.noise_snr_db > 0

    def mask(self, windows: np.ndarray) -> np.ndarray:
        """``windows`` [N, 1, F, W] with up to :data:`MASKS` bands of frequency bins and as
        many stretches of frames set to each window's mean (in place)."""
        if not (self.freq_mask or self.time_mask):
            return windows
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,))))
        for window in windows[:, 0]:
            fill = window.mean()
            for _ in range(MASKS if self.freq_mask else 0):
                window[_stretch(rng, self.freq_mask, window.shape[0]), :] = fill
            for _ in range(MASKS if self.time_mask else 0):
                window[:, _stretch(rng, self.time_mask, window.shape[1])] = fill
        return windows

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


def _stretch(rng: np.random.Generator, widest: int, length: int) -> slice:
    """A random run of up to ``widest`` of ``length`` indices (possibly empty)."""
    width = int(rng.integers(0, min(widest, length) + 1))
    start = int(rng.integers(0, length - width + 1))
    return slice(start, start + width)
