"""Benchmark of the whole real-time pipeline on a 640x480 one-face video.

Measures what a user of `avaffect live` feels: end-to-end frames per second, the time of
every stage (median and p95), frames dropped because the analyzer was busy, and the latency
from a frame's capture to its overlay being drawn. The video is read paced at its own frame
rate, like a camera (``paced=False`` reads every frame as fast as possible instead).
`avaffect bench --pipeline` runs it (repeated, with medians over the runs).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from avaffect.realtime.file_audio import import_av
from avaffect.realtime.options import RunOptions

log = logging.getLogger("avaffect.demo")

#: A timing is only called measured when faces were found in at least this share of the
#: timed frames: a pipeline with no face to analyze skips the model and times nothing real.
MIN_FACE_SHARE = 0.9


def face_check(frames: int, frames_with_face: int, face_rows: int) -> dict:
    """Faces found per frame, and whether the run may be called measured (see
    :data:`MIN_FACE_SHARE`); ``not_measured`` says why not, in words a reader cannot miss."""
    check = {
        "frames": frames,
        "frames_with_face": frames_with_face,
        "face_rows": face_rows,
        "faces_per_frame": round(face_rows / frames, 3) if frames else 0.0,
        "measured": frames > 0 and frames_with_face >= MIN_FACE_SHARE * frames,
    }
    if not frames:
        check["not_measured"] = (
            "NOT MEASURED: no frame was timed after the warm-up (a video too short for this "
            "machine); use a longer video"
        )
    elif not check["measured"]:
        check["not_measured"] = (
            f"NOT MEASURED: faces in {frames_with_face} of {frames} frames "
            f"(<{MIN_FACE_SHARE:.0%}); use a video with a face in every frame"
        )
    return check


def make_bench_video(
    path: str | os.PathLike,
    face_image: np.ndarray,
    seconds: float = 10.0,
    fps: float = 30.0,
    size: tuple[int, int] = (640, 480),
    sample_rate: int = 44100,
) -> Path:
    """Write a ``size`` video of ``face_image`` (grey or BGR) swaying gently, with a spoken-
    like amplitude-modulated tone as its audio track (so audio-visual models run too)."""
    av = import_av()
    w, h = size
    side = int(h * 0.45)
    face = cv2.resize(face_image, (side, side), interpolation=cv2.INTER_CUBIC)
    if face.ndim == 2:
        face = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
    frames = int(round(seconds * fps))
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=int(round(fps)))
        video.width, video.height, video.pix_fmt, video.bit_rate = w, h, "yuv420p", 4_000_000
        sound = out.add_stream("aac", rate=sample_rate, layout="mono")
        for i in range(frames):
            image = np.full((h, w, 3), 96, np.uint8)
            x = (w - side) // 2 + int(20 * np.sin(i / fps * 2.0))
            y = (h - side) // 2 + int(8 * np.sin(i / fps * 3.1))
            image[y : y + side, x : x + side] = face
            out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        out.mux(video.encode(None))
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        tone = (0.3 * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) * np.sin(2 * np.pi * 220 * t)).astype(
            np.float32
        )
        for start in range(0, len(tone), 1024):
            block = av.AudioFrame.from_ndarray(
                tone[None, start : start + 1024], format="flt", layout="mono"
            )
            block.sample_rate, block.pts = sample_rate, start
            out.mux(sound.encode(block))
        out.mux(sound.encode(None))
    return Path(path)


def bench_pipeline(
    video: str | os.PathLike,
    checkpoint: str | os.PathLike | None = None,
    backend: str | None = None,
    *,
    options: RunOptions | None = None,
    paced: bool = True,
    draw: bool = True,
    warmup: int = 10,
    max_frames: int | None = None,
    **option_fields,
) -> dict:
    """Run the pipeline over ``video`` and return its summary (see RunStats.summary).

    The stream is built from ``options`` (default: RunOptions' defaults) with ``checkpoint``,
    ``backend`` and any other RunOptions field given by keyword (``detector_model=...``)
    replaced."""
    from avaffect.realtime.overlay import Overlay
    from avaffect.realtime.runs import run_context
    from avaffect.realtime.session import run_session
    from avaffect.realtime.stats import RunStats
    from avaffect.realtime.stream import build_pipeline

    given = {"checkpoint": None if checkpoint is None else str(checkpoint), "backend": backend}
    fields = {**{k: v for k, v in given.items() if v is not None}, **option_fields}
    options = replace(options or RunOptions(), **fields)
    pipeline = build_pipeline(options, str(video), mode="paced" if paced else "lossless")
    size = (pipeline.video.width, pipeline.video.height)
    stats = run_session(
        pipeline,
        overlay=Overlay() if draw else None,
        stats=RunStats(warmup=warmup),
        max_frames=max_frames,
    )
    summary = stats.summary(**run_context(pipeline, str(video)))
    summary.update(
        frame_size=list(size),
        source_fps=pipeline.video.fps,
        paced=paced,
        warmup_frames=min(warmup, stats.seen),  # fewer when a slow machine processed fewer
        faces=face_check(stats.frames, stats.frames_with_face, stats.faces),
    )
    return summary
