"""The real-time loop: newest frame -> faces -> audio window -> engine step -> results.

The per-frame work is a :class:`~avaffect.realtime.analyzer.FrameAnalyzer`; this module
adds the threads around it: the video reader (video_source.py), the microphone callback
(mic_source.py), one inference thread (here), and the caller's thread, which consumes
:meth:`Pipeline.results` to draw, display and write (session.py). Everything stops through
one Event; every thread is joined on :meth:`Pipeline.close`, and a worker's exception is
re-raised there as an :class:`AvaffectError` naming the thread and the cause.

Audio/video sync: the window fed with a frame ends at the frame's own time on the shared
clock. Live, the inference thread waits up to ``audio_wait_s`` for the microphone to catch
up with the frame, and the remaining gap (the skew) is measured and reported per frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from avaffect.engines import Engine
from avaffect.realtime.analyzer import FrameAnalyzer, FrameResult
from avaffect.realtime.audio_input import AudioInput
from avaffect.realtime.faces import FaceFinder
from avaffect.realtime.handoff import END, Handoff
from avaffect.realtime.video_source import Frame, VideoSource
from avaffect.realtime.workers import Worker, join_workers, raise_first_error

log = logging.getLogger("avaffect.realtime")

__all__ = ["Pipeline"]


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
        every_frame: bool = False,
    ) -> None:
        self.stop_event = threading.Event()
        self.analyzer = FrameAnalyzer(
            finder,
            engine,
            audio,
            audio_wait_s=audio_wait_s,
            stop_event=self.stop_event,
            clock=clock,
            every_frame=every_frame,
        )
        self.video = video
        self.finder = finder
        self.engine = self.analyzer.engine  # the TrackedEngine: per-track GRU states
        self.audio = audio
        self.join_timeout_s = join_timeout_s
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
    def results(
        self, poll_s: float = 0.1, should_stop: Callable[[], bool] = lambda: False
    ) -> Iterator[FrameResult]:
        """Processed frames until the source ends, :meth:`stop` is called, a worker fails or
        ``should_stop()`` (checked at least every ``poll_s``) says so."""
        while not should_stop():
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
    def _frames(self) -> Iterator[Frame]:
        """The source's frames, until it ends or the run is stopped (the first thread's loop)."""
        while not self.stop_event.is_set():
            frame = self.video.get(timeout=0.1)
            if frame is END:
                return
            if frame is not None:
                yield frame

    def _inference_loop(self) -> None:
        try:
            for frame in self._frames():
                if not self.results_queue.put(self.process(frame)):
                    break
        finally:
            self.results_queue.close()

    def process(self, frame: Frame) -> FrameResult:
        """One frame through faces, audio and the engine (called by the inference thread)."""
        return self.analyzer.process(frame)
