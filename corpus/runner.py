"""A corpus run: many inputs, one folder each, resumable, one progress bar over the files.

:func:`run_corpus` claims ``out`` (a second corpus run into it is refused, naming the
first), skips every input whose folder already holds a complete run (unless ``overwrite``),
runs the rest through one executor (this process, a process pool or Ray), and rewrites
``index.csv`` as each input finishes. A failed input is a row that says why; it never stops
the others. Re-running the same command finishes what is left.

Exit status (:func:`corpus_exit_status`): 0 when every input is complete; 130/143 when the
run was interrupted (Ctrl-C/SIGTERM; re-run to finish); else 4 when at least one input
failed (the index says why); else 3 when at least one input was incomplete (truncated or
damaged: what was decoded is analysed).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from avaffect.corpus import executors
from avaffect.corpus.index import CorpusIndex, finished_row, is_complete, pending_row, previous_rows
from avaffect.corpus.inputs import Input
from avaffect.corpus.job import Job
from avaffect.errors import AvaffectError
from avaffect.realtime.runs import AnalyzeOptions
from avaffect.run_status import (
    COMPLETE,
    EXIT_INCOMPLETE,
    EXIT_INPUTS_FAILED,
    EXIT_OK,
    EXIT_SIGINT,
    INCOMPLETE,
)

log = logging.getLogger("avaffect.corpus")

#: What a corpus run writes in ``out`` itself (each input's results go in its own folder).
CORPUS_OUTPUTS = ("index.csv", "index.parquet")


@dataclass
class CorpusRun:
    """How a corpus run went: its rows (index order), what it did, and its exit status."""

    out: Path
    rows: list[dict]
    skipped: int = 0  # complete already: not run again
    ran: int = 0
    interrupted_by: int | None = None  # the signal's exit status, when it was cut short
    counts: Counter = field(default_factory=Counter)

    @property
    def exit_status(self) -> int:
        return corpus_exit_status(self.rows, self.interrupted_by)

    def dataframe(self):
        """The index as a pandas DataFrame (see :mod:`avaffect.corpus.index` for the columns)."""
        from avaffect.corpus.index import index_dataframe

        return index_dataframe(self.rows)


def corpus_exit_status(rows: Sequence[dict], interrupted_by: int | None = None) -> int:
    """0 only when every input is complete; see the module's docstring for the others."""
    if interrupted_by is not None:
        return interrupted_by
    statuses = {row["status"] for row in rows}
    if statuses <= {COMPLETE}:
        return EXIT_OK
    if statuses - {COMPLETE, INCOMPLETE}:
        return EXIT_INPUTS_FAILED
    return EXIT_INCOMPLETE


def run_corpus(
    inputs: Sequence[Input],
    out: str | os.PathLike,
    options: AnalyzeOptions | None = None,
    *,
    jobs: int = 1,
    ray: bool | str = False,
    overwrite: bool = False,
    progress: bool = True,
) -> CorpusRun:
    """Analyse every input into ``out/<its name>`` with ``options`` (`avaffect analyze`'s;
    their video, out and overwrite are set per input). ``ray``: False, True (a local
    instance or ``$RAY_ADDRESS``) or a cluster address."""
    from avaffect.output_paths import writable_folder
    from avaffect.realtime.run_folder import RunFolder

    out = writable_folder(out, "--out").resolve()
    if jobs < 1:
        raise AvaffectError(f"--jobs must be at least 1, got {jobs}")
    with RunFolder(out, (), overwrite=True):  # the lock only: one corpus run per folder
        return _run_locked(inputs, out, options or AnalyzeOptions(), jobs, ray, overwrite, progress)


