"""`avaffect analyze` over a corpus: --jobs and --ray, and from the parsed command line to a
corpus run (avaffect.corpus) and its exit status."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from avaffect.errors import AvaffectError

log = logging.getLogger("avaffect.corpus")

GLOB_CHARS = frozenset("*?[")


def add_corpus_flags(p: argparse.ArgumentParser) -> None:
    """--jobs and --ray: how a corpus's inputs are spread (not options of one input's run)."""
    g = p.add_argument_group("a corpus (several inputs, a folder or a glob)")
    g.add_argument(
        "--jobs", type=int, default=1, metavar="N",
        help="analyse N inputs at a time in N processes, the cores shared between them "
        "(default: 1)",
    )  # fmt: skip
    g.add_argument(
        "--ray", nargs="?", const=True, default=False, metavar="ADDRESS",
        help="one Ray task per input on the Ray cluster at ADDRESS (e.g. auto); alone, a local "
        "Ray instance (needs pip install 'avaffect[cluster]')",
    )  # fmt: skip


def is_corpus(args: argparse.Namespace) -> bool:
    """Several inputs, a folder, a glob or --ray. One path that is none of these keeps the
    single-file run, with its own errors (a missing file is "no such video file")."""
    first = args.inputs[0]
    single = len(args.inputs) == 1 and not Path(first).is_dir() and not GLOB_CHARS & set(first)
    return not single or args.ray is not False


def run_corpus_command(args: argparse.Namespace) -> int:
    from avaffect.cli.flags import options_from
    from avaffect.corpus.inputs import find_inputs
    from avaffect.corpus.runner import run_corpus
    from avaffect.realtime.runs import AnalyzeOptions

    if getattr(args, "summary", None):
        raise AvaffectError(
            "--summary is for one input; a corpus writes each input's summary.json in its "
            "folder and the whole corpus in --out/index.csv"
        )
    out = corpus_out(args.inputs, getattr(args, "out", None))
    inputs = find_inputs(args.inputs, out)
    log.info("%d inputs -> %s/", len(inputs), out)
    options = options_from(AnalyzeOptions, args)
    run = run_corpus(
        inputs, out, options, jobs=args.jobs, ray=args.ray, overwrite=options.overwrite,
        progress=not args.quiet,
    )  # fmt: skip
    print(report(run), file=sys.stderr)
    return run.exit_status


def corpus_out(inputs: list[str], out: str | None) -> Path:
    """--out, or beside a single folder input (FOLDER_avaffect); several inputs need --out."""
    if out:
        return Path(out)
    if len(inputs) == 1 and Path(inputs[0]).is_dir():
        folder = Path(inputs[0]).resolve()
        return folder.with_name(f"{folder.name}_avaffect")
    raise AvaffectError("several inputs need --out DIR: the folder that gets one folder per input")


def report(run) -> str:
    """The closing lines: what happened to how many inputs, and where the index is."""
    counts = ", ".join(f"{n} {status}" for status, n in sorted(run.counts.items()))
    lines = [
        f"{len(run.rows)} inputs: {counts} ({run.ran} run now, {run.skipped} complete already)"
    ]
    if run.interrupted_by is not None:
        lines.append("interrupted: re-run the same command to finish the rest")
    elif run.exit_status:
        lines.append("not every input is complete: see the status and reason columns of the index")
    lines.append(f"index in {run.out / 'index.csv'}")
    return "\n".join(lines)
