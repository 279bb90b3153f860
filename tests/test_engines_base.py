"""The engine interface itself: State rows follow faces, Outputs post-processing, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avaffect.audio import SpectrogramConfig
from avaffect.engines import EngineSpec, Outputs, State
from avaffect.engines.base import check_step_inputs, make_outputs
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec


def numbered_state(n: int, as_torch: bool = False) -> State:
    """Row i holds the value i everywhere, so where each row went is visible."""
    data = np.broadcast_to(np.arange(n, dtype=np.float32)[None, :, None], (2, n, 3)).copy()
    return State(torch.from_numpy(data) if as_torch else data)


@pytest.mark.parametrize("as_torch", [False, True], ids=["numpy", "torch"])
def test_take_reorders_drops_and_starts_new_faces(as_torch):
    state = numbered_state(3, as_torch)
    taken = state.take([2, -1, 0])  # face 2 first, a new face, face 0; face 1 is gone
    assert len(taken) == 3
    rows = taken.numpy()[0, :, 0]
    np.testing.assert_array_equal(rows, [2.0, 0.0, 0.0])
    assert taken.numpy()[:, 1].sum() == 0  # the new face starts from zeros
    assert isinstance(taken.data, torch.Tensor) == as_torch  # storage stays the backend's


def test_take_with_identity_rows_is_free():
    state = numbered_state(4)
    assert state.take(range(4)) is state
    assert state.take([0, 1, 2, 3]) is state


def test_take_to_and_from_empty():
    empty = numbered_state(3).take([])
    assert len(empty) == 0 and empty.numpy().shape == (2, 0, 3)
    fresh = empty.take([-1, -1])
    assert fresh.numpy().shape == (2, 2, 3) and not fresh.numpy().any()


def test_take_rejects_rows_out_of_range():
    with pytest.raises(AvaffectError, match="row 3 is out of range"):
        numbered_state(3).take([0, 3])


def test_frame_model_state_has_no_layers_but_follows_faces():
    state = State(np.zeros((0, 2, 0), np.float32))
    assert len(state.take([1, 0, -1])) == 3


def test_outputs_apply_sigmoid_softmax_and_nan_for_missing_tasks():
    logits = {"expr_logits": np.array([[0, 0, 0, 0, 10, 0, 0]], np.float32)}
    out = make_outputs(logits, 1)  # a single-task expression model
    assert np.isnan(out.valence_arousal).all() and np.isnan(out.au_probs).all()
    assert out.expr_probs.shape == (1, 7)
    assert out.expr_probs.sum() == pytest.approx(1.0) and out.expr_probs.argmax() == 4
    au = make_outputs({"au_logits": np.zeros((2, 8), np.float32)}, 2).au_probs
    np.testing.assert_allclose(au, 0.5)


def test_arcface_scores_are_logits_over_scale():
    raw = {
        "expr_logits": np.full((1, 7), 15.0, np.float32),
        "embedding": np.ones((1, 4), np.float32),
    }
    out = make_outputs(raw, 1, arcface_scale=30.0)
    np.testing.assert_allclose(out.expr_scores, 0.5)
    assert out.embedding.shape == (1, 4)


def test_outputs_become_face_results():
    out = Outputs.empty()
    assert len(out) == 0 and out.face_results(1.0, []) == []
    out = make_outputs({"valence_arousal": np.array([[0.5, -0.25]], np.float32)}, 1)
    (result,) = out.face_results(2.5, [7], boxes=[(1, 2, 3, 4)])
    assert (result.track_id, result.valence, result.arousal, result.box) == (
        7,
        0.5,
        -0.25,
        (1.0, 2.0, 3.0, 4.0),
    )
    with pytest.raises(AvaffectError, match="track ids"):
        out.face_results(0.0, [1, 2])


def spec(uses_face=True, uses_audio=False, max_faces=None) -> EngineSpec:
    return EngineSpec(
        model="m",
        backend="fake",
        device="cpu",
        precision="fp32",
        face=FaceSpec(),
        audio=SpectrogramConfig() if uses_audio else None,
        uses_face=uses_face,
        uses_audio=uses_audio,
        recurrent=True,
        arcface=False,
        hidden_shape=(2, 4),
        input_names=(),
        output_names=(),
        max_faces=max_faces,
    )


def test_step_inputs_are_checked_with_one_clear_line():
    faces = np.zeros((2, 3, 96, 96), np.float32)
    state = State(np.zeros((2, 2, 4), np.float32))
    assert check_step_inputs(spec(), faces, None, state) == 2
    with pytest.raises(AvaffectError, match=r"faces must have shape \[N, 3, 96, 96\]"):
        check_step_inputs(spec(), np.zeros((2, 3, 64, 64), np.float32), None, state)
    with pytest.raises(AvaffectError, match="needs a spectrogram"):
        check_step_inputs(spec(uses_audio=True), faces, None, state)
    with pytest.raises(AvaffectError, match="state holds 2 faces but 1"):
        check_step_inputs(spec(), faces[:1], None, state)
    with pytest.raises(AvaffectError, match="exceed this engine's limit of 1"):
        check_step_inputs(spec(max_faces=1), faces, None, state)
    audio_only = spec(uses_face=False, uses_audio=True)
    spectrograms = np.zeros((2, *SpectrogramConfig().shape), np.float32)
    assert check_step_inputs(audio_only, None, spectrograms, state) == 2
