"""How a run ended, as an exit status and as summary fields a corpus script can test.

Every command exits with one of these statuses (README "Exit statuses" lists them too):

====  ==========================================================================
 0    complete: every frame of the input was processed (summary ``complete: true``)
 1    an unexpected failure (a Python traceback: please report it)
 2    an error avaffect explains in one line (bad option, missing file, busy --out...)
 3    incomplete input: the video ended before its container said it would, or a
      frame failed to decode midway; what was decoded is analysed and written
      (summary ``complete: false``, ``status: incomplete``, ``reason``)
 4    a corpus run (several inputs) in which at least one input failed; the others
      ran, and the corpus index says which failed and why
130   interrupted by SIGINT (Ctrl-C); outputs are closed and the summary says
      ``status: interrupted`` with the frames done
143   interrupted by SIGTERM (``kill``), handled exactly like SIGINT
141   stdout was closed by its reader (``avaffect models --json | head``)
====  ==========================================================================

SIGINT and SIGTERM never interrupt a write: while a run is going, a signal only raises a
flag (:class:`StopFlag`) that the run checks between frames, so the frame in hand is written
whole and every output is then closed properly. Outside a run (loading a model...) they stop
the command at once with their status.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_INCOMPLETE = 3
EXIT_INPUTS_FAILED = 4
EXIT_BROKEN_PIPE = 141
_SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
EXIT_SIGINT = _SIGNAL_EXIT[signal.SIGINT]
EXIT_SIGTERM = _SIGNAL_EXIT[signal.SIGTERM]

#: The summary's ``status`` values.
COMPLETE, INTERRUPTED, INCOMPLETE = "complete", "interrupted", "incomplete"


def signal_exit_status(signum: int) -> int:
    """128 + the signal's number, as shells report it (130 for SIGINT, 143 for SIGTERM)."""
    return _SIGNAL_EXIT.get(signum, 128 + int(signum))


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM outside a run: unwinds like Ctrl-C, exits with the signal's status."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_status = signal_exit_status(signum)


def raise_on_sigterm() -> None:
    """From now on SIGTERM unwinds like Ctrl-C (``finally`` blocks run, devices are released)
    instead of killing the process on the spot. Only the main thread can install it."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupted)


def _raise_interrupted(signum, frame) -> None:
    raise Interrupted(signum)


class StopFlag:
    """Set by the first SIGINT/SIGTERM during a run; read by the run between frames."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self) -> bool:
        return self.signum is not None

    @property
    def signal_name(self) -> str | None:
        return None if self.signum is None else signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return EXIT_OK if self.signum is None else signal_exit_status(self.signum)

    def _handle(self, signum, frame) -> None:
        # Only a plain attribute is set here: a handler runs between two bytecodes of the
        # main thread, possibly while it holds a lock, so it must not take one itself.
        if self.signum is None:
            self.signum = signum


@contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """While inside, SIGINT and SIGTERM set the returned flag instead of interrupting;
    the previous handlers come back on exit. Off the main thread it installs nothing (the
    flag then never sets: the caller's own stop mechanism applies)."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.signal(s, flag._handle) for s in _SIGNAL_EXIT}
    try:
        yield flag
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
