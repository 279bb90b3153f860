"""``avaffect pack``: a trained checkpoint -> a compact fp16 copy to share or ship.

The shipped defaults are packed this way (``avaffect/weights``): half the bytes of the fp32
training output, loaded back into fp32 parameters by every consumer.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("avaffect.train")

EPILOG = """\
examples:
  avaffect pack runs/default_frame_fer2013/best.safetensors --out model_fp16.safetensors
  avaffect eval --checkpoint model_fp16.safetensors --dataset fer2013 --path DATA --split PublicTest

Check the packed file's accuracy with `avaffect eval` before you share it: fp16 holds for the
shipped models (docs/defaults.md), but that is a measurement, not a promise.
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "pack",
        help="store a checkpoint's weights in fp16 (half the size) to share or ship it",
        description="Write a copy of a trained checkpoint with its weights in fp16: half the size, "
        "same config, loaded back into fp32 parameters by every avaffect command.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a .safetensors checkpoint (or shipped name)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE", help="where to write the packed copy")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from avaffect.checkpoint import pack_checkpoint
    from avaffect.cli import setup_logging
    from avaffect.errors import AvaffectError
    from avaffect.shipped import resolve_checkpoint

    setup_logging()
    source = resolve_checkpoint(args.checkpoint)
    if args.out.resolve() == source.resolve():
        raise AvaffectError(f"--out {args.out} is the checkpoint itself; write the packed copy elsewhere")
    out = pack_checkpoint(source, args.out)
    log.info("packed %s (%.1f MB) -> %s (%.1f MB, fp16)", source, source.stat().st_size / 1e6, out, out.stat().st_size / 1e6)
    return 0
