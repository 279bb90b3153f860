"""An uploaded video through the real-time pipeline, every frame, like `avaffect analyze`.

The pipeline, overlay and sinks are realtime's own; this module only chooses them for a
server (one output folder per job, old ones pruned) and makes the annotated video playable
in a browser.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from avaffect.demo.browser_video import to_browser_mp4
from avaffect.engines import Engine
from avaffect.errors import AvaffectError
from avaffect.realtime.options import RunOptions
from avaffect.realtime.overlay import Overlay
from avaffect.realtime.runs import run_context
from avaffect.realtime.session import run_session
from avaffect.realtime.sinks import CsvSink, FileSoundtrack, VideoSink
from avaffect.realtime.stats import RunStats
from avaffect.realtime.stream import build_pipeline

log = logging.getLogger("avaffect.demo")

JOB_MAX_AGE_S = 3600.0  # a finished job's files are kept this long for downloads


@dataclass
class VideoAnalysis:
    video: Path  # the annotated video, H.264 when it could be made browser-playable
    csv: Path  # one row per face per frame (the columns of `avaffect analyze`)
    rows: pd.DataFrame  # the same rows
    summary: dict  # frames, faces, FPS, per-stage times (RunStats.summary)
    note: str | None = None  # something the user should know (e.g. no face at all)


def new_job_dir(root: str | os.PathLike) -> Path:
    """A fresh folder for one job under ``root``; jobs older than an hour are removed."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - JOB_MAX_AGE_S
    for old in root.glob("job-*"):
        if old.is_dir() and old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix="job-", dir=root))


def analyze_video(
    engine: Engine,
    video: str | os.PathLike,
    options: RunOptions,
    out_dir: Path,
    progress: Callable[[int, int | None], None] | None = None,
) -> VideoAnalysis:
    """Every frame of ``video`` with its own sound; ``progress(done, total)`` after each frame
    (``total`` is None when the container does not say how many frames it has)."""
    pipeline = build_pipeline(options, str(video), mode="lossless", engine=engine)
    raw_video = out_dir / "annotated_fragmented.mp4"  # as the sinks write it; _playable makes the plain one
    csv_path = out_dir / "results.csv"
    try:
        sinks = [CsvSink(csv_path), VideoSink(raw_video, pipeline.video.fps, FileSoundtrack.of(video))]
    except BaseException:
        pipeline.close(raise_errors=False)
        raise
    counter = None if progress is None else _Counter(progress, pipeline.video.frame_count)
    stats = run_session(
        pipeline, overlay=Overlay(), sinks=sinks, progress=counter, stats=RunStats()
    )
    summary = stats.summary(**run_context(pipeline, str(video)))
    if summary["frames"] == 0:
        raise AvaffectError("this video has no frames that could be decoded; upload another video")
    rows = pd.read_csv(csv_path)
    return VideoAnalysis(
        video=_playable(raw_video, out_dir / "annotated.mp4"),
        csv=csv_path,
        rows=rows,
        summary=summary,
        note=None if len(rows) else "no face found in this video",
    )


class _Counter:
    """run_session's ``progress.update(n)`` as a ``(done, total)`` callback."""

    def __init__(self, callback: Callable[[int, int | None], None], total: int | None) -> None:
        self.callback, self.total, self.done = callback, total, 0

    def update(self, n: int = 1) -> None:
        self.done += n
        self.callback(self.done, self.total)


def _playable(raw: Path, target: Path) -> Path:
    try:
        return to_browser_mp4(raw, target)
    except AvaffectError as err:
        log.warning("%s", err)
        return raw
