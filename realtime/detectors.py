"""Face detection with five landmarks: OpenCV's YuNet, or a Haar cascade that needs nothing.

YuNet (``cv2.FaceDetectorYN``) gives a box, the five landmarks the crop is aligned on, and a
score. The Haar fallback ships inside opencv-python 4.x: it finds boxes, then eyes inside
each box; with two eyes the five points come from the template placed on those eyes, else
from the box geometry alone (coarser alignment, still the same crop definition).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from avaffect.errors import AvaffectError
from avaffect.face import estimate_similarity, template
from avaffect.realtime.detector_model import SHIPPED_YUNET, find_yunet_model, yunet_unsupported
from avaffect.realtime.options import DEFAULT_DETECT_SIZE, DETECTORS

log = logging.getLogger("avaffect.realtime")

# Where the five template points sit inside a Haar face box, as fractions of its width and
# height: the median of YuNet's landmarks on the same faces (61 FER2013 faces, symmetrised).
HAAR_BOX_LANDMARKS = np.array(
    [[0.31, 0.395], [0.69, 0.395], [0.50, 0.60], [0.34, 0.76], [0.66, 0.76]], np.float64
)


def landmarks_from_boxes(boxes: np.ndarray) -> np.ndarray:
    """Five landmarks estimated from face boxes alone: [N, 4] x, y, w, h -> [N, 5, 2]."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 1, 4)
    return (boxes[..., :2] + HAAR_BOX_LANDMARKS[None] * boxes[..., 2:]).astype(np.float32)


@dataclass
class Detections:
    """The faces found in one image, best first."""

    boxes: np.ndarray  # [N, 4] float32 x, y, w, h in image pixels
    landmarks: np.ndarray  # [N, 5, 2] float32, the contract's landmark order
    scores: np.ndarray  # [N] float32

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros(0, np.float32)
        )

    def best(self, n: int | None) -> Detections:
        """The ``n`` highest-scoring faces (all when ``n`` is None)."""
        order = np.argsort(-self.scores, kind="stable")[: n if n is not None else len(self)]
        return Detections(self.boxes[order], self.landmarks[order], self.scores[order])


class FaceDetector(Protocol):
    name: str

    def detect(self, image_bgr: np.ndarray) -> Detections: ...


class RegionDetector(Protocol):
    """A detector that can also re-find one known face cheaply near where it last was."""

    def detect_near(self, image_bgr: np.ndarray, box: np.ndarray) -> Detections: ...

    def refind_pays(self, image_shape: tuple[int, ...], n_faces: int) -> bool: ...


#: How far a re-find looks around a face's last box: the square searched is the box's longer
#: side times (1 + 2 * margin), centred on the box. 0.5 (twice the face) covers any head
#: movement a 30 FPS camera sees between two frames.
REGION_MARGIN = 0.5
#: The region is searched at this size (pixels, square): the face then spans about half of
#: it, 80 px, enough for landmarks as fine as the 96x96 crop needs, at 1/5 of a 480x270 search.
REGION_SIZE = 160


def region_around(
    box: np.ndarray, image_shape: tuple[int, ...], margin: float = REGION_MARGIN
) -> tuple[int, int, int, int]:
    """The square (x0, y0, x1, y1) searched around ``box`` (x, y, w, h), clipped to the image."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    height, width = image_shape[:2]
    x0, y0 = max(0, int(cx - side / 2.0)), max(0, int(cy - side / 2.0))
    x1, y1 = min(width, int(np.ceil(cx + side / 2.0))), min(height, int(np.ceil(cy + side / 2.0)))
    return x0, y0, x1, y1


class YuNetDetector:
    """OpenCV's YuNet; images wider than ``max_side`` are searched at a reduced size."""

    name = "yunet"

    def __init__(
        self,
        model_path: str | os.PathLike,
        score_threshold: float = 0.6,
        max_side: int = DEFAULT_DETECT_SIZE,
    ) -> None:
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(model_path), "", (320, 320), score_threshold, 0.3, 5000
            )
        except cv2.error as err:
            raise AvaffectError(
                f"{model_path}: OpenCV cannot load it as a YuNet model ({err.msg.strip()})"
            ) from None
        self.max_side = max_side
        self._size: tuple[int, int] | None = None
        # A second net for re-finding faces in small regions: its input size never changes,
        # so neither net re-plans its anchors when the two kinds of search alternate.
        self._region_net = cv2.FaceDetectorYN.create(
            str(model_path), "", (REGION_SIZE, REGION_SIZE), score_threshold, 0.3, 50
        )

    def detect(self, image_bgr: np.ndarray) -> Detections:
        h, w = image_bgr.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = (
            image_bgr
            if scale == 1.0
            else cv2.resize(
                image_bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
            )
        )
        size = (small.shape[1], small.shape[0])
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        _, faces = self._net.detect(small)
        return _to_detections(faces, scale, (0.0, 0.0))

    def refind_pays(self, image_shape: tuple[int, ...], n_faces: int) -> bool:
        """Whether re-finding ``n_faces`` faces costs clearly less than one full search: the
        regions' pixels, with half again for the per-call overhead, under the full search's."""
        h, w = image_shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        return 1.5 * n_faces * REGION_SIZE**2 <= (h * scale) * (w * scale)

    def detect_near(self, image_bgr: np.ndarray, box: np.ndarray) -> Detections:
        """The faces in the region around ``box`` (see :func:`region_around`), in image pixels.

        The region is scaled to fit :data:`REGION_SIZE` and searched on a fixed-size canvas;
        a region at the image's edge is simply smaller (the canvas is zero-padded).
        """
        x0, y0, x1, y1 = region_around(box, image_bgr.shape)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return Detections.empty()
        scale = min(1.0, REGION_SIZE / max(x1 - x0, y1 - y0))
        w, h = (
            min(REGION_SIZE, round((x1 - x0) * scale)),
            min(REGION_SIZE, round((y1 - y0) * scale)),
        )
        canvas = np.zeros((REGION_SIZE, REGION_SIZE, 3), np.uint8)
        canvas[:h, :w] = cv2.resize(image_bgr[y0:y1, x0:x1], (w, h), interpolation=cv2.INTER_AREA)
        _, faces = self._region_net.detect(canvas)
        return _to_detections(faces, scale, (x0, y0))


