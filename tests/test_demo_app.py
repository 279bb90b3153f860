"""`avaffect serve`'s app, launched on localhost and used through gradio_client the way a
script would: live frames (one state per browser session), photos, videos, and the one-line
messages bad uploads get while the server keeps serving."""

from __future__ import annotations

import csv
import logging

import cv2
import numpy as np
import pytest
from demo_support import (
    AUDIO,
    YUNET,
    face_frame,
    fer_faces,
    free_port,
    needs_faces,
    tiny_checkpoint,
)

gr = pytest.importorskip("gradio", reason="the app needs the 'ui' extra (Gradio 6)")
client_lib = pytest.importorskip("gradio_client", reason="gradio_client comes with Gradio")
av = pytest.importorskip("av", reason="PyAV writes the test videos and re-encodes the output")

from avaffect.cli import main  # noqa: E402
from avaffect.demo.app import build_app, launch  # noqa: E402
from avaffect.demo.bench.pipeline import make_bench_video  # noqa: E402
from avaffect.demo.options import ServeOptions  # noqa: E402
from avaffect.engines import load_engine  # noqa: E402

pytestmark = [
    needs_faces,
    # Gradio's own use of pandas, not ours.
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
Client, handle_file, AppError = (
    client_lib.Client,
    client_lib.handle_file,
    client_lib.exceptions.AppError,
)


def serve(checkpoint, **options):
    opts = ServeOptions(port=free_port(), detector_model=str(YUNET), **options)
    demo = build_app(load_engine(str(checkpoint), "torch"), opts)
    _, url, _ = launch(demo, opts, block=False, quiet=True)
    return demo, url


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    faces = fer_faces(8)
    cv2.imwrite(str(root / "face.png"), face_frame([faces[3]]))
    cv2.imwrite(str(root / "two_faces.jpg"), face_frame([faces[3], faces[5]], side=160))
    cv2.imwrite(str(root / "wall.png"), np.full((480, 640, 3), 90, np.uint8))
    (root / "notes.png").write_bytes(b"these are notes, not a picture")
    make_bench_video(root / "clip.mp4", faces[3], seconds=1.0, fps=15, sample_rate=16000)
    with av.open(str(root / "empty.mp4"), "w") as out:  # a video track with no frame in it
        stream = out.add_stream("mpeg4", rate=15)
        stream.width, stream.height = 320, 240
        out.start_encoding()
    tiny_checkpoint(root / "visual.safetensors")
    tiny_checkpoint(root / "av.safetensors", audio_visual=True)
    return root


@pytest.fixture(scope="module")
def app(files):
    demo, url = serve(files / "visual.safetensors", max_upload_mb=5)
    yield url
    demo.close()


def numbers(result):
    """The live endpoint's outputs, as a script sees them."""
    picture, va, aus, expression, faces, status = result
    return {
        "picture": cv2.imread(picture),
        "va": {series: value for _, value, series in va["data"]},
        "aus": {au: p for au, p, _ in aus["data"]},
        "expression": {c["label"]: c["confidence"] for c in expression["confidences"]},
        "faces": [dict(zip(faces["headers"], row, strict=True)) for row in faces["data"]],
        "status": status,
    }


def test_a_live_frame_comes_back_annotated_with_its_numbers(app, files):
    out = numbers(
        Client(app, verbose=False).predict(handle_file(files / "face.png"), api_name="/live_frame")
    )
    original = cv2.imread(str(files / "face.png"))
    assert out["picture"].shape == original.shape
    assert np.abs(out["picture"].astype(int) - original).mean() > 1  # the overlay is drawn
    assert set(out["va"]) == {"valence #0", "arousal #0"}
    assert all(-1 <= v <= 1 for v in out["va"].values())
    assert list(out["aus"]) == ["AU1", "AU2", "AU4", "AU6", "AU12", "AU15", "AU20", "AU25"]
    assert all(0 <= p <= 1 for p in out["aus"].values())
    assert sum(out["expression"].values()) == pytest.approx(1.0, abs=1e-3)
    (face,) = out["faces"]
    assert face["face"] == "face #0" and face["valence"] == pytest.approx(
        out["va"]["valence #0"], abs=1e-3
    )
    assert "1 face" in out["status"] and "0 frames dropped" in out["status"]


def test_each_browser_session_keeps_its_own_tracks_and_gru_state(app, files):
    first, second = Client(app, verbose=False), Client(app, verbose=False)
    face = handle_file(files / "face.png")
    a = [numbers(first.predict(face, api_name="/live_frame"))["faces"][0] for _ in range(3)]
    b = numbers(second.predict(face, api_name="/live_frame"))["faces"][0]
    # The state carried over frames in the first session ...
    assert a[2]["valence"] != a[0]["valence"] or a[2]["arousal"] != a[0]["arousal"]
    # ... but the second session started from zero, with its own track ids.
    assert (b["face"], b["valence"], b["arousal"]) == (
        a[0]["face"],
        a[0]["valence"],
        a[0]["arousal"],
    )


def test_every_face_of_a_photo_is_annotated_with_a_table_of_its_outputs(app, files):
    picture, table, note = Client(app, verbose=False).predict(
        handle_file(files / "two_faces.jpg"), api_name="/analyze_image"
    )
    assert cv2.imread(picture).shape == (480, 640, 3)
    rows = [dict(zip(table["headers"], row, strict=True)) for row in table["data"]]
    assert len(rows) == 2 and note.startswith("2 faces found")
    assert {r["face"] for r in rows} == {"face #0", "face #1"}
    for row in rows:
        assert -1 <= row["valence"] <= 1 and 0 <= row["AU12"] <= 1
        assert row["expression"] in (
            "Neutral",
            "Anger",
            "Disgust",
            "Fear",
            "Happiness",
            "Sadness",
            "Surprise",
        )
    assert rows[0]["box_x"] != rows[1]["box_x"]


def test_bad_uploads_get_one_clear_message_and_the_server_keeps_serving(app, files, tmp_path):
    client = Client(app, verbose=False)
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * (6 * 2**20))  # over this server's 5 MB
    cases = [
        ("/analyze_image", files / "wall.png", "no face found in this image"),
        ("/analyze_image", files / "notes.png", "unsupported file type: notes.png is not a photo"),
        ("/analyze_video", files / "empty.mp4", "this video has no frames"),
        ("/analyze_video", files / "face.png", "face.png is a still picture; use the Image tab"),
        ("/analyze_video", files / "notes.png", "unsupported file type: notes.png is not a video"),
    ]
    for endpoint, path, message in cases:
        with pytest.raises(AppError, match=message):
            client.predict(handle_file(path), api_name=endpoint)
    with pytest.raises(Exception, match="(?i)too large|exceeds|maximum"):
        client.predict(handle_file(big), api_name="/analyze_image")
    picture, table, _ = client.predict(handle_file(files / "face.png"), api_name="/analyze_image")
    assert len(table["data"]) == 1


