"""One parity check for every engine backend: two engines walk the same faces (and
spectrograms) through the same appearances and departures, and agree on every output and
on the hidden state, step by step.

Used by the ONNX Runtime, TensorRT (fake and real) and torch2trt (fake and real) tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OUTPUT_FIELDS = ("valence_arousal", "au_probs", "expr_probs", "embedding", "expr_scores")


@dataclass(frozen=True)
class Frame:
    rows: list[int]  # State.take rows: the previous row of each face, -1 for a new one
    faces: np.ndarray | None
    spectrograms: np.ndarray | None


def face_walk(spec, steps: int = 20, seed: int = 0, max_faces: int = 3) -> list[Frame]:
    """A fixed walk for ``spec``'s inputs: each face may leave (p = 0.1), a new one may come
    (p = 0.4 while fewer than ``max_faces``), so face counts and row orders change."""
    rng = np.random.default_rng(seed)
    frames, n = [], 0
    for _ in range(steps):
        rows = [i for i in range(n) if rng.random() > 0.1]
        if len(rows) < max_faces and rng.random() < 0.4:
            rows.insert(int(rng.integers(0, len(rows) + 1)), -1)
        count = len(rows)
        faces = _uniform(rng, count, spec.face.shape) if spec.uses_face else None
        audio = _uniform(rng, count, spec.audio.shape) if spec.uses_audio else None
        frames.append(Frame(rows, faces, audio))
        n = count
    return frames


def _uniform(rng, count: int, shape) -> np.ndarray:
    return rng.uniform(-1, 1, (count, *shape)).astype(np.float32)


def run_walk(engine, frames: list[Frame]) -> list[tuple]:
    """(outputs, hidden state as numpy) of every step."""
    state, history = engine.init_state(0), []
    for frame in frames:
        out, state = engine.step(frame.faces, frame.spectrograms, state.take(frame.rows))
        history.append((out, state.numpy().copy()))  # a CPU stand-in's buffers are reused
    return history


def assert_outputs_close(a, b, atol: float, what: str = "") -> None:
    for field in OUTPUT_FIELDS:
        x, y = getattr(a, field), getattr(b, field)
        assert (x is None) == (y is None), f"{what}{field}"
        if x is not None:
            np.testing.assert_allclose(
                x, y, atol=atol, rtol=0, err_msg=f"{what}{field}", equal_nan=True
            )


def assert_engines_agree(engine, reference, atol: float, steps: int = 20, seed: int = 0):
    """``engine`` and ``reference`` agree within ``atol`` on every output and state of a
    walk of ``steps`` frames; returns the walk (to check, e.g., that faces came and went)."""
    frames = face_walk(reference.spec, steps, seed, min(3, engine.spec.max_faces or 3))
    for i, ((out, state), (ref, ref_state)) in enumerate(
        zip(run_walk(engine, frames), run_walk(reference, frames), strict=True)
    ):
        assert_outputs_close(out, ref, atol, what=f"step {i}: ")
        np.testing.assert_allclose(state, ref_state, atol=atol, err_msg=f"step {i}: state")
    return frames
