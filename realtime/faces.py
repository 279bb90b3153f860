"""From a frame to the model's face batch: detect, track, align.

Alignment follows the engine's own :class:`~avaffect.face.FaceSpec` (crop size, colour mode),
never a guess, through the contract's :func:`~avaffect.face.align_faces`. All faces of a
frame are aligned and later run as one batch.

Detection cadence: searching the whole frame is the costliest stage on a CPU, and a face
that is already tracked does not need it. Every ``detect_every`` frames the whole frame is
searched; in between, each tracked face is re-found in a small region around its last box
(:meth:`YuNetDetector.detect_near`), which also gives fresh landmarks for this frame's
alignment. The whole frame is searched at once instead whenever anything is uncertain: no
face is tracked, a track is coasting (missed a frame), a face is not re-found near its box,
or two tracks re-find the same face. So a face that leaves is handled exactly as with full
detection, and a new face is found at once when no face is tracked, within
``detect_every - 1`` frames otherwise. A detector without ``detect_near`` (Haar) searches
every frame, and so does a frame with so many faces that re-finding them all would cost
about as much as one search (:meth:`YuNetDetector.refind_pays`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec, align_faces
from avaffect.realtime.detectors import Detections, FaceDetector
from avaffect.realtime.options import DEFAULT_DETECT_EVERY
from avaffect.realtime.tracking import Tracker, TrackUpdate, iou_matrix

#: A re-found face must overlap its track's last box this much, else the frame is searched.
REFIND_IOU = 0.3


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
        detect_every: int = DEFAULT_DETECT_EVERY,
        phase: int = 0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        """``phase`` moves this finder's whole-frame searches that many frames earlier in the
        cadence (the first one comes ``detect_every - phase`` frames after the first frame):
        streams that start together and share the cores search on different frames, so
        their searches do not all land on the same frame and miss it together."""
        if detect_every < 1:
            raise AvaffectError(
                f"--detect-every must be at least 1 (1: search every frame), got {detect_every}"
            )
        self.detector = detector
        self.face_spec = face_spec
        self.max_faces = max_faces
        self.tracker = tracker or Tracker()
        self.detect_every = detect_every if hasattr(detector, "detect_near") else 1
        self.full_searches = 0  # frames searched whole
        self.refinds = 0  # frames whose faces were re-found near their boxes
        self._since_full = 0
        self._phase = phase % self.detect_every
        self._clock = clock

    def find(self, image_bgr: np.ndarray, timings: dict[str, float]) -> FaceBatch:
        t0 = self._clock()
        detections = self._detect(image_bgr)
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

    def _detect(self, image_bgr: np.ndarray) -> Detections:
        """This frame's faces: re-found near their tracks when that is safe, else searched."""
        if self._may_refind(image_bgr.shape):
            found = self._refind(image_bgr)
            if found is not None:
                self._since_full += 1
                self.refinds += 1
                return found
        self._since_full, self._phase = self._phase, 0
        self.full_searches += 1
        return self.detector.detect(image_bgr).best(self.max_faces)

    def _may_refind(self, image_shape: tuple[int, ...]) -> bool:
        tracks = self.tracker.tracks
        return (
            self.detect_every > 1
            and self._since_full + 1 < self.detect_every
            and bool(tracks)
            and all(t.missed == 0 for t in tracks)
            and self.detector.refind_pays(image_shape, len(tracks))  # type: ignore[attr-defined]
        )

    def _refind(self, image_bgr: np.ndarray) -> Detections | None:
        """Each track's face near its last box, or None when one is not found there (or two
        tracks found the same face): then the whole frame is searched."""
        picked: list[Detections] = []
        for track in self.tracker.tracks:
            near = self.detector.detect_near(image_bgr, track.box)  # type: ignore[attr-defined]
            if not len(near):
                return None
            overlap = iou_matrix(track.box[None], near.boxes)[0]
            best = int(np.argmax(overlap))
            if overlap[best] < REFIND_IOU:
                return None
            picked.append(
                Detections(near.boxes[best : best + 1], near.landmarks[best : best + 1],
                           near.scores[best : best + 1])
            )  # fmt: skip
        boxes = np.concatenate([d.boxes for d in picked])
        same = iou_matrix(boxes, boxes) > 0.5
        if same.sum() > len(boxes):  # off the diagonal: two tracks on one face
            return None
        return Detections(
            boxes,
            np.concatenate([d.landmarks for d in picked]),
            np.concatenate([d.scores for d in picked]),
        ).best(self.max_faces)
