"""The engine benchmark: a row per backend and face count, absent backends skipped with why."""

from __future__ import annotations

import importlib.util

import pytest

from avaffect.checkpoint import CheckpointConfig, save_checkpoint
from avaffect.demo.bench.engines import bench_engines, format_table
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
