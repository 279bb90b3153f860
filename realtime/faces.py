"""From a frame to the model's face batch: detect, track, align.

Alignment follows the engine's own :class:`~avaffect.face.FaceSpec` (crop size, colour mode),
never a guess, through the contract's :func:`~avaffect.face.align_faces`. All faces of a
frame are aligned and later run as one batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from avaffect.face import FaceSpec, align_faces
from avaffect.realtime.detectors import Detections, FaceDetector
from avaffect.realtime.tracking import Tracker, TrackUpdate


@dataclass
class FaceBatch:
    """The faces of one frame, best first, each with its track id."""

    track_ids: list[int]
    detections: Detections
    crops: np.ndarray  # [N, 3, S, S] float32 in [-1, 1]
    update: TrackUpdate

    def __len__(self) -> int:
        return len(self.track_ids)


class FaceFinder:
    """Detects, tracks and aligns the faces of each frame; records stage times in ``timings``."""

    def __init__(
        self,
        detector: FaceDetector,
        face_spec: FaceSpec,
        *,
        max_faces: int | None = 8,
        tracker: Tracker | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.detector = detector
        self.face_spec = face_spec
        self.max_faces = max_faces
        self.tracker = tracker or Tracker()
        self._clock = clock

    def find(self, image_bgr: np.ndarray, timings: dict[str, float]) -> FaceBatch:
        t0 = self._clock()
        detections = self.detector.detect(image_bgr).best(self.max_faces)
        t1 = self._clock()
        update = self.tracker.update(detections.boxes)
        t2 = self._clock()
        if len(detections):
            crops = align_faces(image_bgr, detections.landmarks, self.face_spec)
        else:
            crops = np.zeros((0, *self.face_spec.shape), np.float32)
        t3 = self._clock()
        timings.update(detect=t1 - t0, track=t2 - t1, align=t3 - t2)
        return FaceBatch(list(update.ids), detections, crops, update)
