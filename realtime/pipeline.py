"""The real-time loop: newest frame -> faces -> audio window -> engine step -> results.

Threads: the video reader (video_source.py), the microphone callback (mic_source.py), one
inference thread (here), and the caller's thread, which consumes :meth:`Pipeline.results`
to draw, display and write (session.py). Everything stops through one Event; every thread
is joined on :meth:`Pipeline.close`, and a worker's exception is re-raised there as an
:class:`AvaffectError` naming the thread and the cause.

Audio/video sync: the window fed with a frame ends at the frame's own time on the shared
clock. Live, the inference thread waits up to ``audio_wait_s`` for the microphone to catch
up with the frame, and the remaining gap (the skew) is measured and reported per frame.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from avaffect.engines import Engine
from avaffect.errors import AvaffectError
from avaffect.realtime.audio_input import AudioInput
from avaffect.realtime.faces import FaceFinder
from avaffect.realtime.handoff import END, Handoff
from avaffect.realtime.tracked_engine import TrackedEngine
from avaffect.realtime.video_source import Frame, VideoSource
from avaffect.realtime.workers import Worker, join_workers, raise_first_error
from avaffect.record import FaceResult

log = logging.getLogger("avaffect.realtime")

#: The stages timed for every frame, in pipeline order ("draw" is added by the consumer).
STAGES = (
    "capture",
    "queue",
    "detect",
    "track",
    "align",
    "audio_wait",
    "spectrogram",
    "model",
    "draw",
)


@dataclass
class FrameResult:
    """Everything known about one processed frame."""

    frame: Frame
    faces: list[FaceResult]
    timings: dict[str, float]  # seconds per stage (see STAGES)
    landmarks: np.ndarray  # [N, 5, 2] of the reported faces
    spectrogram: np.ndarray | None = None  # [1, F, W] window that went with this frame
    audio_end: float | None = None  # end time of that window on the frame's clock
    extra: dict = field(default_factory=dict)

    @property
    def skew(self) -> float | None:
        """|frame time - audio window end|: how far audio and video were apart (s)."""
        if self.audio_end is None or math.isnan(self.audio_end):
            return None
        return abs(self.frame.timestamp - self.audio_end)


class Pipeline:
    """Wires a :class:`VideoSource`, a :class:`FaceFinder`, an engine and optional audio.

    Use as a context manager, or call :meth:`start` then :meth:`close`; iterate
    :meth:`results` in the calling thread.
    """

    def __init__(
        self,
        video: VideoSource,
        finder: FaceFinder,
        engine: Engine,
        audio: AudioInput | None = None,
        *,
        audio_wait_s: float = 0.05,
        result_queue: int = 2,
        join_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if engine.spec.uses_audio and audio is None:
            raise AvaffectError(
                f"model {engine.spec.model} is audio-visual and needs audio, but there is none; "
                "give it a microphone or a file with sound, or pick a visual-only checkpoint"
            )
        self.video = video
        self.finder = finder
        self.engine = TrackedEngine(engine)
        # A visual-only model does not need the audio; it is kept for display only.
        self.audio = audio
        self.audio_wait_s = audio_wait_s
        self.join_timeout_s = join_timeout_s
        self.clock = clock
        self.stop_event = threading.Event()
        self.results_queue = Handoff[FrameResult](
            result_queue, drop_oldest=video.mode != "lossless"
        )
        self.workers: list[Worker] = []
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> Pipeline:
        self.workers = [
            self.video.start(self.stop_event),
            Worker("inference", self._inference_loop, self.stop_event).start(),
        ]
        return self

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(raise_errors=exc_type is None)

    def stop(self) -> None:
        """Ask every thread to finish (safe from any thread, any number of times)."""
        self.stop_event.set()
        self.video.frames.close()
        self.results_queue.close()

    def close(self, raise_errors: bool = True) -> list[str]:
        """Stop, join every thread, release the devices, then re-raise a worker's failure.

        Returns the names of threads that did not stop in time (already warned about).
        """
        if self._closed:
            return []
        self._closed = True
        self.stop()
        stuck = join_workers(self.workers, self.join_timeout_s)
        if "video" not in stuck:  # never release a capture a thread is still reading
            self.video.close()
        if self.audio is not None:
            self.audio.close()
        if raise_errors:
            raise_first_error(self.workers)
        return stuck

    @property
    def error(self) -> BaseException | None:
        return next((w.error for w in self.workers if w.error is not None), None)

    # -- consumer side -----------------------------------------------------------------
    def results(self, poll_s: float = 0.1) -> Iterator[FrameResult]:
        """Processed frames until the source ends, :meth:`stop` is called or a worker fails."""
        while True:
            item = self.results_queue.get(poll_s)
            if item is END:
                return
            if item is None:
                if self.stop_event.is_set() and not len(self.results_queue):
                    return
                continue
            yield item

    @property
    def dropped_results(self) -> int:
        return self.results_queue.dropped

    # -- inference thread --------------------------------------------------------------
    def _inference_loop(self) -> None:
        try:
            while not self.stop_event.is_set():
                frame = self.video.get(timeout=0.1)
                if frame is None:
                    continue
                if frame is END:
                    break
                if not self.results_queue.put(self.process(frame)):
                    break
        finally:
            self.results_queue.close()

    def process(self, frame: Frame) -> FrameResult:
        """One frame through faces, audio and the engine (called by the inference thread)."""
        timings = {"capture": frame.capture_s, "queue": self.clock() - frame.captured_at}
        faces = self.finder.find(frame.image, timings)
        spectrogram, audio_end = self._audio_for(frame.timestamp, timings)
        start = self.clock()
        outputs = self.engine.step(faces, spectrogram)
        timings["model"] = self.clock() - start
        results = outputs.face_results(frame.timestamp, faces.track_ids, faces.detections.boxes)
        return FrameResult(
            frame, results, timings, faces.detections.landmarks, spectrogram, audio_end
        )

    def _audio_for(
        self, t: float, timings: dict[str, float]
    ) -> tuple[np.ndarray | None, float | None]:
        if self.audio is None:
            return None, None
        start = self.clock()
        deadline = start + self.audio_wait_s
        while not self.stop_event.is_set():
            newest = self.audio.available_until()
            if (newest is not None and newest >= t) or self.clock() >= deadline:
                break
            self.stop_event.wait(0.002)
        cut = self.clock()
        spectrogram, audio_end = self.audio.spectrogram(t)
        timings["audio_wait"] = cut - start
        timings["spectrogram"] = self.clock() - cut
        return spectrogram, audio_end
