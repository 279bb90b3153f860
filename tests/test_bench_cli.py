"""`avaffect bench` on the CPU: engine rows for what runs here, GPU rows skipped with the
reason, the pipeline repeated on a paced video of a real face, and the streams search."""

from __future__ import annotations

import json

import cv2
import pytest
import torch
from demo_support import YUNET, face_frame, fer_faces, needs_faces

from avaffect.cli import main

pytest.importorskip("onnxruntime")
TINY = ["--model", "mt_vgg_rnn_lite", "--width", "0.0625"]
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only skips")


@no_gpu
def test_bench_json_on_the_cpu_times_what_runs_and_skips_the_gpu_rows_with_why(capsys):
    code = main(
        ["bench", *TINY, "--batch-sizes", "1", "2", "--steps", "2", "--warmup", "1", "--json", "-q"]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    rows = {
        (r["backend"], r["precision"], r["cuda_graphs"], r["faces"])
        for r in result["engines"]["rows"]
    }
    assert {
        ("torch", "fp32", False, 1),
        ("onnxruntime", "fp32", False, 2),
        ("onnxruntime", "fp16", False, 1),
    } <= rows
    for row in result["engines"]["rows"]:
        assert 0 < row["p50_ms"] <= row["p95_ms"] and row["device"] == "cpu"
    skipped = {
        (s["backend"], s["precision"], s["cuda_graphs"]): s["reason"]
        for s in result["engines"]["skipped"]
    }
    assert "needs a CUDA GPU" in skipped[("torch", "fp16", False)]
    assert "CUDA graphs need a CUDA GPU" in skipped[("torch", "fp32", True)]
    assert "--no-cuda-graphs" in skipped[("torch", "fp32", True)]  # a flag that exists
    if ("tensorrt", "fp16", False) in skipped:  # TensorRT itself may be installed
        assert "tensorrt" in skipped[("tensorrt", "fp16", False)].lower()
    for section in ("pipeline", "streams"):
        assert "pass --face-image PHOTO (or --video FILE)" in result[section]["skipped"]
    machine = result["machine"]
    assert machine["physical_cores"] >= 1 and machine["versions"]["torch"] and machine["os"]
    assert result["model"] == "mt_vgg_rnn_lite" and result["untrained"] is True


@needs_faces
def test_bench_runs_the_pipeline_and_the_streams_search_on_a_face(tmp_path, capsys):
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), face_frame([fer_faces(4)[3]]))
    out = tmp_path / "bench.json"
    code = main(
        ["bench", *TINY, "--pipeline", "--streams", "2", "--face-image", str(face), "--seconds", "1",
         "--repeats", "2", "--streams-budget", "20", "--pipeline-backend", "onnxruntime",
         "--detector-model", str(YUNET), "--json", str(out), "-q"]
    )  # fmt: skip
    assert code == 0
    table = capsys.readouterr().out
    assert "pipeline on 1 s made from" in table and "stages (median/p95 ms)" in table
    assert "concurrent streams, one engine shared by every stream" in table
    result = json.loads(out.read_text())
    assert "engines" not in result  # only the sections asked for
    pipeline = result["pipeline"]
    assert len(pipeline["runs"]) == 2
    for run in pipeline["runs"]:
        assert run["paced"] and run["frame_size"] == [640, 480] and run["source_fps"] == 30
        assert run["frames"] + run["dropped_frames"] + run["warmup_frames"] == 30
    faces = pipeline["faces"]
    # The face is in every frame: measured whenever a frame was timed at all (a loaded
    # machine may process none of a 1 s video after the warm-up, and then says so).
    assert pipeline["measured"] == (faces["frames"] > 0)
    assert pipeline["measured"] or faces["not_measured"] in table
    assert faces["frames_with_face"] >= 0.9 * faces["frames"]
    agg = pipeline["aggregate"]
    assert agg["fps"] > 0 and agg["latency_ms"]["median"] <= agg["latency_ms"]["p95"]
    assert {"detect", "align", "model", "draw"} <= set(agg["stages_ms"])
    streams = result["streams"]
    assert streams["trials"][0]["streams"] == 1 and streams["cap"] == 2
    for trial in streams["trials"]:
        assert len(trial["per_stream"]) == trial["streams"]
        skipped = sum(s["skipped_frames"] for s in trial["per_stream"])
        # a stream that processed nothing (a loaded machine) is not sustained either
        processed = all(s["frames"] > 0 for s in trial["per_stream"])
        assert trial["sustained"] == (skipped == 0 and processed)
    best = streams["max_streams_without_drops"]
    assert best == max([0] + [t["streams"] for t in streams["trials"] if t["sustained"]])


def test_a_video_without_a_face_is_never_called_measured(tmp_path, capsys):
    import numpy as np

    from avaffect.demo.bench.pipeline import make_bench_video

    wall = make_bench_video(tmp_path / "wall.mp4", np.full((48, 48), 96, np.uint8), seconds=3)
    out = tmp_path / "bench.json"
    code = main(
        ["bench", *TINY, "--pipeline", "--streams", "1", "--video", str(wall), "--repeats", "1",
         "--streams-budget", "20", "--pipeline-backend", "onnxruntime", "--json", str(out), "-q"]
    )  # fmt: skip
    assert code == 0
    table = capsys.readouterr().out
    result = json.loads(out.read_text())
    for section in ("pipeline", "streams"):
        body = result[section]
        faces = body["faces"]
        assert body["measured"] is False and faces["measured"] is False
        assert faces["frames_with_face"] == 0 and faces["faces_per_frame"] == 0.0
        # (a machine loaded far beyond its cores may time no frame at all: said differently)
        why = f"faces in 0 of {faces['frames']} frames (<90%)" if faces["frames"] else "no frame"
        assert faces["not_measured"].startswith(f"NOT MEASURED: {why}")
        assert faces["not_measured"] in table
    assert result["pipeline"]["runs"][0]["frames_with_face"] == 0
    assert result["streams"]["trials"][0]["per_stream"][0]["frames_with_face"] == 0
    assert table.index("NOT MEASURED") < table.index("FPS")  # above the figures, not below


def test_bench_refuses_both_a_checkpoint_and_a_model(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--checkpoint", "x.safetensors", "--model", "mt_vgg"])
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["bench", "--engines", "--checkpoint", "missing.safetensors"]) == 2
    assert "neither a checkpoint file nor a shipped model name" in capsys.readouterr().err


@no_gpu
@needs_faces
def test_a_pipeline_on_a_device_that_is_absent_is_skipped_with_the_reason(tmp_path, capsys):
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), face_frame([fer_faces(4)[3]]))
    code = main(
        ["bench", *TINY, "--pipeline", "--streams", "--face-image", str(face), "--seconds", "0.5",
         "--pipeline-backend", "torch", "--pipeline-precision", "fp16", "--json", "-q"]
    )  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for section in ("pipeline", "streams"):
        assert "fp16 on the PyTorch backend needs a CUDA GPU" in result[section]["skipped"]
