"""A lock-guarded audio ring buffer addressed by capture time.

Every sample has an absolute position ``round(t * sample_rate)`` on the capture clock, so a
window "ending at time t" is a slice by position, whatever the block sizes were. A block
that starts within ``snap_ms`` of where the previous one ended continues it exactly (device
timestamps jitter by a few samples; snapping avoids clicks of zeros); a larger gap is
filled with silence, and anything not captured (before the first block, past the newest,
older than the capacity) reads as zeros.
"""

from __future__ import annotations

import threading

import numpy as np


class AudioRingBuffer:
    """The last ``seconds`` of mono float32 audio, written by a capture callback."""

    def __init__(self, sample_rate: int, seconds: float = 5.0, snap_ms: float = 2.0) -> None:
        if sample_rate <= 0 or seconds <= 0:
            raise ValueError("sample_rate and seconds must be positive")
        self.sample_rate = int(sample_rate)
        self.capacity = int(round(seconds * sample_rate))
        self._snap = int(round(snap_ms * sample_rate / 1000))
        self._data = np.zeros(self.capacity, np.float32)
        self._first: int | None = None  # position of the first sample ever written
        self._end: int | None = None  # one past the newest sample
        self._lock = threading.Lock()

    def position(self, t: float) -> int:
        """The absolute sample position of capture time ``t`` (seconds)."""
        return int(round(t * self.sample_rate))

    def write(self, samples: np.ndarray, start_time: float) -> None:
        """Store ``samples`` whose first one was captured at ``start_time``. Cheap: one copy."""
        samples = np.asarray(samples, np.float32).reshape(-1)
        pos = self.position(start_time)
        with self._lock:
            if self._end is not None and abs(pos - self._end) <= self._snap:
                pos = self._end
            self._write(samples, pos)

    def write_at(self, samples: np.ndarray, position: int) -> None:
        """Store ``samples`` from the absolute position ``position`` exactly: no snapping, for
        samples computed on this buffer's clock rather than captured on a jittering one."""
        samples = np.asarray(samples, np.float32).reshape(-1)
        with self._lock:
            self._write(samples, int(position))

    def _write(self, samples: np.ndarray, pos: int) -> None:
        """Store ``samples`` from position ``pos`` (a gap before them is silence); lock held."""
        if len(samples) > self.capacity:  # only the newest part can be kept
            pos += len(samples) - self.capacity
            samples = samples[-self.capacity :]
        if self._end is not None and pos > self._end:  # a gap: it was silence to us
            gap = min(pos - self._end, self.capacity)
            self._put(pos - gap, np.zeros(gap, np.float32))
        self._put(pos, samples)
        if self._first is None:
            self._first = pos
        self._end = pos + len(samples) if self._end is None else max(self._end, pos + len(samples))

    def _put(self, pos: int, block: np.ndarray) -> None:
        """Copy ``block`` (at most ``capacity`` long) to positions from ``pos``; lock held."""
        index = pos % self.capacity
        first = min(len(block), self.capacity - index)
        self._data[index : index + first] = block[:first]
        self._data[: len(block) - first] = block[first:]

    def read(self, start_pos: int, end_pos: int) -> np.ndarray:
        """Samples at positions ``[start_pos, end_pos)``; zeros wherever nothing was captured."""
        out = np.zeros(max(0, end_pos - start_pos), np.float32)
        with self._lock:
            if self._end is None or not len(out):
                return out
            lo = max(start_pos, self._first, self._end - self.capacity)
            hi = min(end_pos, self._end)
            if hi <= lo:
                return out
            index = lo % self.capacity
            first = min(hi - lo, self.capacity - index)
            out[lo - start_pos : lo - start_pos + first] = self._data[index : index + first]
            out[lo - start_pos + first : hi - start_pos] = self._data[: hi - lo - first]
        return out

    def window(self, end_time: float, n_samples: int) -> np.ndarray:
        """The ``n_samples`` captured just before ``end_time``."""
        end = self.position(end_time)
        return self.read(end - n_samples, end)

    @property
    def end_time(self) -> float | None:
        """Capture time just past the newest sample, or None before the first write."""
        with self._lock:
            return None if self._end is None else self._end / self.sample_rate

    @property
    def first_position(self) -> int | None:
        """Position of the first sample ever written, or None before the first write."""
        with self._lock:
            return self._first

    @property
    def end_position(self) -> int | None:
        with self._lock:
            return self._end
