"""Where a frame's audio comes from: the spectrogram of the window that ends at its time.

Two inputs share this interface: a microphone (samples in a ring buffer stamped on the
monotonic clock, see mic_source.py) and the audio track of a video file (decoded on the
file's presentation clock, see file_audio.py). Both hand their samples to the contract's
:func:`avaffect.audio.spectrogram_windows`, so real time computes exactly what training saw.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from avaffect.audio import SpectrogramConfig, resample, spectrogram_windows
from avaffect.realtime.ring_buffer import AudioRingBuffer

# Extra samples read before a window that is resampled, so the resampler's edge sits outside it.
_RESAMPLE_MARGIN = 64


class AudioInput(Protocol):
    """An audio stream the inference thread cuts one window from per video frame."""

    #: "microphone" or "file", for logs and the summary
    kind: str

    def available_until(self) -> float | None:
        """Time just past the newest sample available (None: nothing yet)."""

    def spectrogram(self, end_time: float) -> tuple[np.ndarray, float]:
        """``([1, bins, frames] float32, window end time)`` for the window ending at
        ``end_time``, or at the newest sample if audio has not reached ``end_time`` yet
        (window end NaN when there is no audio at all yet: the window is silence)."""

    def close(self) -> None: ...


class RingAudio:
    """An :class:`AudioInput` over an :class:`AudioRingBuffer` filled by a capture callback.

    The buffer holds samples at the device's rate; each window is resampled to the
    checkpoint's rate (``avaffect.audio.resample``) before its spectrogram is taken.
    """

    kind = "microphone"

    def __init__(self, ring: AudioRingBuffer, cfg: SpectrogramConfig) -> None:
        self.ring = ring
        self.cfg = cfg

    def available_until(self) -> float | None:
        return self.ring.end_time

    def spectrogram(self, end_time: float) -> tuple[np.ndarray, float]:
        newest = self.ring.end_time
        # Nothing captured yet: the window is silence and has no end time (skew unknown).
        window_end = math.nan if newest is None else min(end_time, newest)
        rate = self.ring.sample_rate
        read_end = end_time if newest is None else window_end
        if rate == self.cfg.sample_rate:
            samples = self.ring.window(read_end, self.cfg.context_samples)
        else:
            needed = math.ceil(self.cfg.context_s * rate) + _RESAMPLE_MARGIN
            samples = resample(self.ring.window(read_end, needed), rate, self.cfg.sample_rate)
        spec = spectrogram_windows(samples, np.array([len(samples)]), self.cfg)[0]
        return spec, window_end

    def close(self) -> None:
        pass
