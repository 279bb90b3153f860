"""An output folder belongs to one run at a time.

:class:`RunFolder` takes an exclusive ``flock`` on ``.avaffect.lock`` inside the folder for
as long as the run lasts. The kernel drops the lock when the process ends, however it ends
(``kill -9`` and power cuts included), so a killed run never leaves a stale lock behind: the
next run simply gets it. A second run into a locked folder is refused at once, with one line
naming the run that holds it (pid, start time, command), which the holder writes into the
lock file.

A folder that already holds a run's results (any of ``outputs``) is refused too, unless
``overwrite`` is given; then the old results are removed first (under the lock), so that the
files of two runs can never mix. A corpus runner (many inputs, one folder each) takes one
:class:`RunFolder` per input the same way.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from avaffect.errors import AvaffectError

LOCK_NAME = ".avaffect.lock"


class RunFolder:
    """The exclusive claim of one run on folder ``path``; a context manager.

    ``outputs`` are the file names this kind of run writes (a leftover ``.NAME.part`` of any
    of them counts as well); ``command`` is recorded for whoever is refused (default: this
    process's command line).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        outputs: Sequence[str],
        *,
        overwrite: bool = False,
        command: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.outputs = tuple(outputs)
        self.overwrite = overwrite
        self.command = command or shlex.join(["avaffect", *sys.argv[1:]])
        self._fd: int | None = None
        self._created: list[Path] = []  # made by this run: removed again if left empty

    def __enter__(self) -> RunFolder:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_NAME

    def acquire(self) -> None:
        """Lock the folder, then clear or refuse what an earlier run left; one line on failure."""
        try:
            self._created = [p for p in (self.path, *self.path.parents) if not p.exists()]
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise AvaffectError(
                f"{self.path}: cannot create the output folder ({err.strerror}); pick another --out"
            ) from None
        self._fd = self._lock()
        try:
            self._clear_earlier_results()
            self._write_holder()
        except BaseException:
            self.release()
            raise

    def _lock(self) -> int:
        while True:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as err:
                raise AvaffectError(
                    f"{self.path}: cannot write there ({err.strerror}); pick another --out"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe(_read_holder(fd))
                os.close(fd)
                raise AvaffectError(
                    f"{self.path} is in use by another run ({holder}); wait for it to end or "
                    "pick another --out"
                ) from None
            # The holder before us may have removed the file between our open and our lock:
            # then we hold a lock on a file nobody else can see. Try again on the new one.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                return fd
            os.close(fd)

    def _clear_earlier_results(self) -> None:
        found = [
            p
            for name in self.outputs
            for p in (self.path / name, self.path / f".{name}.part")
            if p.exists()
        ]
        if not found:
            return
        if not self.overwrite:
            names = ", ".join(p.name for p in found)
            raise AvaffectError(
                f"{self.path} already holds the results of an earlier run ({names}); "
                "pass --overwrite to replace them, or pick another --out"
            )
        for p in found:
            try:
                p.unlink()
            except OSError as err:
                raise AvaffectError(
                    f"{p}: cannot remove the earlier result ({err.strerror}); remove it yourself "
                    "or pick another --out"
                ) from None

    def _write_holder(self) -> None:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        holder = {"pid": os.getpid(), "started": started, "command": self.command}
        data = json.dumps(holder).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        """Give the folder back (the lock file goes too). Safe to call more than once."""
        if self._fd is None:
            return
        try:
            self.lock_path.unlink(missing_ok=True)  # still ours: we hold the lock
        except OSError:
            pass
        os.close(self._fd)  # closing drops the flock
        self._fd = None
        # A run that failed before writing anything leaves no empty folders behind.
        for folder in self._created:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break  # not empty: it holds results
        self._created = []


def _read_holder(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    if not holder:
        return "it is just starting"
    return (
        f"pid {holder.get('pid', '?')}, started {holder.get('started', '?')}: "
        f"{holder.get('command', '?')}"
    )
