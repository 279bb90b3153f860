"""ONNX export and the ONNX Runtime backend match the PyTorch model (fp32 within 1e-4).

Models are tiny (width 1/16) and untrained: parity does not need trained weights, and the
GRU semantics check below shows these weights are lively enough to tell GRU variants apart.
"""

from __future__ import annotations

import engine_parity as parity
import numpy as np
import onnx
import pytest
import torch

from avaffect.checkpoint import CheckpointConfig, save_checkpoint
from avaffect.engines import export_onnx, load_engine
from avaffect.engines.onnx_export import check_gru_semantics
from avaffect.errors import AvaffectError
from avaffect.train.models import create_model, model_from_checkpoint

pytest.importorskip("onnxruntime")

TINY = {"width": 0.0625}
TOL = 1e-4


def make_checkpoint(folder, name: str, prepare=None):
    torch.manual_seed(0)
    model = create_model(name, **TINY).eval()
    if prepare is not None:
        prepare(model)
    return save_checkpoint(
        folder / f"{name}.safetensors",
        model.state_dict(),
        CheckpointConfig(model=name, model_kwargs=TINY),
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("engines")


def engines(checkpoint, cache):
    return load_engine(checkpoint, "torch"), load_engine(checkpoint, "onnxruntime", cache_dir=cache)


def assert_outputs_close(a, b, tol=TOL):
    parity.assert_outputs_close(a, b, atol=tol)


def test_onnxruntime_follows_faces_like_pytorch(folder):
    """The walk every backend's parity test takes (tests/engine_parity.py)."""
    ckpt = make_checkpoint(folder, "av_mt_vgg_rnn_lite")
    torch_engine, ort_engine = engines(ckpt, folder / "cache")
    frames = parity.assert_engines_agree(ort_engine, torch_engine, atol=TOL, steps=12)
    assert {len(f.rows) for f in frames} >= {1, 2}


def random_faces(rng, n):
    return rng.uniform(-1, 1, (n, 3, 96, 96)).astype(np.float32)


def test_frame_model_parity_and_empty_frame(folder):
    ckpt = make_checkpoint(folder, "mt_vgg_lite")
    torch_engine, ort_engine = engines(ckpt, folder / "cache")
    assert ort_engine.spec.backend == "onnxruntime" and not ort_engine.spec.recurrent
    faces = random_faces(np.random.default_rng(1), 5)
    out_t, _ = torch_engine.step(faces, None, torch_engine.init_state(5))
    out_o, state = ort_engine.step(faces, None, ort_engine.init_state(5))
    assert_outputs_close(out_t, out_o)
    assert len(state) == 5 and out_o.valence_arousal.shape == (5, 2)
    assert np.abs(out_o.valence_arousal).max() <= 1.0
    empty, state = ort_engine.step(faces[:0], None, ort_engine.init_state(0))
    assert len(empty) == 0 and empty.expr_probs.shape == (0, 7)


def test_single_task_model_gives_nan_for_the_tasks_it_lacks(folder):
    ckpt = make_checkpoint(folder, "st_vgg_lite")
    torch_engine, ort_engine = engines(ckpt, folder / "cache")
    faces = random_faces(np.random.default_rng(2), 2)
    out_t, _ = torch_engine.step(faces, None, torch_engine.init_state(2))
    out_o, _ = ort_engine.step(faces, None, ort_engine.init_state(2))
    assert np.isnan(out_o.valence_arousal).all() and np.isnan(out_o.au_probs).all()
    np.testing.assert_allclose(out_o.expr_probs.sum(1), 1.0, atol=1e-5)
    assert_outputs_close(out_t, out_o)


def test_gru_state_follows_faces_for_100_steps(folder):
    """Faces come and go; each keeps its own GRU state through State.take, on both backends,
    exactly as the model run face by face with its own hidden state."""
    ckpt = make_checkpoint(folder, "mt_vgg_rnn_lite")
    model, _ = model_from_checkpoint(ckpt)
    torch_engine, ort_engine = engines(ckpt, folder / "cache")
    rng = np.random.default_rng(3)
    tracks: list[int] = []  # track id of each state row, in order
    hidden: dict[int, torch.Tensor] = {}
    states = {e: e.init_state(0) for e in (torch_engine, ort_engine)}
    next_id = 0
    for step in range(100):
        current = [t for t in tracks if rng.random() > 0.1]  # some faces leave
        if len(current) < 4 and rng.random() < 0.3:  # a new face appears
            current.insert(int(rng.integers(0, len(current) + 1)), next_id)
            next_id += 1
        rows = [tracks.index(t) if t in tracks else -1 for t in current]
        faces = random_faces(rng, len(current))
        with torch.inference_mode():
            h = (
                torch.stack([hidden.get(t, torch.zeros(2, 128)) for t in current], 1)
                if current
                else torch.zeros(2, 0, 128)
            )
            ref, h_new = model.step(torch.from_numpy(faces), None, h) if current else ({}, h)
        for engine in (torch_engine, ort_engine):
            out, states[engine] = engine.step(faces, None, states[engine].take(rows))
            if current:
                np.testing.assert_allclose(
                    out.valence_arousal, ref["va"].numpy(), atol=TOL, err_msg=f"step {step}"
                )
                np.testing.assert_allclose(states[engine].numpy(), h_new.numpy(), atol=TOL)
        hidden = {t: h_new[:, i] for i, t in enumerate(current)}
        tracks = current
    assert next_id >= 5  # the walk really added and dropped faces


def test_audio_visual_model_parity_with_spectrograms(folder):
    ckpt = make_checkpoint(folder, "av_mt_vgg_rnn_lite")
    torch_engine, ort_engine = engines(ckpt, folder / "cache")
    spec = ort_engine.spec
    assert spec.uses_audio and spec.uses_face and spec.hidden_shape == (6, 128)
    assert spec.input_names == ("face", "spectrogram", "hidden")
    rng = np.random.default_rng(4)
    states = [torch_engine.init_state(2), ort_engine.init_state(2)]
    for _ in range(5):
        faces = random_faces(rng, 2)
        spectrograms = rng.uniform(-1, 1, (2, *spec.audio.shape)).astype(np.float32)
        out_t, states[0] = torch_engine.step(faces, spectrograms, states[0])
        out_o, states[1] = ort_engine.step(faces, spectrograms, states[1])
        assert_outputs_close(out_t, out_o)
    np.testing.assert_allclose(states[0].numpy(), states[1].numpy(), atol=TOL)
    with pytest.raises(AvaffectError, match="needs a spectrogram"):
        ort_engine.step(faces, None, states[1])


def test_audio_only_model_takes_no_face(folder):
    ckpt = make_checkpoint(folder, "mt_vgg_rnn_audio_lite")
    torch_engine, ort_engine = engines(ckpt, folder / "cache")
    assert not ort_engine.spec.uses_face and ort_engine.spec.input_names == (
        "spectrogram",
        "hidden",
    )
    spectrograms = (
        np.random.default_rng(5)
        .uniform(-1, 1, (3, *ort_engine.spec.audio.shape))
        .astype(np.float32)
    )
    out_t, _ = torch_engine.step(None, spectrograms, torch_engine.init_state(3))
    out_o, _ = ort_engine.step(None, spectrograms, ort_engine.init_state(3))
    assert_outputs_close(out_t, out_o)


def test_arcface_model_with_fitted_centres(folder):
    def fit(model):
        generator = torch.Generator().manual_seed(0)
        embeddings = torch.randn(70, model.embedding_dim, generator=generator)
        model.fit_centres(embeddings, torch.arange(70) % 7)

    ckpt = make_checkpoint(folder, "mt_arcres_lite", prepare=fit)
    model, _ = model_from_checkpoint(ckpt)
    torch_engine, ort_engine = engines(ckpt, folder / "cache")
    faces = random_faces(np.random.default_rng(6), 3)
    out_t, _ = torch_engine.step(faces, None, torch_engine.init_state(3))
    out_o, _ = ort_engine.step(faces, None, ort_engine.init_state(3))
    assert_outputs_close(out_t, out_o)
    # The scores are the cosine to the fitted centres (not to the ArcFace weights).
    centres = torch.nn.functional.normalize(model.centres, dim=-1).numpy()
    np.testing.assert_allclose(out_o.expr_scores, out_o.embedding @ centres.T, atol=TOL)
    np.testing.assert_allclose(np.linalg.norm(out_o.embedding, axis=1), 1.0, atol=1e-5)


def test_exported_gru_has_pytorch_semantics(folder, tmp_path):
    """The exported GRU carries linear_before_reset=1; flipping it to ONNX's default changes
    the numbers far beyond the parity tolerance, so the parity tests would catch it."""
    import onnxruntime as ort

    ckpt = make_checkpoint(folder, "mt_vgg_rnn_lite")
    manifest = export_onnx(ckpt, tmp_path / "rnn.onnx")
    assert manifest.recurrent and manifest.hidden_shape == (2, 128)
    proto = onnx.load(tmp_path / "rnn.onnx")
    assert check_gru_semantics(proto) >= 1
    for node in proto.graph.node:
        for attribute in node.attribute:
            if node.op_type == "GRU" and attribute.name == "linear_before_reset":
                attribute.i = 0
    with pytest.raises(AvaffectError, match="linear_before_reset=0"):
        check_gru_semantics(proto)
    onnx.save(proto, tmp_path / "flipped.onnx")
    rng = np.random.default_rng(7)
    faces = random_faces(rng, 2)
    finals = []
    for path in (tmp_path / "rnn.onnx", tmp_path / "flipped.onnx"):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        hidden = np.zeros((2, 2, 128), np.float32)
        for _ in range(10):
            hidden = session.run(["hidden_out"], {"face": faces, "hidden": hidden})[0]
        finals.append(hidden)
    assert np.abs(finals[0] - finals[1]).max() > 100 * TOL


def test_fp16_graph_keeps_gru_state_fp32_and_stays_close(folder):
    ckpt = make_checkpoint(folder, "mt_vgg_rnn_lite")
    torch_engine = load_engine(ckpt, "torch")
    half = load_engine(ckpt, "onnxruntime", precision="fp16", cache_dir=folder / "cache")
    assert half.spec.precision == "fp16"
    dtypes = {t.name: t.dtype for t in (*half.manifest.inputs, *half.manifest.outputs)}
    assert dtypes == {
        "face": "float16",
        "hidden": "float32",
        "valence_arousal": "float16",
        "au_logits": "float16",
        "expr_logits": "float16",
        "hidden_out": "float32",
    }
    rng = np.random.default_rng(8)
    states = [torch_engine.init_state(2), half.init_state(2)]
    for _ in range(30):
        faces = random_faces(rng, 2)
        out_t, states[0] = torch_engine.step(faces, None, states[0])
        out_h, states[1] = half.step(faces, None, states[1])
    assert_outputs_close(out_t, out_h, tol=5e-3)
    np.testing.assert_allclose(states[0].numpy(), states[1].numpy(), atol=5e-3)
