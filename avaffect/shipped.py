"""Names of the models shipped inside the package, and the one function that turns a name or
a path into a checkpoint file, so every command accepts both the same way."""

from __future__ import annotations

import os
from pathlib import Path

from avaffect.errors import AvaffectError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"

#: shipped name -> (file in avaffect/weights, one-line description). Filled as defaults ship.
SHIPPED: dict[str, tuple[str, str]] = {}


def available_shipped() -> dict[str, Path]:
    return {name: WEIGHTS_DIR / fname for name, (fname, _) in SHIPPED.items() if (WEIGHTS_DIR / fname).is_file()}


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """A shipped model name or a path -> the checkpoint file; a clear error otherwise."""
    text = str(name_or_path)
    if text in SHIPPED:
        path = WEIGHTS_DIR / SHIPPED[text][0]
        if not path.is_file():
            raise AvaffectError(f"shipped model {text!r} is missing from this install ({path}); reinstall avaffect")
        return path
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    known = ", ".join(SHIPPED) or "none yet"
    raise AvaffectError(f"{text!r} is neither a checkpoint file nor a shipped model name (shipped: {known})")
