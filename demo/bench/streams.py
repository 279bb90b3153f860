"""How many live streams one engine sustains: N pipelines at once, each on a paced video.

Every stream is a whole real-time pipeline (its own reader thread, detector, tracker and
overlay, consumed by its own thread), reading the same video paced at its frame rate like a
camera. All streams share ONE engine (:class:`SharedEngine`: one copy of the weights; the
faces of every stream that is ready go into one step, each with its own GRU state row),
which is how one GPU serves many streams; the streams overlap everything else. Each trial
reports the faces batched per engine call. A stream is sustained when, after its warm-up frames, it processed every
frame: no frame index was skipped, whether the reader replaced an unprocessed frame or the
consumer lost a result.

The largest sustained N is searched by doubling (1, 2, 4, ...) up to ``max_streams``, then
by bisection between the last N that held and the first that did not, within a time budget.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import numpy as np

from avaffect.demo.bench.pipeline import face_check
from avaffect.demo.shared_engine import SharedEngine
from avaffect.engines import Engine
from avaffect.realtime.analyzer import FrameResult
from avaffect.realtime.options import RunOptions
from avaffect.realtime.overlay import Overlay
from avaffect.realtime.session import run_session
from avaffect.realtime.stats import RunStats
from avaffect.realtime.stream import build_pipeline

log = logging.getLogger("avaffect.demo")


class SkippedFrames:
    """A sink that counts the frames a stream never processed after its warm-up."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.seen = 0
        self.with_face = 0  # processed frames (after the warm-up) in which a face was found
        self.faces = 0
        self.first: int | None = None
        self.last: int | None = None

    def write(self, result: FrameResult, annotated: np.ndarray | None) -> None:
        self.seen += 1
        if self.seen <= self.warmup:
            return
        self.with_face += bool(result.faces)
        self.faces += len(result.faces)
        index = result.frame.index
        self.first = index if self.first is None else self.first
        self.last = index

    @property
    def processed(self) -> int:
        return max(0, self.seen - self.warmup)

    @property
    def skipped(self) -> int:
        if self.first is None:
            return 0
        return (self.last - self.first + 1) - self.processed

    def close(self) -> None:
        pass


def run_streams(
    n: int, video: str | os.PathLike, engine: Engine, options: RunOptions, warmup: int = 15
) -> dict:
    """Run ``n`` paced pipelines on ``video`` at once; per-stream FPS and skipped frames."""
    shared = engine if isinstance(engine, SharedEngine) else SharedEngine(engine)
    pipelines = _open_pipelines(n, options, str(video), shared)
    counters = [SkippedFrames(warmup) for _ in range(n)]
    stats = [RunStats(warmup=warmup) for _ in range(n)]
    errors: list[BaseException] = []

    def consume(i: int) -> None:
        try:
            run_session(pipelines[i], overlay=Overlay(), sinks=[counters[i]], stats=stats[i])
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller's thread below
            errors.append(err)

    threads = [threading.Thread(target=consume, args=(i,), daemon=True) for i in range(n)]
    calls_before, faces_before = shared.steps, shared.faces
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    calls, batched = shared.steps - calls_before, shared.faces - faces_before
    fps = pipelines[0].video.fps or 30.0
    per_stream = [_stream_row(s, c) for s, c in zip(stats, counters, strict=True)]
    faces = face_check(
        sum(c.processed for c in counters), sum(c.with_face for c in counters),
        sum(c.faces for c in counters),
    )  # fmt: skip
    return {
        "streams": n,
        "measured": faces["measured"],
        "faces": faces,
        "source_fps": fps,
        "sustained": all(row["skipped_frames"] == 0 and row["frames"] > 0 for row in per_stream),
        "aggregate_fps": round(sum(row["fps"] or 0.0 for row in per_stream), 2),
        "seconds": round(time.monotonic() - start, 2),
        "engine_calls": calls,
        "faces_per_engine_call": round(batched / calls, 2) if calls else None,
        "per_stream": per_stream,
    }


def _open_pipelines(n: int, run: RunOptions, video: str, engine: Engine) -> list:
    pipelines = []
    try:
        for i in range(n):  # each its own phase: their whole-frame searches fall on different frames
            pipelines.append(build_pipeline(run, video, mode="paced", engine=engine, detect_phase=i))
    except BaseException:
        for pipeline in pipelines:  # nothing started yet: release the opened videos
            pipeline.close(raise_errors=False)
        raise
    return pipelines


def _stream_row(stats: RunStats, counter: SkippedFrames) -> dict:
    summary = stats.summary()
    return {
        "frames": counter.processed,
        "frames_with_face": counter.with_face,
        "faces_per_frame": round(counter.faces / counter.processed, 3) if counter.processed else 0.0,
        "skipped_frames": counter.skipped,
        "fps": summary["fps"],
        "model_ms_median": summary["stages_ms"].get("model", {}).get("median"),
        "latency_ms_median": summary["latency_ms"].get("median"),
        "latency_ms_p95": summary["latency_ms"].get("p95"),
    }


def bench_streams(
    video: str | os.PathLike,
    engine: Engine,
    options: RunOptions,
    *,
    max_streams: int = 64,
    budget_s: float = 300.0,
    warmup: int = 15,
    clock=time.monotonic,
) -> dict:
    """Search the largest number of streams sustained without a skipped frame."""
    shared = engine if isinstance(engine, SharedEngine) else SharedEngine(engine)
    deadline = clock() + budget_s
    trials: dict[int, dict] = {}

    def attempt(n: int) -> bool | None:
        """True/False: sustained or not; None: no time left for it."""
        longest = max((t["seconds"] for t in trials.values()), default=0.0)
        if trials and clock() + longest * 1.2 > deadline:
            return None
        log.info("streams: trying %d at once", n)
        trials[n] = run_streams(n, video, shared, options, warmup)
        return trials[n]["sustained"]

    good, bad, n = 0, None, 1
    while n <= max_streams:
        held = attempt(n)
        if held is None:
            break
        if not held:
            bad = n
            break
        good, n = n, n * 2
    if bad is None and good < max_streams and n > max_streams:
        held = attempt(max_streams)  # doubling overshot the cap: try the cap itself
        if held is True:
            good = max_streams
        elif held is False:
            bad = max_streams
    while bad is not None and bad - good > 1:
        mid = (good + bad) // 2
        held = attempt(mid)
        if held is None:
            break
        good, bad = (mid, bad) if held else (good, mid)
    complete = good == max_streams or (bad is not None and bad - good == 1)
    done = list(trials.values())
    faces = face_check(
        *(sum(t["faces"][k] for t in done) for k in ("frames", "frames_with_face", "face_rows"))
    )
    return {
        "measured": faces["measured"],
        "faces": faces,
        "max_streams_without_drops": good,
        "search_complete": complete,
        "max_streams_tried": max(trials, default=0),
        "cap": max_streams,
        "engine": "one engine shared by every stream (ready streams' faces batched per step)",
        "trials": [trials[k] for k in sorted(trials)],
    }
