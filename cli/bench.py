"""`avaffect bench`: engine step latency, the whole pipeline, and concurrent streams."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from avaffect.cli.flags import (
    UNSET,
    add_audio_flags,
    add_detector_flags,
    add_engine_flags,
    add_quiet_flag,
    options_from,
)
from avaffect.cli.logs import setup_logging
from avaffect.engines.backends import BACKENDS
from avaffect.engines.options import PRECISIONS

DEFAULT_BACKENDS = tuple(BACKENDS)

EPILOG = """\
sections (default: all that can run here):
  --engines    engine.step latency (median, p95) and faces/s per backend, precision, CUDA
               graphs and face batch size
  --pipeline   the whole pipeline on a paced 30 FPS video: FPS, per-stage times, drops,
               capture->overlay latency (needs --face-image or --video)
  --streams N  how many 30 FPS streams one engine sustains without a dropped frame,
               searching up to N (default 64 on a GPU, 4 on the CPU)
  --corpus INPUT...  (alone) `avaffect analyze INPUT...` at each --corpus-jobs value
               (default 1 2), on the same inputs in one run: files/hour, frames/s, speed-up

examples:
  avaffect bench                                  # untrained mt_vgg on a GPU, mt_vgg_lite on a CPU
  avaffect bench --engines --backends torch tensorrt --precisions fp16 --batch-sizes 1
  avaffect bench --face-image me.jpg --pipeline --streams 32
  avaffect bench --checkpoint model.safetensors --json results.json
  avaffect bench --corpus videos/ --corpus-jobs 1 2 4

Backends, precisions or devices that cannot run here are listed as skipped, with the reason.
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="benchmark engines, the pipeline and concurrent streams",
        description="Measure what users compare: engine step latency and throughput, the "
        "full real-time pipeline, and how many live streams one GPU sustains. Warm-up is "
        "excluded and GPU work synchronised; the machine is described in the output.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--engines", action="store_true", help="run the engine section")
    p.add_argument("--pipeline", action="store_true", help="run the pipeline section")
    p.add_argument(
        "--streams", type=int, nargs="?", const=0, metavar="N", help="run the streams section"
    )
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="print the result as JSON (or write it to FILE) instead of the table",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--model", default=UNSET,
        help="time an untrained registered model (default: mt_vgg on a GPU, else the shipped "
        "default model that `avaffect live` runs)",
    )  # fmt: skip
    p.add_argument("--width", type=float, default=UNSET, help="width multiplier for --model")
    p.add_argument(
        "--backends", nargs="+", metavar="B", default=UNSET,
        help=f"engines section (default: {' '.join(DEFAULT_BACKENDS)})",
    )  # fmt: skip
    p.add_argument(
        "--precisions", nargs="+", choices=PRECISIONS, metavar="P", default=UNSET,
        help="engines section (default: fp32 fp16)",
    )  # fmt: skip
    p.add_argument(
        "--no-cuda-graphs", dest="cuda_graphs", action="store_false", default=UNSET,
        help="skip the CUDA-graph rows",
    )  # fmt: skip
    p.add_argument(
        "--batch-sizes", nargs="+", type=int, metavar="N", default=UNSET, help="default: 1 4 8"
    )
    p.add_argument("--steps", type=int, default=UNSET, help="timed steps per row (default: 50)")
    p.add_argument("--warmup", type=int, default=UNSET, help="untimed steps first (default: 5)")
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--video", default=UNSET, help="pipeline/streams video (ideally 640x480, 30 FPS, a face)"
    )
    source.add_argument(
        "--face-image", default=UNSET, help="make a 640x480 30 FPS test video from this face"
    )
    p.add_argument(
        "--seconds", type=float, default=UNSET, help="made video's length (default: 10)"
    )
    p.add_argument("--repeats", type=int, default=UNSET, help="pipeline runs (default: 3)")
    p.add_argument(
        "--streams-budget", dest="streams_budget_s", type=float, default=UNSET, metavar="S",
        help="time limit of the streams search (default: 300 s)",
    )  # fmt: skip
    # the stream of the pipeline and streams sections: the same groups as live and analyze
    add_engine_flags(
        p, checkpoint_into=which, flag_prefix="pipeline-",
        precision_help="pipeline/streams precision (default: fp16 on a CUDA GPU, else auto: int8 for a "
        "calibrated model on ONNX Runtime, as live runs it)",
        checkpoint_help="time this checkpoint (shipped name or path)",
    )  # fmt: skip
    add_audio_flags(p)
    add_detector_flags(p)
    p.add_argument(
        "--corpus", nargs="+", metavar="INPUT",
        help="time a corpus run over these files, folders or globs (this section alone; the "
        "engine, audio and detector flags apply to it)",
    )  # fmt: skip
    p.add_argument(
        "--corpus-jobs", type=int, nargs="+", default=[1, 2], metavar="N",
        help="the --jobs values to compare (default: 1 2)",
    )  # fmt: skip
    add_quiet_flag(p, help="no progress lines on stderr")
    p.set_defaults(func=run)


def run_corpus_bench(args: argparse.Namespace) -> int:
    """The corpus section: `avaffect analyze INPUT...` once per --corpus-jobs value."""
    from avaffect.corpus.bench import bench_corpus, format_corpus
    from avaffect.realtime.runs import AnalyzeOptions

    options = options_from(AnalyzeOptions, args)
    result = bench_corpus(args.corpus, args.corpus_jobs, options, progress=not args.quiet)
    if args.json == "-":
        print(json.dumps(result, indent=2))
        return 0
    if args.json is not None:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(format_corpus(result))
    return 0


def options_of(args: argparse.Namespace):
    from avaffect.demo.bench.run import SECTIONS, BenchOptions

    asked = (args.engines, args.pipeline, args.streams is not None)
    chosen = tuple(s for s, on in zip(SECTIONS, asked, strict=True) if on)
    return options_from(
        BenchOptions, args, sections=chosen or SECTIONS, max_streams=args.streams or None
    )


def run(args: argparse.Namespace) -> int:
    from avaffect.demo.bench.report import format_report
    from avaffect.demo.bench.run import run_benchmark

    setup_logging(args.quiet)
    if args.corpus:
        return run_corpus_bench(args)
    config = options_of(args)
    if args.json not in (None, "-"):
        from avaffect.output_paths import writable_file

        writable_file(args.json, "--json", "bench.json")  # before minutes of measuring
    result = run_benchmark(config)
    if args.json is None:
        print(format_report(result))
    elif args.json == "-":
        print(json.dumps(result, indent=2))
    else:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(format_report(result))
        print(f"JSON written to {args.json}", file=sys.stderr)
    return 0
