"""The engine benchmark: a row per backend and face count, absent backends skipped with why."""

from __future__ import annotations

import importlib.util
import json

import pytest

from avaffect.checkpoint import CheckpointConfig, save_checkpoint
from avaffect.engines.bench import bench_engines, format_table, main
from avaffect.train.models import create_model

pytest.importorskip("onnxruntime")


def test_bench_engines_times_each_backend_and_batch(tmp_path):
    ckpt = save_checkpoint(
        tmp_path / "m.safetensors",
        create_model("mt_vgg_rnn_lite", width=0.0625).state_dict(),
        CheckpointConfig(model="mt_vgg_rnn_lite", model_kwargs={"width": 0.0625}),
    )
    result = bench_engines(
        ckpt,
        ["torch", "onnxruntime", "tensorrt"],
        [1, 2],
        steps=3,
        warmup=1,
        cache_dir=tmp_path / "cache",
    )
    rows = {(r["backend"], r["faces"]): r for r in result["rows"]}
    assert set(rows) >= {("torch", 1), ("torch", 2), ("onnxruntime", 1), ("onnxruntime", 2)}
    for row in rows.values():
        assert 0 < row["p50_ms"] <= row["p95_ms"]
        assert row["faces_per_s"] == pytest.approx(row["faces"] / (row["p50_ms"] / 1000), rel=0.01)
    if importlib.util.find_spec("tensorrt") is None:
        (skipped,) = result["skipped"]
        assert skipped["backend"] == "tensorrt" and "pip install tensorrt" in skipped["reason"]
    table = format_table(result)
    assert "onnxruntime  cpu      fp32      2" in table and "p95 ms" in table
    assert result["model"] == "mt_vgg_rnn_lite" and result["environment"]["physical_cores"] >= 1


def test_bench_script_prints_json(capsys):
    code = main(
        [
            "--model",
            "mt_vgg_lite",
            "--width",
            "0.0625",
            "--backends",
            "onnxruntime",
            "--faces",
            "1",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--json",
        ]
    )
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert [(r["backend"], r["faces"]) for r in result["rows"]] == [("onnxruntime", 1)]
    assert main(["--steps", "1"]) == 2  # neither a checkpoint nor --model
    assert "pass a CHECKPOINT or --model NAME" in capsys.readouterr().err
