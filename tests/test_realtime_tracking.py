"""The tracker: each face keeps its id across frames; lost faces end after a grace period."""

import numpy as np

from avaffect.realtime.tracking import Tracker, centre_distance, iou_matrix


def boxes(*xywh):
    return np.array(xywh, np.float32).reshape(-1, 4)


def test_iou_and_centre_distance():
    a = boxes((0, 0, 10, 10))
    b = boxes((5, 0, 10, 10), (100, 100, 10, 10))
    np.testing.assert_allclose(iou_matrix(a, b), [[50 / 150, 0.0]])
    np.testing.assert_allclose(centre_distance(a, b)[0, 0], 0.5)


def test_ids_follow_faces_whatever_the_detection_order():
    tracker = Tracker()
    first = tracker.update(boxes((10, 10, 50, 50), (200, 10, 50, 50)))
    assert first.ids == [0, 1] and first.new == [0, 1]
    # Same faces, moved a little and listed the other way round.
    second = tracker.update(boxes((205, 14, 50, 50), (14, 12, 50, 50)))
    assert second.ids == [1, 0] and second.new == []


def test_fast_motion_falls_back_to_centre_distance():
    tracker = Tracker(iou_threshold=0.3, max_distance=0.6)
    tracker.update(boxes((0, 0, 100, 100)))
    moved = tracker.update(boxes((55, 0, 100, 100)))  # IoU 0.29, centre 0.55 faces away
    assert moved.ids == [0]
    jumped = tracker.update(boxes((400, 0, 100, 100)))  # too far: a new face
    assert jumped.ids == [1] and jumped.coasting == [0]


def test_a_missed_face_coasts_then_ends_and_a_returning_face_gets_a_new_id():
    tracker = Tracker(max_missed=2)
    tracker.update(boxes((10, 10, 50, 50)))
    assert tracker.update(boxes()).coasting == [0]
    assert tracker.update(boxes()).coasting == [0]
    back_in_time = tracker.update(boxes((12, 10, 50, 50)))  # within grace: same id
    assert back_in_time.ids == [0]
    for _ in range(2):
        tracker.update(boxes())
    assert tracker.update(boxes()).ended == [0]
    assert tracker.tracks == []
    assert tracker.update(boxes((10, 10, 50, 50))).ids == [1]  # ids are never reused


def test_each_track_matches_at_most_one_face():
    tracker = Tracker()
    tracker.update(boxes((0, 0, 100, 100)))
    update = tracker.update(boxes((5, 5, 100, 100), (10, 10, 100, 100)))
    assert sorted(update.ids) == [0, 1] and update.new == [1]
