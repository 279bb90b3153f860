"""Where engines built from a checkpoint are kept, and the reuse-or-rebuild rule.

The cache lives in ``~/.cache/avaffect/engines/`` (``$AVAFFECT_CACHE`` overrides it). Each
engine gets a folder named after its model and a key hashed from the source file's sha256
and the build options, so different precisions or batch limits never overwrite each other;
the manifest inside decides whether the file there is still valid for what is running.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from avaffect.engines.manifest import (
    Expected,
    Manifest,
    manifest_path,
    mismatches,
    read_manifest,
)
from avaffect.errors import AvaffectError

log = logging.getLogger("avaffect")

CACHE_ENV = "AVAFFECT_CACHE"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path("~/.cache/avaffect/engines").expanduser()


def cached_path(root: Path, model: str, source_sha256: str, options: dict, filename: str) -> Path:
    """``root/<model>-<key>/<filename>``, the key hashing the source and the build options."""
    blob = json.dumps({"source": source_sha256, **options}, sort_keys=True)
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return root / f"{model}-{key}" / filename


def ensure_built(
    path: Path,
    expected: Expected,
    build: Callable[[], Manifest],
    *,
    rebuild: bool,
    what: str = "engine",
) -> Manifest:
    """Reuse ``path`` when its manifest matches ``expected``, else ``build()`` it again.

    With ``rebuild=False`` a stale file is refused with one line naming what differs; a
    file that does not exist yet is simply built.
    """
    problems = stale_reasons(path, expected)
    if problems is None:
        log.info("building %s %s", what, path)
        return build()
    if not problems:
        log.info("reusing %s %s (manifest matches)", what, path)
        return read_manifest(path)
    if not rebuild:
        raise AvaffectError(
            f"{path}: {what} is stale ({'; '.join(problems)}); allow a rebuild (drop --no-rebuild) "
            "or export it again"
        )
    log.info("rebuilding %s %s: %s", what, path, "; ".join(problems))
    return build()


def stale_reasons(path: Path, expected: Expected) -> list[str] | None:
    """None when there is nothing to reuse; else why the file there is stale (empty: fresh)."""
    if not path.is_file() or not manifest_path(path).is_file():
        return None
    try:
        manifest = read_manifest(path)
    except AvaffectError as err:
        return [f"unreadable manifest ({err})"]
    problems = mismatches(manifest, expected)
    if not problems and manifest.file_sha256 and _sha256(path) != manifest.file_sha256:
        problems.append("file does not match its manifest (corrupt or replaced)")
    return problems


def _sha256(path: Path) -> str:
    from avaffect.checkpoint import file_sha256

    return file_sha256(path)
