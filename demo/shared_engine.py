"""One engine (one copy of the weights) serving several streams at once, their faces batched.

Engines keep no state, but they are not all safe to call from two threads at once: a
TensorRT execution context, the CUDA-graph buffers of the torch backend and its reused
hidden-state buffers belong to one caller at a time. :class:`SharedEngine` therefore runs
one ``step`` at a time, and makes the most of it: the faces of every stream that is ready
go into the same step, each with its own GRU state row (the streams' states are stacked,
and the new state is split back), so that N streams cost one engine call, not N.

Batching, step by step: a caller whose step cannot start at once (another batch is running)
queues its faces; the first caller to find the engine free leads the next batch. It waits up
to ``max_wait_s`` for the other recently active streams to queue theirs (never longer, so one
slow stream cannot hold the others back), then takes the queued requests in arrival order up
to the engine's ``max_faces``, runs them as one step and hands every caller its own rows.
Every caller gets a State of its own, copied out of the engine's buffers (a TensorRT state
lives in a buffer the engine reuses two steps later).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from avaffect.engines import Engine, EngineSpec, Outputs, State
from avaffect.engines.base import check_step_inputs

#: How long a batch waits for the other streams' faces. A 30 FPS stream has 33 ms a frame;
#: 4 ms is a small share of it, and long enough for streams a detection apart to meet.
DEFAULT_MAX_WAIT_S = 0.004
#: A stream counts as active (worth waiting for) this long after its last step.
ACTIVE_S = 0.5


@dataclass
class _Request:
    faces: np.ndarray | None
    spectrograms: np.ndarray | None
    state: State
    n: int
    outputs: Outputs | None = None
    new_state: State | None = None
    error: BaseException | None = None
    done: bool = False


class SharedEngine:
    """An :class:`~avaffect.engines.Engine` that many threads may step concurrently.

    ``steps`` counts engine calls, ``calls`` the callers' steps and ``faces`` the faces
    run: ``faces / steps`` is the faces batched per engine call.
    """

    def __init__(self, engine: Engine, max_wait_s: float = DEFAULT_MAX_WAIT_S) -> None:
        self.inner = engine
        self.spec: EngineSpec = engine.spec
        self.max_wait_s = max_wait_s
        self.steps = 0
        self.calls = 0
        self.faces = 0
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._busy = False
        self._last_seen: dict[int, float] = {}

    def init_state(self, n_faces: int) -> State:
        with self._cond:
            return _detached(self.inner.init_state(n_faces))

    def step(
        self, faces: np.ndarray | None, spectrograms: np.ndarray | None, state: State
    ) -> tuple[Outputs, State]:
        n = check_step_inputs(self.spec, faces, spectrograms, state)  # the caller's own error
        request = _Request(faces, spectrograms, state, n)
        with self._cond:
            self.calls += 1
            self._last_seen[threading.get_ident()] = time.monotonic()
            self._queue.append(request)
            self._cond.notify_all()
            while not request.done:
                if self._busy:
                    self._cond.wait()
                    continue
                self._lead()
        if request.error is not None:
            raise request.error
        return request.outputs, request.new_state  # type: ignore[return-value]

    def stats(self) -> dict:
        """Engine calls, callers' steps and faces per engine call so far."""
        return {
            "engine_calls": self.steps,
            "stream_steps": self.calls,
            "faces_per_engine_call": round(self.faces / self.steps, 2) if self.steps else None,
        }

    # -- the leader's part, entered and left with the lock held --------------------------
    def _lead(self) -> None:
        self._busy = True
        try:
            deadline = time.monotonic() + self.max_wait_s
            while len(self._queue) < self._active() and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            batch = self._take()
            self._cond.release()
            try:
                _run(self.inner, batch)
            finally:
                self._cond.acquire()
            self.steps += 1
            self.faces += sum(r.n for r in batch)
        finally:
            self._busy = False
            self._cond.notify_all()

    def _active(self) -> int:
        """How many streams stepped recently: the batch waits for that many requests."""
        now = time.monotonic()
        for caller in [c for c, t in self._last_seen.items() if now - t > ACTIVE_S]:
            del self._last_seen[caller]
        return len(self._last_seen)

    def _take(self) -> list[_Request]:
        """The queued requests in arrival order, up to the engine's face limit (at least one)."""
        limit = self.spec.max_faces
        batch, total = [], 0
        while self._queue and (not batch or limit is None or total + self._queue[0].n <= limit):
            request = self._queue.pop(0)
            batch.append(request)
            total += request.n
        return batch

    def __repr__(self) -> str:
        return f"SharedEngine({self.inner!r})"


def _run(engine: Engine, batch: list[_Request]) -> None:
    """One step for every request of ``batch``; each gets its rows (or the error)."""
    try:
        if len(batch) == 1:
            r = batch[0]
            outputs, state = engine.step(r.faces, r.spectrograms, r.state)
            r.outputs, r.new_state = outputs, _detached(state)
        else:
            faces = _stack([r.faces for r in batch])
            spectrograms = _stack([r.spectrograms for r in batch])
            state = State(_concat([r.state.data for r in batch]))
            outputs, new_state = engine.step(faces, spectrograms, state)
            start = 0
            for r in batch:
                rows = slice(start, start + r.n)
                r.outputs = outputs.rows(rows)
                r.new_state = _detached(State(new_state.data[:, rows]))
                start += r.n
    except BaseException as err:  # noqa: BLE001 - each caller re-raises it in its own thread
        for r in batch:
            r.error = err
    for r in batch:
        r.done = True


def _stack(parts: list[np.ndarray | None]) -> np.ndarray | None:
    if parts[0] is None:
        return None
    return np.ascontiguousarray(np.concatenate(parts))


def _concat(datas: list) -> object:
    if hasattr(datas[0], "clone"):  # torch tensors, possibly on a GPU
        import torch

        return torch.cat(datas, dim=1)
    return np.concatenate([np.asarray(d, np.float32) for d in datas], axis=1)


def _detached(state: State) -> State:
    """A State that no later step of the engine can overwrite (device data stays on device)."""
    data = state.data
    if hasattr(data, "clone"):  # a torch tensor, possibly a view of a reused buffer
        return State(data.clone())
    return State(np.array(data, dtype=np.float32, copy=True))
