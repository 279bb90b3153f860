"""The spectrogram every audio stream sees; one implementation for training and real time.

For a video frame at time ``t`` the model sees the audio window ``[t - context_s, t)``:
frames over 33 ms windows with 11 ms overlap (hop 22 ms), the last one ending at ``t`` (the
window's first ~21 ms, less than a hop, come before the first frame), log magnitude in dB
relative to full scale, clipped to ``[min_db, 0]`` and scaled to [-1, 1]. The reference is
fixed, not the window's own maximum, on purpose: loudness is what carries arousal, and a
per-window normalisation would erase it. Audio before the start or after the end of a
recording is silence.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import numpy as np

from avaffect.errors import AvaffectError


@dataclass(frozen=True)
class SpectrogramConfig:
    """Spectrogram parameters; stored in every checkpoint so that real time follows training."""

    sample_rate: int = 44100
    window_ms: float = 33.0
    overlap_ms: float = 11.0
    context_s: float = 1.0
    min_db: float = -80.0
    # Keep only bins up to this frequency (None: the whole band, as in the paper). Speech
    # recorded at 16 kHz has nothing above 8 kHz, so a model trained on it can drop those bins.
    max_freq_hz: float | None = None

    def __post_init__(self) -> None:
        if self.sample_rate < 8000:
            raise AvaffectError(f"sample rate {self.sample_rate} Hz is too low; use at least 8000")
        if not 0 <= self.overlap_ms < self.window_ms:
            raise AvaffectError("spectrogram overlap must be at least 0 and less than the window length")
        if self.context_s * 1000 < self.window_ms:
            raise AvaffectError("spectrogram context must hold at least one window")
        if self.min_db >= 0:
            raise AvaffectError(f"min_db must be negative (dB below full scale), got {self.min_db}")

    @property
    def win_length(self) -> int:
        return int(round(self.sample_rate * self.window_ms / 1000))

    @property
    def hop_length(self) -> int:
        return int(round(self.sample_rate * (self.window_ms - self.overlap_ms) / 1000))

    @property
    def context_samples(self) -> int:
        return int(round(self.sample_rate * self.context_s))

    @property
    def num_bins(self) -> int:
        full = self.win_length // 2 + 1
        if self.max_freq_hz is None:
            return full
        return min(full, int(self.max_freq_hz * self.win_length / self.sample_rate) + 1)

    @property
    def num_frames(self) -> int:
        return 1 + (self.context_samples - self.win_length) // self.hop_length

    @property
    def shape(self) -> tuple[int, int, int]:
        """The model's spectrogram input per frame: [1, bins, time frames]."""
        return (1, self.num_bins, self.num_frames)

    def bin_frequency(self, index: int) -> float:
        return index * self.sample_rate / self.win_length

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SpectrogramConfig:
        return cls(**data)


def _window(cfg: SpectrogramConfig) -> np.ndarray:
    return np.hanning(cfg.win_length + 2)[1:-1].astype(np.float32)  # periodic-ish, no zero ends


def spectrogram(audio: np.ndarray, cfg: SpectrogramConfig = SpectrogramConfig()) -> np.ndarray:
    """Log-magnitude spectrogram of one whole context window: [samples] -> [1, bins, frames].

    ``audio`` is mono float in [-1, 1] at ``cfg.sample_rate``; shorter input is padded with
    leading silence, longer input keeps its last ``context_samples``.
    """
    audio = np.asarray(audio, np.float32).reshape(-1)
    return spectrogram_windows(audio, np.array([len(audio)]), cfg)[0]


# Windows per batched FFT: bounds the memory of a whole video's spectrograms (a 1 s window
# at 44.1 kHz is 44 frames x 1455 samples: 64 windows hold ~16 MB of frames at a time).
_WINDOWS_PER_CHUNK = 64


def spectrogram_windows(
    audio: np.ndarray, end_samples: np.ndarray, cfg: SpectrogramConfig = SpectrogramConfig()
) -> np.ndarray:
    """Spectrograms of the windows ending at each of ``end_samples``: -> float32 [N, 1, bins, frames].

    The last frame of each window ends exactly at its end sample (the newest audio is what
    real time needs most). Audio before the start and after the end of the recording is
    silence. Vectorised: frames are gathered from one strided view and transformed by a
    batched FFT, in chunks of windows so that a whole video costs bounded memory.
    """
    audio = np.asarray(audio, np.float32).reshape(-1)
    ends = np.asarray(end_samples, np.int64).reshape(-1)
    win, hop, num_frames = cfg.win_length, cfg.hop_length, cfg.num_frames
    span = win + hop * (num_frames - 1)  # samples the frames cover, <= context_samples
    ends = np.clip(ends, 0, len(audio) + span)
    # Only the stretch the windows cover is copied (with silence where it runs past either
    # end of the recording), so one window costs the same on a minute or on three hours.
    first_end, last_end = (int(ends.min()), int(ends.max())) if len(ends) else (0, 0)
    lo, hi = first_end - span, last_end
    padded = np.zeros(hi - lo, np.float32)
    src_lo, src_hi = max(lo, 0), min(hi, len(audio))
    if src_hi > src_lo:
        padded[src_lo - lo : src_hi - lo] = audio[src_lo:src_hi]
    ends = ends - first_end
    # In padded coordinates the window ending at sample e starts at e: its frames start at
    # e + hop * k.
    all_frames = np.lib.stride_tricks.sliding_window_view(padded, win)
    frame_offsets = hop * np.arange(num_frames)
    out = np.empty((len(ends), 1, cfg.num_bins, num_frames), np.float32)
    for first in range(0, len(ends), _WINDOWS_PER_CHUNK):
        chunk = ends[first : first + _WINDOWS_PER_CHUNK]
        frames = all_frames[chunk[:, None] + frame_offsets[None, :]]  # [n, frames, win]
        out[first : first + len(chunk), 0] = _scaled_log_magnitude(frames, cfg).transpose(0, 2, 1)
    return out