def test_an_uploaded_video_gives_a_playable_annotated_video_timelines_and_csv(app, files):
    video, va, aus, expressions, csv_path, summary = Client(app, verbose=False).predict(
        handle_file(files / "clip.mp4"), api_name="/analyze_video"
    )
    with av.open(video) as clip:  # H.264: what browsers play; the sound is kept
        assert clip.streams.video[0].codec_context.name == "h264"
        assert clip.streams.video[0].frames == 15 and clip.streams.audio
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 15 and {r["track_id"] for r in rows} == {"0"}
    assert {s for _, _, s in va["data"]} == {"valence", "arousal"}
    assert (
        len(va["data"]) == 2 * 15
        and len(aus["data"]) == 8 * 15
        and len(expressions["data"]) == 7 * 15
    )
    times = [t for t, _, s in va["data"] if s == "valence"]
    assert times == sorted(times) and times[-1] == pytest.approx(14 / 15, abs=0.01)
    assert summary.startswith("15 frames, 15 face rows, 1 track;")


def test_an_audio_visual_model_hears_the_browser_microphone_of_its_own_session(files, tmp_path):
    demo, url = serve(files / "av.safetensors")
    try:
        t = np.arange(AUDIO.sample_rate // 2) / AUDIO.sample_rate
        wav = tmp_path / "chunk.wav"
        _write_wav(
            wav, (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16), AUDIO.sample_rate
        )
        talking, silent = Client(url, verbose=False), Client(url, verbose=False)
        talking.predict(handle_file(wav), api_name="/live_audio")
        face = handle_file(files / "face.png")
        heard = numbers(talking.predict(face, api_name="/live_frame"))
        unheard = numbers(silent.predict(face, api_name="/live_frame"))
        assert "A/V skew" in heard["status"]
        assert "no microphone sound yet: the model hears silence" in unheard["status"]
        # The sound changed what the model said; silence is another input.
        assert heard["va"] != unheard["va"]
        _, _, note = silent.predict(handle_file(files / "face.png"), api_name="/analyze_image")
        assert "a photo has no sound, so it heard silence" in note
    finally:
        demo.close()


def _write_wav(path, samples: np.ndarray, rate: int) -> None:
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


def test_serve_without_a_checkpoint_says_what_to_do(capsys, monkeypatch):
    monkeypatch.setattr("avaffect.shipped.available_shipped", lambda: {})
    assert main(["serve"]) == 2
    assert "no shipped model in this install; pass --checkpoint PATH" in capsys.readouterr().err


def test_serve_binds_localhost_unless_told_and_warns_when_exposed(caplog):
    from avaffect.cli.serve import warn_if_exposed

    assert ServeOptions().host == "127.0.0.1"
    with caplog.at_level(logging.WARNING, logger="avaffect"):
        warn_if_exposed(ServeOptions())
        assert not caplog.records
        warn_if_exposed(ServeOptions(host="0.0.0.0"))
        warn_if_exposed(ServeOptions(share=True))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "listening on 0.0.0.0" in messages[0] and "no login" in messages[0]
    assert "public link" in messages[1]


def test_a_busy_port_and_bad_numbers_are_one_line_each(files, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(
            [
                "serve",
                "--checkpoint",
                str(files / "visual.safetensors"),
                "--backend",
                "torch",
                "--port",
                str(port),
                "-q",
            ]
        )
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    assert main(["serve", "--port", "0"]) == 2
    assert "--port 0 is not a TCP port" in capsys.readouterr().err
