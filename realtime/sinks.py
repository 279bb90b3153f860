"""Where results go: CSV and JSONL rows per face per frame, and an annotated video.

Rows are the contract's :meth:`FaceResult.to_row` plus the frame index and the face box,
flushed at least every ``flush_s`` seconds so that a crash or Ctrl-C loses almost nothing.
The video is written with OpenCV's VideoWriter at the source's frame rate; each frame is
written as many times as keeps the video on the source's timeline (live, a slow analyzer
repeats frames instead of speeding the video up), so the audio added afterwards
(mux.py, a second pass) stays in sync.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from avaffect.errors import AvaffectError
from avaffect.realtime.file_audio import DecodedAudio, NoAudioTrack, decode_audio_track
from avaffect.realtime.mux import mux_audio
from avaffect.realtime.pipeline import FrameResult
from avaffect.realtime.ring_buffer import AudioRingBuffer
from avaffect.record import FaceResult

log = logging.getLogger("avaffect.realtime")

BOX_COLUMNS = ["box_x", "box_y", "box_w", "box_h"]


def row_columns() -> list[str]:
    return ["frame", *FaceResult.columns(), *BOX_COLUMNS]


def face_row(frame_index: int, face: FaceResult) -> dict:
    row = {"frame": frame_index, **face.to_row()}
    box = face.box if face.box is not None else (float("nan"),) * 4
    row.update({name: round(float(v), 2) for name, v in zip(BOX_COLUMNS, box, strict=True)})
    return row


class Sink(Protocol):
    def write(self, result: FrameResult, annotated: np.ndarray | None) -> None: ...
    def close(self) -> None: ...


def _open_for_writing(path: str | os.PathLike):
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", newline="", encoding="utf-8")
    except OSError as err:
        raise AvaffectError(
            f"{path}: cannot write there ({err.strerror}); pick another output path"
        ) from None


class _RowSink:
    def __init__(self, path: str | os.PathLike, flush_s: float = 1.0) -> None:
        self.path = Path(path)
        self.rows = 0
        self._file = _open_for_writing(path)
        self._flush_s = flush_s
        self._last_flush = time.monotonic()

    def write(self, result: FrameResult, annotated: np.ndarray | None = None) -> None:
        for face in result.faces:
            self._write_row(face_row(result.frame.index, face))
            self.rows += 1
        if time.monotonic() - self._last_flush >= self._flush_s:
            self._file.flush()
            self._last_flush = time.monotonic()

    def _write_row(self, row: dict) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class CsvSink(_RowSink):
    """One CSV row per face per frame, header first."""

    def __init__(self, path: str | os.PathLike, flush_s: float = 1.0) -> None:
        super().__init__(path, flush_s)
        self._writer = csv.DictWriter(self._file, fieldnames=row_columns())
        self._writer.writeheader()

    def _write_row(self, row: dict) -> None:
        self._writer.writerow(row)


class JsonlSink(_RowSink):
    """One JSON object per face per frame, one per line."""

    def _write_row(self, row: dict) -> None:
        self._file.write(json.dumps(row) + "\n")


class FileSoundtrack:
    """The sound of a video file, to put back under its annotated copy."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path
        self._t0: float | None = None

    def poll(self, frame_time: float) -> None:
        if self._t0 is None:
            self._t0 = frame_time

    def clip(self) -> DecodedAudio | None:
        try:
            audio = decode_audio_track(self.path, mono=False)
        except NoAudioTrack:
            return None
        audio.start_time -= self._t0 or 0.0
        return audio


class MicSoundtrack:
    """Keeps what the microphone heard while recording, drained from its ring buffer.

    The ring buffer only holds a few seconds, so :meth:`poll` runs once per written frame.
    """

    def __init__(self, ring: AudioRingBuffer) -> None:
        self.ring = ring
        self._chunks: list[np.ndarray] = []
        self._first: int | None = None
        self._next: int | None = None
        self._t0: float | None = None

    def poll(self, frame_time: float) -> None:
        if self._t0 is None:
            self._t0 = frame_time
            self._first = self._next = self.ring.position(frame_time)
        end = self.ring.end_position
        if end is not None and end > self._next:
            self._chunks.append(self.ring.read(self._next, end))
            self._next = end

    def clip(self) -> DecodedAudio | None:
        if not self._chunks:
            return None
        start = self._first / self.ring.sample_rate - self._t0
        return DecodedAudio(np.concatenate(self._chunks), self.ring.sample_rate, start)


class Soundtrack(Protocol):
    def poll(self, frame_time: float) -> None: ...
    def clip(self) -> DecodedAudio | None: ...


class VideoSink:
    """The annotated video (MP4, MPEG-4 part 2 via OpenCV), with sound added at the end."""

    def __init__(
        self, path: str | os.PathLike, fps: float | None, soundtrack: Soundtrack | None = None
    ) -> None:
        self.path = Path(path)
        self.fps = fps or 30.0
        self.soundtrack = soundtrack
        self.frames_written = 0
        self._writer: cv2.VideoWriter | None = None
        self._t0: float | None = None
        _open_for_writing(self.path).close()  # fail now, not after the whole run

    def write(self, result: FrameResult, annotated: np.ndarray | None) -> None:
        image = annotated if annotated is not None else result.frame.image
        if self._writer is None:
            self._open(image.shape[1], image.shape[0])
            self._t0 = result.frame.timestamp
        if self.soundtrack is not None:
            self.soundtrack.poll(result.frame.timestamp)
        # Repeat the frame until the video reaches this frame's place on the source timeline.
        target = int(round((result.frame.timestamp - self._t0) * self.fps)) + 1
        while self.frames_written < target:
            self._writer.write(image)
            self.frames_written += 1

    def _open(self, width: int, height: int) -> None:
        self._writer = cv2.VideoWriter(
            str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height)
        )
        if not self._writer.isOpened():
            raise AvaffectError(
                f"{self.path}: OpenCV cannot write MP4 video here; pick another --record path"
            )

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        clip = self.soundtrack.clip() if self.soundtrack is not None else None
        if clip is not None and len(clip.samples):
            try:
                mux_audio(self.path, clip)
            except AvaffectError as err:
                log.warning("%s", err)
