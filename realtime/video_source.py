"""Video frames from a camera, a file or a stream URL, read by one thread.

The reader grabs continuously and stamps each frame with the monotonic clock right after the
grab. Live, only the newest frame is kept (a size-1 hand-off; stale frames are dropped and
counted), so inference always works on the present. A file can be paced as if it were live
(the reader sleeps to the file's frame rate) or read losslessly as fast as the consumer
takes frames (then nothing is dropped). File frames also carry their presentation time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from avaffect.errors import AvaffectError
from avaffect.realtime.handoff import END, Handoff
from avaffect.realtime.workers import Worker

log = logging.getLogger("avaffect.realtime")

MODES = ("live", "paced", "lossless")

#: The smallest frame worth analysing (a face in it is under 20 px anyway). Smaller inputs,
#: such as a 1x1 image, are refused when they are opened, before any output is written.
MIN_FRAME_SIDE = 32

# OpenCV's bundled FFmpeg prints its own lines on stderr ("moov atom not found", "partial
# file") before our one-line error says the same thing with the fix. OpenCV reads this
# variable once, when its FFmpeg backend first opens a file, so it is set here, before any
# capture or writer exists. To see FFmpeg's diagnostics, set it yourself (e.g. to 32).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


@dataclass(frozen=True)
class Frame:
    """One video frame and when it was seen."""

    image: np.ndarray  # BGR uint8 [H, W, 3]
    index: int  # position in the source, counting frames that were dropped
    timestamp: float  # the source's clock: monotonic capture time live, presentation time in a file
    captured_at: float  # monotonic clock right after the grab (for latency)
    capture_s: float = 0.0  # how long decoding it took (after the grab)


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` the reader uses (tests pass a fake camera)."""

    def grab(self) -> bool: ...
    def retrieve(self) -> tuple[bool, np.ndarray]: ...
    def get(self, prop: int) -> float: ...
    def release(self) -> None: ...


def source_kind(source: str | int) -> str:
    """Classify a source: "camera" (an index), "url" (has a scheme) or "file"."""
    text = str(source)
    if text.lstrip("-").isdigit():
        return "camera"
    if "://" in text:
        return "url"
    return "file"


