"""The ``avaffect`` command: a dispatcher over one module per command, all on this floor.

``COMMANDS`` is a dispatch table of loaders (avaffect.lazy), each returning the function that
registers its subcommand (``add_parser(subparsers)``, which sets ``func``). The command
modules import nothing heavy at the top (torch, OpenCV and ONNX come inside ``func``), so
``avaffect --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from avaffect import __version__
from avaffect.errors import AvaffectError
from avaffect.lazy import Loader
from avaffect.run_status import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_SIGINT, raise_on_sigterm

AddParser = Callable[[argparse._SubParsersAction], None]


def _models() -> AddParser:
    from avaffect.cli.models import add_parser

    return add_parser


def _train() -> AddParser:
    from avaffect.cli.train import add_train_parser

    return add_train_parser


def _eval() -> AddParser:
    from avaffect.cli.train import add_eval_parser

    return add_eval_parser


def _pack() -> AddParser:
    from avaffect.cli.pack import add_parser

    return add_parser


def _calibrate() -> AddParser:
    from avaffect.cli.calibrate import add_parser

    return add_parser


def _data() -> AddParser:
    from avaffect.cli.data import add_parser

    return add_parser


def _export() -> AddParser:
    from avaffect.cli.export import add_export_parser

    return add_export_parser


def _live() -> AddParser:
    from avaffect.cli.live import add_live_parser

    return add_live_parser


def _analyze() -> AddParser:
    from avaffect.cli.live import add_analyze_parser

    return add_analyze_parser


def _serve() -> AddParser:
    from avaffect.cli.serve import add_serve_parser

    return add_serve_parser


def _bench() -> AddParser:
    from avaffect.cli.bench import add_parser

    return add_parser


#: command name -> the loader of its ``add_parser``, in the order ``--help`` lists them
COMMANDS: dict[str, Loader[AddParser]] = {
    "models": _models,
    "train": _train,
    "eval": _eval,
    "pack": _pack,
    "calibrate": _calibrate,
    "data": _data,
    "export": _export,
    "live": _live,
    "analyze": _analyze,
    "serve": _serve,
    "bench": _bench,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avaffect",
        description="Real-time audio-visual facial affect analysis: valence/arousal, 8 action "
        "units and 7 expressions (Kollias & Zafeiriou, BMVC 2019).",
        epilog="Run `avaffect COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"avaffect {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for load in COMMANDS.values():
        load()(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    raise_on_sigterm()  # SIGTERM unwinds like Ctrl-C: files closed, devices released
    try:
        return int(args.func(args) or 0)
    except AvaffectError as err:
        print(f"avaffect: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as err:
        print("avaffect: interrupted", file=sys.stderr)
        return getattr(err, "exit_status", EXIT_SIGINT)
    except BrokenPipeError:
        # The reader went away (`avaffect models --json | head`): not an error worth a
        # traceback. Point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
