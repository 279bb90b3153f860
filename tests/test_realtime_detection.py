"""Face detection on a real face (FER2013, from shared/data), the Haar fallback, alignment
with the engine's FaceSpec, and how the YuNet file is found or fetched (offline, file://)."""

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.realtime import detector_model
from avaffect.realtime.detector_model import DetectorModelUnavailable, fetch_yunet, find_yunet_model
from avaffect.realtime.detectors import HaarDetector, YuNetDetector, create_detector
from avaffect.realtime.faces import FaceFinder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
YUNET = DATA / "face_detector" / "face_detection_yunet_2023mar.onnx"
FER = DATA / "fer2013" / "fer2013_train_publictest.npz"

needs_yunet = pytest.mark.skipif(not YUNET.is_file(), reason=f"YuNet model not found at {YUNET}")
needs_fer = pytest.mark.skipif(not FER.is_file(), reason=f"FER2013 not found at {FER}")


@pytest.fixture(scope="module")
def fer_faces():
    return np.load(FER)["images"][:40]


def face_frame(face48: np.ndarray, x: int = 224, y: int = 140, size: int = 192) -> np.ndarray:
    """A 48x48 FER face upscaled and placed in a 640x480 BGR frame."""
    frame = np.full((480, 640), 128, np.uint8)
    frame[y : y + size, x : x + size] = cv2.resize(
        face48, (size, size), interpolation=cv2.INTER_CUBIC
    )
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


@needs_yunet
@needs_fer
def test_yunet_finds_a_real_face_with_plausible_landmarks(fer_faces):
    detector = YuNetDetector(YUNET)
    found = 0
    for face in fer_faces[:10]:
        det = detector.detect(face_frame(face))
        if not len(det):
            continue
        found += 1
        x, y, w, h = det.boxes[0]
        assert 180 < x + w / 2 < 460 and 100 < y + h / 2 < 380  # where the face was put
        (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = det.landmarks[0]
        assert lx < rx and mlx < mrx  # image-left eye first, as the contract orders them
        assert max(ly, ry) < ny < min(mly, mry)  # eyes above the nose above the mouth
        assert 0.5 < det.scores[0] <= 1.0
    assert found >= 9


@needs_yunet
@needs_fer
def test_yunet_searches_large_frames_downscaled_and_maps_back(fer_faces):
    small = face_frame(fer_faces[0])
    big = cv2.resize(small, (1920, 1440), interpolation=cv2.INTER_LINEAR)
    detector = YuNetDetector(YUNET, max_side=640)
    a, b = detector.detect(small), detector.detect(big)
    assert len(a) == len(b) == 1
    np.testing.assert_allclose(b.boxes[0] / 3, a.boxes[0], atol=4)
    np.testing.assert_allclose(b.landmarks[0] / 3, a.landmarks[0], atol=4)


@needs_fer
def test_haar_fallback_finds_faces_and_places_landmarks_inside_them(fer_faces):
    detector = HaarDetector()
    found = 0
    for face in fer_faces[:10]:
        det = detector.detect(face_frame(face))
        if len(det):
            found += 1
            x, y, w, h = det.boxes[0]
            lm = det.landmarks[0]
            assert np.all((lm[:, 0] > x) & (lm[:, 0] < x + w) & (lm[:, 1] > y) & (lm[:, 1] < y + h))
            assert lm[0, 0] < lm[1, 0] and lm[0, 1] < lm[3, 1]
    assert found >= 5


@needs_yunet
@needs_fer
def test_alignment_follows_the_engines_face_spec(fer_faces):
    finder = FaceFinder(YuNetDetector(YUNET), FaceSpec(size=64, color="gray"))
    timings = {}
    batch = finder.find(face_frame(fer_faces[1]), timings)
    assert len(batch) == 1 and batch.track_ids == [0]
    assert batch.crops.shape == (1, 3, 64, 64) and batch.crops.dtype == np.float32
    np.testing.assert_array_equal(batch.crops[0, 0], batch.crops[0, 2])  # grey in all channels
    assert -1.0 <= batch.crops.min() and batch.crops.max() <= 1.0 and batch.crops.std() > 0.1
    assert set(timings) == {"detect", "track", "align"}


def test_an_empty_frame_has_no_faces():
    finder = FaceFinder(HaarDetector(), FaceSpec())
    batch = finder.find(np.zeros((240, 320, 3), np.uint8), {})
    assert len(batch) == 0 and batch.crops.shape == (0, 3, 96, 96)


@needs_yunet
def test_yunet_is_fetched_once_into_the_cache_and_checked(tmp_path):
    target = tmp_path / "cache" / detector_model.YUNET_FILE
    assert fetch_yunet(target, url=YUNET.as_uri()) == target
    assert detector_model.is_genuine(target)
    assert find_yunet_model(cache=target.parent, download=False) == target  # now from the cache
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp file left


def test_a_wrong_or_unreachable_download_is_refused_and_leaves_nothing(tmp_path):
    impostor = tmp_path / "impostor.onnx"
    impostor.write_bytes(b"not a model")
    cache = tmp_path / "cache"
    with pytest.raises(DetectorModelUnavailable, match="size/sha256"):
        find_yunet_model(cache=cache, url=impostor.as_uri())
    with pytest.raises(DetectorModelUnavailable, match="could not fetch"):
        find_yunet_model(cache=cache, url=(tmp_path / "missing.onnx").as_uri())
    assert list(cache.iterdir()) == []


def test_a_named_model_path_must_exist(tmp_path, monkeypatch):
    with pytest.raises(AvaffectError, match="--detector-model .*no such file"):
        find_yunet_model(tmp_path / "nope.onnx")
    monkeypatch.setenv("AVAFFECT_YUNET", str(tmp_path / "nope.onnx"))
    with pytest.raises(AvaffectError, match=r"\$AVAFFECT_YUNET .*no such file"):
        find_yunet_model()


def test_a_file_that_is_not_yunet_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(AvaffectError, match="cannot load it as a YuNet model"):
        YuNetDetector(bad)


def test_without_yunet_the_haar_detector_takes_over_and_says_so(monkeypatch, caplog):
    def unavailable(*args, **kwargs):
        raise DetectorModelUnavailable("could not fetch the YuNet face detector (offline)")

    monkeypatch.setattr("avaffect.realtime.detectors.find_yunet_model", unavailable)
    with caplog.at_level(logging.INFO, logger="avaffect.realtime"):
        detector = create_detector("yunet")
    assert detector.name == "haar"
    assert "falling back to the Haar cascade" in caplog.text
    with pytest.raises(AvaffectError, match="unknown"):
        create_detector("dlib")
