"""End to end: a real video with a face and a sound track, made here with PyAV, through
`avaffect analyze` and `avaffect live --headless`, with a tiny untrained checkpoint."""

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from avaffect.audio import SpectrogramConfig
from avaffect.checkpoint import CheckpointConfig, save_checkpoint
from avaffect.cli import main
from avaffect.face import FaceSpec
from avaffect.realtime.detector_model import SHIPPED_YUNET

av = pytest.importorskip("av", reason="PyAV (the 'audio' extra) writes and reads the test video")
engines = pytest.importorskip(
    "avaffect.engines.loader", reason="avaffect.engines has no loader yet"
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
YUNET = SHIPPED_YUNET  # the face detector inside the package
FER = DATA / "fer2013" / "fer2013_train_publictest.npz"
pytestmark = pytest.mark.skipif(
    not FER.is_file(), reason=f"needs FER2013 in {DATA}"
)

FPS, FRAMES, RATE = 15, 24, 16000
AUDIO = SpectrogramConfig(sample_rate=RATE, context_s=0.5)


def write_video(path: Path, with_audio: bool = True) -> Path:
    """A 320x240 clip: a FER2013 face drifting right, and a 440 Hz tone (AAC) under it."""
    face = cv2.resize(np.load(FER)["images"][3], (120, 120), interpolation=cv2.INTER_CUBIC)
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=FPS)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        sound = out.add_stream("aac", rate=RATE, layout="mono") if with_audio else None
        for i in range(FRAMES):
            frame = np.full((240, 320), 110, np.uint8)
            frame[60:180, 80 + 2 * i : 200 + 2 * i] = face
            image = av.VideoFrame.from_ndarray(
                cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), format="bgr24"
            )
            out.mux(video.encode(image))
        out.mux(video.encode(None))
        if sound is not None:
            t = np.arange(int(RATE * FRAMES / FPS)) / RATE
            tone = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, len(tone), 1024):
                block = av.AudioFrame.from_ndarray(
                    tone[None, start : start + 1024], format="flt", layout="mono"
                )
                block.sample_rate, block.pts = RATE, start
                out.mux(sound.encode(block))
            out.mux(sound.encode(None))
    return path


def tiny_checkpoint(path: Path, audio_visual: bool, step_rate: float | None = None) -> Path:
    from avaffect.train.models.registry import create_model

    if audio_visual:
        kwargs = {"width": 0.0625, "audio_width": 0.0625, "spectrogram_shape": list(AUDIO.shape)}
        name, audio = "av_mt_vgg_rnn_lite", AUDIO
    else:
        name, kwargs, audio = "mt_vgg_rnn_lite", {"width": 0.0625}, None
    model = create_model(name, **kwargs)
    return save_checkpoint(
        path, model.state_dict(),
        CheckpointConfig(model=name, model_kwargs=kwargs, audio=audio, training={"step_rate": step_rate}),
    )  # fmt: skip


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("analyze")
    write_video(root / "talk.mp4")
    write_video(root / "silent.mp4", with_audio=False)
    tiny_checkpoint(root / "av.safetensors", audio_visual=True)
    tiny_checkpoint(root / "visual.safetensors", audio_visual=False)
    tiny_checkpoint(root / "av_5_steps.safetensors", audio_visual=True, step_rate=5.0)
    return root


def analyze(workdir: Path, video: str, ckpt: str, *extra: str) -> int:
    args = [
        "analyze",
        str(workdir / video),
        "--checkpoint",
        str(workdir / ckpt),
        "--backend",
        "torch",
    ]
    return main([*args, "--detector-model", str(YUNET), "-q", *extra])


