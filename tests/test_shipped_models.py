"""The models shipped inside the package: listed, small, self-describing, loadable by name with
no flag and no network, and as accurate on their held-out data as the model card says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avaffect.checkpoint import read_config
from avaffect.cli import main
from avaffect.engines import load_engine
from avaffect.face import FaceSpec
from avaffect.shipped import (
    DEFAULT_MODEL,
    SHIPPED,
    available_shipped,
    default_checkpoint,
    resolve_checkpoint,
)
from avaffect.train.config import load_recipe

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FER2013 = DATA / "fer2013" / "fer2013_train_publictest.npz"
CREMA_D = DATA / "crema_d_audio"
RAVDESS = DATA / "ravdess_speech"

#: where each shipped model is scored on data it never trained on (a bounded, evenly spread
#: subset: faces, or sequences of the paired test set), and the least accuracy it must keep
#: there; the model card gives the full-split figures. Chance is 1/7 on FER2013 and 1/6 on
#: CREMA-D's six emotions.
HELD_OUT = {
    "default_stream_fer2013": ("fer2013", FER2013, "PublicTest", {}, 600, 0.63),  # scores 0.693
    "default_frame_fer2013": ("fer2013", FER2013, "PublicTest", {}, 600, 0.65),  # scores 0.703
    # speech of the six test actors, never heard in training (per 0.2 s step, first steps too)
    "default_audio_crema_d": ("crema_d", CREMA_D, "test", {}, 120, 0.38),
    # RAVDESS's six test actors (seven classes, Surprise among them), per 0.4 s step (its rate)
    "default_audio_crema_d_ravdess": ("ravdess", RAVDESS, "test", {}, 120, 0.28),  # all 360: 0.421
    # odd PublicTest faces with the test actors' speech of both corpora: neither seen in training
    "default_av_fer2013_crema_d_ravdess": (
        "fer2013_crema_av", FER2013, "test",
        {"crema_d": str(CREMA_D), "ravdess": str(RAVDESS), "priors": True}, 60, 0.55,  # 240: 0.688
    ),
    "default_arcvgg_fer2013": ("fer2013", FER2013, "PublicTest", {}, 600, 0.63),  # by its class centres; all 3,589: 0.687
}


def test_every_shipped_model_is_in_the_install():
    assert list(available_shipped()) == list(SHIPPED)
    assert default_checkpoint() == resolve_checkpoint(DEFAULT_MODEL) == available_shipped()[DEFAULT_MODEL]


def test_models_shipped_lists_a_header_then_one_line_per_name(capsys):
    assert main(["models", "--shipped"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "MODEL"]
    rows = lines[1 : 1 + len(SHIPPED)]
    assert [row.split()[0] for row in rows] == list(SHIPPED)
    assert f"{DEFAULT_MODEL} *" in "\n".join(rows)  # the default is marked


def test_models_shipped_says_when_an_accuracy_is_not_what_the_file_computes(capsys):
    assert main(["models", "--shipped"]) == 0
    out = capsys.readouterr().out
    acc = {row.split()[0]: row for row in out.splitlines()[1 : 1 + len(SHIPPED)]}
    arcface = acc["default_arcvgg_fer2013"]
    assert "~" in arcface.split("48px gray")[1].split()[2]  # the ACC cell, after FACE AUDIO MB
    assert "~" not in acc[DEFAULT_MODEL].split("48px gray")[1].split()[2]
    assert "~ by the ArcFace class weights" in out


def test_shipped_weights_are_small_enough_for_git():
    sizes = {name: path.stat().st_size for name, path in available_shipped().items()}
    assert all(size <= 10e6 for size in sizes.values()), sizes
    assert sum(sizes.values()) <= 32e6, sizes


def test_every_shipped_model_has_a_held_out_check():
    assert set(HELD_OUT) == set(SHIPPED)


@pytest.mark.parametrize("name", list(SHIPPED))
def test_a_shipped_model_says_how_it_was_made_and_what_it_eats(name):
    config = read_config(resolve_checkpoint(name))
    assert config.training["recipe"] == name  # `avaffect train NAME` reproduces it
    _, recipe = load_recipe(name)
    assert config.training["dataset"] == recipe["data"]["dataset"]
    if "face" in recipe:  # every model that sees a face; the audio stream alone sees none
        assert config.face == FaceSpec(size=48, color="gray", template="fer2013")
    assert config.extra["packed"]["dtype"] == "float16"
    if "audio" in recipe:  # CREMA-D is recorded at 16 kHz: the rate travels with the model
        assert config.audio is not None and config.audio.sample_rate == 16000


@pytest.mark.parametrize("name", list(SHIPPED))
def test_a_shipped_model_loads_by_name_and_steps(name):
    engine = load_engine(name, backend="torch")
    rng = np.random.default_rng(0)
    spec = engine.spec
    faces = rng.uniform(-1, 1, (2, *spec.face.shape)).astype(np.float32) if spec.uses_face else None
    sound = rng.normal(0, 1, (2, *spec.spectrogram_shape)).astype(np.float32) if spec.uses_audio else None
    out, state = engine.step(faces, sound, engine.init_state(2))
    assert out.expr_probs.shape == (2, 7) and np.allclose(out.expr_probs.sum(1), 1, atol=1e-4)
    assert np.all(np.abs(out.valence_arousal) <= 1) and out.au_probs.shape == (2, 8)
    assert len(state) == 2


@pytest.mark.parametrize("name", list(SHIPPED))
def test_a_shipped_model_recognises_expressions_it_never_trained_on(name):
    from avaffect.train.evaluation.evaluate import evaluate_checkpoint

    dataset, path, split, options, limit, floor = HELD_OUT[name]
    speech = {"crema_d": CREMA_D, "ravdess": RAVDESS}
    for needed in (path, *(speech[key] for key in speech if key in dataset or key in options)):
        if not needed.exists():
            pytest.skip(f"held-out data not found at {needed}")
    report = evaluate_checkpoint(
        name, dataset, str(path), split=split, limit=limit, options=options, progress=False
    )
    assert report["samples"] == limit
    assert report["metrics"]["expr_acc"] >= floor, report["metrics"]


def test_every_shipped_file_has_its_checksum_and_matches_it():
    from avaffect.shipped import WEIGHTS_DIR, expected_checksums

    assert set(expected_checksums()) == {fname for fname, _ in SHIPPED.values()}
    for name in SHIPPED:
        assert resolve_checkpoint(name).parent == WEIGHTS_DIR  # checked, not refused


def test_a_damaged_shipped_file_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    import shutil

    from avaffect import shipped

    for fname in (SHIPPED[DEFAULT_MODEL][0], shipped.CHECKSUMS):
        shutil.copy(shipped.WEIGHTS_DIR / fname, tmp_path / fname)
    damaged = tmp_path / SHIPPED[DEFAULT_MODEL][0]
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 0xFF  # one flipped byte in the last weight
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(shipped, "WEIGHTS_DIR", tmp_path)
    assert main(["models", "--shipped"]) == 0  # listing needs no check
    capsys.readouterr()
    assert main(["export", DEFAULT_MODEL, "--to", "onnx", "--out", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"avaffect: error: {damaged}: the shipped file is damaged")
    assert "\n" not in err and "reinstall avaffect" in err


def test_the_arcface_model_returns_its_normalised_embedding_from_the_engine():
    engine = load_engine("default_arcvgg_fer2013", backend="torch")
    assert engine.spec.arcface
    faces = np.random.default_rng(0).uniform(-1, 1, (3, *engine.spec.face.shape)).astype(np.float32)
    out, _ = engine.step(faces, None, engine.init_state(3))
    assert out.embedding is not None and out.embedding.shape[0] == 3
    np.testing.assert_allclose(np.linalg.norm(out.embedding, axis=1), 1.0, atol=1e-3)
    face = out.face_results(0.0, [7, 8, 9])[0]
    np.testing.assert_array_equal(face.embedding, out.embedding[0])  # the contract's record carries it


def test_the_default_with_sound_is_the_fused_model_that_heard_surprise():
    from avaffect.shipped import DEFAULT_AV_MODEL

    assert DEFAULT_AV_MODEL == "default_av_fer2013_crema_d_ravdess" and DEFAULT_AV_MODEL in available_shipped()


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_a_shipped_recurrent_model_steps_live_at_the_rate_it_was_trained_at(backend):
    """Its checkpoint carries the clock its GRU learnt; the engine reports it to the stream,
    whatever the backend (an exported engine reads it from its manifest)."""
    rates = {
        "default_audio_crema_d_ravdess": 2.5,  # the voice: 2.5 steps a second
        "default_av_fer2013_crema_d_ravdess": 10.0,  # the fused model: 10
        "default_stream_fer2013": None,  # sequences of frames, no clock of its own: every frame
    }
    for name, rate in rates.items():
        assert load_engine(name, backend=backend, precision="fp32").spec.step_rate == rate, name

