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

from avaffect.audio import (
    SpectrogramConfig,
    resample_range,
    resample_ready,
    resample_span,
    spectrogram_windows,
)
from avaffect.realtime.ring_buffer import AudioRingBuffer

#: seconds of resampled sound kept beyond a window: room for frames that ask out of order
_RESAMPLED_SLACK_S = 1.0


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

    The buffer holds samples at the device's rate; a device that will not run at the
    checkpoint's rate is heard through :class:`ResampledRing`.
    """

    kind = "microphone"

    def __init__(self, ring: AudioRingBuffer, cfg: SpectrogramConfig) -> None:
        self.ring = ring
        self.cfg = cfg
        same_rate = ring.sample_rate == cfg.sample_rate
        self._resampled = None if same_rate else ResampledRing(ring, cfg.sample_rate, cfg.context_s + _RESAMPLED_SLACK_S)

    @property
    def resampled_capacity(self) -> int:
        """Samples held at the checkpoint's rate besides the ring (none at the same rate)."""
        return 0 if self._resampled is None else self._resampled.capacity

    def available_until(self) -> float | None:
        return self.ring.end_time

    def inputs_reached(self, end_time: float) -> int:
        """Ring position one past the last sample the window ending at ``end_time`` reads
        (past ``end_time`` itself when resampling, whose kernel reaches a little ahead)."""
        if self._resampled is None:
            return self.ring.position(end_time)
        return self._resampled.inputs_reached(end_time)

    def spectrogram(self, end_time: float) -> tuple[np.ndarray, float]:
        newest = self.ring.end_time
        # Nothing captured yet: the window is silence and has no end time (skew unknown).
        window_end = math.nan if newest is None else min(end_time, newest)
        read_end = end_time if newest is None else window_end
        source = self.ring if self._resampled is None else self._resampled
        samples = source.window(read_end, self.cfg.context_samples)
        spec = spectrogram_windows(samples, np.array([len(samples)]), self.cfg)[0]
        return spec, window_end

    def close(self) -> None:
        pass


class ResampledRing:
    """An :class:`AudioRingBuffer`'s sound at another rate, each output sample resampled once.

    A device that will not run at the model's rate (a browser's 48 kHz, many USB microphones)
    once had each frame's whole 1 s window resampled anew: 16,000 outputs of 32 taps, 30
    times a second, for 33 ms of new sound (74 ms a frame at 48 kHz on the 2-core AMD EPYC).
    Here an output is computed once, as soon as every input it reaches has been captured, into
    a ring at the model's rate on the same capture clock (the numbers
    :func:`avaffect.audio.resample` gives on the whole recording). A window's last few outputs,
    whose inputs are not all captured yet, are computed for that window alone, with the
    missing inputs as silence.
    """

    def __init__(self, source: AudioRingBuffer, sample_rate: int, seconds: float) -> None:
        self.source = source
        self.sample_rate = int(sample_rate)
        self._out = AudioRingBuffer(self.sample_rate, seconds)
        self._kept: tuple[int, int] | None = None  # output positions [from, to) final in _out

    @property
    def capacity(self) -> int:
        """Samples held at this rate."""
        return self._out.capacity

    def inputs_reached(self, end_time: float) -> int:
        """Source position one past the last input the outputs before ``end_time`` reach."""
        end = self._out.position(end_time)
        return resample_span(end - 1, end, self.source.sample_rate, self.sample_rate)[1]

    def window(self, end_time: float, n_samples: int) -> np.ndarray:
        """The ``n_samples`` at this rate just before capture time ``end_time``."""
        end = self._out.position(end_time)
        start = end - n_samples
        self._catch_up(start)
        kept_from, final = self._kept or (end, end)
        kept_from = max(kept_from, final - self._out.capacity)
        if not kept_from <= start < final:  # out of what is kept: this window alone
            return self._resample(start, end)
        return np.concatenate([self._out.read(start, min(end, final)), self._resample(final, end)])

    def _catch_up(self, start: int) -> None:
        """Resample every output whose inputs have all been captured since the last window
        (from ``start`` on, if that is later: nothing before it is asked for)."""
        captured = self.source.end_position
        if captured is None:
            return
        ready = resample_ready(captured, self.source.sample_rate, self.sample_rate)
        kept_from, final = self._kept or (start, start)
        first = max(final, start, ready - self._out.capacity)
        if ready <= first:
            return
        self._out.write_at(self._resample(first, ready), first)
        self._kept = (kept_from if first == final else first, ready)

    def _resample(self, start: int, stop: int) -> np.ndarray:
        """Outputs ``[start, stop)`` from the source's inputs (silence where none was captured)."""
        if stop <= start:
            return np.zeros(0, np.float32)
        rate_in, rate_out = self.source.sample_rate, self.sample_rate
        first, end = resample_span(start, stop, rate_in, rate_out)
        out = resample_range(self.source.read(first, end), first, rate_in, rate_out, start, stop)
        # Outputs before the recording's first sample are silence, as resample() of the
        # whole recording has none there (the kernel would otherwise ring ahead of it).
        recording_start = self.source.first_position
        if recording_start is not None:
            before = -(-recording_start * rate_out // rate_in) - start  # outputs before it
            out[: max(0, min(before, len(out)))] = 0.0
        return out
