"""Face detection on a real face (FER2013, from shared/data), the Haar fallback, alignment
with the engine's FaceSpec, and how the YuNet file is found: shipped in the package and
checked by sha256, never fetched."""

import logging
import shutil
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.realtime import detector_model
from avaffect.realtime.detector_model import SHIPPED_YUNET, find_yunet_model, shipped_yunet
from avaffect.realtime.detectors import HaarDetector, YuNetDetector, create_detector
from avaffect.realtime.faces import FaceFinder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
YUNET = SHIPPED_YUNET  # the copy inside the package: no ../shared needed
FER = DATA / "fer2013" / "fer2013_train_publictest.npz"

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


@pytest.fixture
def offline(monkeypatch):
    """No network at all: any socket made from here on raises."""

    def refuse(*args, **kwargs):
        raise AssertionError("avaffect tried to open a network socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv(detector_model.ENV_VAR, raising=False)


def test_yunet_is_used_offline_with_no_environment_variable(offline, caplog):
    with caplog.at_level(logging.INFO, logger="avaffect.realtime"):
        detector = create_detector("yunet")
    assert detector.name == "yunet" and "Haar" not in caplog.text
    assert find_yunet_model() == SHIPPED_YUNET and detector_model.is_genuine(SHIPPED_YUNET)
    assert len(detector.detect(np.full((480, 640, 3), 128, np.uint8))) == 0  # it runs


@needs_fer
def test_the_offline_yunet_finds_a_real_face(offline, fer_faces):
    assert len(create_detector("yunet").detect(face_frame(fer_faces[0]))) == 1


def test_the_shipped_file_and_its_licence_notice_are_package_data():
    """A non-editable install (a wheel) carries both files: the package that holds them is
    listed and its package-data names them."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    assert SHIPPED_YUNET.stat().st_size == detector_model.YUNET_SIZE
    notice = (SHIPPED_YUNET.parent / "LICENSE.txt").read_text()
    assert "MIT License" in notice and detector_model.YUNET_SHA256 in notice
    root = Path(__file__).resolve().parents[1]
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "avaffect.realtime.face_detector" in setuptools["packages"]
    globs = setuptools["package-data"]["avaffect.realtime.face_detector"]
    shipped = {p.name for g in globs for p in SHIPPED_YUNET.parent.glob(g)}
    assert shipped == {SHIPPED_YUNET.name, "LICENSE.txt"}


def test_a_damaged_shipped_file_is_refused_in_one_line(tmp_path, monkeypatch, offline):
    damaged = tmp_path / SHIPPED_YUNET.name
    shutil.copyfile(SHIPPED_YUNET, damaged)
    with damaged.open("r+b") as handle:  # one flipped byte: same size, wrong sha256
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(AvaffectError, match="failed its sha256 check.*reinstall avaffect") as err:
        shipped_yunet(damaged)
    assert "\n" not in str(err.value)
    with pytest.raises(AvaffectError, match="missing from this install"):
        shipped_yunet(tmp_path / "gone.onnx")
    # as a user meets it: the command refuses, it does not quietly fall back to Haar
    monkeypatch.setattr(detector_model, "SHIPPED_YUNET", damaged)
    monkeypatch.setattr("avaffect.realtime.detectors.SHIPPED_YUNET", damaged)
    with pytest.raises(AvaffectError, match="sha256"):
        create_detector("yunet")


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


def test_haar_runs_only_when_this_opencv_cannot_run_yunet_and_says_why(monkeypatch, caplog):
    monkeypatch.delattr(cv2, "FaceDetectorYN")  # an OpenCV without YuNet support
    with caplog.at_level(logging.INFO, logger="avaffect.realtime"):
        detector = create_detector("yunet")
    assert detector.name == "haar"
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "has no cv2.FaceDetectorYN" in warning[0]
    assert "using the Haar cascade" in warning[0]
    assert create_detector("haar").name == "haar"  # asked for outright
    with pytest.raises(AvaffectError, match="unknown"):
        create_detector("dlib")
