"""`avaffect eval` on real FER2013 images (from ../shared/data): the paper's measure for the
database (accuracy), per-class F1 and the confusion matrix, with the checkpoint's own input spec."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from avaffect.checkpoint import CheckpointConfig, save_checkpoint
from avaffect.cli import main
from avaffect.face import FaceSpec
from avaffect.labels import EXPRESSIONS
from avaffect.train.evaluation.evaluate import sequence_end_metrics
from avaffect.train.models import create_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FER2013 = DATA / "fer2013" / "fer2013_train_publictest.npz"
pytestmark = pytest.mark.skipif(not FER2013.is_file(), reason=f"FER2013 not found at {FER2013}")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An (untrained) tiny net for 40x40 grey faces: only its own face spec can feed it."""
    kwargs = {"width": 0.125, "face_size": 40}
    model = create_model("mt_sphereface_lite", **kwargs)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    config = CheckpointConfig(model="mt_sphereface_lite", model_kwargs=kwargs, face=FaceSpec(size=40, color="gray"))
    return save_checkpoint(path, model.state_dict(), config)


def evaluate(checkpoint, *extra) -> list[str]:
    return ["eval", "--checkpoint", str(checkpoint), "--dataset", "fer2013", "--path", str(FER2013),
            "--split", "validation", "--limit", "300", "--no-progress", *extra]


def test_eval_prints_accuracy_per_class_f1_and_the_confusion_matrix(checkpoint, capsys):
    assert main(evaluate(checkpoint)) == 0
    text = capsys.readouterr().out
    assert "fer2013 (validation, 300 samples" in text
    assert "Expression accuracy" in text.split("all metrics")[0]  # FER2013's paper measure
    assert "per-class F1" in text and "confusion matrix" in text
    assert all(name in text for name in EXPRESSIONS)


def test_eval_json_is_consistent_with_its_confusion_matrix(checkpoint, capsys):
    assert main(evaluate(checkpoint, "--json", "--split", "PublicTest", "--batch-size", "128")) == 0
    report = json.loads(capsys.readouterr().out)
    matrix = np.array(report["expression"]["confusion_matrix"])
    assert matrix.shape == (7, 7) and matrix.sum() == 300 == report["samples"]
    assert report["headline"] == {"expr_acc": pytest.approx(np.trace(matrix) / 300)}
    assert set(report["metrics"]) == {"expr_f1", "expr_acc", "expr_mean_diag", "abaw_expr"}  # no VA/AU labels
    assert set(report["expression"]["f1_per_class"]) == set(EXPRESSIONS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--checkpoint": "missing.safetensors"}, "neither a checkpoint file nor a shipped model name"),
        ({"--dataset": "cifar10"}, "unknown dataset 'cifar10'"),
        ({"--path": "/no/such/place"}, "no such file or folder"),
        ({"--split": "holdout"}, "unknown split 'holdout'"),
        ({"--limit": "-1"}, "--limit, --num-workers and --sequence-length at least 0"),
    ],
)
def test_eval_mistakes_are_one_line_errors(checkpoint, capsys, change, message):
    argv = evaluate(checkpoint)
    for flag, value in change.items():
        argv[argv.index(flag) + 1] = value
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_streaming_model_is_scored_on_stills_as_one_frame_sequences(tmp_path, capsys):
    """The live default is recurrent: on FER2013 it sees each still as its first frame."""
    kwargs = {"width": 0.0625, "face_size": 40}
    path = save_checkpoint(
        tmp_path / "rnn.safetensors",
        create_model("mt_vgg_rnn_lite", **kwargs).state_dict(),
        CheckpointConfig(model="mt_vgg_rnn_lite", model_kwargs=kwargs, face=FaceSpec(size=40, color="gray")),
    )
    assert main(evaluate(path, "--limit", "50")) == 0
    text = capsys.readouterr().out
    assert "50 samples, 50 frames" in text and "one-frame sequence from a zero GRU state" in text


def test_sequence_length_where_there_are_no_sequences_is_an_error(checkpoint, capsys):
    """A frame model scores one face at a time: the flag would be silently ignored."""
    assert main(evaluate(checkpoint, "--limit", "10", "--sequence-length", "8")) == 2
    err = capsys.readouterr().err
    assert "--sequence-length is for a recurrent model" in err and err.count("\n") == 1


