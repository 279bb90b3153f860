"""A live run and an analyze run as library functions: what `avaffect live` and `avaffect
analyze` do once their flags are options, usable from Python as well.

:class:`LiveOptions` and :class:`AnalyzeOptions` compose the stream's options
(:class:`~avaffect.realtime.options.RunOptions`: engine, detector, audio) with the outputs of
each kind of run. Both functions return the run's exit status (see avaffect.run_status).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from avaffect.options import Options
from avaffect.realtime.options import RunOptions

#: the files an analyze run writes into its folder
ANALYZE_OUTPUTS = (
    "results.csv", "results.jsonl", "results_embeddings.npy", "annotated.mp4", "summary.json",
)  # fmt: skip


@dataclass
class RowOutputs(Options):
    """What goes into the rows, for live and analyze alike."""

    # ArcFace models: each face's L2-normalised expression embedding in the JSONL rows, and
    # all of them as <csv name>_embeddings.npy beside the CSV (row i = CSV row i)
    embeddings: bool = False


@dataclass
class LiveOutputs(RowOutputs):
    """What a live run writes besides its window: each ``None`` is not written."""

    csv: str | None = None  # one row per face per frame
    jsonl: str | None = None  # the same rows as JSON lines
    record: str | None = None  # the annotated video (MP4, with sound)
    summary: str | None = None  # the run summary as JSON


@dataclass
class LiveOptions(LiveOutputs, RunOptions):
    """`avaffect live`: a camera, file or URL analysed as it comes, in a window (or not)."""

    source: str = "0"  # camera index, video file or stream URL
    headless: bool = False  # no window
    max_frames: int | None = None  # stop after this many processed frames


@dataclass
class AnalyzeOutputs(RowOutputs):
    """What an analyze run writes: rows, the annotated video and the summary, in one folder."""

    out: str | None = None  # the folder; None: VIDEO's name + _avaffect
    annotated: bool = True  # also write annotated.mp4
    overwrite: bool = False  # replace an earlier run's results in the folder
    summary: str | None = None  # also write the summary here (it is always in the folder)


@dataclass
class AnalyzeOptions(AnalyzeOutputs, RunOptions):
    """`avaffect analyze`: every frame of a video file, with its own sound."""

    video: str = ""  # the video file

    def out_dir(self) -> Path:
        video = Path(self.video)
        return Path(self.out) if self.out else video.with_name(f"{video.stem}_avaffect")


def run_live(options: LiveOptions) -> int:
    """Analyze ``options.source`` live until it ends, q/Esc, or a signal; the exit status."""
    from avaffect.realtime.display import LiveWindow
    from avaffect.realtime.overlay import Overlay
    from avaffect.realtime.session import run_session
    from avaffect.realtime.stream import build_pipeline
    from avaffect.run_status import stop_on_signals

    check_live_outputs(options)
    window = None if options.headless else LiveWindow()  # fail before the slow part
    pipeline = build_pipeline(options, options.source, mode="paced")
    try:
        sinks = live_sinks(options, pipeline)
    except BaseException:
        pipeline.close(raise_errors=False)  # release the camera and microphone
        raise
    overlay = Overlay() if (window is not None or options.record) else None
    with stop_on_signals() as stop:
        stats = run_session(
            pipeline, overlay=overlay, sinks=sinks, window=window, max_frames=options.max_frames,
            should_stop=stop,
        )  # fmt: skip
        return finish(stats, pipeline, options.source, options.summary, stop)


def check_live_outputs(options: LiveOutputs) -> None:
    """Every file the run will write, checked before the camera and the model open."""
    from avaffect.output_paths import writable_file

    for option, value, example in (
        ("--csv", options.csv, "faces.csv"), ("--jsonl", options.jsonl, "faces.jsonl"),
        ("--record", options.record, "annotated.mp4"), ("--summary", options.summary, "summary.json"),
    ):  # fmt: skip
        if value:
            writable_file(value, option, example)


def live_sinks(options: LiveOptions, pipeline) -> list:
    from avaffect.realtime.sinks import CsvSink, FileSoundtrack, JsonlSink, MicSoundtrack, VideoSink

    if options.embeddings and not (options.csv or options.jsonl):
        from avaffect.errors import AvaffectError

        raise AvaffectError("--embeddings writes into the rows: pass --csv FILE and/or --jsonl FILE too")
    # First: it refuses a model without embeddings before any file exists.
    with_embeddings = embedding_sinks(options, pipeline, options.csv, options.jsonl)
    sinks = []
    if options.csv:
        sinks.append(CsvSink(options.csv))
    if options.jsonl and not options.embeddings:
        sinks.append(JsonlSink(options.jsonl))
    sinks += with_embeddings
    if options.record:
        audio = pipeline.audio
        track = None
        if audio is not None and audio.kind == "microphone":
            track = MicSoundtrack(audio.ring)
        elif pipeline.video.is_file and options.audio:
            track = FileSoundtrack.of(options.source)
        sinks.append(VideoSink(options.record, pipeline.video.fps, track))
    return sinks


def run_analyze(options: AnalyzeOptions, *, progress: bool = True) -> int:
    """Analyze every frame of ``options.video`` into its folder; the exit status."""
    from avaffect.output_paths import writable_file, writable_folder
    from avaffect.realtime.run_folder import RunFolder
    from avaffect.realtime.stream import build_pipeline

    out = options.out_dir()
    writable_folder(out, "--out")  # before the model loads and a single frame is read
    if options.summary:
        writable_file(options.summary, "--summary", "summary.json")
    # The folder is claimed before anything slow: a busy or finished folder fails at once.
    with RunFolder(out, ANALYZE_OUTPUTS, overwrite=options.overwrite):
        pipeline = build_pipeline(options, options.video, mode="lossless")
        try:
            sinks = analyze_sinks(options, pipeline, out)
        except BaseException:
            pipeline.close(raise_errors=False)
            raise
        status = _analyze_run(options, pipeline, sinks, out, progress)
    print(f"results in {out}/", file=sys.stderr)
    return status


def analyze_sinks(options: AnalyzeOptions, pipeline, out: Path) -> list:
    from avaffect.realtime.sinks import CsvSink, FileSoundtrack, JsonlSink, VideoSink

    # First: it refuses a model without embeddings before any file exists, so a refused run
    # leaves no results.csv that would make the folder look like an earlier run's.
    with_embeddings = embedding_sinks(options, pipeline, out / "results.csv", out / "results.jsonl")
    sinks = [CsvSink(out / "results.csv")]
    if not options.embeddings:
        sinks.append(JsonlSink(out / "results.jsonl"))
    sinks += with_embeddings
    if options.annotated:
        track = FileSoundtrack.of(options.video) if options.audio else None
        sinks.append(VideoSink(out / "annotated.mp4", pipeline.video.fps, track))
    return sinks


def embedding_sinks(options: RowOutputs, pipeline, csv_path, jsonl_path) -> list:
    """With ``embeddings``: the JSONL rows with each face's embedding, and an .npy of them
    beside the CSV (``results.csv`` -> ``results_embeddings.npy``); none otherwise."""
    if not options.embeddings:
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


def _analyze_run(options: AnalyzeOptions, pipeline, sinks, out: Path, progress: bool) -> int:
    from tqdm import tqdm

    from avaffect.realtime.overlay import Overlay
    from avaffect.realtime.session import run_session
    from avaffect.run_status import stop_on_signals

    overlay = Overlay() if options.annotated else None
    with stop_on_signals() as stop:
        with tqdm(
            total=pipeline.video.frame_count, unit="frame", disable=not progress, file=sys.stderr
        ) as bar:
            stats = run_session(
                pipeline, overlay=overlay, sinks=sinks, progress=bar, should_stop=stop
            )
        return finish(stats, pipeline, options.video, options.summary or out / "summary.json", stop)


def finish(stats, pipeline, source: str, summary_path: str | Path | None, stop=None) -> int:
    """Print and write the summary (also after an interruption); return the exit status."""
    from avaffect.realtime.stats import format_summary, write_summary

    summary = run_summary(stats, pipeline, source, stop)
    print(format_summary(summary), file=sys.stderr)
    if summary_path:
        write_summary(summary_path, summary)
    return summary["exit_status"]


def run_summary(stats, pipeline, source: str, stop=None) -> dict:
    """The run's summary: its statistics, where they came from, and how it ended."""
    return stats.summary(**run_context(pipeline, source), **run_outcome(stats, pipeline, stop))


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


def run_context(pipeline, source: str) -> dict:
    """Where a run's numbers came from, for its summary."""
    spec = pipeline.engine.spec
    return {
        "source": str(source),
        "model": spec.model,
        "backend": spec.backend,
        "device": spec.device,
        "precision": spec.precision,
        "detector": pipeline.finder.detector.name,
        "detect_every": pipeline.finder.detect_every,
        "full_searches": pipeline.finder.full_searches,
        "refound_frames": pipeline.finder.refinds,
        "audio": None if pipeline.audio is None else pipeline.audio.kind,
        # steps a second the model ran at (None: every frame), and how many it took
        "model_rate": pipeline.engine.rate,
        "model_steps": pipeline.engine.steps,
        "frames_read": pipeline.video.frames_read,
        "frames_in_container": pipeline.video.frame_count,
        "dropped_frames": pipeline.video.dropped,
        "dropped_results": pipeline.dropped_results,
    }