def analyze_corpus(
    inputs,
    out: str | os.PathLike,
    *,
    jobs: int = 1,
    ray: bool | str = False,
    overwrite: bool = False,
    progress: bool = True,
    **options,
):
    """`avaffect analyze INPUTS --out OUT --jobs N` (or ``--ray``) from Python: ``inputs`` a
    path, a glob or a list of them; ``options`` are fields of
    :class:`~avaffect.realtime.runs.AnalyzeOptions` (``checkpoint="..."``,
    ``annotated=False``...). Returns the corpus index as a DataFrame, the command's exit
    status in ``df.attrs["exit_status"]``."""
    from avaffect.corpus.inputs import find_inputs

    specs = [str(x) for x in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
    fields = {f.name for f in dataclasses.fields(AnalyzeOptions)} - {"video", "out", "overwrite"}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise AvaffectError(
            f"unknown option(s) {', '.join(unknown)}; use any of {', '.join(sorted(fields))}"
        )
    run = run_corpus(
        find_inputs(specs, out), out, AnalyzeOptions(**options), jobs=jobs, ray=ray,
        overwrite=overwrite,
        progress=progress,
    )  # fmt: skip
    frame = run.dataframe()
    frame.attrs["exit_status"] = run.exit_status
    return frame


def _run_locked(inputs, out: Path, options, jobs: int, ray, overwrite: bool, progress: bool):
    earlier = previous_rows(out)
    rows, todo = [], []
    for item in inputs:
        folder = out / item.name
        if not overwrite and is_complete(folder):
            row = earlier.get(item.name)
            if not row or row.get("status") != COMPLETE or row.get("input") != str(item.path):
                row = finished_row(item.path, item.name, folder, exit_status=EXIT_OK)
            rows.append(row)
        else:
            rows.append(pending_row(item.path, item.name))
            todo.append(Job(str(item.path), str(folder), item.name, options))
    run = CorpusRun(out, rows, skipped=len(inputs) - len(todo))
    index = CorpusIndex(out, rows)
    index.write()
    if run.skipped:
        log.info("%d of %d inputs complete already: skipped", run.skipped, len(inputs))
    _execute(run, index, _executor(todo, jobs, ray), len(todo), progress)
    run.rows = list(index.rows.values())
    run.counts = Counter(row["status"] for row in run.rows)
    return run


def _executor(todo: list[Job], jobs: int, ray) -> Iterator[dict]:
    if ray is not False and ray is not None:
        return executors.run_ray(todo, None if ray is True else str(ray))
    if jobs > 1 and len(todo) > 1:
        return executors.run_pool(todo, min(jobs, len(todo)))
    return executors.run_here(todo)


def _execute(
    run: CorpusRun, index: CorpusIndex, rows: Iterator[dict], total: int, progress
) -> None:
    from tqdm import tqdm

    bar = tqdm(total=total, unit="file", disable=not progress or not total, file=sys.stderr)
    frames = failed = 0

    def take(row: dict) -> None:
        nonlocal frames, failed
        index.update(row)
        run.ran += 1
        frames += row.get("frames") or 0
        if row["status"] not in (COMPLETE, INCOMPLETE, "interrupted"):
            failed += 1
            bar.write(
                f"avaffect: {row['output']}: {row['status']}: {row['reason']}", file=sys.stderr
            )
        elif row["status"] == INCOMPLETE:
            bar.write(f"avaffect: {row['output']}: incomplete: {row['reason']}", file=sys.stderr)
        bar.set_postfix(frames=frames, failed=failed, refresh=False)
        bar.update(1)

    try:
        _consume(rows, take)
    except KeyboardInterrupt as err:
        run.interrupted_by = getattr(err, "exit_status", EXIT_SIGINT)
    finally:
        bar.close()


def _consume(rows: Iterator[dict], take) -> None:
    """Every row to ``take``; a signal that lands in ``take`` is handed to the executor, so
    that it too stops its inputs in flight and yields their rows before re-raising."""
    try:
        for row in rows:
            take(row)
    except KeyboardInterrupt as err:
        if getattr(rows, "gi_frame", None) is None:  # raised by the executor: it is done
            raise
        try:
            row = rows.throw(err)
            while True:
                take(row)
                row = next(rows)
        except StopIteration:
            raise err from None
