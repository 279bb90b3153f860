"""Aff-Wild2 annotation files: one ``<video>.txt`` per video and task, a header, one line per frame.

Line ``k`` after the header labels frame ``k`` (1-based), i.e. ``cropped_aligned/<video>/0000k.jpg``.
Each reader checks the header against its task (a file in the wrong folder is caught), maps
the columns onto avaffect's label order by name, and checks every value, so a broken file
is an error that names it instead of silently wrong labels.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from avaffect.errors import AvaffectError
from avaffect.labels import AUS, INVALID_LABEL, INVALID_VA, NUM_AUS

from .expression_names import OUTSIDE_NAMES, expression_index

_AU_NAME = re.compile(r"^AU\d+$", re.IGNORECASE)


def _split_file(path: Path) -> tuple[list[str], str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise AvaffectError(f"{path}: cannot read annotation file ({err})") from None
    header, _, body = text.partition("\n")
    return [name.strip() for name in header.strip().split(",")], body


def _numbers(path: Path, body: str, columns: int) -> np.ndarray:
    """The frame lines as float64 [frames, columns] (numpy's C parser: fast on long files)."""
    if not body.strip():
        return np.zeros((0, columns), np.float64)
    try:
        values = np.loadtxt(io.StringIO(body), delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as err:
        raise AvaffectError(f"{path}: malformed frame line ({err})") from None
    if values.shape[1] != columns:
        raise AvaffectError(
            f"{path}: frame lines have {values.shape[1]} values but the header names {columns}"
        )
    return values


def _first_bad_line(bad_rows: np.ndarray) -> int:
    return int(np.flatnonzero(bad_rows)[0]) + 2  # +1 for the header, +1 for 1-based lines


def read_va(path: Path) -> np.ndarray:
    """``valence,arousal`` file -> float32 [frames, 2], -5 where missing."""
    header, body = _split_file(path)
    if [name.lower() for name in header] != ["valence", "arousal"]:
        raise AvaffectError(
            f"{path}: header {','.join(header)!r} is not a VA header ('valence,arousal'); "
            "is the file in the wrong annotation folder?"
        )
    values = _numbers(path, body, 2)
    missing = values == INVALID_VA
    bad = ~missing & ~((values >= -1.0) & (values <= 1.0))
    if bad.any():
        raise AvaffectError(
            f"{path}: line {_first_bad_line(bad.any(1))} has a value outside [-1, 1] that is "
            "not the missing marker -5"
        )
    return values.astype(np.float32)


def read_au(path: Path) -> np.ndarray:
    """AU file (any AU set, e.g. 8 or 12 columns) -> float32 [frames, 8] in our AU order.

    Columns are matched by name; an AU of ours that the file lacks (AU20 in the 12-AU
    release) is -1 (missing) on every frame.
    """
    header, body = _split_file(path)
    if not header or not all(_AU_NAME.match(name) for name in header):
        raise AvaffectError(
            f"{path}: header {','.join(header)!r} is not an AU header (e.g. 'AU1,AU2,AU4,...'); "
            "is the file in the wrong annotation folder?"
        )
    values = _numbers(path, body, len(header))
    bad = ~np.isin(values, (-1.0, 0.0, 1.0))
    if bad.any():
        raise AvaffectError(
            f"{path}: line {_first_bad_line(bad.any(1))} has an AU value other than 0, 1 or -1"
        )
    columns = {name.upper(): i for i, name in enumerate(header)}
    out = np.full((len(values), NUM_AUS), INVALID_LABEL, np.float32)
    for ours, name in enumerate(AUS):
        if name in columns:
            out[:, ours] = values[:, columns[name]]
    return out


def read_expr(path: Path) -> np.ndarray:
    """Expression file -> int64 [frames] in our order; ``Other`` (and -1) become -1.

    The header lists the class names in the file's own order (with or without ``Other``);
    the value on each line is an index into it.
    """
    header, body = _split_file(path)
    mapping = []
    for name in header:
        index = expression_index(name)
        if index is None and name.lower() not in OUTSIDE_NAMES:
            raise AvaffectError(
                f"{path}: header {','.join(header)!r} is not an expression header (unknown class "
                f"{name!r}); is the file in the wrong annotation folder?"
            )
        mapping.append(INVALID_LABEL if index is None else index)
    values = _numbers(path, body, 1)[:, 0]
    bad = (values != np.round(values)) | (values < -1) | (values >= len(header))
    if bad.any():
        raise AvaffectError(
            f"{path}: line {_first_bad_line(bad)} has an expression value that is not -1 or a "
            f"class index 0..{len(header) - 1}"
        )
    lookup = np.array([*mapping, INVALID_LABEL], np.int64)  # index -1 -> the last entry: -1
    return lookup[values.astype(np.int64)]


READERS = {"va": read_va, "au": read_au, "expr": read_expr}
