"""Which face is which from frame to frame, so that each keeps its own GRU state.

Greedy matching, best pairs first: by box overlap (IoU), then, for boxes that moved too
fast to overlap, by centre distance relative to the face's size. A track that finds no face
coasts for a few frames (``max_missed``) before it ends; a face that matches no track starts
a new one with a new id. Ids are never reused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Track:
    id: int
    box: np.ndarray  # x, y, w, h of the last match
    missed: int = 0  # consecutive frames without a match
    age: int = 1  # frames matched so far


@dataclass
class TrackUpdate:
    """The outcome of one frame."""

    ids: list[int]  # the track id of each detection, in detection order
    new: list[int] = field(default_factory=list)  # ids started this frame
    coasting: list[int] = field(default_factory=list)  # tracks kept alive without a face
    ended: list[int] = field(default_factory=list)  # tracks that ran out of grace


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` [N, 4] with every box in ``b`` [M, 4] (x, y, w, h) -> [N, M]."""
    a = np.asarray(a, np.float64).reshape(-1, 1, 4)
    b = np.asarray(b, np.float64).reshape(1, -1, 4)
    ix = np.clip(
        np.minimum(a[..., 0] + a[..., 2], b[..., 0] + b[..., 2]) - np.maximum(a[..., 0], b[..., 0]),
        0,
        None,
    )
    iy = np.clip(
        np.minimum(a[..., 1] + a[..., 3], b[..., 1] + b[..., 3]) - np.maximum(a[..., 1], b[..., 1]),
        0,
        None,
    )
    inter = ix * iy
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def centre_distance(tracks: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Centre distance over the track box's size (sqrt of its area): [N, M]."""
    t = np.asarray(tracks, np.float64).reshape(-1, 1, 4)
    b = np.asarray(boxes, np.float64).reshape(1, -1, 4)
    dx = (t[..., 0] + t[..., 2] / 2) - (b[..., 0] + b[..., 2] / 2)
    dy = (t[..., 1] + t[..., 3] / 2) - (b[..., 1] + b[..., 3] / 2)
    return np.hypot(dx, dy) / np.maximum(np.sqrt(t[..., 2] * t[..., 3]), 1e-9)


def _greedy(score: np.ndarray, ok: np.ndarray, higher_is_better: bool) -> list[tuple[int, int]]:
    """Pairs (row, col) taken best-first where ``ok``; each row and column used once."""
    rows, cols = np.nonzero(ok)
    order = np.argsort(-score[rows, cols] if higher_is_better else score[rows, cols], kind="stable")
    used_r, used_c, pairs = set(), set(), []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs


class Tracker:
    """Assigns a persistent id to every detected face box."""

    def __init__(
        self, iou_threshold: float = 0.3, max_distance: float = 0.6, max_missed: int = 5
    ) -> None:
        self.iou_threshold = iou_threshold
        self.max_distance = max_distance  # centre distance, in face sizes, for the fallback
        self.max_missed = max_missed
        self.tracks: list[Track] = []
        self._next_id = 0

    def update(self, boxes: np.ndarray) -> TrackUpdate:
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        track_boxes = np.array([t.box for t in self.tracks], np.float32).reshape(-1, 4)
        iou = iou_matrix(track_boxes, boxes)
        pairs = _greedy(iou, iou >= self.iou_threshold, higher_is_better=True)
        free_t = [r for r in range(len(self.tracks)) if r not in {p[0] for p in pairs}]
        free_d = [c for c in range(len(boxes)) if c not in {p[1] for p in pairs}]
        if free_t and free_d:
            dist = centre_distance(track_boxes[free_t], boxes[free_d])
            for r, c in _greedy(dist, dist <= self.max_distance, higher_is_better=False):
                pairs.append((free_t[r], free_d[c]))
        ids = [-1] * len(boxes)
        matched = set()
        for r, c in pairs:
            track = self.tracks[r]
            track.box, track.missed, track.age = boxes[c].copy(), 0, track.age + 1
            ids[c] = track.id
            matched.add(r)
        update = TrackUpdate(ids)
        survivors = []
        for r, track in enumerate(self.tracks):
            if r not in matched:
                track.missed += 1
                if track.missed > self.max_missed:
                    update.ended.append(track.id)
                    continue
                update.coasting.append(track.id)
            survivors.append(track)
        for c in range(len(boxes)):
            if ids[c] == -1:
                ids[c] = self._next_id
                update.new.append(self._next_id)
                survivors.append(Track(self._next_id, boxes[c].copy()))
                self._next_id += 1
        self.tracks = survivors
        return update

    def box_of(self, track_id: int) -> np.ndarray | None:
        return next((t.box for t in self.tracks if t.id == track_id), None)

    def reset(self) -> list[int]:
        """Forget every track; returns the ids that ended."""
        ended = [t.id for t in self.tracks]
        self.tracks = []
        return ended
