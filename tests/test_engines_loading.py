"""load_engine and `avaffect export`: the cache, manifests, the rebuild rule, backend choice
and every error a user can cause (each one clear line)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

import numpy as np
import pytest
import torch

from avaffect.checkpoint import CheckpointConfig, file_sha256, save_checkpoint
from avaffect.cli.export import add_export_parser
from avaffect.engines import export_onnx, load_engine
from avaffect.engines.manifest import manifest_path, read_manifest
from avaffect.errors import AvaffectError
from avaffect.train.models import create_model

pytest.importorskip("onnxruntime")

TINY = {"width": 0.0625}
FACES = np.random.default_rng(0).uniform(-1, 1, (2, 3, 96, 96)).astype(np.float32)


def save_tiny(path, name="mt_vgg_rnn_lite", seed=0):
    torch.manual_seed(seed)
    model = create_model(name, **TINY)
    return save_checkpoint(
        path, model.state_dict(), CheckpointConfig(model=name, model_kwargs=TINY)
    )


def va(engine):
    out, _ = engine.step(FACES, None, engine.init_state(2))
    return out.valence_arousal


def test_checkpoint_is_exported_once_into_the_cache_with_a_manifest(tmp_path, caplog):
    ckpt = save_tiny(tmp_path / "model.safetensors")
    caplog.set_level(logging.INFO, logger="avaffect")
    engine = load_engine(ckpt, "onnxruntime", cache_dir=tmp_path / "cache")
    manifest = read_manifest(engine.path)
    assert engine.path.parent.parent == tmp_path / "cache"
    assert manifest.model == "mt_vgg_rnn_lite" and manifest.model_kwargs == TINY
    assert manifest.source_sha256 == file_sha256(ckpt) and manifest.file_sha256 == file_sha256(
        engine.path
    )
    assert {"torch", "onnx", "onnxruntime", "avaffect"} <= set(manifest.versions)
    assert [t.name for t in manifest.inputs] == ["face", "hidden"]
    assert "building ONNX graph" in caplog.text
    caplog.clear()
    again = load_engine(ckpt, "onnxruntime", cache_dir=tmp_path / "cache")
    assert again.path == engine.path and "reusing ONNX graph" in caplog.text
    assert "building" not in caplog.text


def test_changed_checkpoint_rebuilds_or_with_no_rebuild_refuses(tmp_path, caplog):
    ckpt = save_tiny(tmp_path / "model.safetensors")
    first = load_engine(ckpt, "onnxruntime", cache_dir=tmp_path / "cache")
    save_tiny(ckpt, seed=1)  # retrained: same name and options, new weights
    caplog.set_level(logging.INFO, logger="avaffect")
    rebuilt = load_engine(ckpt, "onnxruntime", cache_dir=tmp_path / "cache")
    assert rebuilt.path != first.path  # the cache key follows the checkpoint's hash
    np.testing.assert_allclose(va(rebuilt), va(load_engine(ckpt, "torch")), atol=1e-4)

    exported = tmp_path / "given.onnx"
    export_onnx(ckpt, exported)
    save_tiny(ckpt, seed=2)
    with pytest.raises(AvaffectError, match="stale .*source checkpoint changed.*--no-rebuild"):
        load_engine(exported, "onnxruntime", rebuild=False)
    caplog.clear()
    engine = load_engine(exported, rebuild=True)  # re-exported in place from its checkpoint
    assert "rebuilding ONNX graph" in caplog.text
    assert read_manifest(exported).source_sha256 == file_sha256(ckpt)
    np.testing.assert_allclose(va(engine), va(load_engine(ckpt, "torch")), atol=1e-4)


def test_auto_picks_onnxruntime_on_this_cpu_and_says_why(tmp_path, caplog):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: auto picks a GPU backend here")
    ckpt = save_tiny(tmp_path / "model.safetensors")
    caplog.set_level(logging.INFO, logger="avaffect")
    engine = load_engine(ckpt, cache_dir=tmp_path / "cache")
    assert engine.spec.backend == "onnxruntime" and engine.spec.device == "cpu"
    assert (
        "engine backend: onnxruntime (no NVIDIA GPU visible to PyTorch; ONNX Runtime" in caplog.text
    )


def test_without_onnxruntime_auto_falls_back_to_torch_and_onnxruntime_says_how(
    tmp_path, monkeypatch, caplog
):
    ckpt = save_tiny(tmp_path / "model.safetensors")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(
        AvaffectError, match=r"needs `pip install onnxruntime`.*use --backend torch"
    ):
        load_engine(ckpt, "onnxruntime", cache_dir=tmp_path / "cache")
    if not torch.cuda.is_available():
        caplog.set_level(logging.INFO, logger="avaffect")
        assert load_engine(ckpt, cache_dir=tmp_path / "cache").spec.backend == "torch"
        assert "ONNX Runtime is not installed: PyTorch CPU" in caplog.text


@pytest.mark.parametrize("backend, hint", [("tensorrt", "pip install tensorrt"), ("torch2trt", "")])
def test_gpu_backends_absent_give_one_clear_line(tmp_path, backend, hint):
    try:
        import tensorrt  # noqa: F401

        pytest.skip("tensorrt is installed here")
    except ImportError:
        pass
    ckpt = save_tiny(tmp_path / "model.safetensors")
    with pytest.raises(AvaffectError) as err:
        load_engine(ckpt, backend, cache_dir=tmp_path / "cache")
    message = str(err.value)
    assert (
        "\n" not in message and "NVIDIA GPU" in message and "use --backend onnxruntime" in message
    )
    assert hint in message


def test_corrupt_or_unmanifested_onnx_files_are_refused_clearly(tmp_path):
    ckpt = save_tiny(tmp_path / "model.safetensors")
    path = tmp_path / "model.onnx"
    export_onnx(ckpt, path)
    path.write_bytes(path.read_bytes()[:5000])  # truncated
    with pytest.raises(
        AvaffectError, match=r"stale \(file does not match its manifest \(corrupt or replaced\)\)"
    ):
        load_engine(path, "onnxruntime", rebuild=False)
    manifest = json.loads(manifest_path(path).read_text())
    manifest["file_sha256"] = file_sha256(path)  # a manifest that vouches for a broken file
    manifest_path(path).write_text(json.dumps(manifest))
    with pytest.raises(AvaffectError, match="ONNX Runtime cannot load this graph.*re-export"):
        load_engine(path, "onnxruntime", rebuild=False)
    manifest_path(path).unlink()
    with pytest.raises(AvaffectError, match="no manifest beside it"):
        load_engine(path)


def test_wrong_requests_are_one_clear_line(tmp_path):
    ckpt = save_tiny(tmp_path / "model.safetensors")
    with pytest.raises(
        AvaffectError, match="unknown backend 'tflite'; use auto or one of torch, onnxruntime"
    ):
        load_engine(ckpt, "tflite")
    with pytest.raises(AvaffectError, match="unknown precision 'int4'"):
        load_engine(ckpt, "torch", precision="int4")
    with pytest.raises(AvaffectError, match="neither a checkpoint file nor a shipped model name"):
        load_engine(tmp_path / "missing.safetensors")
    onnx_path = tmp_path / "model.onnx"
    export_onnx(ckpt, onnx_path)
    with pytest.raises(AvaffectError, match="torch backend runs the checkpoint itself"):
        load_engine(onnx_path, "torch")
    with pytest.raises(AvaffectError, match="fp32 graph but fp16 was asked for"):
        load_engine(onnx_path, "onnxruntime", precision="fp16")
    if not torch.cuda.is_available():
        with pytest.raises(AvaffectError, match="fp16 on the PyTorch backend needs a CUDA GPU"):
            load_engine(ckpt, "torch", precision="fp16")
        with pytest.raises(AvaffectError, match="PyTorch sees no CUDA GPU"):
            load_engine(ckpt, "torch", device="cuda")


def export_command(argv: list[str]) -> int:
    """`avaffect export ...` through the subcommand's own parser, as the CLI dispatches it."""
    parser = argparse.ArgumentParser(prog="avaffect")
    add_export_parser(parser.add_subparsers())
    args = parser.parse_args(["export", *argv])
    try:
        return args.func(args)
    except AvaffectError as err:
        print(f"avaffect: error: {err}", file=sys.stderr)
        return 2


def test_export_command_writes_reuses_and_refuses_stale(tmp_path, capsys):
    ckpt = save_tiny(tmp_path / "model.safetensors", name="mt_vgg_lite")
    out = tmp_path / "out"
    assert export_command([str(ckpt), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'model.onnx'}" in printed and "model      mt_vgg_lite" in printed
    assert (out / "model.onnx.manifest.json").is_file()
    assert export_command([str(ckpt), "--out", str(out), "--fp16"]) == 0
    assert read_manifest(out / "model.fp16.onnx").precision == "fp16"
    save_tiny(ckpt, name="mt_vgg_lite", seed=3)
    assert export_command([str(ckpt), "--out", str(out), "--no-rebuild"]) == 2
    assert "stale (source checkpoint changed" in capsys.readouterr().err
    assert export_command([str(ckpt), "--out", str(out)]) == 0
    assert read_manifest(out / "model.onnx").source_sha256 == file_sha256(ckpt)
    assert export_command([str(tmp_path / "nope.safetensors")]) == 2
    assert "neither a checkpoint file" in capsys.readouterr().err
