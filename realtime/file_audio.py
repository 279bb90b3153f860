"""The audio track of a video file, decoded with PyAV onto the clock of its frames.

OpenCV reports a file frame's presentation time relative to the video stream's start, so
the audio is placed on that same clock: sample 0 sits at (audio start - video start). The
track is decoded once, mixed to mono at its own rate and resampled to the checkpoint's rate
with the contract's :func:`avaffect.audio.resample`; each frame's window is then cut by
:func:`avaffect.audio.spectrogram_windows` (float32 at 44.1 kHz: about 10 MB per minute).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from avaffect.audio import SpectrogramConfig, resample, spectrogram_windows
from avaffect.errors import AvaffectError


class NoAudioTrack(AvaffectError):
    """The file has no audio stream (the analyzer can still run a visual-only model)."""


@dataclass
class DecodedAudio:
    samples: np.ndarray  # float32 [n] mono, or [n, channels]
    sample_rate: int
    start_time: float  # seconds of sample 0 on the video frames' clock
    layout: str = "mono"  # channel layout name (FFmpeg's)


def import_av():
    try:
        import av
    except ImportError:
        raise AvaffectError(
            "reading a video file's audio needs PyAV: pip install 'avaffect[audio]' (or pass --no-audio)"
        ) from None
    return av


def decode_audio_track(path: str | os.PathLike, mono: bool = True) -> DecodedAudio:
    """Decode the first audio stream of ``path`` to float32 at its own sample rate.

    ``mono=True`` mixes the channels down (what the models hear); ``mono=False`` keeps them,
    as [n, channels] (what gets muxed back into an annotated video).
    """
    av = import_av()
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as err:
        raise AvaffectError(f"{path}: cannot open the file's audio ({err})") from None
    with container:
        if not container.streams.audio:
            raise NoAudioTrack(f"{path}: the file has no audio track")
        stream = container.streams.audio[0]
        video_start = _stream_start(container.streams.video[0]) if container.streams.video else 0.0
        rate = stream.codec_context.sample_rate or stream.rate
        layout = "mono" if mono else stream.codec_context.layout.name
        channels = 1 if mono else len(stream.codec_context.layout.channels)
        mixer = av.AudioResampler(format="flt", layout=layout, rate=rate)
        chunks, first_time = [], None
        for frame in container.decode(stream):
            if first_time is None and frame.time is not None:
                first_time = frame.time
            chunks.extend(out.to_ndarray().reshape(-1) for out in mixer.resample(frame))
        chunks.extend(out.to_ndarray().reshape(-1) for out in mixer.resample(None))
    if first_time is None:
        first_time = _stream_start(stream)
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if not mono:
        samples = samples.reshape(-1, channels)
    return DecodedAudio(samples, int(rate), float(first_time) - video_start, layout)


def _stream_start(stream) -> float:
    return 0.0 if stream.start_time is None else float(stream.start_time * stream.time_base)


class FileAudio:
    """A file's audio track as an :class:`~avaffect.realtime.audio_input.AudioInput`."""

    kind = "file"

    def __init__(self, decoded: DecodedAudio, cfg: SpectrogramConfig) -> None:
        self.cfg = cfg
        self.start_time = decoded.start_time
        self.samples = resample(decoded.samples, decoded.sample_rate, cfg.sample_rate)
        self.duration = len(self.samples) / cfg.sample_rate

    @classmethod
    def open(cls, path: str | os.PathLike, cfg: SpectrogramConfig) -> FileAudio:
        return cls(decode_audio_track(path), cfg)

    def available_until(self) -> float:
        return self.start_time + self.duration

    def spectrogram(self, end_time: float) -> tuple[np.ndarray, float]:
        window_end = min(end_time, self.available_until())
        end_sample = int(round((window_end - self.start_time) * self.cfg.sample_rate))
        return spectrogram_windows(self.samples, np.array([end_sample]), self.cfg)[0], window_end

    def close(self) -> None:
        pass
