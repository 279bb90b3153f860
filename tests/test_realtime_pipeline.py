"""The real-time loop with a clock-driven fake camera and microphone and a fake engine whose
state is visible in its outputs: drops, A/V sync, per-track state, shutdown and failures."""

import time

import numpy as np
import pytest
from fakes import (
    Blob,
    BlobDetector,
    FakeCamera,
    FakeEngine,
    FakeMic,
    render,
    stepped_tone,
)

from avaffect.audio import SpectrogramConfig, spectrogram_windows
from avaffect.errors import AvaffectError
from avaffect.realtime.audio_input import RingAudio
from avaffect.realtime.faces import FaceFinder
from avaffect.realtime.pipeline import Pipeline
from avaffect.realtime.ring_buffer import AudioRingBuffer
from avaffect.realtime.session import run_session
from avaffect.realtime.sinks import CsvSink
from avaffect.realtime.tracking import Tracker
from avaffect.realtime.video_source import Frame, VideoSource

CFG = SpectrogramConfig(sample_rate=16000, context_s=0.5)


def one_face(_index):
    return [Blob(120, 80, 60, 60, 200)]


class Collect:
    """A sink that keeps every result."""

    def __init__(self):
        self.results, self.closed = [], False

    def write(self, result, annotated):
        self.results.append(result)

    def close(self):
        self.closed = True


def make_pipeline(camera, engine, mode="live", audio=None, **kwargs):
    video = VideoSource(camera, mode=mode, is_file=mode != "live")
    finder = FaceFinder(
        BlobDetector(), engine.spec.face, tracker=Tracker(max_missed=kwargs.pop("max_missed", 5))
    )
    return Pipeline(video, finder, engine, audio, **kwargs)


def assert_all_joined(pipeline):
    assert pipeline.workers and not any(w.alive for w in pipeline.workers)


def test_a_slow_consumer_gets_the_newest_frame_and_stale_ones_are_counted():
    camera = FakeCamera(one_face, fps=100, frames=60)
    pipeline = make_pipeline(camera, FakeEngine(delay_s=0.03))
    sink = Collect()
    stats = run_session(pipeline, sinks=[sink])
    indices = [r.frame.index for r in sink.results]
    assert pipeline.video.frames_read == 60
    assert pipeline.video.dropped >= 20  # ~3 frames arrive per 30 ms step
    assert stats.frames + pipeline.video.dropped == 60  # every frame processed or counted
    assert indices == sorted(set(indices)) and indices[-1] == 59
    assert_all_joined(pipeline)


def test_a_file_read_losslessly_drops_nothing():
    camera = FakeCamera(one_face, fps=1000, frames=30)
    pipeline = make_pipeline(camera, FakeEngine(delay_s=0.005), mode="lossless")
    sink = Collect()
    run_session(pipeline, sinks=[sink])
    assert [r.frame.index for r in sink.results] == list(range(30))
    assert pipeline.video.dropped == 0 and pipeline.dropped_results == 0
    np.testing.assert_allclose([r.frame.timestamp for r in sink.results], np.arange(30) / 1000)


def run_with_mic(latency_s, audio_wait_s, frames=36, fps=30.0):
    ring = AudioRingBuffer(CFG.sample_rate, seconds=3.0)
    mic = FakeMic(ring, latency_s=latency_s).start()
    time.sleep(CFG.context_s)  # let a full window of audio exist before the first frame
    engine = FakeEngine(audio=CFG)
    pipeline = make_pipeline(
        FakeCamera(one_face, fps=fps, frames=frames),
        engine,
        audio=RingAudio(ring, CFG),
        audio_wait_s=audio_wait_s,
    )
    sink = Collect()
    try:
        run_session(pipeline, sinks=[sink])
    finally:
        mic.close()
    return sink.results


def test_each_frame_gets_the_audio_window_ending_at_its_capture_time():
    fps = 30.0
    # Inference waits (up to 0.2 s here, for a busy test machine) until the microphone has
    # delivered the audio up to the frame's capture time.
    results = run_with_mic(latency_s=0.012, audio_wait_s=0.2, fps=fps)
    assert len(results) >= 20
    skews = [r.skew for r in results]
    assert max(skews) <= 1 / fps  # in sync within one video frame
    for r in results[::5]:
        # The window the model saw is the known signal over [end - context, end).
        end = int(round(r.audio_end * CFG.sample_rate))
        positions = np.arange(end - CFG.context_samples, end)
        expected = spectrogram_windows(
            stepped_tone(positions / CFG.sample_rate), np.array([len(positions)]), CFG
        )[0]
        np.testing.assert_allclose(r.spectrogram, expected, atol=1e-3)
        assert abs(r.audio_end - r.frame.timestamp) == pytest.approx(r.skew)
        assert r.faces[0].au_probs[0] == pytest.approx((expected.mean() + 1) / 2, abs=1e-4)


def test_late_audio_shows_up_as_measured_skew():
    results = run_with_mic(latency_s=0.15, audio_wait_s=0.0, frames=12)
    skews = np.array([r.skew for r in results])
    assert np.median(skews) > 0.1  # audio arrives ~150 ms late and nobody waits for it


def crossing_scene(index):
    """A moves down, B moves up past it (so their detection order swaps); B leaves at 20
    for 10 frames, longer than the tracker's grace, and comes back at 30."""
    blobs = [Blob(40, 20 + 6 * index, 50, 50, 220)]
    if index < 20 or index >= 30:
        blobs.append(Blob(200, max(10, 160 - 6 * index), 50, 50, 90))
    return blobs


