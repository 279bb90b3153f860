"""`avaffect bench`: engine step latency, the whole pipeline, and concurrent streams."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EPILOG = """\
sections (default: all that can run here):
  --engines    engine.step latency (median, p95) and faces/s per backend, precision, CUDA
               graphs and face batch size
  --pipeline   the whole pipeline on a paced 30 FPS video: FPS, per-stage times, drops,
               capture->overlay latency (needs --face-image or --video)
  --streams N  how many 30 FPS streams one engine sustains without a dropped frame,
               searching up to N (default 64 on a GPU, 4 on the CPU)

examples:
  avaffect bench                                  # untrained mt_vgg on a GPU, mt_vgg_lite on a CPU
  avaffect bench --engines --backends torch tensorrt --precisions fp16 --batch-sizes 1
  avaffect bench --face-image me.jpg --pipeline --streams 32
  avaffect bench --checkpoint model.safetensors --json results.json

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
    which.add_argument("--checkpoint", metavar="NAME|PATH", help="time this checkpoint")
    which.add_argument(
        "--model",
        help="time an untrained registered model (default: mt_vgg on a GPU, else the shipped "
        "default model that `avaffect live` runs)",
    )
    p.add_argument("--width", type=float, help="width multiplier for --model")
    p.add_argument("--backends", nargs="+", metavar="B", help="default: all four backends")
    p.add_argument("--precisions", nargs="+", choices=("fp32", "fp16", "bf16"), metavar="P")
    p.add_argument("--no-cuda-graphs", action="store_true", help="skip the CUDA-graph rows")
    p.add_argument("--batch-sizes", nargs="+", type=int, metavar="N", help="default: 1 4 8")
    p.add_argument("--steps", type=int, default=50, help="timed steps per row (default: 50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (default: 5)")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: each backend's choice)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--video", help="pipeline/streams video (ideally 640x480, 30 FPS, a face)")
    source.add_argument("--face-image", help="make a 640x480 30 FPS test video from this face")
    p.add_argument("--seconds", type=float, default=10.0, help="made video's length (default: 10)")
    p.add_argument("--repeats", type=int, default=3, help="pipeline runs (default: 3)")
    p.add_argument("--pipeline-backend", default="auto", help="pipeline/streams backend")
    p.add_argument("--pipeline-precision", choices=("fp32", "fp16", "bf16"))
    p.add_argument("--detector", default="yunet", choices=("yunet", "haar"))
    p.add_argument("--detector-model", metavar="PATH", help="YuNet .onnx file")
    p.add_argument(
        "--detect-size", type=int, default=None, metavar="PX",
        help="YuNet searches larger frames at this longer side (default: 480)",
    )  # fmt: skip
    p.add_argument(
        "--detect-every", type=int, default=None, metavar="K",
        help="search the whole frame every K frames, re-find tracked faces in between (default: 5)",
    )  # fmt: skip
    p.add_argument(
        "--streams-budget", type=float, default=300.0, metavar="S",
        help="time limit of the streams search (default: 300 s)",
    )  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def config_from(args: argparse.Namespace):
    from avaffect.demo.bench import SECTIONS, BenchConfig

    chosen = tuple(
        s
        for s, on in zip(
            SECTIONS, (args.engines, args.pipeline, args.streams is not None), strict=True
        )
        if on
    )
    defaults = BenchConfig()
    return BenchConfig(
        sections=chosen or SECTIONS, checkpoint=args.checkpoint, model=args.model,
        width=args.width, backends=tuple(args.backends or defaults.backends),
        precisions=tuple(args.precisions or defaults.precisions),
        cuda_graphs=not args.no_cuda_graphs,
        batch_sizes=tuple(args.batch_sizes or defaults.batch_sizes), steps=args.steps,
        warmup=args.warmup, device=args.device, video=args.video, face_image=args.face_image,
        seconds=args.seconds, repeats=args.repeats, detector=args.detector,
        detector_model=args.detector_model, detect_size=args.detect_size or BenchConfig.detect_size,
        detect_every=args.detect_every,
        pipeline_backend=args.pipeline_backend,
        pipeline_precision=args.pipeline_precision, max_streams=args.streams or None,
        streams_budget_s=args.streams_budget,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from avaffect.cli import setup_logging
    from avaffect.demo.bench import run_benchmark
    from avaffect.demo.bench_report import format_report

    setup_logging(args.quiet)
    config = config_from(args)
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
