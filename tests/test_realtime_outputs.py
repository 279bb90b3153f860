"""Overlays, row sinks and the annotated video (with sound muxed back in a second pass)."""

import csv
import json
import time

import cv2
import numpy as np
import pytest

from avaffect.audio import SpectrogramConfig, spectrogram
from avaffect.labels import AUS, EXPRESSIONS
from avaffect.realtime.analyzer import FrameResult
from avaffect.realtime.overlay import Overlay
from avaffect.realtime.ring_buffer import AudioRingBuffer
from avaffect.realtime.sinks import CsvSink, JsonlSink, MicSoundtrack, VideoSink, row_columns
from avaffect.realtime.video_source import Frame
from avaffect.record import FaceResult


def result(index=0, size=(640, 480), timestamp=None, faces=1, with_audio=True, nan=False):
    w, h = size
    image = np.full((h, w, 3), 90, np.uint8)
    au = np.full(8, np.nan) if nan else np.linspace(0.1, 0.9, 8)
    expr = np.full(7, np.nan) if nan else np.array([0.1, 0.05, 0.05, 0.05, 0.6, 0.1, 0.05])
    found = [
        FaceResult(
            index / 30,
            k,
            0.5 - k,
            0.2,
            au,
            expr,
            box=(w * (0.1 + 0.4 * k), h * 0.3, w * 0.2, h * 0.3),
        )
        for k in range(faces)
    ]
    spec = (
        spectrogram(
            np.random.default_rng(0).normal(0, 0.1, 16000), SpectrogramConfig(sample_rate=16000)
        )
        if with_audio
        else None
    )
    ts = index / 30 if timestamp is None else timestamp
    return FrameResult(
        Frame(image, index, ts, time.monotonic()), found, {}, np.zeros((faces, 5, 2)), spec, ts
    )


@pytest.mark.parametrize("size", [(640, 480), (1920, 1080)])
def test_overlay_draws_boxes_circumplex_bars_readout_and_spectrogram(size):
    overlay = Overlay()
    r = result(size=size, faces=2)
    image = overlay.draw(r, fps=25.0, latency_s=0.08)
    w, h = size
    assert image.shape == (h, w, 3) and r.frame.image.max() == 90  # the source frame is untouched
    changed = np.any(image != 90, axis=2)
    x, y, bw, bh = (int(v) for v in r.faces[0].box)
    assert changed[y, x : x + bw].mean() > 0.9  # the box outline
    assert changed[: int(0.06 * h), : int(0.3 * w)].any()  # the readout
    assert changed[h - 5 :, :].mean() > 0.9  # the spectrogram strip
    panel = changed[y : y + int(0.2 * h), x + bw : x + bw + int(0.25 * h)]
    assert panel.mean() > 0.5  # circumplex and AU bars beside the face


@pytest.mark.parametrize("size", [(640, 480), (1920, 1080)])
@pytest.mark.parametrize("where", ["top edge", "top right corner"])
def test_a_face_at_the_top_keeps_its_label_inside_the_frame_and_clear_of_the_header(size, where):
    from avaffect.realtime.overlay import header_height, label_origin

    w, h = size
    s = max(0.5, min(h, w) / 480.0)
    top = header_height(s)
    r = result(size=size, with_audio=False)
    box_w = int(0.2 * w)
    x = 0 if where == "top edge" else w - box_w // 2  # half the box beyond the right edge
    y = top + int(3 * s) + 2  # the box's own (thick, antialiased) edge stays below the band
    r.faces[0].box = (x, y, box_w, int(0.3 * h))  # no room for the label above it
    image = Overlay().draw(r, fps=25.0, latency_s=0.08)
    # The readout is white on black: any coloured pixel in the header band is the face's.
    header = image[:top].astype(int)
    coloured = (np.abs(header[..., 0] - header[..., 1]) + np.abs(header[..., 1] - header[..., 2])) > 30
    assert not coloured.any(), f"face drawings in the header rows {np.nonzero(coloured)[0][:5]}"
    label = f"#{r.faces[0].track_id} {r.faces[0].expression} {r.faces[0].expression_prob:.2f}"
    lx, ly = label_origin(image.shape, label, (x, y, box_w, int(0.3 * h)), s)
    (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.55 * s, 1)
    assert 0 <= lx and lx + tw <= w and ly - th >= top and ly < h


def test_overlay_skips_what_a_single_task_model_does_not_predict():
    image = Overlay().draw(result(nan=True, with_audio=False))
    assert image.shape == (480, 640, 3)


def test_rows_are_one_per_face_per_frame_in_csv_and_jsonl(tmp_path):
    csv_sink, jsonl_sink = CsvSink(tmp_path / "r.csv"), JsonlSink(tmp_path / "r.jsonl")
    for i in range(3):
        for sink in (csv_sink, jsonl_sink):
            sink.write(result(i, faces=2), None)
    csv_sink.close()
    jsonl_sink.close()
    with open(tmp_path / "r.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == row_columns()
    assert [(int(r["frame"]), int(r["track_id"])) for r in rows] == [
        (f, k) for f in range(3) for k in range(2)
    ]
    assert set(AUS) | set(EXPRESSIONS) <= set(rows[0])
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and lines[3]["valence"] == pytest.approx(float(rows[3]["valence"]))
    assert lines[0]["expression"] == "Happiness"


def test_a_slow_live_run_repeats_frames_so_the_video_keeps_time_and_the_mic_is_muxed(tmp_path):
    av = pytest.importorskip("av", reason="PyAV muxes the sound")
    rate = 16000
    ring = AudioRingBuffer(rate, seconds=3.0)
    t = np.arange(rate * 2) / rate
    tone = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sink = VideoSink(tmp_path / "rec.mp4", fps=30, soundtrack=MicSoundtrack(ring))
    # Results arrive at 10 FPS over 1.5 s; the microphone fills the buffer as it goes.
    for k in range(16):
        ts = 100.0 + k * 0.1
        ring.write(tone[int(k * 0.1 * rate) : int((k + 1) * 0.1 * rate)], ts)
        sink.write(result(k, size=(320, 240), timestamp=ts), None)
    sink.close()
    assert sink.frames_written == 46  # 1.5 s at 30 FPS, frame 0 included
    with av.open(str(tmp_path / "rec.mp4")) as clip:  # fragmented: count by decoding
        assert sum(1 for _ in clip.decode(video=0)) == 46
    with av.open(str(tmp_path / "rec.mp4")) as clip:
        sound = np.concatenate([f.to_ndarray().reshape(-1) for f in clip.decode(audio=0)])
    assert len(sound) / rate == pytest.approx(46 / 30, abs=0.08)  # the sound stops with the picture
    assert np.abs(sound).max() > 0.3
