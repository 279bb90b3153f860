"""What a corpus run analyses, and where each input's results go.

The command line names files, folders and globs. A folder is searched (recursively) for
videos and images by extension; a file named outright is taken whatever its extension (if
it is not a video, its job fails and says so). Hidden files and folders are skipped, and so
is everything under the output folder, so that a corpus written inside its own input folder
is never analysed again as input.

Each input gets its own folder under ``--out``: its path relative to the inputs' common
folder, the extension kept in the name (``a/talk.mp4`` -> ``a/talk_mp4``), so that two
files with the same name in different folders, or ``talk.mp4`` beside ``talk.mov``, never
share one. The names depend only on the inputs, so re-running the same command finds the
same folders (that is what makes a run resumable).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from avaffect.errors import AvaffectError

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .mov .avi .mkv .webm .m4v .mpg .mpeg .wmv .flv .3gp .ts .mts .m2ts".split()
)
IMAGE_EXTENSIONS = frozenset(".jpg .jpeg .png .bmp .tif .tiff .webp".split())
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | IMAGE_EXTENSIONS
GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Input:
    """One input of a corpus: the file, and its output folder relative to ``--out``."""

    path: Path  # absolute
    name: str  # the output folder, relative to --out (POSIX separators)


def find_inputs(specs: list[str], out: str | os.PathLike | None = None) -> list[Input]:
    """Files, folders and globs -> the inputs, sorted and without duplicates.

    One line names the first argument that matches nothing, so a typo fails at once.
    """
    skip = Path(out).resolve() if out is not None else None
    files: dict[Path, None] = {}
    for spec in specs:
        found = _expand(spec, skip)
        if not found:
            raise AvaffectError(_nothing_found(spec))
        files.update(dict.fromkeys(found))
    return name_inputs(sorted(files))


def _expand(spec: str, skip: Path | None) -> list[Path]:
    path = Path(spec).expanduser()
    if path.is_file():
        return [path.resolve()]
    if path.is_dir():
        return _search(path.resolve(), skip)
    if GLOB_CHARS & set(spec):
        found: list[Path] = []
        for match in sorted(glob.glob(str(path), recursive=True)):
            m = Path(match).resolve()
            if m.is_file() and not _under(m, skip):
                found.append(m)
            elif m.is_dir():
                found.extend(_search(m, skip))
        return found
    return []


def _search(folder: Path, skip: Path | None) -> list[Path]:
    """Videos and images under ``folder``, hidden ones and the output folder left out."""
    found = []
    for root, dirs, names in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _under(here / d, skip))
        found.extend(
            here / n
            for n in sorted(names)
            if not n.startswith(".") and Path(n).suffix.lower() in MEDIA_EXTENSIONS
        )
    return found


def _under(path: Path, folder: Path | None) -> bool:
    return folder is not None and (path == folder or folder in path.parents)


def _nothing_found(spec: str) -> str:
    path = Path(spec).expanduser()
    if path.is_dir():
        kinds = ", ".join(sorted(MEDIA_EXTENSIONS))
        return f"{spec}: no video or image in this folder (looked for {kinds})"
    if GLOB_CHARS & set(spec):
        return f"{spec}: the pattern matches no file; check it (quote it to let avaffect expand **)"
    return f"{spec}: no such file or folder; pass video files, folders or globs"


def name_inputs(files: list[Path]) -> list[Input]:
    """Each file's output folder: its path from the files' common folder, extension kept."""
    if not files:
        return []
    root = Path(os.path.commonpath([f.parent for f in files]))
    return [Input(f, _folder_name(f.relative_to(root))) for f in files]


def _folder_name(relative: Path) -> str:
    ext = relative.suffix.lstrip(".")
    leaf = f"{relative.stem}_{ext}" if ext else f"{relative.name}_"
    return (relative.parent / leaf).as_posix()
