"""``avaffect pack``: a trained checkpoint -> a compact fp16 (or int8-weight) copy to share or ship
(:func:`avaffect.train.checkpoints.packing.pack_for_sharing`).

The shipped defaults are packed this way (``avaffect/weights``): half the bytes of the fp32
training output (a quarter with ``--int8``), loaded back into fp32 parameters by every consumer.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from avaffect.cli.logs import setup_logging

log = logging.getLogger("avaffect.train")

EPILOG = """\
examples:
  avaffect pack runs/default_frame_fer2013/best.safetensors --out model_fp16.safetensors
  avaffect eval --checkpoint model_fp16.safetensors --dataset fer2013 --path DATA --split PublicTest

  # weight matrices in int8 (about half the fp16 file): measure it before you ship it
  avaffect pack runs/default_frame_fer2013/best.safetensors --out model_int8.safetensors --int8

  # also average each face with its mirror image at inference (VGG face models; no retraining)
  avaffect pack runs/default_frame_fer2013/best.safetensors --out model.safetensors --mirror-average

Check the packed file's accuracy with `avaffect eval` before you share it: fp16 and int8 hold
for the shipped models (docs/defaults.md), but that is a measurement, not a promise.
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "pack",
        help="store a checkpoint's weights in fp16 (half the size) to share or ship it",
        description="Write a copy of a trained checkpoint with its weights in fp16 (half the size) "
        "or its weight matrices in int8 (a quarter), same config, loaded back into fp32 "
        "parameters by every avaffect command.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a .safetensors checkpoint (or shipped name)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="where to write the packed copy")
    parser.add_argument(
        "--int8",
        action="store_true",
        help="store the conv, linear and GRU weight matrices as int8 with one scale per output "
        "channel (about half the fp16 file); they load back as fp32, so check accuracy with eval",
    )
    parser.add_argument(
        "--mirror-average",
        action="store_true",
        help="the packed model averages each face with its mirror image at inference (flip "
        "test-time augmentation: +1.2 to +1.8 points on FER2013 for the frame defaults, twice the conv "
        "compute); for the VGG face models, whose training it does not change",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from avaffect.output_paths import writable_file
    from avaffect.train.checkpoints.packing import pack_for_sharing

    setup_logging()
    writable_file(args.out, "--out", "model_fp16.safetensors")
    source, out = pack_for_sharing(
        args.checkpoint, args.out, int8=args.int8, mirror_average=args.mirror_average
    )
    log.info(
        "packed %s (%.1f MB) -> %s (%.1f MB, %s)", source, source.stat().st_size / 1e6, out,
        out.stat().st_size / 1e6, "int8 weights" if args.int8 else "fp16",
    )
    return 0
