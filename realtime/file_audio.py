"""The audio track of a video file, decoded with PyAV as a stream onto the clock of its frames.

OpenCV reports a file frame's presentation time relative to the video stream's start, so
the audio is placed on that same clock: sample 0 sits at (audio start - video start).
Nothing is decoded ahead of need: :class:`TrackReader` hands out one decoded block at a
time, and :class:`FileAudio` keeps only a ring of a few seconds of it around the current
frame (the window plus a little margin), so memory is the same for a ten-second clip and a
three-hour recording. Each window's spectrogram is cut from that ring as a microphone's is
(:class:`~avaffect.realtime.audio_input.RingAudio`), and a track at another rate than the
checkpoint's is resampled as a microphone's is too (its ``ResampledRing``: each sample once,
the very numbers :func:`avaffect.audio.resample` gives on the whole track, as in training).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError
from avaffect.realtime.audio_input import RingAudio
from avaffect.realtime.ring_buffer import AudioRingBuffer


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


class TrackReader:
    """The first audio stream of ``path``, decoded block by block to float32 at its own rate.

    ``mono=True`` mixes the channels down (what the models hear); ``mono=False`` keeps them
    (what goes into an annotated video). :meth:`next_block` returns ``(samples [n, channels],
    time of the first one on the video frames' clock)``, or None at the end of the track.
    Blocks are continuous: a block's time is the first block's plus the samples before it.
    """

    def __init__(self, path: str | os.PathLike, mono: bool = True) -> None:
        av = import_av()
        self.path = path
        try:
            self._container = av.open(str(path))
        except av.error.FFmpegError as err:
            raise AvaffectError(f"{path}: cannot open the file's audio ({err})") from None
        if not self._container.streams.audio:
            self._container.close()
            raise NoAudioTrack(f"{path}: the file has no audio track")
        self._stream = stream = self._container.streams.audio[0]
        video = self._container.streams.video
        self._video_start = _stream_start(video[0]) if video else 0.0
        self.sample_rate = int(stream.codec_context.sample_rate or stream.rate)
        self.layout = "mono" if mono else stream.codec_context.layout.name
        self.channels = 1 if mono else len(stream.codec_context.layout.channels)
        self._mixer = av.AudioResampler(format="flt", layout=self.layout, rate=self.sample_rate)
        self._frames = self._container.decode(stream)
        self._pending: list[np.ndarray] = []
        self._first_time: float | None = None
        self.samples_read = 0  # samples handed out so far
        self.largest_block = 0  # the most samples one block held (what the decoder holds at once)
        self.ended = False

    def next_block(self) -> tuple[np.ndarray, float] | None:
        while not self._pending:
            if self.ended:
                return None
            self._decode_one()
        block = self._pending.pop(0)
        start = self.start_time + self.samples_read / self.sample_rate
        self.samples_read += len(block)
        self.largest_block = max(self.largest_block, len(block))
        return block, start

    @property
    def start_time(self) -> float:
        """Time of sample 0 on the video frames' clock (known once a frame is decoded)."""
        if self._first_time is None:
            self._first_time = _stream_start(self._stream) - self._video_start
        return self._first_time

    def _decode_one(self) -> None:
        av = import_av()
        try:
            frame = next(self._frames)
        except StopIteration:
            frame = None
        except av.error.FFmpegError:  # a damaged tail: the track ends where decoding fails
            frame = None
        if frame is None:
            self.ended = True
            outs = self._mixer.resample(None)
        else:
            if self._first_time is None and frame.time is not None:
                self._first_time = float(frame.time) - self._video_start
            outs = self._mixer.resample(frame)
        for out in outs:
            data = out.to_ndarray().reshape(-1, self.channels).astype(np.float32, copy=False)
            if len(data):
                self._pending.append(data)

    def close(self) -> None:
        self._container.close()


def decode_audio_track(path: str | os.PathLike, mono: bool = True) -> DecodedAudio:
    """The whole track at once (for short clips and tests; the pipeline streams instead)."""
    reader = TrackReader(path, mono)
    try:
        blocks = []
        while (block := reader.next_block()) is not None:
            blocks.append(block[0])
        start = reader.start_time
    finally:
        reader.close()
    samples = np.concatenate(blocks) if blocks else np.zeros((0, reader.channels), np.float32)
    if mono:
        samples = samples.reshape(-1)
    return DecodedAudio(samples, reader.sample_rate, start, reader.layout)


def _stream_start(stream) -> float:
    return 0.0 if stream.start_time is None else float(stream.start_time * stream.time_base)


#: Seconds the ring keeps beyond the window: room for one decoded block ahead of the frame.
_RING_SLACK_S = 2.0


class FileAudio:
    """A file's audio track as an :class:`~avaffect.realtime.audio_input.AudioInput`, decoded
    as the frames ask for it into a ring of the window plus ``_RING_SLACK_S`` at the track's
    own rate, and heard through :class:`~avaffect.realtime.audio_input.RingAudio` as a
    microphone is."""

    kind = "file"

    def __init__(self, reader: TrackReader, cfg: SpectrogramConfig) -> None:
        self.cfg = cfg
        self.reader = reader
        self.ring = AudioRingBuffer(reader.sample_rate, seconds=cfg.context_s + _RING_SLACK_S)
        self._window = RingAudio(self.ring, cfg)
        self._first = self.ring.position(reader.start_time)  # ring position of sample 0
        self._ended = False

    @classmethod
    def open(cls, path: str | os.PathLike, cfg: SpectrogramConfig) -> FileAudio:
        return cls(TrackReader(path, mono=True), cfg)

    @property
    def held_samples(self) -> int:
        """Samples this input keeps at most (the ring, and its resampled twin if the track is
        at another rate), whatever the file's length."""
        return self.ring.capacity + self._window.resampled_capacity

    def available_until(self) -> float:
        # A file is never waited for: it is decoded on demand in spectrogram().
        if not self._ended:
            return math.inf
        end = self.ring.end_time
        return self.reader.start_time if end is None else end

    def _decode_until(self, t: float) -> None:
        # Every sample the window reads, a resampling kernel's reach past ``t`` included: a
        # file is never waited for, so a sample not decoded yet would be heard as silence.
        needed = self._window.inputs_reached(t)
        while not self._ended and (self.ring.end_position is None or self.ring.end_position < needed):
            block = self.reader.next_block()
            if block is None:
                self._ended = True
                continue
            samples = block[0].reshape(-1)
            # Placed by count, not by the block's own time: the track is one contiguous run.
            self.ring.write_at(samples, self._first + self.reader.samples_read - len(samples))

    def spectrogram(self, end_time: float) -> tuple[np.ndarray, float]:
        self._decode_until(end_time)
        spec, window_end = self._window.spectrogram(end_time)
        if math.isnan(window_end):  # a track with no samples at all
            window_end = min(end_time, self.reader.start_time)
        return spec, window_end

    def close(self) -> None:
        self.reader.close()
