"""The annotated video, written so that a killed run still leaves a playable file.

PyAV writes a *fragmented* MP4 (``movflags=frag_keyframe+empty_moov+default_base_moof``):
the header goes first, then one self-contained fragment per keyframe (one a second), each
flushed to the file as it completes. A run killed at any moment (``kill -9`` included)
leaves a file that players and PyAV/OpenCV read up to its last complete fragment. Until the
first fragment is on disk the file is named ``.NAME.part``; only then does it take its final
name, so the final name never holds a file without a frame.

The sound is encoded into the same container as the run goes (AAC), from a
:class:`Soundtrack` read up to each frame's time, so there is no second pass and no whole
track in memory. The picture is H.264 (libx264, what browsers and players expect) when this
PyAV has it, MPEG-4 Part 2 otherwise.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from avaffect.errors import AvaffectError
from avaffect.realtime.file_audio import import_av

log = logging.getLogger("avaffect.realtime")

FRAGMENTED = "frag_keyframe+empty_moov+default_base_moof"
#: libx264's settings. The annotated video is a review copy written beside the rows, and its
#: encoding was a fifth of `analyze`'s CPU: ultrafast at CRF 26 costs 1.6 ms of a core per
#: 640x360 frame against 4.0 ms for veryfast at CRF 23, for a file 2.5 times larger (1.2
#: Mbit/s for a 640x360 video with its overlays: 270 MB for 30 minutes); the overlay's text
#: and plots stay legible.
X264_OPTIONS = {"preset": "ultrafast", "crf": "26"}
_AAC_FRAME = 1024


class Soundtrack(Protocol):
    """Sound for the annotated video, read in order on the video's own timeline."""

    sample_rate: int
    layout: str  # FFmpeg channel layout name ("mono", "stereo", ...)

    def begin(self, t0: float) -> None:
        """The first written frame is at source time ``t0``: the video's time 0."""

    def read_to(self, t: float) -> np.ndarray:
        """The samples after the previous read up to video time ``t`` (or as far as there is
        sound yet), as float32 [n, channels]; continuous from video time 0."""

    def close(self) -> None: ...


def video_encoder(av) -> str:
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def part_path(path: Path) -> Path:
    """Where a video lives until its first fragment is on disk."""
    return path.with_name(f".{path.name}.part")


class FragmentedMp4Writer:
    """Frames (BGR, any size) and sound into a fragmented MP4 at ``fps``, one keyframe a second."""

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        width: int,
        height: int,
        soundtrack: Soundtrack | None = None,
    ) -> None:
        self.av = av = import_av()
        self.path = Path(path)
        self.tmp = part_path(self.path)
        self.rate = Fraction(fps).limit_denominator(1001)
        # yuv420p halves the chroma planes: encoders want even sides, so an odd row/column goes.
        self.width, self.height = width // 2 * 2, height // 2 * 2
        if self.width < 2 or self.height < 2:
            raise AvaffectError(f"{self.path}: a {width}x{height} picture is too small to encode")
        self.soundtrack = soundtrack
        self.frames = 0
        self.published = False
        self._keyframes_muxed = 0
        try:
            self._container = av.open(
                str(self.tmp), "w", format="mp4",
                container_options={"movflags": FRAGMENTED, "flush_packets": "1"},
            )  # fmt: skip
        except (av.error.FFmpegError, OSError) as err:
            raise AvaffectError(f"{self.path}: cannot write the video there ({err})") from None
        self._video = self._add_video()
        self._audio = self._add_audio() if soundtrack is not None else None
        self._audio_pos = 0  # output samples encoded so far
        self._audio_pending = np.zeros((0, self._channels), np.float32)

    @property
    def _channels(self) -> int:
        return len(self.av.AudioLayout(self.soundtrack.layout).channels) if self.soundtrack else 1

    def _add_video(self):
        stream = self._container.add_stream(video_encoder(self.av), rate=self.rate)
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        gop = max(1, round(float(self.rate)))  # a keyframe, so a fragment, every second
        stream.codec_context.gop_size = gop
        if stream.codec_context.name == "libx264":
            stream.options = {**X264_OPTIONS, "keyint_min": str(gop)}
        else:
            stream.bit_rate = 4_000_000
        return stream

    def _add_audio(self):
        track = self.soundtrack
        return self._container.add_stream("aac", rate=track.sample_rate, layout=track.layout)

    # -- writing -------------------------------------------------------------------------
    def write(self, image: np.ndarray) -> None:
        """Append one frame, and the sound up to the end of it."""
        image = np.ascontiguousarray(image[: self.height, : self.width])
        frame = self.av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts, frame.time_base = self.frames, 1 / self.rate
        self.frames += 1
        self._mux(self._video.encode(frame))
        if self._audio is not None:
            self._write_sound(self.soundtrack.read_to(self.frames / float(self.rate)), final=False)
        self._publish_when_a_fragment_is_out()

    def _mux(self, packets) -> None:
        for packet in packets:
            if packet.stream is self._video and packet.is_keyframe:
                self._keyframes_muxed += 1
            self._container.mux(packet)

    def _publish_when_a_fragment_is_out(self) -> None:
        # The muxer closes a fragment when the next keyframe arrives and writes it out at
        # once (flush_packets): after the second keyframe, the first fragment is on disk.
        if not self.published and self._keyframes_muxed >= 2:
            os.replace(self.tmp, self.path)
            self.published = True

    def _write_sound(self, samples: np.ndarray, final: bool) -> None:
        if len(samples):
            samples = samples.reshape(len(samples), -1)
            self._audio_pending = np.concatenate([self._audio_pending, samples])
        rate = self.soundtrack.sample_rate
        while len(self._audio_pending) >= _AAC_FRAME or (final and len(self._audio_pending)):
            chunk = np.ascontiguousarray(self._audio_pending[:_AAC_FRAME])
            self._audio_pending = self._audio_pending[_AAC_FRAME:]
            frame = self.av.AudioFrame.from_ndarray(
                chunk.reshape(1, -1), format="flt", layout=self.soundtrack.layout
            )
            frame.sample_rate, frame.pts = rate, self._audio_pos
            self._audio_pos += len(chunk)
            self._container.mux(self._audio.encode(frame))

    def close(self) -> None:
        """Flush the encoders, write the last fragment and take the final name."""
        if self._container is None:
            return
        try:
            self._mux(self._video.encode(None))
            if self._audio is not None:
                end = self.frames / float(self.rate)  # the sound stops with the picture
                self._write_sound(self.soundtrack.read_to(end), final=True)
                self._container.mux(self._audio.encode(None))
        finally:
            self._container.close()
            self._container = None
            if self.soundtrack is not None:
                self.soundtrack.close()
        if not self.published:
            if self.frames:
                os.replace(self.tmp, self.path)
                self.published = True
            else:
                self.tmp.unlink(missing_ok=True)