def test_dataset_options_come_from_the_command_line(checkpoint, capsys):
    """--option is a dataset option: with priors FER2013 labels VA and AUs too, so eval scores them."""
    assert main(evaluate(checkpoint, "--json", "--limit", "100", "--option", "priors=true")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["options"] == {"priors": True}
    assert {"va_ccc", "au_f1", "expr_acc"} <= set(report["metrics"])
    assert main(evaluate(checkpoint, "--option", "no.such=1")) == 2
    assert "a dataset option is one word" in capsys.readouterr().err
    assert main(evaluate(checkpoint, "--option", "colour=red")) == 2
    assert "bad options" in capsys.readouterr().err


CREMA = DATA / "crema_d_audio"


@pytest.mark.skipif(not CREMA.is_dir(), reason=f"CREMA-D not found at {CREMA}")
def test_a_visual_model_is_scored_on_the_audio_visual_pairs_faces(tmp_path, capsys):
    """So the fused default can be compared with the visual one on the same sequences."""
    kwargs = {"width": 0.0625, "face_size": 40}
    path = save_checkpoint(
        tmp_path / "rnn.safetensors",
        create_model("mt_vgg_rnn_lite", **kwargs).state_dict(),
        CheckpointConfig(model="mt_vgg_rnn_lite", model_kwargs=kwargs, face=FaceSpec(size=40, color="gray"),
                         training={"sequence_length": 8}),
    )
    argv = ["eval", "--checkpoint", str(path), "--dataset", "fer2013_crema_av", "--path", str(FER2013),
            "--split", "test", "--limit", "3", "--no-progress", "--json",
            "--option", f"crema_d={CREMA}", "--option", "priors=true"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["samples"] == 3 and report["frames"] == 24
    assert "va_ccc_arousal" in report["metrics"]
    assert report["sequence_end"]["sequences"] == 3
    # another model's sequence length, to score both on the same sequences
    assert main([*argv, "--sequence-length", "12"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sequence_length"] == 12 and report["frames"] == 36


def test_sequence_end_scores_read_the_last_labelled_step_of_each_sequence():
    """A clip's decision is the output after hearing all of it, not padding after its end."""
    from avaffect.train.evaluation.evaluate import sequence_end_scores

    true = np.array([[2, 2, 2, -1], [4, 4, 4, 4]])
    logits = np.zeros((2, 4, 7), np.float32)
    logits[:, :, 0] = 1.0  # wrong everywhere ...
    logits[0, 2, 2] = logits[1, 3, 4] = 5.0  # ... except at the last labelled steps
    logits[0, 3, 6] = 9.0  # the padded step is not read
    scores = sequence_end_scores({"expr": logits.reshape(8, 7)}, {"expr": true.reshape(8)}, 4)
    per_class = scores.pop("f1_per_class")  # the classes this split labels; None elsewhere
    assert scores == {"sequences": 2, "expr_acc": 1.0, "expr_f1": 1.0}
    assert per_class["Disgust"] == per_class["Happiness"] == 1.0 and per_class["Neutral"] is None


def test_training_validates_recurrent_models_per_clip_too():
    """What the voice's bars measure is in every validation row of a recurrent run, and a
    recipe can choose its checkpoint by it (select_metric = "end_expr_acc")."""
    true = np.array([[2, 2, 2, -1], [4, 4, 4, 4]])
    logits = np.zeros((2, 4, 7), np.float32)
    logits[:, :, 2] = 1.0  # Disgust everywhere: right on the first clip, wrong on the second
    metrics = sequence_end_metrics({"expr": logits.reshape(8, 7)}, {"expr": true.reshape(8)}, 4)
    assert metrics["end_expr_acc"] == 0.5
    assert sequence_end_metrics({"expr": logits.reshape(8, 7)}, {"expr": true.reshape(8)}, 3) == {}  # not whole sequences
    assert sequence_end_metrics({}, {"va": np.zeros((8, 2))}, 4) == {}