def test_gru_state_follows_each_track_and_is_freed_when_the_track_ends():
    engine = FakeEngine()
    pipeline = make_pipeline(FakeCamera(crossing_scene), engine, max_missed=5)
    by_frame, state_sizes = [], []
    for i in range(36):
        frame = Frame(render(crossing_scene(i)), i, i / 30, time.monotonic())
        by_frame.append({f.track_id: f for f in pipeline.process(frame).faces})
        state_sizes.append(len(pipeline.engine.state))
    assert set(by_frame[0]) == {0, 1}
    # Detection order swapped when the faces crossed, yet each state kept counting its face.
    first_of = [next(iter(faces)) for faces in by_frame[:20]]
    assert first_of[0] != first_of[19]
    for track in (0, 1):
        counts = [round(f[track].valence * 100) for f in by_frame[:20]]
        assert counts == list(range(1, 21))
        brightness = [f[track].arousal for f in by_frame[:20]]
        assert np.ptp(brightness) < 0.02  # the running mean of its own face only
    assert abs(by_frame[0][0].arousal - by_frame[0][1].arousal) > 0.2
    # B is missing from frame 20: it coasts 5 frames (state kept), then its row is freed.
    b = 1 if by_frame[0][1].arousal < by_frame[0][0].arousal else 0
    assert all(b not in f for f in by_frame[20:30])
    assert state_sizes[20:25] == [2] * 5 and state_sizes[25:30] == [1] * 5
    # Back at frame 30 it is a new track with a fresh state.
    new_ids = set(by_frame[30]) - {0, 1}
    assert len(new_ids) == 1
    new = new_ids.pop()
    assert [round(f[new].valence * 100) for f in by_frame[30:36]] == [1, 2, 3, 4, 5, 6]
    a = 1 - b
    assert round(by_frame[35][a].valence * 100) == 36


def test_stopping_early_joins_every_thread_and_releases_the_camera():
    camera = FakeCamera(one_face, fps=200, frames=None)  # never ends by itself
    pipeline = make_pipeline(camera, FakeEngine())
    stats = run_session(pipeline, max_frames=10)
    assert stats.frames == 10
    assert_all_joined(pipeline)
    assert camera.released


def test_an_inference_failure_reaches_the_caller_after_outputs_are_flushed(tmp_path):
    pipeline = make_pipeline(
        FakeCamera(one_face, fps=1000, frames=50), FakeEngine(fail_at=5), mode="lossless"
    )
    csv_path = tmp_path / "rows.csv"
    with pytest.raises(
        AvaffectError, match="inference thread failed: RuntimeError: fake engine failure"
    ):
        run_session(pipeline, sinks=[CsvSink(csv_path)])
    assert_all_joined(pipeline)
    lines = csv_path.read_text().splitlines()
    assert len(lines) == 1 + 4  # header + the four frames before the failure


def test_a_camera_failure_reaches_the_caller():
    pipeline = make_pipeline(FakeCamera(one_face, fps=1000, frames=50, fail_at=3), FakeEngine())
    with pytest.raises(AvaffectError, match="video thread failed: OSError: camera unplugged"):
        run_session(pipeline)
    assert_all_joined(pipeline)


def test_ctrl_c_stops_cleanly():
    class InterruptAt(Collect):
        def write(self, result, annotated):
            super().write(result, annotated)
            if len(self.results) == 3:
                raise KeyboardInterrupt

    sink = InterruptAt()
    pipeline = make_pipeline(FakeCamera(one_face, fps=200, frames=None), FakeEngine())
    run_session(pipeline, sinks=[sink])
    assert len(sink.results) == 3 and sink.closed
    assert_all_joined(pipeline)


def test_an_audio_visual_model_without_audio_is_refused():
    with pytest.raises(AvaffectError, match="audio-visual and needs audio"):
        make_pipeline(FakeCamera(one_face), FakeEngine(audio=CFG), audio=None)


def test_a_model_with_a_trained_rate_steps_at_it_and_at_once_for_a_new_face():
    """At 10 steps a second on a 30 fps stream: frames 0, 3, 6, 9 step; a face that appears
    on frame 4 is stepped there (with the other), and frame 6 still steps on time."""
    import dataclasses

    from avaffect.realtime.analyzer import FrameAnalyzer

    engine = FakeEngine()
    engine.spec = dataclasses.replace(engine.spec, step_rate=10.0)
    finder = FaceFinder(BlobDetector(), engine.spec.face, tracker=Tracker(max_missed=5))
    analyzer = FrameAnalyzer(finder, engine)
    second = Blob(20, 20, 60, 60, 90)
    valence = []
    for i in range(10):
        blobs = one_face(i) + ([second] if i >= 4 else [])
        result = analyzer.process(Frame(render(blobs), i, i / 30, time.monotonic()))
        valence.append({face.track_id: face.valence for face in result.faces})
    assert engine.calls == 5  # frames 0, 3, 4, 6, 9
    # a face's state counts its steps (valence = steps / 100), held in between
    assert [v[0] for v in valence] == pytest.approx([0.01] * 3 + [0.02, 0.03, 0.03] + [0.04] * 3 + [0.05])
    assert [v[1] for v in valence[4:]] == pytest.approx([0.01] * 2 + [0.02] * 3 + [0.03])  # the new face

