"""One engine (one copy of the weights) serving several streams at once.

Engines keep no state, but they are not all safe to call from two threads at once: a
TensorRT execution context, the CUDA-graph buffers of the torch backend and its reused
hidden-state buffers belong to one caller at a time. :class:`SharedEngine` serialises
``step`` with a lock and hands every caller a State of its own (a TensorRT state lives in a
buffer the engine reuses two steps later, and with several streams those two steps may be
another stream's). The GPU runs one step at a time anyway; the streams overlap everything
else (decoding, detection, drawing).
"""

from __future__ import annotations

import threading

import numpy as np

from avaffect.engines import Engine, EngineSpec, Outputs, State


class SharedEngine:
    """An :class:`~avaffect.engines.Engine` that many threads may step concurrently."""

    def __init__(self, engine: Engine) -> None:
        self.inner = engine
        self.spec: EngineSpec = engine.spec
        self._lock = threading.Lock()
        self.steps = 0

    def init_state(self, n_faces: int) -> State:
        with self._lock:
            return _detached(self.inner.init_state(n_faces))

    def step(
        self, faces: np.ndarray | None, spectrograms: np.ndarray | None, state: State
    ) -> tuple[Outputs, State]:
        with self._lock:
            outputs, new_state = self.inner.step(faces, spectrograms, state)
            self.steps += 1
            # Copied while the lock is held: the next step may overwrite the engine's buffer.
            return outputs, _detached(new_state)

    def __repr__(self) -> str:
        return f"SharedEngine({self.inner!r})"


def _detached(state: State) -> State:
    """A State that no later step of the engine can overwrite (device data stays on device)."""
    data = state.data
    if hasattr(data, "clone"):  # a torch tensor, possibly a view of a reused buffer
        return State(data.clone())
    return State(np.array(data, dtype=np.float32, copy=True))
