"""`avaffect live` and `avaffect analyze`: flags -> :class:`LiveOptions` / :class:`AnalyzeOptions`
-> :func:`avaffect.realtime.runs.run_live` / :func:`~avaffect.realtime.runs.run_analyze`."""

from __future__ import annotations

import argparse

from avaffect.cli.corpus import add_corpus_flags, is_corpus, run_corpus_command
from avaffect.cli.flags import (
    UNSET,
    add_audio_flags,
    add_detector_flags,
    add_engine_flags,
    add_quiet_flag,
    options_from,
)
from avaffect.cli.logs import setup_logging

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
  avaffect analyze talk.mp4 --checkpoint default_arcvgg_fer2013 --embeddings   # + expression embeddings

writes into --out: results.csv and results.jsonl (one row per face per frame),
annotated.mp4 (with the original sound) and summary.json (complete or not, frames, faces,
drops, FPS, per-stage times, latency, A/V skew); with --embeddings (ArcFace models) each
JSONL row also holds the face's L2-normalised expression embedding, and
results_embeddings.npy holds them all, float32 [rows, d], row i for results.csv's row i.
The folder is locked while the run lasts;
one that holds an earlier run's results is refused unless --overwrite is given.
Rows and video survive a crash or kill -9 (the video plays up to its last second).

exit status: 0 complete; 2 error (one line says why); 3 the video ended before its
container said it would (truncated or damaged: results cover what was decoded);
130 Ctrl-C, 143 SIGTERM (outputs closed, summary says "interrupted").

a corpus (several inputs, folders, globs):
  avaffect analyze videos/ --out results/ --jobs 2    # 2 processes, cores shared out
  avaffect analyze 'lab/**/*.mov' a.mp4 --out results/ --no-video
  avaffect analyze videos/ --out /shared/results --ray auto   # tasks on a Ray cluster

each input gets results/<its path from the inputs' common folder>_<ext>/ with the files
above and log.txt; results/index.csv (and index.parquet with pyarrow) has one row per input:
status, exit_status, reason, frames, faces, seconds, mean valence/arousal, dominant
expression. Re-running the same command skips complete inputs and redoes the rest; one
failed input never stops the others. Exit status: 0 all complete; 3 some incomplete;
4 some failed (see the index); 130/143 interrupted (re-run to finish).
"""


def _add_run_flags(p: argparse.ArgumentParser, *, microphone: bool) -> None:
    """The stream's flags (RunOptions: engine, detector, audio), shared with serve and bench."""
    add_engine_flags(p)
    add_audio_flags(p, microphone=microphone)
    add_detector_flags(p)
    p.add_argument("--summary", metavar="FILE", default=UNSET, help="also write the run summary as JSON")
    p.add_argument(
        "--embeddings", action="store_true", default=UNSET,
        help="ArcFace models (default_arcvgg_fer2013): add each face's L2-normalised expression "
        "embedding to the JSONL rows and write them as an .npy beside the CSV (row i = CSV row i)",
    )  # fmt: skip
    add_quiet_flag(p)


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
        "--source", default=UNSET, help="camera index, video file or stream URL (default: 0)"
    )
    p.add_argument("--csv", metavar="FILE", default=UNSET, help="write one row per face per frame")
    p.add_argument("--jsonl", metavar="FILE", default=UNSET, help="the same rows as JSON lines")
    p.add_argument(
        "--record", metavar="FILE", default=UNSET,
        help="write the annotated video (MP4, with sound)",
    )  # fmt: skip
    p.add_argument(
        "--headless", action="store_true", default=UNSET,
        help="no window (for servers; combine with --csv/--record)",
    )  # fmt: skip
    p.add_argument(
        "--max-frames", type=int, default=UNSET, help="stop after this many processed frames"
    )
    _add_run_flags(p, microphone=True)
    p.set_defaults(func=run_live)


def add_analyze_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="analyze a video file, or a whole corpus (every frame, as fast as possible)",
        description="Run the real-time pipeline over a video file, frame by frame with nothing "
        "dropped, using its own audio track, and write rows, an annotated video and a summary.",
        epilog=ANALYZE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT",
        help="a video or image file; or several, folders (searched for videos and images) "
        "and globs: a corpus, one results folder per input under --out",
    )  # fmt: skip
    p.add_argument(
        "--out", metavar="DIR", default=UNSET,
        help="output folder (default: VIDEO's name + _avaffect; for one folder, its name + "
        "_avaffect; several inputs need it)",
    )  # fmt: skip
    add_corpus_flags(p)
    p.add_argument(
        "--no-video", dest="annotated", action="store_false", default=UNSET,
        help="skip the annotated video (faster)",
    )  # fmt: skip
    p.add_argument(
        "--overwrite", action="store_true", default=UNSET,
        help="replace the results of an earlier run in --out (they are removed first)",
    )  # fmt: skip
    _add_run_flags(p, microphone=False)
    p.set_defaults(func=run_analyze)


def run_live(args: argparse.Namespace) -> int:
    from avaffect.realtime import runs

    setup_logging(args.quiet)
    return runs.run_live(options_from(runs.LiveOptions, args))


def run_analyze(args: argparse.Namespace) -> int:
    """One file, as always; several inputs, a folder, a glob or --ray: a corpus run."""
    from avaffect.realtime import runs

    setup_logging(args.quiet)
    if is_corpus(args):
        return run_corpus_command(args)
    options = options_from(runs.AnalyzeOptions, args, video=args.inputs[0])
    return runs.run_analyze(options, progress=not args.quiet)
