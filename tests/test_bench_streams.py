"""The concurrent-streams benchmark's parts: the search for the largest sustained number of
streams, how skipped frames are counted, and the engine that all streams share."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from avaffect.demo.bench import streams as bench_streams
from avaffect.demo.bench.pipeline import face_check
from avaffect.demo.bench.streams import SkippedFrames
from avaffect.demo.bench.streams import bench_streams as search
from avaffect.demo.shared_engine import SharedEngine
from avaffect.realtime.options import RunOptions


def fake_trials(monkeypatch, capacity: int, seconds: float = 1.0, clock=None):
    """Replace real runs by a machine that sustains ``capacity`` streams; record the tries."""
    tried = []

    def run_streams(n, video, engine, options, warmup):
        tried.append(n)
        if clock is not None:
            clock.now += seconds
        faces = face_check(frames=30 * n, frames_with_face=30 * n, face_rows=30 * n)
        return {
            "streams": n, "sustained": n <= capacity, "seconds": seconds, "per_stream": [],
            "faces": faces, "measured": True,
        }  # fmt: skip

    monkeypatch.setattr(bench_streams, "run_streams", run_streams)
    return tried


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def engine():
    from fakes import FakeEngine

    return FakeEngine()


@pytest.mark.parametrize(
    ("capacity", "cap", "tries", "best"),
    [
        (5, 64, [1, 2, 4, 8, 6, 5], 5),  # doubling overshoots, bisection settles
        (0, 64, [1], 0),  # not even one stream
        (64, 64, [1, 2, 4, 8, 16, 32, 64], 64),  # every try held, up to the cap
        (9, 12, [1, 2, 4, 8, 12, 10, 9], 9),  # the cap is tried when doubling passes it
        (40, 12, [1, 2, 4, 8, 12], 12),
    ],
)
def test_doubling_then_bisection_finds_the_largest_sustained_count(
    monkeypatch, engine, capacity, cap, tries, best
):
    tried = fake_trials(monkeypatch, capacity)
    result = search("v.mp4", engine, RunOptions(), max_streams=cap)
    assert tried == tries
    assert result["max_streams_without_drops"] == best and result["search_complete"]
    assert [t["streams"] for t in result["trials"]] == sorted(tries)


def test_the_search_stops_within_its_time_budget_and_says_so(monkeypatch, engine):
    clock = FakeClock()
    tried = fake_trials(monkeypatch, capacity=100, seconds=10.0, clock=clock)
    result = search("v.mp4", engine, RunOptions(), max_streams=64, budget_s=25.0, clock=clock)
    assert tried == [1, 2]  # a third 10 s trial would end past the 25 s budget
    assert result["max_streams_without_drops"] == 2 and not result["search_complete"]


def frame_result(index: int):
    return SimpleNamespace(frame=SimpleNamespace(index=index), faces=[object()])


def test_skipped_frames_count_only_after_the_warm_up():
    counter = SkippedFrames(warmup=3)
    for index in [0, 1, 5, 6, 7, 9, 10]:  # 2-4 lost during warm-up, 8 lost after it
        counter.write(frame_result(index), None)
    assert counter.processed == 4 and counter.skipped == 1
    assert counter.with_face == 4 and counter.faces == 4  # faces count after the warm-up too


def test_a_shared_engine_gives_each_stream_its_own_state_under_concurrency(tmp_path):
    from demo_support import tiny_checkpoint

    from avaffect.engines import load_engine

    engine = load_engine(str(tiny_checkpoint(tmp_path / "m.safetensors")), "torch")
    rng = np.random.default_rng(0)
    faces = [rng.uniform(-1, 1, (1, *engine.spec.face.shape)).astype(np.float32) for _ in range(4)]

    def run(step_engine, face, out, key):
        state = step_engine.init_state(1)
        values = []
        for _ in range(5):
            outputs, state = step_engine.step(face, None, state)
            values.append(outputs.valence_arousal.copy())
        out[key] = np.concatenate(values)

    alone: dict = {}
    for i, face in enumerate(faces):
        run(engine, face, alone, i)
    # A long wait makes every round after the first gather all four streams into one step.
    shared, together = SharedEngine(engine, max_wait_s=2.0), {}
    threads = [
        threading.Thread(target=run, args=(shared, f, together, i)) for i, f in enumerate(faces)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shared.calls == 20 and shared.steps < 20  # faces of several streams per call
    assert shared.stats()["faces_per_engine_call"] > 1.0
    for i in range(4):  # batched, each stream's GRU state still its own
        np.testing.assert_allclose(together[i], alone[i], atol=1e-5)


def test_a_shared_engine_splits_batches_at_the_engines_face_limit_and_keeps_errors_apart(
    tmp_path,
):
    from dataclasses import replace

    from demo_support import tiny_checkpoint

    from avaffect.engines import load_engine
    from avaffect.errors import AvaffectError

    class LimitedEngine:  # a torch engine with a TensorRT-like batch limit of 3 faces
        def __init__(self, inner):
            self.inner, self.spec = inner, replace(inner.spec, max_faces=3)

        def init_state(self, n):
            return self.inner.init_state(n)

        def step(self, faces, spectrograms, state):
            assert len(faces) <= 3
            return self.inner.step(faces, spectrograms, state)

    engine = LimitedEngine(load_engine(str(tiny_checkpoint(tmp_path / "m.safetensors")), "torch"))
    shape = engine.spec.face.shape
    rng = np.random.default_rng(1)
    faces = [rng.uniform(-1, 1, (2, *shape)).astype(np.float32) for _ in range(3)]
    alone = [engine.step(f, None, engine.init_state(2))[0].expr_probs for f in faces]
    shared, got, errors = SharedEngine(engine, max_wait_s=2.0), {}, {}
    start = threading.Barrier(4)

    def run(i):
        start.wait()
        try:
            if i == 3:  # a wrong crop size fails this caller only
                shared.step(np.zeros((1, 3, 8, 8), np.float32), None, engine.init_state(1))
            else:
                got[i] = shared.step(faces[i], None, shared.init_state(2))[0].expr_probs
        except AvaffectError as err:
            errors[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(errors) == [3] and "faces must have shape" in str(errors[3])
    assert shared.steps == 3  # 2 + 2 faces would pass the limit of 3: one stream a step
    for i in range(3):
        np.testing.assert_allclose(got[i], alone[i], atol=1e-5)


class ReusedBufferEngine:
    """Like the TensorRT backend: the returned state is the engine's own buffer, which the
    next step overwrites. Each step adds the face's mean to its state."""

    def __init__(self):
        from fakes import FakeEngine

        self.spec = FakeEngine().spec
        self.buffer = np.zeros((1, 1, 2), np.float32)

    def init_state(self, n_faces):
        from avaffect.engines import State

        return State(np.zeros((1, n_faces, 2), np.float32))

    def step(self, faces, spectrograms, state):
        from avaffect.engines import Outputs, State

        self.buffer[...] = state.numpy() + faces.mean()
        total = self.buffer[0, :, :1].repeat(2, axis=1)
        outputs = Outputs(total, np.zeros((1, 8), np.float32), np.zeros((1, 7), np.float32))
        return outputs, State(self.buffer)


def test_a_shared_engine_keeps_states_apart_even_when_the_engine_reuses_its_buffer():
    inner = ReusedBufferEngine()
    ones, twos = np.ones((1, 3, 32, 32), np.float32), np.full((1, 3, 32, 32), 2, np.float32)
    # Unshared, each stream reads the state the other one's step wrote (6, 8); shared, each
    # keeps its own running sum (3 x 1, 3 x 2).
    for engine, expected in ((inner, (6.0, 8.0)), (SharedEngine(inner), (3.0, 6.0))):
        inner.buffer[...] = 0
        a, b = engine.init_state(1), engine.init_state(1)
        for _ in range(3):  # two streams, interleaved
            out_a, a = engine.step(ones, None, a)
            out_b, b = engine.step(twos, None, b)
        assert (out_a.valence_arousal[0, 0], out_b.valence_arousal[0, 0]) == expected
