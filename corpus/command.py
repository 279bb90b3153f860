"""`avaffect analyze` over a corpus: from the parsed command line to a corpus run and its status."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from avaffect.errors import AvaffectError

log = logging.getLogger("avaffect.corpus")

#: `avaffect analyze` options that concern the corpus, not each input's analysis.
CORPUS_ONLY = (
    "inputs",
    "out",
    "jobs",
    "ray",
    "overwrite",
    "summary",
    "quiet",
    "func",
    "command",
    "video",
)


def run_corpus_command(args: argparse.Namespace) -> int:
    from avaffect.cli import setup_logging
    from avaffect.corpus.inputs import find_inputs
    from avaffect.corpus.runner import run_corpus

    setup_logging(args.quiet)
    if args.summary:
        raise AvaffectError(
            "--summary is for one input; a corpus writes each input's summary.json in its "
            "folder and the whole corpus in --out/index.csv"
        )
    out = corpus_out(args.inputs, args.out)
    inputs = find_inputs(args.inputs, out)
    log.info("%d inputs -> %s/", len(inputs), out)
    analyze = {k: v for k, v in vars(args).items() if k not in CORPUS_ONLY}
    run = run_corpus(
        inputs, out, analyze, jobs=args.jobs, ray=args.ray, overwrite=args.overwrite,
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
