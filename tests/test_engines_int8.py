"""int8 on ONNX Runtime: `avaffect calibrate` measures a checkpoint's ranges on its own training
data, `--precision int8` (and `auto`) runs it, and `avaffect eval --backend` scores the engine
as `eval` scores the checkpoint. Faces are FER2013's (../shared/data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from avaffect.checkpoint import CheckpointConfig, load_checkpoint, read_config, save_checkpoint
from avaffect.cli import main
from avaffect.engines import load_engine
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec, crops_to_input
from avaffect.shipped import available_shipped
from avaffect.train.models import create_model

pytest.importorskip("onnxruntime")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FER2013 = DATA / "fer2013" / "fer2013_train_publictest.npz"
pytestmark = pytest.mark.skipif(not FER2013.is_file(), reason=f"FER2013 not found at {FER2013}")

GREY48 = FaceSpec(size=48, color="gray", template="fer2013")
KWARGS = {"width": 0.125, "batch_norm": True, "face_size": 48}


@pytest.fixture(scope="module")
def trained_on_fer(tmp_path_factory):
    """A small frame model whose config says it was trained on FER2013 (weights seeded)."""
    torch.manual_seed(0)
    model = create_model("mt_vgg_lite", **KWARGS).eval()
    training = {"dataset": "fer2013", "path": str(FER2013), "train_split": "Training"}
    config = CheckpointConfig(model="mt_vgg_lite", model_kwargs=KWARGS, face=GREY48, training=training)
    return save_checkpoint(tmp_path_factory.mktemp("int8") / "frame.safetensors", model.state_dict(), config)


@pytest.fixture(scope="module")
def calibrated(trained_on_fer, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "frame_int8.safetensors"
    assert main(["calibrate", str(trained_on_fer), "--out", str(out), "--frames", "64"]) == 0
    return out


def fer_faces(n: int) -> np.ndarray:
    """The last ``n`` FER2013 faces (PublicTest's) as an engine takes them."""
    return crops_to_input(np.load(FER2013)["images"][-n:], GREY48)


def test_calibrate_adds_the_ranges_and_copies_the_weights_unchanged(trained_on_fer, calibrated):
    record = read_config(calibrated).extra["int8"]
    assert record["frames"] == 64 and record["data"]["dataset"] == "fer2013"
    assert record["data"]["split"] == "Training"
    assert len(record["ranges"]["data"]) > 10  # every quantized layer's input and output
    before, after = load_file(str(trained_on_fer)), load_file(str(calibrated))
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert "int8" not in read_config(trained_on_fer).extra  # the source is left alone


def test_int8_engine_follows_the_fp32_engine(calibrated, tmp_path):
    fp32 = load_engine(calibrated, "onnxruntime", precision="fp32", cache_dir=tmp_path)
    int8 = load_engine(calibrated, "onnxruntime", precision="int8", cache_dir=tmp_path)
    assert (fp32.spec.precision, int8.spec.precision) == ("fp32", "int8")
    faces = fer_faces(64)
    a, _ = fp32.step(faces, None, fp32.init_state(64))
    b, _ = int8.step(faces, None, int8.init_state(64))
    assert np.abs(a.valence_arousal - b.valence_arousal).mean() < 0.05
    assert np.abs(a.expr_probs - b.expr_probs).mean() < 0.05


def test_auto_precision_is_int8_only_for_a_calibrated_checkpoint_on_onnxruntime(
    trained_on_fer, calibrated, tmp_path
):
    assert load_engine(calibrated, "onnxruntime", cache_dir=tmp_path).spec.precision == "int8"
    assert load_engine(trained_on_fer, "onnxruntime", cache_dir=tmp_path).spec.precision == "fp32"
    assert load_engine(calibrated, "torch").spec.precision == "fp32"


def test_int8_where_it_cannot_run_is_one_clear_line(trained_on_fer, calibrated, tmp_path):
    with pytest.raises(AvaffectError, match="carries no int8 calibration; run `avaffect calibrate"):
        load_engine(trained_on_fer, "onnxruntime", precision="int8", cache_dir=tmp_path)
    with pytest.raises(AvaffectError, match="int8 runs on ONNX Runtime"):
        load_engine(calibrated, "torch", precision="int8")


def test_calibrate_without_its_training_data_says_to_pass_data(trained_on_fer, tmp_path, capsys):
    ckpt = load_checkpoint(trained_on_fer)
    ckpt.config.training = {**ckpt.config.training, "path": str(tmp_path / "elsewhere.npz")}
    moved = save_checkpoint(tmp_path / "moved.safetensors", ckpt.state_dict, ckpt.config)
    assert main(["calibrate", str(moved), "--out", str(tmp_path / "out.safetensors")]) == 2
    assert "pass --data PATH" in capsys.readouterr().err
    assert not (tmp_path / "out.safetensors").exists()
    assert main(["calibrate", str(moved), "--out", str(tmp_path / "out.safetensors"),
                 "--data", str(FER2013), "--frames", "16"]) == 0  # fmt: skip


def test_ranges_that_name_another_graph_are_refused(calibrated, tmp_path):
    ckpt = load_checkpoint(calibrated)
    ranges = ckpt.config.extra["int8"]["ranges"]
    ranges["data"] = {f"/renamed{name}": value for name, value in ranges["data"].items()}
    stale = save_checkpoint(tmp_path / "stale.safetensors", load_file(str(calibrated)), ckpt.config)
    with pytest.raises(AvaffectError, match="run `avaffect calibrate` on the checkpoint again"):
        load_engine(stale, "onnxruntime", precision="int8", cache_dir=tmp_path)


def test_eval_through_the_engine_scores_what_the_checkpoint_scores(calibrated, capsys):
    args = ["eval", "--checkpoint", str(calibrated), "--dataset", "fer2013", "--path", str(FER2013),
            "--split", "PublicTest", "--limit", "200", "--json", "--no-progress"]  # fmt: skip
    reports = {}
    for name, extra in {"torch": [], "fp32": ["--backend", "onnxruntime", "--precision", "fp32"],
                        "int8": ["--precision", "int8"]}.items():  # fmt: skip
        assert main(args + extra) == 0
        reports[name] = json.loads(capsys.readouterr().out)
    assert reports["fp32"]["precision"] == "fp32" and reports["int8"]["precision"] == "int8"
    assert reports["fp32"]["samples"] == reports["torch"]["samples"] == 200
    # the same predictions, so the same confusion matrix, through PyTorch and ONNX Runtime
    assert reports["fp32"]["expression"]["confusion_matrix"] == reports["torch"]["expression"]["confusion_matrix"]
    for key, value in reports["torch"]["metrics"].items():
        assert reports["fp32"]["metrics"][key] == pytest.approx(value, abs=1e-3), key
        assert reports["int8"]["metrics"][key] == pytest.approx(value, abs=0.1), key


SHIPPED_FRAME = "default_frame_fer2013"


@pytest.mark.skipif(SHIPPED_FRAME not in available_shipped(), reason="shipped weights absent")
def test_the_shipped_frame_model_runs_int8_by_default_and_agrees_with_fp32(tmp_path):
    auto = load_engine(SHIPPED_FRAME, "onnxruntime", cache_dir=tmp_path)
    fp32 = load_engine(SHIPPED_FRAME, "onnxruntime", precision="fp32", cache_dir=tmp_path)
    assert auto.spec.precision == "int8"
    faces = fer_faces(300)
    a, _ = fp32.step(faces, None, fp32.init_state(300))
    b, _ = auto.step(faces, None, auto.init_state(300))
    agree = (a.expr_probs.argmax(1) == b.expr_probs.argmax(1)).mean()
    assert agree >= 0.95, agree



def test_a_recurrent_audio_visual_model_is_calibrated_and_scored_through_its_sequences(
    tmp_path, capsys
):
    """The A/V stream: ranges over whole sequences (faces, spectrograms and the state the fp32
    graph carries), and the engine, stepped frame by frame, scores what PyTorch scores."""
    from demo_support import tiny_checkpoint

    from avaffect.train.data import write_synthetic_affwild2

    data = write_synthetic_affwild2(tmp_path / "affwild2", videos=4, frames=24, audio=True, seed=1)
    tiny = load_checkpoint(tiny_checkpoint(tmp_path / "tiny.safetensors", audio_visual=True))
    tiny.config.training = {"dataset": "affwild2", "path": str(data), "train_split": "train",
                            "sequence_length": 8}  # fmt: skip
    source = save_checkpoint(tmp_path / "av.safetensors", tiny.state_dict, tiny.config)
    out = tmp_path / "av_int8.safetensors"
    assert main(["calibrate", str(source), "--out", str(out), "--frames", "32"]) == 0
    record = read_config(out).extra["int8"]
    assert record["frames"] == 32 and record["data"]["split"] == "train"

    args = ["eval", "--checkpoint", str(out), "--dataset", "affwild2", "--path", str(data),
            "--json", "--no-progress"]  # fmt: skip
    reports = []
    for extra in ([], ["--backend", "onnxruntime", "--precision", "fp32"], ["--precision", "int8"]):
        assert main(args + extra) == 0
        reports.append(json.loads(capsys.readouterr().out))
    torch_run, fp32, int8 = reports
    assert (fp32["precision"], int8["precision"]) == ("fp32", "int8")
    assert fp32["frames"] == torch_run["frames"] > 0
    for key, value in torch_run["metrics"].items():
        assert fp32["metrics"][key] == pytest.approx(value, abs=1e-3), key
    assert np.isfinite(list(int8["metrics"].values())).all()


def test_export_int8_writes_a_graph_that_loads_as_int8(calibrated, trained_on_fer, tmp_path):
    assert main(["export", str(calibrated), "--int8", "--out", str(tmp_path)]) == 0
    graph = tmp_path / "frame_int8.int8.onnx"
    engine = load_engine(graph, "onnxruntime")
    assert engine.spec.precision == "int8"
    faces = fer_faces(4)
    out, _ = engine.step(faces, None, engine.init_state(4))
    assert np.isfinite(out.valence_arousal).all()
    assert main(["export", str(trained_on_fer), "--int8", "--out", str(tmp_path)]) == 2  # not calibrated


@pytest.mark.skipif("default_arcvgg_fer2013" not in available_shipped(), reason="shipped weights absent")
def test_the_arcface_embedding_stays_unit_length_in_int8(tmp_path):
    engine = load_engine("default_arcvgg_fer2013", "onnxruntime", cache_dir=tmp_path)
    assert engine.spec.precision == "int8"
    out, _ = engine.step(fer_faces(16), None, engine.init_state(16))
    assert np.allclose(np.linalg.norm(out.embedding, axis=1), 1.0, atol=1e-5)
