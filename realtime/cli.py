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
The face detector is YuNet (fetched once into ~/.cache/avaffect, or --detector-model PATH,
or $AVAFFECT_YUNET); without it, OpenCV's Haar cascade is used.
"""

ANALYZE_EPILOG = """\
examples:
  avaffect analyze talk.mp4                       # shipped default: A/V if the file has sound
  avaffect analyze talk.mp4 --out results/ --checkpoint m.safetensors --backend onnxruntime
  avaffect analyze talk.mp4 --no-video            # rows only, faster
  avaffect analyze talk.mp4 --checkpoint default_arcvgg_fer2013 --embeddings   # + expression embeddings

writes into --out: results.csv and results.jsonl (one row per face per frame),
annotated.mp4 (with the original sound) and summary.json (frames, faces, drops, FPS,
per-stage times, latency, A/V skew); with --embeddings (ArcFace models) each JSONL row also
holds the face's L2-normalised expression embedding, and results_embeddings.npy holds them
all, float32 [rows, d], row i for results.csv's row i.
"""


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--checkpoint",
        metavar="NAME|PATH",
        help="shipped model name (avaffect models --shipped) or .safetensors checkpoint "
        "(default: default_av_fer2013_crema_d_ravdess when there is sound, else default_stream_fer2013)",
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
        help="YuNet .onnx file (default: $AVAFFECT_YUNET or the cache)",
    )
    p.add_argument(
        "--detect-size",
        type=int,
        default=None,
        metavar="PX",
        help="search larger frames for faces at this longer side (default: 480, which keeps a "
        "2-core CPU at 30 FPS; raise it for small, distant faces)",
    )
    p.add_argument("--max-faces", type=int, default=8, help="most faces per frame (default: 8)")
    p.add_argument(
        "--embeddings", action="store_true",
        help="ArcFace models (default_arcvgg_fer2013): add each face's L2-normalised expression "
        "embedding to the JSONL rows and write them as an .npy beside the CSV (row i = CSV row i)",
    )
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
    _add_common(p)
    p.set_defaults(func=run_analyze)


def _options(args: argparse.Namespace, source: str, video_mode: str):
    from avaffect.realtime.detectors import DEFAULT_DETECT_SIZE
    from avaffect.realtime.launch import RunOptions

    return RunOptions(
        source=source, checkpoint=args.checkpoint, backend=args.backend, device=args.device,
        precision=args.precision, audio=not args.no_audio, mic=getattr(args, "mic", None),
        mic_backend=getattr(args, "mic_backend", "sounddevice"), detector=args.detector,
        detector_model=args.detector_model, detect_size=args.detect_size or DEFAULT_DETECT_SIZE,
        max_faces=args.max_faces, video_mode=video_mode,
    )  # fmt: skip


def _finish(stats, pipeline, options, summary_path: str | Path | None) -> dict:
    from avaffect.realtime.stats import format_summary, write_summary

    summary = stats.summary(**run_context(pipeline, options))
    print(format_summary(summary), file=sys.stderr)
    if summary_path:
        write_summary(summary_path, summary)
    return summary


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
        "audio": None if pipeline.audio is None else pipeline.audio.kind,
        "dropped_frames": pipeline.video.dropped,
        "dropped_results": pipeline.dropped_results,
    }


def run_live(args: argparse.Namespace) -> int:
    from avaffect.realtime.display import LiveWindow
    from avaffect.realtime.launch import build_pipeline
    from avaffect.realtime.overlay import Overlay
    from avaffect.realtime.session import run_session

    setup_logging(args.quiet)
    options = _options(args, args.source, "paced")
    window = None if args.headless else LiveWindow()  # fail before the slow part
    pipeline = build_pipeline(options, default_mode="paced")
    try:
        sinks = _live_sinks(args, pipeline)
    except BaseException:
        pipeline.close(raise_errors=False)  # release the camera and microphone
        raise
    overlay = Overlay() if (window is not None or args.record) else None
    stats = run_session(
        pipeline, overlay=overlay, sinks=sinks, window=window, max_frames=args.max_frames
    )
    _finish(stats, pipeline, options, args.summary)
    return 0


def _live_sinks(args: argparse.Namespace, pipeline) -> list:
    from avaffect.realtime.sinks import CsvSink, FileSoundtrack, JsonlSink, MicSoundtrack, VideoSink

    sinks = []
    if args.embeddings and not (args.csv or args.jsonl):
        from avaffect.errors import AvaffectError

        raise AvaffectError("--embeddings writes into the rows: pass --csv FILE and/or --jsonl FILE too")
    if args.csv:
        sinks.append(CsvSink(args.csv))
    if args.jsonl and not args.embeddings:
        sinks.append(JsonlSink(args.jsonl))
    sinks += _embedding_sinks(args, pipeline, args.csv, args.jsonl)
    if args.record:
        audio = pipeline.audio
        track = None
        if audio is not None and audio.kind == "microphone":
            track = MicSoundtrack(audio.ring)
        elif pipeline.video.is_file and not args.no_audio:
            track = FileSoundtrack(args.source)
        sinks.append(VideoSink(args.record, pipeline.video.fps, track))
    return sinks


def _embedding_sinks(args: argparse.Namespace, pipeline, csv_path, jsonl_path) -> list:
    """With --embeddings: the JSONL rows with each face's embedding, and an .npy of them beside
    the CSV (``results.csv`` -> ``results_embeddings.npy``); none otherwise."""
    if not args.embeddings:
        return []
    from avaffect.realtime.embedding_sinks import (
        JsonlEmbeddingSink,
        NpyEmbeddingSink,
        check_embeddings,
    )

    check_embeddings(pipeline.engine.spec)
    sinks: list = [JsonlEmbeddingSink(jsonl_path)] if jsonl_path else []
    if csv_path:
        csv_path = Path(csv_path)
        sinks.append(NpyEmbeddingSink(csv_path.with_name(f"{csv_path.stem}_embeddings.npy")))
    return sinks


def _analyze_sinks(args: argparse.Namespace, pipeline, video: Path, out: Path) -> list:
    from avaffect.realtime.sinks import CsvSink, FileSoundtrack, JsonlSink, VideoSink

    sinks = [CsvSink(out / "results.csv")]
    if not args.embeddings:
        sinks.append(JsonlSink(out / "results.jsonl"))
    sinks += _embedding_sinks(args, pipeline, out / "results.csv", out / "results.jsonl")
    if not args.no_video:
        track = None if args.no_audio else FileSoundtrack(video)
        sinks.append(VideoSink(out / "annotated.mp4", pipeline.video.fps, track))
    return sinks


def run_analyze(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from avaffect.realtime.launch import build_pipeline
    from avaffect.realtime.overlay import Overlay
    from avaffect.realtime.session import run_session

    setup_logging(args.quiet)
    video = Path(args.video)
    out = Path(args.out) if args.out else video.with_name(f"{video.stem}_avaffect")
    options = _options(args, str(video), "lossless")
    pipeline = build_pipeline(options, default_mode="lossless")
    try:
        sinks = _analyze_sinks(args, pipeline, video, out)
    except BaseException:
        pipeline.close(raise_errors=False)
        raise
    overlay = None if args.no_video else Overlay()
    with tqdm(
        total=pipeline.video.frame_count, unit="frame", disable=args.quiet, file=sys.stderr
    ) as bar:
        stats = run_session(pipeline, overlay=overlay, sinks=sinks, progress=bar)
    _finish(stats, pipeline, options, args.summary or out / "summary.json")
    print(f"results in {out}/", file=sys.stderr)
    return 0
