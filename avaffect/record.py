"""The per-face, per-frame output record that every engine result becomes and every sink writes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avaffect.labels import AUS, EXPRESSIONS


@dataclass
class FaceResult:
    """What avaffect says about one face in one frame.

    ``timestamp`` is seconds on the source's clock (a monotonic capture time for a live
    camera, the presentation time for a file). AU and expression values are probabilities.
    ``expression_scores`` holds the ArcFace cosine similarities to the class centres when
    the model has that head, else None; ``embedding`` is then the face's L2-normalised
    expression embedding (what those cosines are taken from).
    """

    timestamp: float
    track_id: int
    valence: float
    arousal: float
    au_probs: np.ndarray
    expr_probs: np.ndarray
    box: tuple[float, float, float, float] | None = None  # x, y, w, h in frame pixels
    expression_scores: np.ndarray | None = None
    embedding: np.ndarray | None = None  # L2-normalised expression embedding (ArcFace models)
    extra: dict = field(default_factory=dict)

    @property
    def expression(self) -> str:
        return EXPRESSIONS[int(np.argmax(self.expr_probs))]

    @property
    def expression_prob(self) -> float:
        return float(np.max(self.expr_probs))

    def active_aus(self, threshold: float = 0.5) -> list[str]:
        return [name for name, p in zip(AUS, self.au_probs, strict=True) if p >= threshold]

    def to_row(self) -> dict[str, float | int | str]:
        """A flat row for CSV/JSONL sinks: stable column names, label order of the contract."""
        row: dict[str, float | int | str] = {
            "timestamp": round(float(self.timestamp), 6),
            "track_id": int(self.track_id),
            "valence": round(float(self.valence), 5),
            "arousal": round(float(self.arousal), 5),
        }
        row.update({name: round(float(p), 5) for name, p in zip(AUS, self.au_probs, strict=True)})
        row.update({name: round(float(p), 5) for name, p in zip(EXPRESSIONS, self.expr_probs, strict=True)})
        row["expression"] = self.expression
        return row

    @staticmethod
    def columns() -> list[str]:
        return ["timestamp", "track_id", "valence", "arousal", *AUS, *EXPRESSIONS, "expression"]
