"""Output paths checked before any work starts, by every command that writes.

A bad output path (a folder where a file is meant, a file in the way of a folder, a parent
that cannot be created, a read-only place) found only after an hour of analysis or training
loses that hour. Each command passes its outputs through :func:`writable_file` or
:func:`writable_folder` first, before it loads a model or reads a frame: a bad one is one
:class:`AvaffectError` line that names the option, the path and the fix.

Nothing is created here: the writer makes the missing folders as it writes. The place is
proved writable by creating and removing a file in the folder (or in its nearest existing
ancestor, where the folder would be made): a permission-bit check alone is wrong for root,
ACLs and read-only mounts.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from avaffect.errors import AvaffectError


def writable_file(path: str | os.PathLike, option: str, example: str = "") -> Path:
    """``path`` can be written as a file: it is not a folder, an existing file there is not
    read-only, and its folder takes new files or can be created. ``example``: a file name
    the error suggests inside a folder given by mistake."""
    path = Path(path).expanduser()
    where = f"{option} {path}"
    if path.is_dir():
        hint = f", e.g. {path / example}" if example else ""
        raise AvaffectError(f"{where}: is a folder; pass a file name{hint}")
    _check_folder(path.parent, where)
    if path.exists() and not os.access(path, os.W_OK):
        raise AvaffectError(f"{where}: the file exists and is read-only; pick another name")
    return path


def writable_folder(path: str | os.PathLike, option: str) -> Path:
    """``path`` is a folder that takes new files, or one that can be created."""
    path = Path(path).expanduser()
    where = f"{option} {path}"
    if path.exists() and not path.is_dir():
        raise AvaffectError(
            f"{where}: is a file, not a folder; pass a folder (it is created if missing)"
        )
    _check_folder(path, where)
    return path


def _check_folder(folder: Path, where: str) -> None:
    nearest = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not nearest.is_dir():
        raise AvaffectError(
            f"{where}: {nearest} is a file, so no folder can be made under it; pick another path"
        )
    try:
        with tempfile.NamedTemporaryFile(dir=nearest, prefix=".avaffect-probe-"):
            pass
    except OSError as err:
        why = err.strerror or str(err)
        what = f"cannot write in {folder}" if nearest == folder else (
            f"cannot create {folder}: {nearest} is not writable"
        )
        raise AvaffectError(f"{where}: {what} ({why}); pick a place you can write to") from None
