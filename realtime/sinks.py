"""Where results go: CSV and JSONL rows per face per frame, and an annotated video.

Rows are the contract's :meth:`FaceResult.to_row` plus the frame index and the face box,
handed to the operating system after every frame (one write call per frame), so that a
crash, Ctrl-C or ``kill -9`` loses at most the frame in hand and leaves whole rows only.
The video is written at the source's frame rate; each frame is written as many times as
keeps the video on the source's timeline (live, a slow analyzer repeats frames instead of
speeding the video up), so the sound, encoded alongside as the run goes, stays in sync.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from avaffect.errors import AvaffectError
from avaffect.realtime.analyzer import FrameResult
from avaffect.realtime.file_audio import NoAudioTrack, TrackReader, import_av
from avaffect.realtime.ring_buffer import AudioRingBuffer
from avaffect.realtime.video_writer import FragmentedMp4Writer, Soundtrack, part_path
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
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.rows = 0
        self._file = _open_for_writing(path)

    def write(self, result: FrameResult, annotated: np.ndarray | None = None) -> None:
        for face in result.faces:
            self._write_row(self._row(result.frame.index, face))
            self.rows += 1
        if result.faces:
            self._file.flush()

    def _row(self, frame_index: int, face: FaceResult) -> dict:
        """The row of one face; a subclass may add fields (an ArcFace model's embedding)."""
        return face_row(frame_index, face)

    def _write_row(self, row: dict) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class CsvSink(_RowSink):
    """One CSV row per face per frame, header first."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__(path)
        self._writer = csv.DictWriter(self._file, fieldnames=row_columns())
        self._writer.writeheader()
        self._file.flush()

    def _write_row(self, row: dict) -> None:
        self._writer.writerow(row)


class JsonlSink(_RowSink):
    """One JSON object per face per frame, one per line."""

    def _write_row(self, row: dict) -> None:
        self._file.write(json.dumps(row) + "\n")


class FileSoundtrack:
    """The sound of a video file, streamed under its annotated copy (nothing decoded ahead
    of the frames but one block)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path
        self.reader = TrackReader(path, mono=False)  # NoAudioTrack: the caller goes silent
        self.sample_rate, self.layout = self.reader.sample_rate, self.reader.layout
        self._buffer = np.zeros((0, self.reader.channels), np.float32)
        self._buffer_start = 0  # track sample index of _buffer[0]
        self._offset = 0  # track sample index at video time 0
        self._delivered = 0  # video-timeline samples handed out

    @classmethod
    def of(cls, path: str | os.PathLike) -> FileSoundtrack | None:
        """The file's soundtrack, or None when it has no sound."""
        try:
            return cls(path)
        except NoAudioTrack:
            return None

    def begin(self, t0: float) -> None:
        self._fill(0)  # the track's start time is known once a block is decoded
        self._offset = int(round((t0 - self.reader.start_time) * self.sample_rate))

    def _fill(self, index: int) -> None:
        """Decode until the buffer reaches track sample ``index`` (or the track ends)."""
        blocks = [self._buffer]
        end = self._buffer_start + len(self._buffer)
        while end <= index and (block := self.reader.next_block()) is not None:
            blocks.append(block[0])
            end += len(block[0])
        if len(blocks) > 1:
            self._buffer = np.concatenate(blocks)

    def read_to(self, t: float) -> np.ndarray:
        target = int(round(t * self.sample_rate))
        lo, hi = self._offset + self._delivered, self._offset + target
        self._fill(hi)
        hi = min(hi, self._buffer_start + len(self._buffer))  # no sound past the track's end
        if hi <= lo:
            return self._buffer[:0]
        out = np.zeros((hi - lo, self.reader.channels), np.float32)  # silence before the track
        src_lo = max(lo, self._buffer_start)
        out[src_lo - lo :] = self._buffer[src_lo - self._buffer_start : hi - self._buffer_start]
        self._buffer = self._buffer[hi - self._buffer_start :]
        self._buffer_start = hi
        self._delivered += hi - lo
        return out

    def close(self) -> None:
        self.reader.close()


class MicSoundtrack:
    """What the microphone heard while recording, drained from its ring buffer.

    The ring buffer only holds a few seconds, so the video reads it once per written frame.
    """

    layout = "mono"

    def __init__(self, ring: AudioRingBuffer) -> None:
        self.ring = ring
        self.sample_rate = ring.sample_rate
        self._first: int | None = None  # ring position at video time 0
        self._delivered = 0

    def begin(self, t0: float) -> None:
        self._first = self.ring.position(t0)

    def read_to(self, t: float) -> np.ndarray:
        end = self.ring.end_position
        if self._first is None or end is None:
            return np.zeros((0, 1), np.float32)
        start = self._first + self._delivered
        stop = min(self._first + int(round(t * self.sample_rate)), end)
        if stop <= start:
            return np.zeros((0, 1), np.float32)
        self._delivered += stop - start
        return self.ring.read(start, stop).reshape(-1, 1)

    def close(self) -> None:
        pass


class VideoSink:
    """The annotated video: a fragmented MP4 with its sound (video_writer.py), so that a run
    killed at any moment leaves a playable file or none. Without PyAV, OpenCV writes the
    picture alone under a temporary name that becomes the final one when the run ends."""

    def __init__(
        self, path: str | os.PathLike, fps: float | None, soundtrack: Soundtrack | None = None
    ) -> None:
        self.path = Path(path)
        self.fps = fps or 30.0
        self.soundtrack = soundtrack
        self.frames_written = 0
        self._writer = None
        self._t0: float | None = None
        _open_for_writing(part_path(self.path)).close()  # fail now, not after the whole run
        part_path(self.path).unlink()

    def write(self, result: FrameResult, annotated: np.ndarray | None) -> None:
        image = annotated if annotated is not None else result.frame.image
        if self._writer is None:
            self._t0 = result.frame.timestamp
            self._writer = self._open(image.shape[1], image.shape[0])
        # Repeat the frame until the video reaches this frame's place on the source timeline.
        target = int(round((result.frame.timestamp - self._t0) * self.fps)) + 1
        while self.frames_written < target:
            self._writer.write(image)
            self.frames_written += 1

    def _open(self, width: int, height: int):
        try:
            import_av()
        except AvaffectError:
            if self.soundtrack is not None:
                log.warning("PyAV is not installed: the annotated video has no sound")
            return _OpenCvWriter(self.path, self.fps, width, height)
        if self.soundtrack is not None:
            self.soundtrack.begin(self._t0)
        return FragmentedMp4Writer(self.path, self.fps, width, height, self.soundtrack)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        elif self.soundtrack is not None:
            self.soundtrack.close()


class _OpenCvWriter:
    """MPEG-4 Part 2 through OpenCV (no sound), published under its name only when closed."""

    def __init__(self, path: Path, fps: float, width: int, height: int) -> None:
        self.path, self.tmp = path, part_path(path)
        self.writer = cv2.VideoWriter(
            str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height)
        )
        if not self.writer.isOpened():
            raise AvaffectError(f"{path}: OpenCV cannot write MP4 video here; pick another path")

    def write(self, image: np.ndarray) -> None:
        self.writer.write(image)

    def close(self) -> None:
        self.writer.release()
        os.replace(self.tmp, self.path)