def _quietly_open(target: str | int) -> cv2.VideoCapture:
    """cv2.VideoCapture without OpenCV's own log lines ("Camera index out of range"...): a
    failure is reported once, by us, as one line that names the fix."""
    logging_api = getattr(cv2, "utils", None) and getattr(cv2.utils, "logging", None)
    if logging_api is None:
        return cv2.VideoCapture(target)
    level = logging_api.getLogLevel()
    logging_api.setLogLevel(logging_api.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(target)
    finally:
        logging_api.setLogLevel(level)


def open_capture(source: str | int) -> tuple[cv2.VideoCapture, str]:
    """Open a camera index, a file or a URL with OpenCV; one clear line when it fails."""
    kind = source_kind(source)
    if kind == "file" and Path(str(source)).is_dir():
        raise AvaffectError(
            f"{source}: is a folder, not a video; pass one video file inside it "
            f"(e.g. {Path(str(source)) / 'clip.mp4'}), one run per file"
        )
    if kind == "file" and not Path(str(source)).is_file():
        raise AvaffectError(
            f"{source}: no such video file; pass an existing file, a camera index or a URL"
        )
    capture = _quietly_open(int(source) if kind == "camera" else str(source))
    if not capture.isOpened():
        capture.release()
        if kind == "camera":
            raise AvaffectError(
                f"no camera at index {source} (none connected, or in use by another program); "
                "try another --source index, or analyze a recording with --source FILE"
            )
        what = "stream" if kind == "url" else "video file"
        raise AvaffectError(f"{source}: cannot open the {what} (unsupported format or unreachable)")
    _refuse_tiny(capture, source)
    return capture, kind


def _refuse_tiny(capture: cv2.VideoCapture, source: str | int) -> None:
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
    height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    if 0 < min(width, height) < MIN_FRAME_SIDE:
        capture.release()
        raise AvaffectError(
            f"{source}: the image is too small ({width}x{height} pixels) to hold a face; "
            f"pass a video or image at least {MIN_FRAME_SIDE}x{MIN_FRAME_SIDE}"
        )


class VideoSource:
    """Frames from one :class:`Capture`, handed to the consumer by a reader thread.

    ``mode``: "live" (camera or URL: keep only the newest frame), "paced" (a file read at its
    own frame rate, newest frame only, like a camera) or "lossless" (a file read as fast as
    the consumer goes, every frame delivered).
    """

    def __init__(
        self,
        capture: Capture,
        *,
        mode: str = "live",
        is_file: bool = False,
        name: str = "video",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in MODES:
            raise AvaffectError(f"video mode {mode!r} is unknown; use one of {MODES}")
        self.capture = capture
        self.mode = mode
        self.is_file = is_file
        self.name = name
        self.clock = clock
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 1.0 <= fps <= 1000.0 else None
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if is_file and count > 0 else None
        self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        self.frames = Handoff[Frame](capacity=1, drop_oldest=mode != "lossless")
        self.frames_read = 0
        # Why a file ended before its container said it would (truncated, or a frame that
        # failed to decode); None while it has not, or when the container does not say.
        self.incomplete: str | None = None
        self.worker: Worker | None = None

    @classmethod
    def open(
        cls,
        source: str | int,
        *,
        mode: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> VideoSource:
        """Open ``source``; files default to "lossless", cameras and URLs are always "live"."""
        capture, kind = open_capture(source)
        is_file = kind == "file"
        if not is_file:
            mode = "live"
        return cls(capture, mode=mode or "lossless", is_file=is_file, name=str(source), clock=clock)

    @property
    def dropped(self) -> int:
        """Frames grabbed but never processed because a newer one replaced them."""
        return self.frames.dropped

    def start(self, stop: threading.Event) -> Worker:
        self.worker = Worker("video", lambda: self._read_loop(stop), stop).start()
        return self.worker

    def get(self, timeout: float | None = None) -> Frame | object | None:
        """The newest frame; ``END`` at the end of the source; None if ``timeout`` passed."""
        return self.frames.get(timeout)

    def _read_loop(self, stop: threading.Event) -> None:
        started, previous_ts = None, -1.0
        try:
            while not stop.is_set():
                if not self.capture.grab():
                    if not self.is_file:
                        log.warning("%s stopped delivering frames; ending", self.name)
                    break
                captured_at = self.clock()
                ok, image = self.capture.retrieve()
                if not ok or image is None:
                    break
                capture_s = (
                    self.clock() - captured_at
                )  # decoding; grab() mostly waits for the device
                index = self.frames_read
                self.frames_read += 1
                timestamp = captured_at
                if self.is_file:
                    timestamp = self._presentation_time(index, previous_ts)
                    previous_ts = timestamp
                    if self.mode == "paced":
                        started = captured_at - timestamp if started is None else started
                        if stop.wait(max(0.0, started + timestamp - self.clock())):
                            break
                        captured_at = self.clock()
                self.frames.put(Frame(image, index, timestamp, captured_at, capture_s))
            if not stop.is_set():  # the source ended by itself
                self._check_complete()
        finally:
            self.frames.close()

    def _check_complete(self) -> None:
        """The file ended (not stopped): did it deliver the frames its container announced?"""
        expected = self.frame_count
        if not self.is_file or expected is None:
            return
        # Containers that store no frame count get one estimated from duration x rate: a
        # frame or two (or 1%) of slack keeps such estimates from passing for truncation.
        if self.frames_read + max(2, expected // 100) < expected:
            self.incomplete = (
                f"the video ended after {self.frames_read} of the {expected} frames its "
                "container announces (truncated or damaged file)"
            )
            log.warning("%s: %s; the results cover what was decoded", self.name, self.incomplete)

    def _presentation_time(self, index: int, previous: float) -> float:
        """The frame's time in the file; its index over the frame rate when the file has none."""
        msec = self.capture.get(cv2.CAP_PROP_POS_MSEC)
        if msec is not None and msec / 1000.0 > previous:
            return msec / 1000.0
        return index / (self.fps or 30.0) if index else 0.0

    def close(self) -> None:
        self.frames.close()
        self.capture.release()


__all__ = ["END", "Capture", "Frame", "VideoSource", "open_capture", "source_kind"]
