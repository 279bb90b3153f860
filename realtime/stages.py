"""Offline analysis on every core: decoding, faces, the model and the outputs overlapped.

A lossless run (a file, every frame) is throughput-bound, so the per-frame work that the
live :class:`~avaffect.realtime.pipeline.Pipeline` does in one inference thread is split in
two, and four threads work on four consecutive frames at once:

    video reader (decode) -> faces (detect, track, align, audio window)
        -> model (engine steps) -> the caller's thread (draw, rows, encode)

Each link is a bounded, lossless :class:`~avaffect.realtime.handoff.Handoff` (a full one
blocks its producer, so memory stays bounded and nothing is dropped); closing it ends the
stream downstream, and the one stop event stops every thread. Frames keep their order
through every link, so each track's GRU state is carried in order. A frame model (no state)
runs the faces of up to ``batch_frames`` waiting frames in one step; a recurrent model
steps frame by frame, each step batching that frame's faces.

Every core is already kept busy by the stages, so the work inside each stage runs on fewer
threads (:func:`stage_threads`: the cores minus the three other busy stages, at least one):
OpenCV's (the detector) while the pipeline runs, and ONNX Runtime's when the stream factory
loads the engine for it. On two cores that is one each, which ran `analyze` with the fused
model 5% faster than letting both libraries split every call over both cores (less thread
hand-off, a third less system time).

The split of the work: ``timings`` per frame as ever (detect, align, spectrogram, model,
draw), plus ``capture`` (decoding) from the reader; the model's share of a batched step is
divided evenly among its frames.
"""

from __future__ import annotations

import cv2

from avaffect.engines.backend_onnxruntime import thread_share
from avaffect.realtime.analyzer import Prepared
from avaffect.realtime.handoff import END, Handoff
from avaffect.realtime.pipeline import Pipeline
from avaffect.realtime.workers import Worker

#: Frames waiting between the faces and the model thread: enough to keep both busy, and a
#: batch for a frame model, while holding only a few decoded frames in memory.
DEFAULT_DEPTH = 8
#: the stages that keep a core busy besides the one a library call runs in (the reader,
#: the faces and the caller's drawing and encoding, beside the model)
_OTHER_STAGES = 3


def stage_threads() -> int:
    """Threads for the work inside one stage of a staged run: the cores left to it."""
    return max(1, thread_share() - _OTHER_STAGES)


class StagedPipeline(Pipeline):
    """A :class:`Pipeline` whose per-frame work runs in two threads (faces, then model).

    Meant for lossless file runs (`avaffect analyze`); live, the single inference thread
    of :class:`Pipeline` keeps latency lowest. Same interface and lifecycle.
    """

    def __init__(self, *args, depth: int = DEFAULT_DEPTH, batch_frames: int = 8, **kwargs) -> None:
        kwargs.setdefault("result_queue", 4)
        super().__init__(*args, **kwargs)
        self.batch_frames = max(1, batch_frames)
        self.prepared = Handoff[Prepared](capacity=max(1, depth), drop_oldest=False)
        self._opencv_threads: int | None = None  # OpenCV's setting before start(), to restore

    def start(self) -> StagedPipeline:
        self._opencv_threads = cv2.getNumThreads()
        cv2.setNumThreads(stage_threads())  # process-wide: restored in close()
        self.workers = [
            self.video.start(self.stop_event),
            Worker("faces", self._faces_loop, self.stop_event).start(),
            Worker("model", self._model_loop, self.stop_event).start(),
        ]
        return self

    def stop(self) -> None:
        super().stop()
        self.prepared.close()

    def close(self, raise_errors: bool = True) -> list[str]:
        try:
            return super().close(raise_errors)
        finally:  # after the threads are joined: no detection is running any more
            if self._opencv_threads is not None:
                cv2.setNumThreads(self._opencv_threads)
                self._opencv_threads = None

    def _faces_loop(self) -> None:
        try:
            for frame in self._frames():
                if not self.prepared.put(self.analyzer.prepare(frame)):
                    break
        finally:
            self.prepared.close()

    def _model_loop(self) -> None:
        try:
            ended = False
            while not ended and not self.stop_event.is_set():
                item = self.prepared.get(timeout=0.1)
                if item is None:
                    continue
                if item is END:
                    break
                batch, ended = self._gather(item)
                for result in self.analyzer.finish_many(batch):
                    if not self.results_queue.put(result):
                        return
        finally:
            self.results_queue.close()

    def _gather(self, first: Prepared) -> tuple[list[Prepared], bool]:
        """``first`` and, for a frame model, the frames already waiting behind it (never
        waiting for more); True when the stream ended behind them."""
        batch = [first]
        if not self.analyzer.batches_frames:
            return batch, False
        while len(batch) < self.batch_frames:
            item = self.prepared.get(timeout=0)
            if item is None:
                break
            if item is END:
                return batch, True
            batch.append(item)
        return batch, False
