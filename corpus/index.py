"""The corpus index: one row per input, rewritten (atomically) each time an input finishes.

``index.csv`` always lists the whole corpus: inputs not reached yet say ``pending``. Beside
it, ``index.parquet`` when pyarrow is installed. :func:`read_index` gives it back as a
pandas DataFrame with the columns and dtypes below.

=====================  =========  ========================================================
column                 dtype      meaning
=====================  =========  ========================================================
input                  string     the input file (absolute path)
output                 string     its results folder, relative to the index's folder
status                 string     complete, incomplete, interrupted, failed or pending
exit_status            Int64      what ``avaffect analyze`` on that one input exits with
reason                 string     why it is not complete (the one error line), else empty
frames                 Int64      frames analysed
faces                  Int64      face rows written (one per face per frame)
tracks                 Int64      distinct faces (tracks)
seconds                float64    wall time of its analysis (empty if unknown)
fps                    float64    frames analysed per second
valence_mean           float64    mean valence over its face rows
arousal_mean           float64    mean arousal over its face rows
dominant_expression    string     the expression of most of its face rows
=====================  =========  ========================================================
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

INDEX_CSV = "index.csv"
INDEX_PARQUET = "index.parquet"
PENDING, FAILED = "pending", "failed"

DTYPES: dict[str, str] = {
    "input": "string",
    "output": "string",
    "status": "string",
    "exit_status": "Int64",
    "reason": "string",
    "frames": "Int64",
    "faces": "Int64",
    "tracks": "Int64",
    "seconds": "float64",
    "fps": "float64",
    "valence_mean": "float64",
    "arousal_mean": "float64",
    "dominant_expression": "string",
}
COLUMNS = list(DTYPES)


def pending_row(source: str | os.PathLike, name: str) -> dict:
    return {**dict.fromkeys(COLUMNS), "input": str(source), "output": name, "status": PENDING}


def read_summary(folder: Path) -> dict | None:
    """The run's summary.json, or None when there is none (or it cannot be read)."""
    try:
        return json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_complete(folder: Path) -> bool:
    """The summary says complete and the rows are there: a re-run skips this input."""
    summary = read_summary(folder)
    return bool(summary and summary.get("complete") is True and (folder / "results.csv").is_file())


def finished_row(
    source: str | os.PathLike,
    name: str,
    folder: Path,
    *,
    exit_status: int,
    error: str | None = None,
    seconds: float | None = None,
) -> dict:
    """The row of an input whose job returned: from its summary and rows, or its error."""
    row = pending_row(source, name)
    row.update(exit_status=int(exit_status), seconds=_rounded(seconds, 3))
    summary = None if error else read_summary(folder)
    if summary is None:
        row.update(status=FAILED, reason=error or "the run wrote no summary.json")
        return row
    row.update(
        status=summary.get("status"), reason=summary.get("reason"),
        frames=summary.get("frames"), faces=summary.get("face_rows"),
        tracks=summary.get("tracks"), fps=summary.get("fps"),
    )  # fmt: skip
    row.update(headline(folder / "results.csv"))
    return row


def headline(results_csv: Path) -> dict:
    """Mean valence and arousal and the most frequent expression over an input's face rows."""
    valence = arousal = 0.0
    count = 0
    expressions: Counter[str] = Counter()
    try:
        with results_csv.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                valence += float(row["valence"])
                arousal += float(row["arousal"])
                expressions[row["expression"]] += 1
                count += 1
    except (OSError, KeyError, ValueError):
        count = 0
    if not count:
        return {"valence_mean": None, "arousal_mean": None, "dominant_expression": None}
    return {
        "valence_mean": round(valence / count, 5),
        "arousal_mean": round(arousal / count, 5),
        "dominant_expression": expressions.most_common(1)[0][0],
    }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), digits)


class CorpusIndex:
    """The rows of one corpus, in input order, written to ``folder`` after every change."""

    def __init__(self, folder: str | os.PathLike, rows: Iterable[dict]) -> None:
        self.folder = Path(folder)
        self.rows: dict[str, dict] = {row["output"]: row for row in rows}

    @property
    def csv_path(self) -> Path:
        return self.folder / INDEX_CSV

    def update(self, row: dict) -> None:
        self.rows[row["output"]] = row
        self.write()

    def write(self) -> None:
        """index.csv (and index.parquet with pyarrow), each replaced whole, never half-written."""
        tmp = self.folder / f".{INDEX_CSV}.tmp"
        with tmp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows.values())
        os.replace(tmp, self.csv_path)
        if _has_pyarrow():
            tmp = self.folder / f".{INDEX_PARQUET}.tmp"
            index_dataframe(list(self.rows.values())).to_parquet(tmp, index=False)
            os.replace(tmp, self.folder / INDEX_PARQUET)


def previous_rows(folder: str | os.PathLike) -> dict[str, dict]:
    """The rows an earlier run of this corpus left in index.csv, by output folder."""
    path = Path(folder) / INDEX_CSV
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return {row["output"]: _typed(row) for row in csv.DictReader(handle) if "output" in row}
    except OSError:
        return {}


def _typed(row: dict) -> dict:
    out = {}
    for column, dtype in DTYPES.items():
        value = row.get(column) or None
        if value is not None and dtype == "Int64":
            value = int(value)
        elif value is not None and dtype == "float64":
            value = float(value)
        out[column] = value
    return out


def index_dataframe(rows: list[dict]):
    """Rows -> a pandas DataFrame with the index's columns and dtypes."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype(DTYPES)


def read_index(path: str | os.PathLike):
    """A corpus index (its folder, index.csv or index.parquet) as a pandas DataFrame."""
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        path = path / INDEX_CSV
    if path.suffix == ".parquet":
        return pd.read_parquet(path).astype(DTYPES)
    return pd.read_csv(path, dtype=DTYPES, keep_default_na=False, na_values=[""])


def _has_pyarrow() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None
