"""The audio track (and frame rate) of a raw video, decoded with PyAV.

PyAV is the optional extra ``audio``; it is imported only when a dataset asks for audio.
Samples are placed on the video's clock: sample 0 is the time of the first video frame, so
a frame's audio window (``avaffect.audio``) ends where the frame is shown.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avaffect.audio import resample
from avaffect.errors import AvaffectError

FALLBACK_FPS = 30.0


def import_av():
    """The ``av`` module, or an error that says how to install it."""
    try:
        import av
    except ImportError:
        raise AvaffectError(
            "reading audio from videos needs PyAV; install it with: pip install avaffect[audio]"
        ) from None
    return av


@dataclass(frozen=True)
class AudioTrack:
    samples: np.ndarray  # mono float32 in [-1, 1], at ``sample_rate``, sample 0 = first video frame
    sample_rate: int
    fps: float  # of the video stream; frame times are index / fps


def _stream_start(stream) -> float:
    if stream is None or stream.start_time is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _video_fps(path: Path, stream) -> float:
    rate = None if stream is None else (stream.average_rate or stream.guessed_rate)
    if not rate:
        warnings.warn(
            f"{path}: no frame rate in the video stream; assuming {FALLBACK_FPS:g} fps",
            stacklevel=3,
        )
        return FALLBACK_FPS
    return float(rate)


def _decode_mono(av, container, stream) -> tuple[np.ndarray, float | None]:
    """All samples of ``stream`` mixed to mono (mean of channels), and the first frame's time."""
    converter = av.AudioResampler(format="fltp")  # planar float, native rate and channels
    chunks, first_time = [], None
    for frame in container.decode(stream):
        if first_time is None:
            first_time = frame.time
        chunks += [out.to_ndarray().mean(axis=0) for out in converter.resample(frame)]
    chunks += [out.to_ndarray().mean(axis=0) for out in converter.resample(None)]
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return samples, first_time


def read_audio_track(path: Path, sample_rate: int) -> AudioTrack:
    """Decode the first audio track of ``path`` and resample it to ``sample_rate``."""
    av = import_av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AvaffectError(
                    f"{path}: the video has no audio track; open the dataset without audio"
                )
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0]
            fps = _video_fps(path, video)
            native_rate = audio.rate
            samples, first_time = _decode_mono(av, container, audio)
    except av.error.FFmpegError as err:
        raise AvaffectError(
            f"{path}: cannot decode the video's audio ({err}); is the file complete?"
        ) from None
    # Put sample 0 at the first video frame: audio that starts late gets leading silence.
    offset = int(round(((first_time or 0.0) - _stream_start(video)) * native_rate))
    if offset > 0:
        samples = np.concatenate([np.zeros(offset, np.float32), samples])
    elif offset < 0:
        samples = samples[-offset:]
    return AudioTrack(resample(samples, native_rate, sample_rate), sample_rate, fps)


class AudioCache:
    """Decoded tracks kept in memory per raw video, so each is decoded once per process.

    Not carried across pickling (DataLoader workers): each worker decodes what it needs,
    and no file handle or decoder outlives a call.
    """

    def __init__(self, sample_rate: int):
        self.sample_rate = sample_rate
        self._tracks: dict[Path, AudioTrack] = {}

    def get(self, path: Path) -> AudioTrack:
        track = self._tracks.get(path)
        if track is None:
            track = self._tracks[path] = read_audio_track(path, self.sample_rate)
        return track

    def __len__(self) -> int:
        return len(self._tracks)

    def __getstate__(self) -> dict:
        return {"sample_rate": self.sample_rate, "_tracks": {}}
