"""What a run measured: throughput, per-stage times, drops, latency and A/V skew."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from avaffect.realtime.analyzer import STAGES, FrameResult


def _ms(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, np.float64) * 1000.0
    if not len(a):
        return {}
    return {
        "mean": round(float(a.mean()), 3),
        "median": round(float(np.median(a)), 3),
        "p95": round(float(np.percentile(a, 95)), 3),
        "max": round(float(a.max()), 3),
    }


class RunStats:
    """Collects one entry per processed frame; :meth:`summary` turns them into numbers.

    ``warmup`` frames are counted but left out of the timings (first CUDA/JIT steps are slow).
    """

    def __init__(self, warmup: int = 0) -> None:
        self.warmup = warmup
        self.seen = 0
        self.frames = 0
        self.faces = 0
        self.frames_with_face = 0
        self.tracks: set[int] = set()
        self.stages: dict[str, list[float]] = defaultdict(list)
        self.latency: list[float] = []
        self.skew: list[float] = []
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.interrupted = False  # set by run_session when Ctrl-C or SIGTERM cut the run short

    def add(self, result: FrameResult, latency_s: float, now: float) -> None:
        self.seen += 1
        if self.seen <= self.warmup:
            return
        self.frames += 1
        self.faces += len(result.faces)
        self.frames_with_face += bool(result.faces)
        self.tracks.update(f.track_id for f in result.faces)
        for stage, seconds in result.timings.items():
            self.stages[stage].append(seconds)
        self.latency.append(latency_s)
        if result.skew is not None:
            self.skew.append(result.skew)
        self.first_at = now if self.first_at is None else self.first_at
        self.last_at = now

    @property
    def fps(self) -> float:
        """Frames processed per second, over the span from the first to the last one."""
        if self.frames < 2 or self.last_at == self.first_at:
            return float("nan")
        return (self.frames - 1) / (self.last_at - self.first_at)

    def summary(self, **context) -> dict:
        """The run in numbers (times in ms); ``context`` (source, model...) is included as is."""
        order = [s for s in STAGES if s in self.stages] + sorted(set(self.stages) - set(STAGES))
        fps = self.fps
        return {
            **context,
            "frames": self.frames,
            "face_rows": self.faces,
            "frames_with_face": self.frames_with_face,
            "tracks": len(self.tracks),
            "fps": None if np.isnan(fps) else round(fps, 3),
            "latency_ms": _ms(self.latency),
            "av_skew_ms": _ms(self.skew),
            "stages_ms": {stage: _ms(self.stages[stage]) for stage in order},
        }


def format_summary(summary: dict) -> str:
    """A few human lines for the end of a run."""
    lat, skew = summary.get("latency_ms", {}), summary.get("av_skew_ms", {})
    lines = [
        f"frames {summary['frames']}  faces {summary['face_rows']} rows / {summary['tracks']} tracks  "
        f"dropped {summary.get('dropped_frames', 0)} frames, {summary.get('dropped_results', 0)} results",
        f"fps {summary['fps'] if summary['fps'] is not None else '- (too few frames to time)'}  latency capture->overlay mean {lat.get('mean', '-')} ms, p95 {lat.get('p95', '-')} ms"
        + (f"  A/V skew mean {skew['mean']} ms, max {skew['max']} ms" if skew else "  (no audio)"),
        "stages (median/p95 ms): "
        + ", ".join(f"{k} {v['median']}/{v['p95']}" for k, v in summary["stages_ms"].items() if v),
    ]
    return "\n".join(lines)


def write_summary(path: str | os.PathLike, summary: dict) -> None:
    """Write ``summary`` as JSON atomically: a reader (or a run killed meanwhile) sees the old
    file or the whole new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(summary, indent=2) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
