"""Threads that stop together and report their failure to the thread that waits for them.

Every real-time thread (camera reader, inference) runs through :class:`Worker`: an
exception in it sets the shared stop event, so the others wind down too, and is kept so
that the main thread can re-raise it as one clear :class:`AvaffectError` with the cause.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from avaffect.errors import AvaffectError

log = logging.getLogger("avaffect.realtime")


class Worker:
    """One named daemon thread running ``target()``; failures are captured, not lost."""

    def __init__(self, name: str, target: Callable[[], None], stop: threading.Event) -> None:
        self.name = name
        self.error: BaseException | None = None
        self._target = target
        self._stop = stop
        # Daemon so that a thread stuck in a driver call can never keep the process alive;
        # join_workers still waits for it and says so when it does not finish.
        self._thread = threading.Thread(target=self._run, name=f"avaffect-{name}", daemon=True)

    def _run(self) -> None:
        try:
            self._target()
        except BaseException as err:  # noqa: BLE001 - handed to the main thread, never lost
            self.error = err
            self._stop.set()

    def start(self) -> Worker:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True if it finished (or never started)."""
        if self._thread.ident is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


def join_workers(workers: Iterable[Worker], timeout: float = 5.0) -> list[str]:
    """Join every worker (each gets ``timeout``); warns about and returns the ones still running."""
    stuck = []
    for worker in workers:
        if not worker.join(timeout):
            log.warning(
                "thread %r did not stop within %.1f s; leaving it behind", worker.name, timeout
            )
            stuck.append(worker.name)
    return stuck


def raise_first_error(workers: Iterable[Worker]) -> None:
    """Re-raise the first worker failure in the calling thread as a one-line AvaffectError."""
    for worker in workers:
        err = worker.error
        if err is None:
            continue
        if isinstance(err, AvaffectError):
            raise AvaffectError(f"{worker.name}: {err}") from err
        raise AvaffectError(
            f"the {worker.name} thread failed: {type(err).__name__}: {err}"
        ) from err