def _to_detections(
    faces: np.ndarray | None, scale: float, offset: tuple[float, float]
) -> Detections:
    """YuNet's [N, 15] rows (searched at ``scale``, from ``offset``) -> image-pixel Detections."""
    if faces is None or not len(faces):
        return Detections.empty()
    faces = faces.astype(np.float32)
    coords = faces[:, :14] / np.float32(scale)
    shift = np.array(offset, np.float32)
    coords[:, 0:2] += shift  # the box's corner (not its size) and the landmarks move
    coords[:, 4:14] += np.tile(shift, 5)
    return Detections(
        coords[:, :4].copy(), coords[:, 4:14].reshape(-1, 5, 2).copy(), faces[:, 14].copy()
    )


class HaarDetector:
    """OpenCV's frontal-face Haar cascade with eye detection for the landmarks."""

    name = "haar"

    def __init__(self, min_face: int = 40) -> None:
        root = cv2.data.haarcascades
        self._faces = cv2.CascadeClassifier(
            os.path.join(root, "haarcascade_frontalface_default.xml")
        )
        self._eyes = cv2.CascadeClassifier(os.path.join(root, "haarcascade_eye.xml"))
        if self._faces.empty() or self._eyes.empty():
            raise AvaffectError(
                f"OpenCV's Haar cascades are missing from {root}; reinstall opencv-python 4.x"
            )
        self.min_face = min_face

    def detect(self, image_bgr: np.ndarray) -> Detections:
        grey = cv2.equalizeHist(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY))
        boxes, _, weights = self._faces.detectMultiScale3(
            grey,
            scaleFactor=1.1,
            minNeighbors=5,
            minSize=(self.min_face, self.min_face),
            outputRejectLevels=True,
        )
        if len(boxes) == 0:
            return Detections.empty()
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        landmarks = np.stack([self._landmarks(grey, box) for box in boxes]).astype(np.float32)
        scores = np.asarray(weights, np.float32).reshape(-1)
        return Detections(boxes, landmarks, scores)

    def _landmarks(self, grey: np.ndarray, box: np.ndarray) -> np.ndarray:
        x, y, w, h = (int(v) for v in box)
        from_box = landmarks_from_boxes(box)[0].astype(np.float64)
        eyes = self._eyes.detectMultiScale(
            grey[y : y + h // 2 + h // 10, x : x + w], 1.1, 4, minSize=(w // 10, h // 10)
        )
        centres = [np.array([x + ex + ew / 2, y + ey + eh / 2]) for ex, ey, ew, eh in eyes]
        left = [c for c in centres if c[0] < x + w / 2]
        right = [c for c in centres if c[0] >= x + w / 2]
        if not left or not right:
            return from_box
        pair = np.array(
            [
                min(left, key=lambda c: np.linalg.norm(c - from_box[0])),
                min(right, key=lambda c: np.linalg.norm(c - from_box[1])),
            ]
        )
        # Place the whole template so that its eyes land on the detected eyes.
        matrix = estimate_similarity(template(112)[:2], pair)
        return template(112) @ matrix[:, :2].T + matrix[:, 2]


def create_detector(
    name: str = "yunet",
    model_path: str | os.PathLike | None = None,
    *,
    detect_size: int = DEFAULT_DETECT_SIZE,
) -> FaceDetector:
    """The named detector. YuNet is the shipped file (or ``model_path``/``$AVAFFECT_YUNET``);
    the Haar cascade runs only when asked for, or when this OpenCV cannot run the shipped
    YuNet, and then one warning says why. ``detect_size``: see :data:`DEFAULT_DETECT_SIZE`."""
    if detect_size < 64:
        raise AvaffectError(
            f"detection size {detect_size} is too small; use at least 64 (default {DEFAULT_DETECT_SIZE})"
        )
    if name not in DETECTORS:
        raise AvaffectError(f"face detector {name!r} is unknown; use one of {DETECTORS}")
    if name == "yunet":
        detector = _yunet_or_why_not(model_path, detect_size)
        if not isinstance(detector, str):
            log.info("face detector: YuNet")
            return detector
        log.warning("%s; using the Haar cascade detector instead", detector)
    log.info("face detector: Haar cascade (OpenCV)")
    return HaarDetector()


def _yunet_or_why_not(model_path, detect_size: int) -> YuNetDetector | str:
    """YuNet, or the reason this OpenCV cannot run the shipped file. A file the user named
    that does not load stays an error: they asked for that file."""
    reason = yunet_unsupported()
    if reason:
        return reason
    path = find_yunet_model(model_path)
    try:
        return YuNetDetector(path, max_side=detect_size)
    except AvaffectError as err:
        if path != SHIPPED_YUNET:
            raise
        return f"this OpenCV cannot run the shipped YuNet model ({err})"
