"""The ``avaffect`` command: a thin dispatcher over the subcommands each stage provides.

Each entry names a function ``add_parser(subparsers)`` that registers one subcommand and
sets ``func``. Those modules keep heavy imports (torch, onnx...) inside the command itself,
so ``avaffect --help`` stays fast. A subcommand is listed here only once it really works.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from avaffect import __version__
from avaffect.errors import AvaffectError
from avaffect.run_status import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_SIGINT, raise_on_sigterm

COMMANDS: dict[str, str] = {
    "models": "avaffect.train.models.cli:add_parser",
    "train": "avaffect.train.cli:add_train_parser",
    "eval": "avaffect.train.cli:add_eval_parser",
    "pack": "avaffect.train.pack:add_parser",
    "data": "avaffect.train.data.cli:add_parser",
    "export": "avaffect.engines.cli:add_export_parser",
    "live": "avaffect.realtime.cli:add_live_parser",
    "analyze": "avaffect.realtime.cli:add_analyze_parser",
    "serve": "avaffect.demo.cli:add_serve_parser",
    "bench": "avaffect.demo.bench_cli:add_parser",
}


def setup_logging(quiet: bool = False) -> None:
    """Progress lines of every command: ``avaffect: ...`` on stderr; ``quiet`` keeps warnings only."""
    logger = logging.getLogger("avaffect")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("avaffect: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avaffect",
        description="Real-time audio-visual facial affect analysis: valence/arousal, 8 action "
        "units and 7 expressions (Kollias & Zafeiriou, BMVC 2019).",
        epilog="Run `avaffect COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"avaffect {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for target in COMMANDS.values():
        module, func = target.split(":")
        getattr(importlib.import_module(module), func)(subparsers)
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


if __name__ == "__main__":
    sys.exit(main())
