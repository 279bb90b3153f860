"""The model zoo: every registered model builds, runs, trains, and keeps its promises."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from paper import PAPER_MODELS
from torch import nn

from avaffect.checkpoint import CheckpointConfig, load_checkpoint, save_checkpoint
from avaffect.errors import AvaffectError
from avaffect.train.models import (
    AffectModel,
    create_model,
    list_models,
    model_from_checkpoint,
    model_options,
)

ALL_NAMES = [entry.name for entry in list_models()]
TINY_SPECTROGRAM = [1, 40, 12]
OUTPUT_SIZES = {"va": 2, "au": 8, "expr": 7}


def tiny_kwargs(name: str) -> dict:
    """The smallest sensible version of each model, so the whole file runs in seconds."""
    kwargs: dict = {"width": 0.0625}
    if "inception_resnet" in name:
        kwargs["blocks"] = [1, 1, 1]
    if "arcres" in name:
        kwargs["units"] = [1, 1, 1, 1]
    if "arc" in name:
        kwargs["embedding_dim"] = 16
    if "audio" in name or name.startswith("av_"):
        kwargs["spectrogram_shape"] = TINY_SPECTROGRAM
    if name.startswith("av_"):
        kwargs["audio_width"] = 0.0625
    return kwargs


def tiny(name: str, **overrides) -> AffectModel:
    torch.manual_seed(0)
    return create_model(name, **{**tiny_kwargs(name), **overrides})


def inputs(model: AffectModel, batch: int, time: int | None = None):
    """(face, spectrogram) for one frame ([B, ...]) or a sequence ([B, T, ...])."""
    lead = (batch,) if time is None else (batch, time)
    face = None if model.face_shape is None else torch.randn(*lead, *model.face_shape)
    spectrogram = torch.rand(*lead, *model.spectrogram_shape) * 2 - 1 if model.uses_audio else None
    return face, spectrogram


def test_every_paper_model_is_registered_with_a_lite_variant():
    for name in PAPER_MODELS:
        assert name in ALL_NAMES
        assert f"{name}_lite" in ALL_NAMES
    for entry in list_models():
        json.dumps(entry.defaults)  # kwargs go into checkpoints as JSON


@pytest.mark.parametrize("name", ALL_NAMES)
def test_forward_shapes_and_gradients_reach_the_first_conv(name):
    model = tiny(name).train()
    face, spectrogram = inputs(model, batch=2, time=3 if model.recurrent else None)
    if model.recurrent:
        outputs, hidden = model(face, spectrogram)
        lead = (2, 3)
        assert hidden.shape == model.hidden_shape(2)
    else:
        outputs, lead = model(face), (2,)
    expected = list(model.tasks) + (["embedding"] if model.arcface else [])
    assert list(outputs) == expected
    for task in model.tasks:
        assert outputs[task].shape == (*lead, OUTPUT_SIZES[task])
    if "va" in outputs:
        assert outputs["va"].abs().max() <= 1
    if model.arcface:
        assert outputs["embedding"].shape == (*lead, 16)

    sum(value.sum() for value in outputs.values()).backward()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    first_convs = [convs[0]] + [
        c for c in convs if c.in_channels == 1
    ]  # + the spectrogram stream's
    for conv in first_convs:
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("backbone", ["vgg", "sphereface", "inception_resnet"])
@pytest.mark.parametrize("task", ["va", "au", "expr"])
def test_single_task_models_output_only_their_task(backbone, task):
    model = tiny(f"st_{backbone}", task=task).eval()
    assert model.tasks == (task,)
    assert list(model(torch.randn(1, 3, 96, 96))) == [task]


@pytest.mark.parametrize("name", ["mt_vgg_rnn", "mt_vgg_rnn_audio", "av_mt_vgg_rnn"])
def test_step_frame_by_frame_equals_the_sequence_form(name):
    model = tiny(name).eval()
    face, spectrogram = inputs(model, batch=2, time=5)
    start = torch.randn(model.hidden_shape(2)) * 0.5
    with torch.no_grad():
        sequence, last = model(face, spectrogram, start)
        hidden, steps = start, []
        for t in range(5):
            out, hidden = model.step(
                None if face is None else face[:, t],
                None if spectrogram is None else spectrogram[:, t],
                hidden,
            )
            steps.append(out)
    for key, value in sequence.items():
        torch.testing.assert_close(
            torch.stack([s[key] for s in steps], 1), value, atol=1e-5, rtol=0
        )
    torch.testing.assert_close(hidden, last, atol=1e-5, rtol=0)


def test_recurrent_hidden_none_means_zeros():
    model = tiny("mt_vgg_rnn").eval()
    face, _ = inputs(model, batch=2)
    with torch.no_grad():
        a, ha = model.step(face, None, None)
        b, hb = model.step(face, None, model.init_hidden(2))
    torch.testing.assert_close(a["va"], b["va"])
    torch.testing.assert_close(ha, hb)


def test_av_hidden_stacks_the_three_grus():
    model = tiny("av_mt_vgg_rnn").eval()
    assert model.hidden_shape(4) == (6, 4, 128)
    face, spectrogram = inputs(model, batch=1)
    with torch.no_grad():
        _, hidden = model.step(face, spectrogram, None)
        _, face_only = model.face_stream(face[:, None], torch.zeros(2, 1, 128))
    torch.testing.assert_close(hidden[0:2], face_only)  # layers 0-1 are the face GRU's


# --- ArcFace -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mt_arcres", "mt_arcvgg"])
def test_arcface_embedding_is_unit_norm_and_scores_by_weights_until_fitted(name):
    model = tiny(name).eval()
    assert model.arcface and model.scale > 0 and model.margin == 0.5
    with torch.no_grad():
        out = model(torch.randn(4, 3, 96, 96))
    torch.testing.assert_close(out["embedding"].norm(dim=-1), torch.ones(4))
    assert not model.centres_fitted
    torch.testing.assert_close(out["expr"], model.scale * model.arcface_cosine(out["embedding"]))


def test_fit_centres_then_expressions_are_scored_by_the_class_centres(tmp_path):
    model = tiny("mt_arcres").eval()
    faces = torch.randn(7, 3, 96, 96)
    with torch.no_grad():
        embeddings = model(faces)["embedding"]
    # Each class's only training sample is one of the faces: its centre is that embedding,
    # so the rule "nearest centre" must give every face its own class back.
    model.fit_centres(embeddings, torch.arange(7))
    assert bool(model.centres_fitted)
    torch.testing.assert_close(model.centres, embeddings, atol=1e-6, rtol=0)
    with torch.no_grad():
        out = model(faces)
    assert out["expr"].argmax(-1).tolist() == list(range(7))
    torch.testing.assert_close(
        out["expr"], model.scale * embeddings @ embeddings.T, atol=1e-4, rtol=0
    )

    # The centres are buffers: they travel in a checkpoint and come back fitted.
    path = save_checkpoint(
        tmp_path / "arc.safetensors",
        model.state_dict(),
        CheckpointConfig(model="mt_arcres", model_kwargs=tiny_kwargs("mt_arcres")),
    )
    reloaded, _ = model_from_checkpoint(load_checkpoint(path))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(faces)["expr"], out["expr"])


def test_fit_centres_averages_each_class_and_skips_missing_labels():
    model = tiny("mt_arcvgg")
    labels = torch.tensor([0, 1, 2, 3, 4, 5, 6, 0, -1])
    embeddings = torch.nn.functional.normalize(torch.randn(9, 16), dim=-1)
    model.fit_centres(embeddings, labels)
    expected = torch.nn.functional.normalize(embeddings[0] + embeddings[7], dim=0)
    torch.testing.assert_close(model.centres[0], expected)
    torch.testing.assert_close(model.centres[1:], embeddings[1:7])


def test_fit_centres_with_a_missing_class_is_an_error_naming_it():
    model = tiny("mt_arcres")
    labels = torch.tensor([0, 1, 2, 4, 5, 6])  # no 3 = Fear
    with pytest.raises(AvaffectError, match="Fear"):
        model.fit_centres(torch.randn(6, 16), labels)
    assert not model.centres_fitted
    with pytest.raises(AvaffectError, match=r"embeddings \[N, 16\]"):
        model.fit_centres(torch.randn(7, 8), torch.arange(7))
    with pytest.raises(AvaffectError, match="label 9"):
        model.fit_centres(torch.randn(8, 16), torch.tensor([0, 1, 2, 3, 4, 5, 6, 9]))


# --- initialising from trained parts (the paper's recipes) -----------------------------------


def test_load_frame_weights_copies_the_mt_vgg_trunk():
    mt_vgg, rnn = tiny("mt_vgg"), tiny("mt_vgg_rnn")
    torch.manual_seed(1)
    for p in mt_vgg.parameters():
        nn.init.normal_(p)
    assert list(rnn.frame.state_dict()) == list(mt_vgg.trunk.state_dict())
    gru_before = rnn.gru.weight_ih_l0.clone()

    loaded = rnn.load_frame_weights(mt_vgg.state_dict())

    assert loaded == [f"frame.{key}" for key in mt_vgg.trunk.state_dict()]
    for key, value in mt_vgg.trunk.state_dict().items():
        torch.testing.assert_close(rnn.frame.state_dict()[key], value)
    torch.testing.assert_close(rnn.gru.weight_ih_l0, gru_before)


def test_batch_norm_vgg_initialises_its_recurrent_model_and_folds_nothing_away():
    """VGG16-BN (the shipped defaults): the MT-VGG-RNN built alike takes the trunk, BN included."""
    mt_vgg = tiny("mt_vgg", batch_norm=True, face_size=48)
    mt_vgg.train()
    mt_vgg(torch.randn(6, 3, 48, 48))  # BN running statistics move away from their defaults
    rnn = tiny("mt_vgg_rnn", batch_norm=True, face_size=48)
    assert any(isinstance(m, nn.BatchNorm2d) for m in rnn.frame.modules())
    rnn.load_frame_weights(mt_vgg.state_dict())
    mt_vgg.eval(), rnn.eval()
    face = torch.randn(2, 3, 48, 48)
    torch.testing.assert_close(rnn.frame(face), mt_vgg.trunk(face))
    with pytest.raises(AvaffectError, match="lack"):
        tiny("mt_vgg_rnn", face_size=48).load_frame_weights(mt_vgg.state_dict())


def test_mt_arcvgg_starts_from_a_batch_norm_frame_model():
    """MT-ArcVGG built as the shipped frame model (VGG16-BN, mirror averaged) takes its trunk;
    the ArcFace head starts fresh, and an MT-ArcRes cannot take a VGG trunk."""
    mt_vgg = tiny("mt_vgg", batch_norm=True, face_size=48)
    mt_vgg.train()
    mt_vgg(torch.randn(6, 3, 48, 48))
    arc = tiny("mt_arcvgg", batch_norm=True, mirror_average=True, face_size=48)
    head_before = arc.arcface_weight.detach().clone()
    loaded = arc.load_frame_weights(mt_vgg.state_dict())
    assert loaded == [f"trunk.{key}" for key in mt_vgg.trunk.state_dict()]
    mt_vgg.eval(), arc.eval()
    face = torch.randn(2, 3, 48, 48)
    both_sides = (mt_vgg.trunk(face) + mt_vgg.trunk(face.flip(-1))) / 2
    torch.testing.assert_close(arc.trunk(face), both_sides)
    torch.testing.assert_close(arc.arcface_weight, head_before)
    with pytest.raises(AvaffectError, match="MT-ArcRes weights lack 'trunk.stem.0.weight'; is it a MT-ArcRes checkpoint"):
        tiny("mt_arcres", face_size=48).load_frame_weights(mt_vgg.state_dict())


def test_load_frame_weights_of_another_width_is_refused_untouched():
    rnn = tiny("mt_vgg_rnn")
    before = {k: v.clone() for k, v in rnn.state_dict().items()}
    with pytest.raises(AvaffectError, match="another width"):
        rnn.load_frame_weights(tiny("mt_vgg", width=0.125).state_dict())
    for key, value in rnn.state_dict().items():
        assert torch.equal(value, before[key])


def test_load_stream_weights_initialises_both_streams():
    face_rnn, audio_rnn, av = tiny("mt_vgg_rnn"), tiny("mt_vgg_rnn_audio"), tiny("av_mt_vgg_rnn")
    torch.manual_seed(2)
    for p in [*face_rnn.parameters(), *audio_rnn.parameters()]:
        nn.init.normal_(p)
    fusion_before = av.fusion.weight_hh_l1.clone()

    loaded = av.load_stream_weights(
        face_state=face_rnn.state_dict(), audio_state=audio_rnn.state_dict()
    )

    state = av.state_dict()
    for source, stream in ((face_rnn, "face_stream"), (audio_rnn, "audio_stream")):
        for key, value in source.state_dict().items():
            if key.startswith(("frame.", "gru.")):
                assert f"{stream}.{key}" in loaded
                torch.testing.assert_close(state[f"{stream}.{key}"], value)
    assert not any(k.startswith(("fusion.", "heads.")) for k in loaded)
    torch.testing.assert_close(av.fusion.weight_hh_l1, fusion_before)
    assert av.load_stream_weights(audio_state=audio_rnn.state_dict()) == [
        k for k in loaded if k.startswith("audio_stream.")
    ]


# --- mirror averaging -------------------------------------------------------------------------

MIRRORED = ["mt_vgg", "st_vgg", "mt_vgg_rnn", "av_mt_vgg_rnn"]


def run_model(model: AffectModel, face: torch.Tensor, spectrogram) -> dict[str, torch.Tensor]:
    if model.recurrent:
        return model.step(face, spectrogram)[0]
    return model(face)


@pytest.mark.parametrize("name", MIRRORED)
def test_mirror_average_sees_a_face_and_its_mirror_alike_at_inference(name):
    plain = tiny(name, batch_norm=True).eval()
    mirrored = tiny(name, batch_norm=True, mirror_average=True).eval()
    mirrored.load_state_dict(plain.state_dict())  # the option adds no weights
    face, spectrogram = inputs(plain, batch=3)
    with torch.no_grad():
        got = run_model(mirrored, face, spectrogram)
        of_mirror = run_model(mirrored, face.flip(-1), spectrogram)
        one_side = run_model(plain, face, spectrogram)
    for task in got:
        torch.testing.assert_close(got[task], of_mirror[task], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got["expr"], one_side["expr"], atol=1e-4)


def test_mirror_average_is_the_mean_of_both_sides_features_and_leaves_training_alone():
    plain = tiny("mt_vgg", batch_norm=True)
    mirrored = tiny("mt_vgg", batch_norm=True, mirror_average=True)
    face = torch.randn(4, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(mirrored.trunk(face), plain.trunk(face))  # train mode: one side
        plain.eval(), mirrored.eval()
        both = (plain.trunk(face) + plain.trunk(face.flip(-1))) / 2
        torch.testing.assert_close(mirrored.trunk(face), both, atol=1e-5, rtol=1e-5)


def test_model_options_say_which_models_can_mirror_average():
    assert {"mirror_average", "face_size", "width"} <= model_options("mt_vgg_lite")
    assert "mirror_average" not in model_options("mt_vgg_rnn_audio")  # a spectrogram has no mirror
    with pytest.raises(AvaffectError, match="unknown model"):
        model_options("no_such_net")


@pytest.mark.filterwarnings("ignore")  # exporter warnings; parity is the check
def test_mirror_averaged_model_exports_to_onnx_alike():
    ort = pytest.importorskip("onnxruntime")
    model = tiny("mt_vgg", mirror_average=True, face_size=48).eval()
    buffer = io.BytesIO()
    face = torch.randn(2, 3, 48, 48)
    torch.onnx.export(
        model, (face,), buffer, dynamo=False, opset_version=17,
        input_names=["face"], output_names=["va", "au", "expr"],
        dynamic_axes={"face": {0: "n"}} | {k: {0: "n"} for k in ("va", "au", "expr")},
    )
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    face = torch.randn(3, 3, 48, 48)
    got = session.run(None, {"face": face.numpy()})
    with torch.no_grad():
        expected = model(face)
    for g, task in zip(got, ("va", "au", "expr"), strict=True):
        np.testing.assert_allclose(g, expected[task].numpy(), atol=1e-4)


# --- mistakes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("no_such_net", {}, "unknown model"),
        ("mt_vgg", {"colour": "red"}, "bad arguments"),
        ("mt_vgg", {"width": -1}, "width"),
        ("mt_vgg", {"mirror_average": "yes"}, "mirror_average must be true or false"),
        ("st_vgg", {"task": "pain"}, "task"),
        ("mt_arcres", {"margin": 3}, "margin"),
        ("mt_inception_resnet", {"blocks": [1, 2]}, "blocks"),
        ("mt_vgg_rnn_audio", {"spectrogram_shape": [1, 0, 44]}, "spectrogram_shape"),
    ],
)
def test_create_model_mistakes_are_one_line_errors(name, kwargs, message):
    with pytest.raises(AvaffectError, match=message) as err:
        create_model(name, **kwargs)
    assert "\n" not in str(err.value)


def test_wrong_inputs_are_one_line_errors():
    model = tiny("mt_vgg").eval()
    with pytest.raises(AvaffectError, match=r"face \[B,3,96,96\]"):
        model(torch.randn(1, 3, 64, 64))
    audio = tiny("mt_vgg_rnn_audio")
    with pytest.raises(AvaffectError, match="spectrogram"):
        audio.step(None, None, None)
    rnn = tiny("mt_vgg_rnn")
    with pytest.raises(AvaffectError, match="hidden"):
        rnn.step(torch.randn(2, 3, 96, 96), None, torch.zeros(2, 3, 128))


# --- export ----------------------------------------------------------------------------------


class StepGraph(nn.Module):
    """What an engine exports: the step form with tensors in and out."""

    def __init__(self, model: AffectModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, face, spectrogram, hidden):
        outputs, hidden = self.model.step(face, spectrogram, hidden)
        return (*outputs.values(), hidden)


@pytest.mark.filterwarnings(
    "ignore"
)  # the exporter warns about tracing the GRU; parity is the check
def test_av_step_exports_to_onnx_with_a_dynamic_batch():
    ort = pytest.importorskip("onnxruntime")
    model = tiny("av_mt_vgg_rnn", spectrogram_shape=[1, 728, 44])  # the real spectrogram size
    graph = StepGraph(model).eval()  # eval on the wrapper: export restores its mode everywhere
    face, spectrogram = inputs(model, batch=2)
    hidden = torch.randn(model.hidden_shape(2))
    buffer = io.BytesIO()
    torch.onnx.export(
        graph,
        (face, spectrogram, hidden),
        buffer,
        dynamo=False,
        opset_version=17,
        input_names=["face", "spectrogram", "hidden"],
        output_names=["va", "au", "expr", "hidden_out"],
        dynamic_axes={
            "face": {0: "n"},
            "spectrogram": {0: "n"},
            "hidden": {1: "n"},
            "hidden_out": {1: "n"},
        }
        | {k: {0: "n"} for k in ("va", "au", "expr")},
    )
    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    face, spectrogram = inputs(model, batch=3)
    hidden = torch.randn(model.hidden_shape(3))
    got = session.run(
        None, {"face": face.numpy(), "spectrogram": spectrogram.numpy(), "hidden": hidden.numpy()}
    )
    with torch.no_grad():
        expected = graph(face, spectrogram, hidden)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e.numpy(), atol=1e-4)
