"""Runs an engine frame after frame so that every tracked face keeps its own GRU state.

The engine keeps no state of its own (see avaffect.engines): this class holds the State of
the previous frame, in that frame's track order, and for each new frame selects and
reorders its rows with ``State.take`` (a new track gets a fresh zero row; a track that ended
is simply not taken, which frees it). A track that is coasting (briefly undetected) stays in
the batch on its last face crop, so its state survives the gap; it is not reported.
"""

from __future__ import annotations

import numpy as np

from avaffect.engines import Engine, Outputs, State
from avaffect.realtime.faces import FaceBatch


class TrackedEngine:
    """An :class:`Engine` plus the per-track state and last crops it needs frame to frame."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.spec = engine.spec
        self.order: list[int] = []  # track id of each row of ``state``
        self.state: State | None = None
        self._last_crop: dict[int, np.ndarray] = {}

    def rows_for(self, track_ids: list[int]) -> list[int]:
        """The previous state row of each track, -1 for a track the state has not seen."""
        where = {track: row for row, track in enumerate(self.order)}
        return [where.get(track, -1) for track in track_ids]

    def step(self, faces: FaceBatch, spectrogram: np.ndarray | None) -> Outputs:
        """Outputs for the visible faces of ``faces``, in their order.

        ``spectrogram`` is the frame's [1, F, W] window (shared by every face), or None.
        """
        for track in faces.update.ended:
            self._last_crop.pop(track, None)
        room = None if self.spec.max_faces is None else max(0, self.spec.max_faces - len(faces))
        coasting = [t for t in faces.update.coasting if t in self._last_crop][:room]
        batch_ids = faces.track_ids + coasting
        if not batch_ids:
            self.order, self.state = [], None
            return Outputs.empty()
        crops = np.concatenate([faces.crops, *[self._last_crop[t][None] for t in coasting]])
        rows = self.rows_for(batch_ids)
        if self.state is None or all(r == -1 for r in rows):
            state = self.engine.init_state(len(batch_ids))
        else:
            state = self.state.take(rows)
        spectrograms = None
        if self.spec.uses_audio and spectrogram is not None:
            spectrograms = np.ascontiguousarray(
                np.repeat(spectrogram[None], len(batch_ids), axis=0)
            )
        outputs, self.state = self.engine.step(
            crops if self.spec.uses_face else None, spectrograms, state
        )
        self.order = batch_ids
        for i, track in enumerate(faces.track_ids):
            self._last_crop[track] = faces.crops[i]
        return _head(outputs, len(faces))


def _head(outputs: Outputs, n: int) -> Outputs:
    """The first ``n`` rows of ``outputs`` (the visible faces; coasting ones follow them)."""
    return outputs if len(outputs) == n else outputs.rows(slice(0, n))
