"""One input of a corpus, analysed into its own locked folder: the code every executor runs.

:func:`run_job` runs exactly what ``avaffect analyze INPUT --out FOLDER`` runs for one file
(:func:`avaffect.realtime.runs.run_analyze`, given the same :class:`AnalyzeOptions`), so a
corpus folder is indistinguishable from a single run's. Whatever happens, it returns the input's index row and never raises: an input
that fails is a row that says why, and the other inputs go on. The lines the run would have
printed go to ``log.txt`` in its folder instead of the terminal, where one progress bar over
the files stands.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

from avaffect.corpus.index import finished_row
from avaffect.errors import AvaffectError
from avaffect.realtime.runs import AnalyzeOptions
from avaffect.run_status import EXIT_ERROR, EXIT_SIGINT, Interrupted

LOG_NAME = "log.txt"
EXIT_UNEXPECTED = 1


@dataclass(frozen=True)
class Job:
    """What one worker needs: picklable, so it travels to a process or a Ray node."""

    source: str  # the input file (absolute: every node must see the same path)
    folder: str  # its output folder (absolute)
    name: str  # that folder relative to the corpus's --out (the index's key)
    options: AnalyzeOptions = field(default_factory=AnalyzeOptions)  # every input's options

    def analyze_options(self) -> AnalyzeOptions:
        """`avaffect analyze SOURCE --out FOLDER --overwrite` with the corpus's options: an
        unfinished earlier run's results in the folder are replaced (complete ones were
        skipped before the job was made)."""
        return replace(
            self.options, video=self.source, out=self.folder, overwrite=True, summary=None
        )


def run_job(job: Job) -> dict:
    """Analyse ``job.source`` into ``job.folder``; its index row, whatever happened."""
    start = time.monotonic()
    log = io.StringIO()
    error = None
    with _captured(log):
        try:
            exit_status = _analyze(job)
        except AvaffectError as err:
            exit_status, error = EXIT_ERROR, str(err)
        except KeyboardInterrupt as err:  # a signal before the analysis loop took over
            exit_status = getattr(err, "exit_status", EXIT_SIGINT)
            error = "interrupted before its analysis started"
        except Exception as err:  # noqa: BLE001 - one input's bug must not stop the corpus
            traceback.print_exc(file=log)
            exit_status, error = EXIT_UNEXPECTED, f"unexpected {type(err).__name__}: {err}"
    row = finished_row(
        job.source, job.name, Path(job.folder), exit_status=exit_status, error=error,
        seconds=time.monotonic() - start,
    )  # fmt: skip
    if error and exit_status != EXIT_UNEXPECTED:
        print(f"avaffect: error: {error}", file=log)
    if error and exit_status not in (EXIT_ERROR, EXIT_UNEXPECTED):
        row["status"] = "interrupted"
    _write_log(Path(job.folder), log.getvalue())
    return row


def _analyze(job: Job) -> int:
    from avaffect.realtime.runs import run_analyze

    return run_analyze(job.analyze_options(), progress=False)


@contextlib.contextmanager
def _captured(log: io.StringIO):
    """The run's log lines and printed summary into ``log``, the terminal's handlers set aside."""
    logger = logging.getLogger("avaffect")
    saved = logger.handlers[:], logger.level
    handler = logging.StreamHandler(log)
    handler.setFormatter(logging.Formatter("avaffect: %(message)s"))
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)  # the log says which model ran, and why
    try:
        with contextlib.redirect_stderr(log):
            yield
    finally:
        logger.handlers, level = saved
        logger.setLevel(level)


def _write_log(folder: Path, text: str) -> None:
    if not text:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / LOG_NAME).write_text(text, encoding="utf-8")
    except OSError:
        pass  # the row already carries the error line; a log that cannot be written is no loss


# -- worker processes ---------------------------------------------------------------------

_busy = False


def limit_threads(threads: int) -> None:
    """Keep this process to ``threads`` compute threads (PyTorch, ONNX Runtime, OpenCV, BLAS),
    so that N workers on one machine do not oversubscribe its cores. Call it first thing."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "AVAFFECT_THREADS"):
        os.environ[name] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    import cv2

    cv2.setNumThreads(threads)


def init_worker(threads: int) -> None:
    """A pool worker: its thread share, and signals that stop its current input only.

    SIGINT/SIGTERM while an input runs end that input as ``avaffect analyze`` does (outputs
    closed, summary ``interrupted``); between inputs they are ignored, so an idle worker never
    dies with a traceback: the parent decides when the pool ends.
    """
    limit_threads(threads)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)


def _on_signal(signum, frame) -> None:
    if _busy:
        raise Interrupted(signum)


def run_job_in_worker(job: Job) -> dict:
    global _busy
    _busy = True
    try:
        return run_job(job)
    finally:
        _busy = False


def run_job_on_ray(job: Job, threads: int) -> dict:
    """The body of a Ray task: the same job, with its node's thread share."""
    limit_threads(threads)
    return run_job(job)
