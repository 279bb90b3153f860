"""`avaffect live` and `avaffect analyze`: the real-time pipeline on a camera or a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from avaffect.cli import setup_logging

LIVE_EPILOG = """\
examples:
  avaffect live                                   # default camera and microphone, shipped default
  avaffect live --source 1 --no-audio --checkpoint m.safetensors
  avaffect live --source clip.mp4                 # a file, paced as if live
  avaffect live --headless --csv faces.csv --record out.mp4

Without --checkpoint the shipped audio-visual model runs when there is sound (a microphone
that opens, or the file's own track), the visual streaming model otherwise; the log says which.
keys: q or Esc quits (so does closing the window, or Ctrl-C).
The face detector is YuNet, shipped inside the package (or --detector-model PATH, or
$AVAFFECT_YUNET); nothing is downloaded. --detector haar picks OpenCV's Haar cascade.
"""

ANALYZE_EPILOG = """\
examples:
  avaffect analyze talk.mp4                       # shipped default: A/V if the file has sound
  avaffect analyze talk.mp4 --out results/ --checkpoint m.safetensors --backend onnxruntime
  avaffect analyze talk.mp4 --no-video            # rows only, faster

writes into --out: results.csv and results.jsonl (one row per face per frame),
annotated.mp4 (with the original sound) and summary.json (complete or not, frames, faces,
drops, FPS, per-stage times, latency, A/V skew). The folder is locked while the run lasts;
one that holds an earlier run's results is refused unless --overwrite is given.
Rows and video survive a crash or kill -9 (the video plays up to its last second).

exit status: 0 complete; 2 error (one line says why); 3 the video ended before its
container said it would (truncated or damaged: results cover what was decoded);
130 Ctrl-C, 143 SIGTERM (outputs closed, summary says "interrupted").
"""

ANALYZE_OUTPUTS = ("results.csv", "results.jsonl", "annotated.mp4", "summary.json")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        metavar="NAME|PATH",
        help="shipped model name (avaffect models --shipped) or .safetensors checkpoint "
        "(default: default_av_fer2013_crema_d when there is sound, else default_stream_fer2013)",
    )
    p.add_argument(
        "--backend",
        default="auto",
        help="engine backend: auto, torch, onnxruntime, tensorrt, torch2trt (default: auto)",
    )
    p.add_argument(
        "--device", default=None, help="cpu, cuda or cuda:N (default: the backend's choice)"
    )
    p.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "bf16"))
    p.add_argument("--no-audio", action="store_true", help="ignore sound: the visual default runs (an A/V checkpoint is refused)")
    p.add_argument(
        "--detector",
        default="yunet",
        choices=("yunet", "haar"),
        help="face detector (default: yunet)",
    )
    p.add_argument(
        "--detector-model",
        metavar="PATH",
        help="YuNet .onnx file (default: $AVAFFECT_YUNET, else the copy shipped in the package)",
    )
    p.add_argument(
        "--detect-size",
        type=int,
        default=None,
        metavar="PX",
        help="search larger frames for faces at this longer side (default: 480, which keeps a "
        "2-core CPU at 30 FPS; raise it for small, distant faces)",
    )
    p.add_argument(
        "--detect-every",
        type=int,
        default=None,
        metavar="K",
        help="search the whole frame for faces every K frames and re-find tracked faces near "
        "their last box in between; a lost track or no face searches at once (default: 5; "
        "1: every frame)",
    )
    p.add_argument("--max-faces", type=int, default=8, help="most faces per frame (default: 8)")
    p.add_argument("--summary", metavar="FILE", help="also write the run summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")


def add_live_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "live",
        help="analyze a camera (and microphone) live, in a window",
        description="Live facial affect analysis: valence/arousal, action units and expression "
        "for every face, drawn over the video; camera and microphone stay in sync.",
        epilog=LIVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--source", default="0", help="camera index, video file or stream URL (default: 0)"
    )
    p.add_argument(
        "--mic", metavar="DEVICE", help="microphone index or name (default: the system's input)"
    )
    p.add_argument("--mic-backend", default="sounddevice", choices=("sounddevice", "pyaudio"))
    p.add_argument("--csv", metavar="FILE", help="write one row per face per frame")
    p.add_argument("--jsonl", metavar="FILE", help="the same rows as JSON lines")
    p.add_argument("--record", metavar="FILE", help="write the annotated video (MP4, with sound)")
    p.add_argument(
        "--headless",
        action="store_true",
        help="no window (for servers; combine with --csv/--record)",
    )
    p.add_argument("--max-frames", type=int, help="stop after this many processed frames")
    _add_common(p)
    p.set_defaults(func=run_live)


def add_analyze_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="analyze a video file (every frame, as fast as possible)",
        description="Run the real-time pipeline over a video file, frame by frame with nothing "
        "dropped, using its own audio track, and write rows, an annotated video and a summary.",
        epilog=ANALYZE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("video", help="the video file")
    p.add_argument("--out", metavar="DIR", help="output folder (default: VIDEO's name + _avaffect)")
    p.add_argument("--no-video", action="store_true", help="skip the annotated video (faster)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results of an earlier run in --out (they are removed first)",
    )
    _add_common(p)
    p.set_defaults(func=run_analyze)


def _options(args: argparse.Namespace, source: str, video_mode: str):
    from avaffect.realtime.detectors import DEFAULT_DETECT_SIZE
    from avaffect.realtime.faces import DEFAULT_DETECT_EVERY
    from avaffect.realtime.launch import RunOptions

    return RunOptions(
        source=source, checkpoint=args.checkpoint, backend=args.backend, device=args.device,
        precision=args.precision, audio=not args.no_audio, mic=getattr(args, "mic", None),
        mic_backend=getattr(args, "mic_backend", "sounddevice"), detector=args.detector,
        detector_model=args.detector_model, detect_size=args.detect_size or DEFAULT_DETECT_SIZE,
        detect_every=DEFAULT_DETECT_EVERY if args.detect_every is None else args.detect_every,
        max_faces=args.max_faces,
        video_mode=video_mode,
    )  # fmt: skip


def _finish(stats, pipeline, options, summary_path: str | Path | None, stop=None) -> int:
    """Print and write the summary (also after an interruption); return the exit status."""
    from avaffect.realtime.stats import format_summary, write_summary

    outcome = run_outcome(stats, pipeline, stop)
    summary = stats.summary(**run_context(pipeline, options), **outcome)
    print(format_summary(summary), file=sys.stderr)
    if summary_path:
        write_summary(summary_path, summary)
    return outcome["exit_status"]


def run_outcome(stats, pipeline, stop=None) -> dict:
    """How the run ended, for the summary: ``complete``, ``status``, ``reason``, ``exit_status``."""
    from avaffect import run_status as rs

    signalled = stop is not None and stop()
    if signalled or stats.interrupted:  # a signal's flag, or Ctrl-C as KeyboardInterrupt
        name = stop.signal_name if signalled else "SIGINT"
        status = stop.exit_status if signalled else rs.EXIT_SIGINT
        return {
            "complete": False, "status": rs.INTERRUPTED, "exit_status": status,
            "reason": f"interrupted by {name} after {stats.seen} frames",
        }  # fmt: skip
    if pipeline.video.incomplete:
        return {
            "complete": False, "status": rs.INCOMPLETE, "exit_status": rs.EXIT_INCOMPLETE,
            "reason": pipeline.video.incomplete,
        }  # fmt: skip
    return {"complete": True, "status": rs.COMPLETE, "exit_status": rs.EXIT_OK, "reason": None}


def run_context(pipeline, options) -> dict:
    """Where a run's numbers came from, for its summary."""
    spec = pipeline.engine.spec
    return {
        "source": str(options.source),
        "model": spec.model,
        "backend": spec.backend,
        "device": spec.device,
        "precision": spec.precision,
        "detector": pipeline.finder.detector.name,
        "detect_every": pipeline.finder.detect_every,
        "full_searches": pipeline.finder.full_searches,
        "refound_frames": pipeline.finder.refinds,
        "audio": None if pipeline.audio is None else pipeline.audio.kind,
        "frames_read": pipeline.video.frames_read,
        "frames_in_container": pipeline.video.frame_count,
        "dropped_frames": pipeline.video.dropped,
        "dropped_results": pipeline.dropped_results,
    }


def run_live(args: argparse.Namespace) -> int:
    from avaffect.realtime.display import LiveWindow
    from avaffect.realtime.launch import build_pipeline
    from avaffect.realtime.overlay import Overlay
    from avaffect.realtime.session import run_session
    from avaffect.run_status import stop_on_signals

    setup_logging(args.quiet)
    _check_live_outputs(args)
    options = _options(args, args.source, "paced")
    window = None if args.headless else LiveWindow()  # fail before the slow part
    pipeline = build_pipeline(options, default_mode="paced")
    try:
        sinks = _live_sinks(args, pipeline)
    except BaseException:
        pipeline.close(raise_errors=False)  # release the camera and microphone
        raise
    overlay = Overlay() if (window is not None or args.record) else None
    with stop_on_signals() as stop:
        stats = run_session(
            pipeline, overlay=overlay, sinks=sinks, window=window, max_frames=args.max_frames,
            should_stop=stop,
        )  # fmt: skip
        return _finish(stats, pipeline, options, args.summary, stop)


def _check_live_outputs(args: argparse.Namespace) -> None:
    """Every file the run will write, checked before the camera and the model open."""
    from avaffect.output_paths import writable_file

    for option, value, example in (
        ("--csv", args.csv, "faces.csv"), ("--jsonl", args.jsonl, "faces.jsonl"),
        ("--record", args.record, "annotated.mp4"), ("--summary", args.summary, "summary.json"),
    ):  # fmt: skip
        if value:
            writable_file(value, option, example)


def _live_sinks(args: argparse.Namespace, pipeline) -> list:
    from avaffect.realtime.sinks import CsvSink, FileSoundtrack, JsonlSink, MicSoundtrack, VideoSink

    sinks = []
    if args.csv:
        sinks.append(CsvSink(args.csv))
    if args.jsonl:
        sinks.append(JsonlSink(args.jsonl))
    if args.record:
        audio = pipeline.audio
        track = None
        if audio is not None and audio.kind == "microphone":
            track = MicSoundtrack(audio.ring)
        elif pipeline.video.is_file and not args.no_audio:
            track = FileSoundtrack.of(args.source)
        sinks.append(VideoSink(args.record, pipeline.video.fps, track))
    return sinks


def _analyze_sinks(args: argparse.Namespace, pipeline, video: Path, out: Path) -> list:
    from avaffect.realtime.sinks import CsvSink, FileSoundtrack, JsonlSink, VideoSink

    sinks = [CsvSink(out / "results.csv"), JsonlSink(out / "results.jsonl")]
    if not args.no_video:
        track = None if args.no_audio else FileSoundtrack.of(video)
        sinks.append(VideoSink(out / "annotated.mp4", pipeline.video.fps, track))
    return sinks


def run_analyze(args: argparse.Namespace) -> int:
    from avaffect.output_paths import writable_file, writable_folder
    from avaffect.realtime.launch import build_pipeline
    from avaffect.realtime.run_folder import RunFolder

    setup_logging(args.quiet)
    video = Path(args.video)
    out = Path(args.out) if args.out else video.with_name(f"{video.stem}_avaffect")
    writable_folder(out, "--out")  # before the model loads and a single frame is read
    if args.summary:
        writable_file(args.summary, "--summary", "summary.json")
    options = _options(args, str(video), "lossless")
    # The folder is claimed before anything slow: a busy or finished folder fails at once.
    with RunFolder(out, ANALYZE_OUTPUTS, overwrite=args.overwrite):
        pipeline = build_pipeline(options, default_mode="lossless")
        try:
            sinks = _analyze_sinks(args, pipeline, video, out)
        except BaseException:
            pipeline.close(raise_errors=False)
            raise
        status = _analyze_run(args, pipeline, options, sinks, out)
    print(f"results in {out}/", file=sys.stderr)
    return status


def _analyze_run(args, pipeline, options, sinks, out: Path) -> int:
    from tqdm import tqdm

    from avaffect.realtime.overlay import Overlay
    from avaffect.realtime.session import run_session
    from avaffect.run_status import stop_on_signals

    overlay = None if args.no_video else Overlay()
    with stop_on_signals() as stop:
        with tqdm(
            total=pipeline.video.frame_count, unit="frame", disable=args.quiet, file=sys.stderr
        ) as bar:
            stats = run_session(
                pipeline, overlay=overlay, sinks=sinks, progress=bar, should_stop=stop
            )
        return _finish(stats, pipeline, options, args.summary or out / "summary.json", stop)
