"""The app's parts without a server: upload checks, the browser microphone, the plot tables
and the browser-playable re-encoding."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from demo_support import AUDIO

from avaffect.audio import SpectrogramConfig, spectrogram_windows
from avaffect.demo.live import BrowserMic
from avaffect.demo.options import ServeOptions, is_loopback
from avaffect.demo.uploads import check_size, probe_video, read_image
from avaffect.errors import AvaffectError
from avaffect.record import FaceResult

pytest.importorskip("PIL", reason="Pillow (it comes with Gradio) reads image headers")
av = pytest.importorskip("av", reason="PyAV checks and re-encodes videos")
MB = 2**20


def test_uploads_are_checked_for_size_before_anything_else(tmp_path):
    empty, big = tmp_path / "empty.jpg", tmp_path / "big.jpg"
    empty.write_bytes(b"")
    big.write_bytes(b"\xff" * (2 * MB))
    with pytest.raises(AvaffectError, match="empty.jpg is empty"):
        check_size(empty, MB)
    with pytest.raises(AvaffectError, match="big.jpg is 2.0 MB, over this server's limit of 1 MB"):
        check_size(big, MB)
    with pytest.raises(AvaffectError, match="did not arrive"):
        check_size(tmp_path / "gone.jpg", MB)


def test_a_photo_is_whatever_decodes_and_a_huge_one_is_refused_from_its_header(tmp_path):
    photo = tmp_path / "photo.webp"  # the extension does not matter, the content does
    cv2.imwrite(str(tmp_path / "p.png"), np.full((60, 80, 3), 200, np.uint8))
    photo.write_bytes((tmp_path / "p.png").read_bytes())
    assert read_image(photo, MB, 10_000).shape == (60, 80, 3)
    with pytest.raises(AvaffectError, match="80x60 pixels, over this server's limit"):
        read_image(photo, MB, 1_000)
    text = tmp_path / "photo.jpg"
    text.write_text("hello")
    with pytest.raises(AvaffectError, match="unsupported file type: photo.jpg is not a photo"):
        read_image(text, MB, 10_000)


def test_videos_are_probed_by_decoding_them(tmp_path):
    sound = tmp_path / "talk.m4a"
    with av.open(str(sound), "w") as out:
        stream = out.add_stream("aac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="flt", layout="mono"
        )
        frame.sample_rate = 16000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(AvaffectError, match=r"this video has no frames \(talk.m4a has no picture"):
        probe_video(sound, MB, 60)
    clip = tmp_path / "clip.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(30):
            out.mux(
                stream.encode(
                    av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="bgr24")
                )
            )
        out.mux(stream.encode(None))
    info = probe_video(clip, MB, 60)
    assert (info.width, info.height, info.fps, info.frames) == (64, 48, 10.0, 30)
    with pytest.raises(AvaffectError, match="clip.mp4 lasts 3 s, over this server's limit of 2 s"):
        probe_video(clip, MB, 2)


def test_the_browser_microphone_is_stamped_on_arrival_and_resampled_to_the_model():
    mic = BrowserMic(AUDIO)
    rate = 48000  # the browser's rate, not the model's
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t) * 32767).astype(np.int16)
    stereo = np.stack([tone, tone], axis=1)
    mic.write(rate, stereo[: rate // 2], end_time=10.5)
    mic.write(rate, stereo[rate // 2 :], end_time=11.0)
    assert mic.available_until() == pytest.approx(11.0) and mic.chunks == 2
    spec, end = mic.spectrogram(11.0)
    assert end == pytest.approx(11.0) and spec.shape == AUDIO.shape
    reference = spectrogram_windows(
        (
            0.5 * np.sin(2 * np.pi * 1000 * np.arange(AUDIO.context_samples) / AUDIO.sample_rate)
        ).astype(np.float32),
        np.array([AUDIO.context_samples]),
        AUDIO,
    )[0]
    peak = int(round(1000 * AUDIO.win_length / AUDIO.sample_rate))
    assert spec[0, peak].mean() == pytest.approx(reference[0, peak].mean(), abs=0.05)
    silent = BrowserMic(SpectrogramConfig(sample_rate=16000, context_s=0.5))
    spec, end = silent.spectrogram(3.0)
    assert math.isnan(end) and np.all(spec == -1.0)  # nothing heard yet: silence


def face(track: int, t: float, valence: float) -> FaceResult:
    au, expr = np.full(8, 0.25, np.float32), np.full(7, 1 / 7, np.float32)
    return FaceResult(t, track, valence, -valence, au, expr, box=(1, 2, 3, 4))


def test_plot_tables_are_long_format_and_name_faces_when_there_are_several():
    from avaffect.demo import plots

    history = [(0.0, face(0, 0.0, 0.1)), (0.1, face(0, 0.1, 0.2)), (0.1, face(3, 0.1, 0.5))]
    va = plots.va_history(history)
    assert set(va["series"]) == {"valence #0", "arousal #0", "valence #3", "arousal #3"}
    assert len(plots.au_bars([face(0, 0, 0), face(1, 0, 0)])) == 16
    nan_face = FaceResult(
        0.0, 0, float("nan"), float("nan"), np.full(8, np.nan), np.full(7, np.nan)
    )
    assert plots.va_history([(0.0, nan_face)]).empty  # a single-task model's missing tasks
    assert plots.expression_confidences([nan_face]) is None
    rows = plots.faces_table([face(0, 0, 0.1)]).iloc[0]
    assert rows["face"] == "face #0" and rows["box_w"] == 3 and rows["arousal"] == -0.1
    csv_rows = plots.pd.DataFrame(
        [{**face(k, t, 0.1).to_row()} for t in (0.0, 0.1) for k in (0, 1)]
    )
    va, aus, expressions = plots.timelines(csv_rows)
    assert set(va["series"]) == {"valence #0", "arousal #0", "valence #1", "arousal #1"}
    assert len(aus) == 8 * 4 and len(expressions) == 7 * 4
    single = plots.timelines(csv_rows[csv_rows["track_id"] == 0])[0]
    assert set(single["series"]) == {"valence", "arousal"}


def test_an_odd_sized_video_is_made_browser_playable(tmp_path):
    from avaffect.demo.browser_video import to_browser_mp4

    source = tmp_path / "odd.mp4"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"mp4v"), 12, (101, 75))
    for i in range(12):
        writer.write(np.full((75, 101, 3), i * 20, np.uint8))
    writer.release()
    target = to_browser_mp4(source, tmp_path / "out.mp4")
    with av.open(str(target)) as clip:
        video = clip.streams.video[0]
        assert (video.codec_context.name, video.width, video.height) == ("h264", 100, 74)
        assert video.frames == 12 and float(video.average_rate) == 12


def test_an_h264_annotated_video_is_copied_for_the_browser_not_encoded_again(tmp_path):
    from avaffect.demo.browser_video import to_browser_mp4
    from avaffect.realtime.video_writer import FragmentedMp4Writer

    if "libx264" not in av.codecs_available:
        pytest.skip("this PyAV build has no libx264 encoder, so the sinks write MPEG-4 Part 2")
    writer = FragmentedMp4Writer(tmp_path / "annotated_fragmented.mp4", 10, 64, 48)
    for i in range(25):
        writer.write(np.full((48, 64, 3), i * 10, np.uint8))
    writer.close()

    def packets(path):
        with av.open(str(path)) as clip:
            return [bytes(p) for p in clip.demux(clip.streams.video[0]) if p.dts is not None]

    target = to_browser_mp4(tmp_path / "annotated_fragmented.mp4", tmp_path / "annotated.mp4")
    assert packets(target) == packets(tmp_path / "annotated_fragmented.mp4")  # the same bytes
    head = target.read_bytes()
    assert head.index(b"moov") < head.index(b"mdat") and b"moof" not in head  # plain, index first
    with av.open(str(target)) as clip:
        assert clip.streams.video[0].frames == 25


def test_serve_options_check_their_numbers_and_know_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    with pytest.raises(AvaffectError, match="--max-sessions must be positive"):
        ServeOptions(max_sessions=0)
    with pytest.raises(AvaffectError, match="--stream-every 5.0 s is out of range"):
        ServeOptions(stream_every_s=5.0)


def test_serve_without_gradio_names_the_extra_to_install(monkeypatch, capsys):
    import sys

    from avaffect.cli import main

    monkeypatch.delitem(sys.modules, "avaffect.demo.app", raising=False)
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if Gradio were not installed
    assert main(["serve", "--checkpoint", "model.safetensors"]) == 2
    assert "needs Gradio 6: pip install 'avaffect[ui]'" in capsys.readouterr().err


def test_the_face_detector_file_is_found_once_for_the_server(monkeypatch, tmp_path, caplog):
    from avaffect.demo import options as serve_options
    from avaffect.realtime.detector_model import SHIPPED_YUNET

    yunet = tmp_path / "yunet.onnx"
    yunet.write_bytes(b"onnx")
    found = serve_options.resolve_detector(ServeOptions(detector_model=str(yunet)))
    assert (found.detector, found.detector_model) == ("yunet", str(yunet))
    monkeypatch.delenv("AVAFFECT_YUNET", raising=False)
    shipped = serve_options.resolve_detector(ServeOptions())
    assert (shipped.detector, shipped.detector_model) == ("yunet", str(SHIPPED_YUNET))

    monkeypatch.delattr(cv2, "FaceDetectorYN")  # an OpenCV that cannot run YuNet
    with caplog.at_level("WARNING", logger="avaffect.demo"):
        fallback = serve_options.resolve_detector(ServeOptions())
    assert fallback.detector == "haar"
    assert "has no cv2.FaceDetectorYN, which YuNet needs" in caplog.text
    assert "every tab uses the Haar cascade detector" in caplog.text
