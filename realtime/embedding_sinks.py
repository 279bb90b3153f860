"""The ArcFace models' expression embedding on request: in the JSONL rows and as an .npy file.

An ArcFace model (``default_arcvgg_fer2013``) gives each face an L2-normalised expression
embedding (the input of its cosine-to-class-centre classifier; the prior expression embedding
the ABAW2 PASN paper builds on). ``--embeddings`` writes it: :class:`JsonlEmbeddingSink`
adds ``"embedding": [d floats]`` to each JSONL row, and :class:`NpyEmbeddingSink` writes
float32 ``[rows, d]`` beside the CSV, row ``i`` the embedding of the CSV's row ``i`` (same
order: frame by frame, face by face). The .npy is written when the run closes (a crash keeps
the CSV and JSONL rows, which are flushed as they go, and loses the .npy).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from avaffect.errors import AvaffectError
from avaffect.realtime.analyzer import FrameResult
from avaffect.realtime.sinks import JsonlSink
from avaffect.record import FaceResult


def check_embeddings(spec) -> None:
    """An error unless the engine ``spec`` is an ArcFace model's (the only ones with an embedding)."""
    if not spec.arcface:
        raise AvaffectError(
            f"--embeddings needs an ArcFace model, and {spec.model} has no embedding; "
            "pass --checkpoint default_arcvgg_fer2013 (or drop --embeddings)"
        )


def _embedding_of(face) -> np.ndarray:
    if face.embedding is None:
        raise AvaffectError("the engine returned no embedding for a face; is this an ArcFace engine?")
    return np.asarray(face.embedding, np.float32)


class JsonlEmbeddingSink(JsonlSink):
    """JSONL rows as :class:`JsonlSink` writes them, each with its face's ``"embedding"``."""

    def _row(self, frame_index: int, face: FaceResult) -> dict:
        row = super()._row(frame_index, face)
        row["embedding"] = [round(float(v), 6) for v in _embedding_of(face)]
        return row


class NpyEmbeddingSink:
    """Every face's embedding, in the CSV's row order, saved as one float32 .npy at close."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        try:  # as the row sinks do: the folder the CSV goes into may not exist yet
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise AvaffectError(f"{self.path.parent}: cannot create the folder for the embeddings ({err.strerror})") from None
        self.rows: list[np.ndarray] = []

    def write(self, result: FrameResult, annotated: np.ndarray | None = None) -> None:
        self.rows.extend(_embedding_of(face) for face in result.faces)

    def close(self) -> None:
        if self.rows is None:
            return
        data = np.stack(self.rows) if self.rows else np.zeros((0, 0), np.float32)
        try:
            np.save(self.path, data.astype(np.float32))
        except OSError as err:
            raise AvaffectError(f"{self.path}: cannot write the embeddings ({err.strerror})") from None
        self.rows = None