def _scaled_log_magnitude(frames: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """Windowed frames [..., win] -> log magnitude scaled to [-1, 1], [..., bins]."""
    window = _window(cfg)
    magnitude = np.abs(np.fft.rfft(frames * window, axis=-1))[..., : cfg.num_bins]
    # A full-scale sine gives 0 dB: divide by the window's sum over two (its coherent gain).
    magnitude /= window.sum() / 2.0
    db = 20.0 * np.log10(np.maximum(magnitude, 1e-12))
    return 2.0 * (np.clip(db, cfg.min_db, 0.0) - cfg.min_db) / (-cfg.min_db) - 1.0


def frame_end_samples(timestamps_s: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """Sample index at which the window for a frame shown at ``timestamps_s`` ends."""
    return np.round(np.asarray(timestamps_s, np.float64) * cfg.sample_rate).astype(np.int64)


def resample(audio: np.ndarray, rate_in: int, rate_out: int, chunk: int = 1 << 16) -> np.ndarray:
    """Resample mono audio with a Hann-windowed sinc (32 taps), anti-aliased at the lower Nyquist.

    Dependency-free and good enough for spectrogram features; works in chunks so that a
    long recording never builds a huge intermediate.
    """
    audio = np.asarray(audio, np.float32).reshape(-1)
    if rate_in == rate_out or len(audio) == 0:
        return audio.copy()
    n_out = resampled_length(len(audio), rate_in, rate_out)
    out = np.empty(n_out, np.float32)
    for start in range(0, n_out, chunk):
        stop = min(start + chunk, n_out)
        out[start:stop] = resample_range(audio, 0, rate_in, rate_out, start, stop, len(audio))
    return out


_HALF_TAPS = 16  # the sinc kernel reaches this many input samples either side
_TAPS = np.arange(-_HALF_TAPS + 1, _HALF_TAPS + 1)  # output at time q + r/up: inputs q - 15 .. q + 16


def resampled_length(n_in: int, rate_in: int, rate_out: int) -> int:
    return int(round(n_in * rate_out / rate_in))


def resample_needs(stop: int, rate_in: int, rate_out: int) -> int:
    """Input samples that output samples ``[0, stop)`` of :func:`resample` depend on (the
    first ones a stream can produce once that many inputs have arrived)."""
    return resample_span(0, stop, rate_in, rate_out)[1] if stop > 0 else 0


def resample_span(start: int, stop: int, rate_in: int, rate_out: int) -> tuple[int, int]:
    """The input indices ``[first, end)`` that outputs ``[start, stop)`` of :func:`resample`
    reach (``stop > start``)."""
    up, down = _ratio(rate_in, rate_out)
    return start * down // up + int(_TAPS[0]), (stop - 1) * down // up + int(_TAPS[-1]) + 1


def resample_ready(n_in: int, rate_in: int, rate_out: int) -> int:
    """How many outputs of :func:`resample` are final once ``n_in`` inputs have arrived: the
    largest ``stop`` with ``resample_needs(stop) <= n_in``."""
    up, down = _ratio(rate_in, rate_out)
    return max(0, ((n_in - _HALF_TAPS) * up - 1) // down + 1)


def resample_range(
    audio: np.ndarray,
    offset: int,
    rate_in: int,
    rate_out: int,
    start: int,
    stop: int,
    n_in: int | None = None,
) -> np.ndarray:
    """Output samples ``[start, stop)`` of :func:`resample` of a whole recording, computed
    from a piece of it: ``audio`` holds its input samples from index ``offset`` on, covering
    every input those outputs need (:func:`resample_needs`). Inputs at or past ``n_in`` (the
    recording's length, None while it is still unknown) are silence, as in :func:`resample`.
    This is how a stream is resampled to exactly the numbers the whole track would give."""
    # Output n sits at input time n * rate_in / rate_out = q + r / up (integers, exact): its
    # taps start at input q - 15 and their weights depend on the phase r alone.
    up, down = _ratio(rate_in, rate_out)
    position = np.arange(start, stop, dtype=np.int64) * down
    idx = (position // up)[:, None] + _TAPS[None, :]
    kernel = _kernel_table(rate_in, rate_out)[position % up]
    valid = idx >= 0 if n_in is None else (idx >= 0) & (idx < n_in)
    local = np.clip(idx - offset, 0, max(len(audio) - 1, 0))
    samples = np.where(valid, audio[local] if len(audio) else 0.0, 0.0)
    return (samples * kernel).sum(1).astype(np.float32)


def _ratio(rate_in: int, rate_out: int) -> tuple[int, int]:
    """``rate_out / rate_in`` as ``up / down`` in lowest terms."""
    common = math.gcd(int(rate_in), int(rate_out))
    return int(rate_out) // common, int(rate_in) // common


@functools.lru_cache(maxsize=16)
def _kernel_table(rate_in: int, rate_out: int) -> np.ndarray:
    """The Hann-windowed sinc's 32 weights for each of the ``up`` phases, [up, 32].

    Computed once per pair of rates (48 kHz to 16 kHz has 1 phase, 44.1 kHz 160), so a frame
    of sound costs a gather and a dot product, not 32 sines and cosines per output sample
    (about 1.4 ms per 1/30 s at 48 kHz before)."""
    up, _ = _ratio(rate_in, rate_out)
    cutoff = min(1.0, rate_out / rate_in)
    x = (np.arange(up) / up)[:, None] - _TAPS[None, :]
    return cutoff * np.sinc(cutoff * x) * (0.5 + 0.5 * np.cos(np.pi * x / _HALF_TAPS))