def test_analyze_writes_a_row_per_face_per_frame_an_annotated_video_and_a_summary(workdir):
    out = workdir / "out_av"
    assert analyze(workdir, "talk.mp4", "av.safetensors", "--out", str(out)) == 0

    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["frame"]) for r in rows] == list(range(FRAMES))  # one face in every frame
    assert {r["track_id"] for r in rows} == {"0"}  # the drifting face keeps its track
    np.testing.assert_allclose(
        [float(r["timestamp"]) for r in rows], np.arange(FRAMES) / FPS, atol=1e-3
    )
    for r in rows:
        assert -1 <= float(r["valence"]) <= 1 and -1 <= float(r["arousal"]) <= 1
        assert 0 <= float(r["AU12"]) <= 1 and r["expression"]
        assert 80 <= float(r["box_x"]) + float(r["box_w"]) / 2 <= 260
    lines = (out / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame"] for line in lines] == list(range(FRAMES))
    assert json.loads(lines[5])["valence"] == pytest.approx(float(rows[5]["valence"]))

    with av.open(str(out / "annotated.mp4")) as clip:  # fragmented: count by decoding
        assert sum(1 for _ in clip.decode(video=0)) == FRAMES
    with av.open(str(out / "annotated.mp4")) as clip:
        assert clip.streams.audio, "the original sound is encoded alongside"
        sound = np.concatenate([f.to_ndarray().reshape(-1) for f in clip.decode(audio=0)])
    assert len(sound) / RATE == pytest.approx(FRAMES / FPS, abs=0.1)
    assert 0.2 < np.abs(sound).max() < 0.6

    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == FRAMES and summary["face_rows"] == FRAMES
    assert summary["audio"] == "file" and summary["model"] == "av_mt_vgg_rnn_lite"
    assert summary["dropped_frames"] == 0 and summary["detector"] == "yunet"
    assert summary["av_skew_ms"]["max"] <= 1000 / FPS
    assert {"detect", "align", "spectrogram", "model", "draw"} <= set(summary["stages_ms"])


def test_an_audio_visual_model_on_a_silent_file_is_refused_with_the_reason(workdir, capsys):
    assert analyze(workdir, "silent.mp4", "av.safetensors", "--out", str(workdir / "x")) == 2
    err = capsys.readouterr().err
    assert "audio-visual" in err and "has no audio track" in err and "Traceback" not in err
    assert (
        analyze(workdir, "talk.mp4", "av.safetensors", "--no-audio", "--out", str(workdir / "y"))
        == 2
    )
    assert "--no-audio" in capsys.readouterr().err


def test_a_visual_model_runs_on_a_silent_file_without_the_video(workdir):
    out = workdir / "out_visual"
    assert (
        analyze(workdir, "silent.mp4", "visual.safetensors", "--out", str(out), "--no-video") == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["audio"] is None and summary["frames"] == FRAMES
    assert not (out / "annotated.mp4").exists()


def test_live_headless_on_a_file_writes_rows_and_a_recording(workdir):
    rows, video = workdir / "live.csv", workdir / "live.mp4"
    args = [
        "live",
        "--headless",
        "--source",
        str(workdir / "talk.mp4"),
        "--checkpoint",
        str(workdir / "visual.safetensors"),
    ]
    assert (
        main(
            [
                *args,
                "--backend",
                "torch",
                "--detector-model",
                str(YUNET),
                "--csv",
                str(rows),
                "--record",
                str(video),
                "-q",
            ]
        )
        == 0
    )
    with open(rows, newline="") as handle:
        frames = [int(r["frame"]) for r in csv.DictReader(handle)]
    assert frames and frames == sorted(frames)  # paced as if live: late frames may be dropped
    with av.open(str(video)) as clip:
        assert clip.streams.audio and sum(1 for _ in clip.decode(video=0)) >= len(frames)


def test_without_a_checkpoint_and_no_shipped_model_the_message_says_what_to_do(
    workdir, capsys, monkeypatch
):
    monkeypatch.setattr("avaffect.shipped.available_shipped", lambda: {})
    assert main(["analyze", str(workdir / "talk.mp4")]) == 2
    assert "no shipped model in this install; pass --checkpoint PATH" in capsys.readouterr().err


def test_bench_pipeline_reports_fps_stage_times_drops_and_latency(workdir):
    from avaffect.demo.bench.pipeline import bench_pipeline, make_bench_video

    face = np.load(FER)["images"][3]
    video = make_bench_video(workdir / "bench.mp4", face, seconds=1.0, fps=15, sample_rate=RATE)
    with av.open(str(video)) as clip:
        assert (clip.streams.video[0].width, clip.streams.video[0].height) == (640, 480)
    summary = bench_pipeline(
        video, workdir / "av.safetensors", "torch", detector_model=YUNET, paced=True, warmup=2
    )
    assert summary["frame_size"] == [640, 480] and summary["paced"] is True
    assert summary["frames"] + summary["dropped_frames"] + 2 == 15
    assert summary["fps"] > 0 and summary["face_rows"] == summary["frames"]
    for stage in ("detect", "align", "spectrogram", "model", "draw"):
        assert summary["stages_ms"][stage]["median"] <= summary["stages_ms"][stage]["p95"]
    assert summary["latency_ms"]["median"] > 0


@pytest.mark.parametrize(
    ("video", "extra", "model"),
    [
        ("talk.mp4", [], "av_mt_vgg_rnn_lite"),  # the file has sound: the shipped fused model hears it
        ("silent.mp4", [], "mt_vgg_rnn_lite"),  # no track: the shipped streaming model, not a refusal
        ("talk.mp4", ["--no-audio"], "mt_vgg_rnn_lite"),
    ],
)
def test_without_a_checkpoint_the_fused_model_runs_when_there_is_sound(workdir, caplog, video, extra, model):
    out = workdir / f"out_default_{video}_{len(extra)}"
    args = ["analyze", str(workdir / video), "--out", str(out), "--backend", "torch", *extra]
    with caplog.at_level("INFO", logger="avaffect.realtime"):
        assert main([*args, "--detector-model", str(YUNET)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == model and summary["face_rows"] == FRAMES
    assert (summary["audio"] is not None) == (model == "av_mt_vgg_rnn_lite")
    said = "running the audio-visual model" if model.startswith("av") else "audio: n"
    assert said in caplog.text


def arcface_checkpoint(path: Path) -> Path:
    from avaffect.train.models.registry import create_model

    kwargs = {"width": 0.0625, "embedding_dim": 16, "face_size": 48}
    model = create_model("mt_arcres_lite", **kwargs)
    face = FaceSpec(size=48, color="gray", template="fer2013")
    return save_checkpoint(path, model.state_dict(), CheckpointConfig(model="mt_arcres_lite", model_kwargs=kwargs, face=face))


def test_embeddings_go_into_the_jsonl_and_an_npy_beside_the_csv(workdir):
    arc = arcface_checkpoint(workdir / "arc.safetensors")
    out = workdir / "out_arc"
    assert analyze(workdir, "talk.mp4", arc.name, "--out", str(out), "--no-video", "--embeddings") == 0
    with open(out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    embeddings = np.load(out / "results_embeddings.npy")
    assert embeddings.shape == (len(rows), 16) == (len(lines), 16) and embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-4)  # L2-normalised
    np.testing.assert_allclose(lines[3]["embedding"], embeddings[3], atol=1e-5)
    assert lines[3]["valence"] == pytest.approx(float(rows[3]["valence"]))


def test_embeddings_from_a_model_without_them_are_refused_with_the_fix(workdir, capsys):
    out = workdir / "out_no_arc"
    assert main(["analyze", str(workdir / "silent.mp4"), "--checkpoint", str(workdir / "visual.safetensors"),
                 "--detector-model", str(YUNET), "-q", "--out", str(out), "--embeddings"]) != 0
    err = capsys.readouterr().err
    assert "--embeddings needs an ArcFace model" in err and "default_arcvgg_fer2013" in err
    assert not out.exists()  # refused before any file: nothing that looks like an earlier run


def repeated_rows(out: Path) -> int:
    """Rows whose outputs are those of the row before (the model did not step)."""
    rows = list(csv.DictReader(open(out / "results.csv")))
    kept = [k for k in rows[0] if k not in ("frame", "timestamp") and not k.startswith("box")]
    outputs = [[r[k] for k in kept] for r in rows]
    return sum(a == b for a, b in zip(outputs, outputs[1:], strict=False))


def test_a_model_trained_at_5_steps_a_second_steps_at_5_on_a_15_fps_video(workdir, caplog):
    """Its GRU learnt a 0.2 s clock: stepped on every frame it would hear three times too
    many steps. Each face keeps its outputs between steps; --every-frame steps them all."""
    paced, every = workdir / "out_paced", workdir / "out_every"
    with caplog.at_level("INFO", logger="avaffect.realtime"):
        assert analyze(workdir, "talk.mp4", "av_5_steps.safetensors", "--out", str(paced)) == 0
    assert "stepped 5 times a second" in caplog.text
    assert analyze(workdir, "talk.mp4", "av_5_steps.safetensors", "--out", str(every), "--every-frame") == 0
    # 24 frames at 15 fps: a step on frames 0, 3, 6 ... 21, each held for the next two
    assert repeated_rows(paced) == FRAMES - FRAMES // 3
    assert repeated_rows(every) == 0
    summary = json.loads((paced / "summary.json").read_text())
    assert summary["face_rows"] == FRAMES  # a row every frame
    assert (summary["model_rate"], summary["model_steps"]) == (5.0, FRAMES // 3)
    summary = json.loads((every / "summary.json").read_text())
    assert (summary["model_rate"], summary["model_steps"]) == (None, FRAMES)

