"""One frame through faces, audio and the engine, synchronously: the work of the inference thread.

:class:`FrameAnalyzer` holds everything that belongs to *one* stream: its face tracker, the
per-track GRU states (:class:`TrackedEngine`) and its audio input. The threaded
:class:`~avaffect.realtime.pipeline.Pipeline` runs one per camera; a browser session of the
Gradio app keeps one per tab and calls :meth:`FrameAnalyzer.process` for each frame it
receives, so that two tabs never share tracks or states.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from avaffect.engines import Engine, Outputs
from avaffect.errors import AvaffectError
from avaffect.realtime.audio_input import AudioInput
from avaffect.realtime.faces import FaceBatch, FaceFinder
from avaffect.realtime.tracked_engine import TrackedEngine
from avaffect.realtime.video_source import Frame
from avaffect.record import FaceResult

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


log = logging.getLogger("avaffect.realtime")


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


@dataclass
class Prepared:
    """A frame with its faces found and aligned and its audio cut, waiting for the model."""

    frame: Frame
    faces: FaceBatch
    spectrogram: np.ndarray | None
    audio_end: float | None
    timings: dict[str, float]

    def result(self, outputs: Outputs) -> FrameResult:
        faces, frame = self.faces, self.frame
        results = outputs.face_results(frame.timestamp, faces.track_ids, faces.detections.boxes)
        return FrameResult(
            frame, results, self.timings, faces.detections.landmarks, self.spectrogram,
            self.audio_end,
        )  # fmt: skip


class FrameAnalyzer:
    """Faces, tracks, GRU states and audio of one stream; :meth:`process` runs one frame.

    Not thread-safe: one stream, one caller at a time. ``audio_wait_s`` is how long a frame
    may wait for its audio to arrive; ``stop_event`` cuts that wait short at shutdown;
    ``every_frame`` steps a recurrent model on every frame rather than at its trained rate.
    """

    def __init__(
        self,
        finder: FaceFinder,
        engine: Engine,
        audio: AudioInput | None = None,
        *,
        audio_wait_s: float = 0.05,
        stop_event: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        every_frame: bool = False,
    ) -> None:
        if engine.spec.uses_audio and audio is None:
            raise AvaffectError(
                f"model {engine.spec.model} is audio-visual and needs audio, but there is none; "
                "give it a microphone or a file with sound, or pick a visual-only checkpoint"
            )
        self.finder = finder
        self.engine = TrackedEngine(engine, every_frame=every_frame)
        if self.engine.rate is not None:
            log.info(
                "model: stepped %g times a second, as it was trained (--every-frame: every frame)",
                self.engine.rate,
            )
        # A visual-only model does not need the audio; it is kept for display only.
        self.audio = audio
        self.audio_wait_s = audio_wait_s
        self.stop_event = stop_event or threading.Event()
        self.clock = clock

    def process(self, frame: Frame) -> FrameResult:
        """One frame through faces, audio and the engine."""
        return self.finish(self.prepare(frame))

    def prepare(self, frame: Frame) -> Prepared:
        """Faces, tracks, crops and the audio window of ``frame``: everything but the model.

        Offline, one thread prepares frames while another runs the model on the previous
        ones (:class:`~avaffect.realtime.stages.StagedPipeline`); frames must reach
        :meth:`finish` in the order they were prepared (the tracks and GRU states are in order).
        """
        timings = {"capture": frame.capture_s, "queue": self.clock() - frame.captured_at}
        faces = self.finder.find(frame.image, timings)
        spectrogram, audio_end = self._audio_for(frame.timestamp, timings)
        return Prepared(frame, faces, spectrogram, audio_end, timings)

    def finish(self, prepared: Prepared) -> FrameResult:
        """The model step of a prepared frame (GRU state carried per track)."""
        start = self.clock()
        outputs = self.engine.step(prepared.faces, prepared.spectrogram, prepared.frame.timestamp)
        prepared.timings["model"] = self.clock() - start
        return prepared.result(outputs)

    @property
    def batches_frames(self) -> bool:
        """Whether frames may run through the model together: a frame model (no state) that
        takes faces only. A recurrent model needs each frame's state from the one before."""
        spec = self.engine.spec
        return not spec.recurrent and spec.uses_face and not spec.uses_audio

    def finish_many(self, batch: list[Prepared]) -> list[FrameResult]:
        """Several prepared frames through a frame model in one step (see batches_frames);
        each frame is charged its share of the step's time."""
        counts = [len(p.faces) for p in batch]
        limit = self.engine.spec.max_faces
        if len(batch) == 1 or not self.batches_frames or (limit and sum(counts) > limit):
            return [self.finish(p) for p in batch]
        start = self.clock()
        crops = np.concatenate([p.faces.crops for p in batch])
        outputs, _ = self.engine.engine.step(crops, None, self.engine.engine.init_state(len(crops)))
        share = (self.clock() - start) / len(batch)
        results, first = [], 0
        for p, n in zip(batch, counts, strict=True):
            p.timings["model"] = share
            results.append(p.result(outputs.rows(slice(first, first + n))))
            first += n
        return results

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
