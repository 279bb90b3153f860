"""Offline analysis in stages (decode, faces, model, outputs in their own threads): the same
rows as the one-thread pipeline, frames in order with each track's state carried, a frame
model's frames batched, and every thread stopped on a failure or an early stop."""

import time
from dataclasses import replace

import numpy as np
import pytest
from fakes import Blob, BlobDetector, FakeCamera, FakeEngine

from avaffect.engines import Outputs, State
from avaffect.errors import AvaffectError
from avaffect.labels import NUM_AUS, NUM_EXPRESSIONS
from avaffect.realtime.faces import FaceFinder
from avaffect.realtime.pipeline import Pipeline
from avaffect.realtime.session import run_session
from avaffect.realtime.stages import StagedPipeline
from avaffect.realtime.tracking import Tracker
from avaffect.realtime.video_source import VideoSource


def two_faces(i):
    """Two faces of different brightness; the second leaves for frames 20-29."""
    faces = [Blob(20 + 3 * i, 60, 50, 50, 220)]
    if not 20 <= i < 30:
        faces.append(Blob(200, 100, 50, 50, 120))
    return faces


class Collect:
    def __init__(self):
        self.results, self.closed = [], False

    def write(self, result, annotated):
        self.results.append(result)

    def close(self):
        self.closed = True


class FrameModel:
    """A stateless engine (a frame model): valence = the crop's mean; records batch sizes.
    Each step takes 5 ms, so that frames wait for it."""

    def __init__(self):
        spec = FakeEngine().spec
        self.spec = replace(spec, recurrent=False, hidden_shape=None)
        self.batch_sizes = []

    def init_state(self, n):
        return State(np.zeros((0, n, 0), np.float32))

    def step(self, faces, spectrograms, state):
        n = len(faces)
        self.batch_sizes.append(n)
        time.sleep(0.005)
        va = np.stack([faces.reshape(n, -1).mean(axis=1), np.zeros(n)], axis=1)
        out = Outputs(
            va.astype(np.float32),
            np.zeros((n, NUM_AUS), np.float32),
            np.zeros((n, NUM_EXPRESSIONS), np.float32),
        )
        return out, state


def run(kind, engine, frames=40, **kwargs):
    video = VideoSource(
        FakeCamera(two_faces, fps=1000, frames=frames), mode="lossless", is_file=True
    )
    finder = FaceFinder(BlobDetector(), engine.spec.face, tracker=Tracker(max_missed=3))
    pipeline = kind(video, finder, engine, **kwargs)
    sink = Collect()
    run_session(pipeline, sinks=[sink])
    assert pipeline.workers and not any(w.alive for w in pipeline.workers)
    return pipeline, sink


def rows(sink):
    return [
        (r.frame.index, f.track_id, round(f.valence, 5), round(f.arousal, 5))
        for r in sink.results
        for f in r.faces
    ]


def test_stages_give_the_one_thread_pipelines_rows_with_each_tracks_state_in_order():
    _, alone = run(Pipeline, FakeEngine())
    staged, together = run(StagedPipeline, FakeEngine(delay_s=0.002))
    assert [r.frame.index for r in together.results] == list(range(40))
    assert rows(together) == rows(alone)
    assert {"detect", "align", "model", "capture"} <= set(together.results[5].timings)
    # The fake's valence counts the frames each state was stepped: carried in order.
    first = [f for r in together.results for f in r.faces if f.track_id == 0]
    assert [round(f.valence * 100) for f in first] == list(range(1, 41))


def test_a_frame_model_runs_the_waiting_frames_in_one_step_with_the_same_rows():
    alone_engine, batched_engine = FrameModel(), FrameModel()
    _, alone = run(Pipeline, alone_engine)
    _, together = run(StagedPipeline, batched_engine, depth=8, batch_frames=8)
    assert rows(together) == rows(alone)
    assert max(alone_engine.batch_sizes) == 2  # one frame, its two faces
    assert max(batched_engine.batch_sizes) > 2  # frames that waited ran together
    # Only visible faces run: a frame model needs no coasting face to keep a state alive.
    assert sum(batched_engine.batch_sizes) == len(rows(together))


def test_a_model_failure_stops_every_stage_and_reaches_the_caller():
    with pytest.raises(AvaffectError, match="model thread failed: RuntimeError: fake engine"):
        run(StagedPipeline, FakeEngine(fail_at=5), frames=200)


def test_stopping_early_joins_every_stage():
    video = VideoSource(FakeCamera(two_faces, fps=1000, frames=None), mode="lossless", is_file=True)
    engine = FakeEngine()
    pipeline = StagedPipeline(video, FaceFinder(BlobDetector(), engine.spec.face), engine)
    stats = run_session(pipeline, max_frames=10)
    assert stats.frames == 10
    assert not any(w.alive for w in pipeline.workers)



def test_a_staged_run_keeps_opencv_to_its_share_and_gives_the_threads_back(monkeypatch):
    """While a file run lasts, OpenCV gets the cores its stages leave (one each on two
    cores); the process-wide setting is restored when it closes, for whatever runs next."""
    import cv2

    from avaffect.realtime import stages

    monkeypatch.setattr(stages, "thread_share", lambda: 2)
    before = cv2.getNumThreads()
    seen = []
    detector = BlobDetector()
    detect = detector.detect
    detector.detect = lambda image: (seen.append(cv2.getNumThreads()), detect(image))[1]
    video = VideoSource(FakeCamera(two_faces, fps=1000, frames=10), mode="lossless", is_file=True)
    engine = FakeEngine()
    run_session(StagedPipeline(video, FaceFinder(detector, engine.spec.face), engine))
    assert seen and set(seen) == {1}
    assert cv2.getNumThreads() == before
