"""Benchmark of the whole real-time pipeline on a 640x480 one-face video.

Measures what a user of `avaffect live` feels: end-to-end frames per second, the time of
every stage (median and p95), frames dropped because the analyzer was busy, and the latency
from a frame's capture to its overlay being drawn. The video is read paced at its own frame
rate, like a camera (``paced=False`` reads every frame as fast as possible instead).

    python -m avaffect.realtime.bench --face-image face.png --checkpoint model.safetensors
    python -m avaffect.realtime.bench --video clip.mp4 --checkpoint m.safetensors --backend onnxruntime
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from avaffect.errors import AvaffectError
from avaffect.realtime.detectors import DEFAULT_DETECT_SIZE
from avaffect.realtime.file_audio import import_av

log = logging.getLogger("avaffect.realtime")

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
    checkpoint: str | os.PathLike,
    backend: str = "auto",
    *,
    device: str | None = None,
    precision: str = "fp32",
    detector: str = "yunet",
    detector_model: str | os.PathLike | None = None,
    detect_size: int = DEFAULT_DETECT_SIZE,
    detect_every: int | None = None,
    paced: bool = True,
    audio: bool = True,
    draw: bool = True,
    warmup: int = 10,
    max_frames: int | None = None,
) -> dict:
    """Run the pipeline over ``video`` and return its summary (see RunStats.summary)."""
    from avaffect.realtime.cli import run_context
    from avaffect.realtime.launch import RunOptions, build_pipeline
    from avaffect.realtime.overlay import Overlay
    from avaffect.realtime.session import run_session
    from avaffect.realtime.stats import RunStats

    options = RunOptions(
        source=str(video), checkpoint=str(checkpoint), backend=backend, device=device,
        precision=precision, audio=audio, detector=detector,
        detector_model=None if detector_model is None else str(detector_model),
        detect_size=detect_size, video_mode="paced" if paced else "lossless",
        **({} if detect_every is None else {"detect_every": detect_every}),
    )  # fmt: skip
    pipeline = build_pipeline(options)
    size = (pipeline.video.width, pipeline.video.height)
    stats = run_session(
        pipeline,
        overlay=Overlay() if draw else None,
        stats=RunStats(warmup=warmup),
        max_frames=max_frames,
    )
    summary = stats.summary(**run_context(pipeline, options))
    summary.update(
        frame_size=list(size),
        source_fps=pipeline.video.fps,
        paced=paced,
        warmup_frames=min(warmup, stats.seen),  # fewer when a slow machine processed fewer
        faces=face_check(stats.frames, stats.frames_with_face, stats.faces),
    )
    return summary


def _face_from(path: str) -> np.ndarray:
    image = cv2.imread(path)
    if image is None:
        raise AvaffectError(f"{path}: not an image OpenCV can read; pass a PNG or JPEG of a face")
    return image


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m avaffect.realtime.bench",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", help="a video to run (ideally 640x480, one face)")
    source.add_argument(
        "--face-image", help="make a 640x480 one-face test video from this face picture"
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint file or shipped model name")
    p.add_argument("--backend", default="auto")
    p.add_argument("--device")
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"))
    p.add_argument("--detector", default="yunet", choices=("yunet", "haar"))
    p.add_argument("--detector-model")
    p.add_argument("--detect-size", type=int, default=DEFAULT_DETECT_SIZE, help="YuNet search size")
    p.add_argument("--detect-every", type=int, help="full-frame search every K frames (default 5)")
    p.add_argument(
        "--seconds", type=float, default=10.0, help="length of a made video (default 10)"
    )
    p.add_argument(
        "--lossless",
        action="store_true",
        help="read every frame as fast as possible instead of paced",
    )
    p.add_argument("--no-audio", action="store_true")
    p.add_argument("--json", metavar="FILE", help="also write the result here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="avaffect: %(message)s")
    try:
        if args.json:
            from avaffect.output_paths import writable_file

            writable_file(args.json, "--json", "bench.json")
        with tempfile.TemporaryDirectory() as tmp:
            video = args.video or make_bench_video(
                Path(tmp) / "bench.mp4", _face_from(args.face_image), args.seconds
            )
            summary = bench_pipeline(
                video, args.checkpoint, args.backend, device=args.device, precision=args.precision,
                detector=args.detector, detector_model=args.detector_model,
                detect_size=args.detect_size, detect_every=args.detect_every,
                paced=not args.lossless,
                audio=not args.no_audio,
            )  # fmt: skip
    except AvaffectError as err:
        print(f"avaffect: error: {err}", file=sys.stderr)
        return 2
    text = json.dumps(summary, indent=2)
    print(text)
    if not summary["faces"]["measured"]:
        print(f"avaffect: {summary['faces']['not_measured']}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
