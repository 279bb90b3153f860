"""Face rows as a pandas DataFrame: the columns and dtypes of results.csv, the summary in attrs.

One row per face per frame, in the CSV's column order:

==========================  =======  ==================================================
column                      dtype    meaning
==========================  =======  ==================================================
frame                       int64    the frame's index in the source (0 for an image)
timestamp                   float64  seconds on the source's clock
track_id                    int64    the face's track (the same face keeps its id)
valence, arousal            float64  in [-1, 1]
AU1 ... AU25 (8)            float64  action unit probabilities
Neutral ... Surprise (7)    float64  expression probabilities (sum to 1)
expression                  string   the most probable expression
box_x, box_y, box_w, box_h  float64  the face box in frame pixels
==========================  =======  ==================================================

``df.attrs["summary"]`` holds the run's summary (what summary.json holds) where there is one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from avaffect.realtime.sinks import face_row, row_columns

INT_COLUMNS = ("frame", "track_id")
STRING_COLUMNS = ("expression",)


def dtypes() -> dict[str, str]:
    """Column -> pandas dtype, in results.csv's order."""
    kinds = {name: "float64" for name in row_columns()}
    kinds.update({name: "int64" for name in INT_COLUMNS})
    kinds.update({name: "string" for name in STRING_COLUMNS})
    return kinds


def results_dataframe(rows: Iterable[dict], summary: dict | None = None):
    """Face rows (``sinks.face_row`` dicts) -> DataFrame; ``summary`` goes to ``df.attrs``."""
    import pandas as pd

    frame = pd.DataFrame(list(rows), columns=row_columns()).astype(dtypes())
    if summary is not None:
        frame.attrs["summary"] = summary
    return frame


def frame_rows(result) -> list[dict]:
    """The rows of one analysed frame (a FrameResult), as the sinks write them."""
    return [face_row(result.frame.index, face) for face in result.faces]


def read_results(folder: str | os.PathLike):
    """An `avaffect analyze` output folder (results.csv, summary.json) as a DataFrame."""
    import pandas as pd

    folder = Path(folder)
    frame = pd.read_csv(folder / "results.csv", dtype=dtypes())
    summary_path = folder / "summary.json"
    if summary_path.is_file():
        frame.attrs["summary"] = json.loads(summary_path.read_text(encoding="utf-8"))
    return frame
