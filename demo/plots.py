"""Tables behind the app's plots and tables: per-face results -> pandas DataFrames.

Gradio's native plots take long-format frames (one row per point, a column naming the series),
so every builder here returns that shape. Tasks a model lacks (NaN) are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from avaffect.labels import AUS, EXPRESSIONS
from avaffect.realtime.sinks import BOX_COLUMNS
from avaffect.record import FaceResult

SERIES_COLUMNS = ["seconds", "value", "series"]


def face_name(track_id: int) -> str:
    return f"face #{track_id}"


def va_history(history: Iterable[tuple[float, FaceResult]]) -> pd.DataFrame:
    """Valence and arousal over time, one series per face and dimension."""
    points = []
    for t, face in history:
        for name, value in (("valence", face.valence), ("arousal", face.arousal)):
            if np.isfinite(value):
                points.append((round(t, 3), float(value), f"{name} #{face.track_id}"))
    return pd.DataFrame(points, columns=SERIES_COLUMNS)


def au_bars(faces: Sequence[FaceResult]) -> pd.DataFrame:
    """One bar per AU and face: its probability."""
    rows = [
        (name, float(p), face_name(face.track_id))
        for face in faces
        for name, p in zip(AUS, face.au_probs, strict=True)
        if np.isfinite(p)
    ]
    return pd.DataFrame(rows, columns=["AU", "probability", "face"])


def expression_confidences(faces: Sequence[FaceResult]) -> dict[str, float] | None:
    """The first (largest) face's expression probabilities, for a ``gr.Label``."""
    if not faces or not np.all(np.isfinite(faces[0].expr_probs)):
        return None
    return {name: float(p) for name, p in zip(EXPRESSIONS, faces[0].expr_probs, strict=True)}


def faces_summary(faces: Sequence[FaceResult], au_threshold: float = 0.5) -> pd.DataFrame:
    """A compact row per face: valence, arousal, expression and the active AUs."""
    rows = []
    for face in faces:
        finite_expr = np.all(np.isfinite(face.expr_probs))
        rows.append(
            {
                "face": face_name(face.track_id),
                "valence": round(face.valence, 3),
                "arousal": round(face.arousal, 3),
                "expression": face.expression if finite_expr else "",
                "probability": round(face.expression_prob, 3) if finite_expr else np.nan,
                "active AUs": " ".join(face.active_aus(au_threshold)),
            }
        )
    columns = ["face", "valence", "arousal", "expression", "probability", "active AUs"]
    return pd.DataFrame(rows, columns=columns)


def faces_table(faces: Sequence[FaceResult]) -> pd.DataFrame:
    """Every output of every face: the contract's row, the face's box, no timestamp."""
    rows = []
    for face in faces:
        row = {"face": face_name(face.track_id), **face.to_row()}
        row.pop("timestamp"), row.pop("track_id")
        box = face.box if face.box is not None else (np.nan,) * 4
        row.update({k: round(float(v), 1) for k, v in zip(BOX_COLUMNS, box, strict=True)})
        rows.append(row)
    columns = ["face", *[c for c in FaceResult.columns() if c not in ("timestamp", "track_id")]]
    return pd.DataFrame(rows, columns=[*columns, *BOX_COLUMNS])


def timelines(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(valence/arousal, AUs, expressions) over a video's time, from its CSV rows.

    With one face the series are the labels themselves; with several, each label is
    suffixed with the face's track id.
    """
    several = rows["track_id"].nunique() > 1 if len(rows) else False
    return (
        _long(rows, ["valence", "arousal"], several),
        _long(rows, list(AUS), several),
        _long(rows, list(EXPRESSIONS), several),
    )


def _long(rows: pd.DataFrame, labels: list[str], several: bool) -> pd.DataFrame:
    if not len(rows):
        return pd.DataFrame(columns=SERIES_COLUMNS)
    melted = rows.melt(
        id_vars=["timestamp", "track_id"], value_vars=labels, var_name="label", value_name="value"
    ).dropna(subset=["value"])
    series = melted["label"]
    if several:
        series = series + " #" + melted["track_id"].astype(str)
    return pd.DataFrame(
        {"seconds": melted["timestamp"].round(3), "value": melted["value"], "series": series}
    ).reset_index(drop=True)
