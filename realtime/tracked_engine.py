"""Runs an engine frame after frame so that every tracked face keeps its own GRU state.

The engine keeps no state of its own (see avaffect.engines): this class holds the State of
the previous frame, in that frame's track order, and for each new frame selects and
reorders its rows with ``State.take`` (a new track gets a fresh zero row; a track that ended
is simply not taken, which frees it). A track that is coasting (briefly undetected) stays in
the batch on its last face crop, so its state survives the gap; it is not reported.

A recurrent model whose checkpoint records the rate its GRU was trained at
(``EngineSpec.step_rate``: the voice 2.5 steps a second, the fused model 10) is stepped at that
rate, not on every frame: a GRU stepped twelve times faster than it learnt hears a different
clock (the voice, stepped 30 times a second, said the right expression for 0.200 of RAVDESS's
test clips, against 0.544 at its own 2.5). Between steps each face keeps its last outputs; a face the model
has not seen yet is stepped at once (with the others). ``every_frame=True`` restores a step per
frame.
"""

from __future__ import annotations

import math

import numpy as np

from avaffect.engines import Engine, Outputs, State
from avaffect.realtime.faces import FaceBatch


class TrackedEngine:
    """An :class:`Engine` plus the per-track state and last crops it needs frame to frame."""

    def __init__(self, engine: Engine, every_frame: bool = False) -> None:
        self.engine = engine
        self.spec = engine.spec
        self.order: list[int] = []  # track id of each row of ``state``
        self.state: State | None = None
        self._last_crop: dict[int, np.ndarray] = {}
        #: model steps a second (None: every frame)
        self.rate = None if every_frame or not self.spec.recurrent else self.spec.step_rate
        self._due = -math.inf  # time of the next step
        self._outputs: Outputs | None = None  # the last step's outputs, rows in ``order``
        self.steps = 0  # model steps taken

    def _on_time(self, timestamp: float | None) -> bool:
        """Whether a paced model's step is due at ``timestamp`` (False when not paced)."""
        return self.rate is not None and timestamp is not None and timestamp >= self._due - _TOLERANCE_S

    def _held(self, faces: FaceBatch, timestamp: float | None) -> Outputs | None:
        """The last step's outputs for ``faces``, if the model is paced and no step is due."""
        if self.rate is None or timestamp is None or self._outputs is None or self._on_time(timestamp):
            return None
        rows = self.rows_for(faces.track_ids)
        if -1 in rows:  # a face the model has not seen: step now
            return None
        return self._outputs.rows(rows)

    def _schedule(self, timestamp: float | None) -> None:
        """The next step one period after this one's slot (or after now, if fallen behind);
        a step taken early for a new face leaves the slot where it was."""
        if not self._on_time(timestamp):
            return
        period = 1.0 / self.rate
        following = self._due + period
        self._due = following if following > timestamp else timestamp + period

    def _remember_crops(self, faces: FaceBatch) -> None:
        """Each visible face's crop, for the frames it coasts through."""
        for i, track in enumerate(faces.track_ids):
            self._last_crop[track] = faces.crops[i]

    def rows_for(self, track_ids: list[int]) -> list[int]:
        """The previous state row of each track, -1 for a track the state has not seen."""
        where = {track: row for row, track in enumerate(self.order)}
        return [where.get(track, -1) for track in track_ids]

    def step(
        self, faces: FaceBatch, spectrogram: np.ndarray | None, timestamp: float | None = None
    ) -> Outputs:
        """Outputs for the visible faces of ``faces``, in their order.

        ``spectrogram`` is the frame's [1, F, W] window (shared by every face), or None;
        ``timestamp`` the frame's time, which paces a model with a trained step rate (None:
        step now).
        """
        for track in faces.update.ended:
            self._last_crop.pop(track, None)
        held = self._held(faces, timestamp)
        if held is not None:
            self._remember_crops(faces)
            return held
        room = None if self.spec.max_faces is None else max(0, self.spec.max_faces - len(faces))
        coasting = [t for t in faces.update.coasting if t in self._last_crop][:room]
        batch_ids = faces.track_ids + coasting
        if not batch_ids:
            self.order, self.state, self._outputs = [], None, None
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
        self.order, self._outputs = batch_ids, outputs
        self.steps += 1
        self._schedule(timestamp)
        self._remember_crops(faces)
        return _head(outputs, len(faces))


#: a frame this close before a step's time takes it (frame times of 1/fps are not exact)
_TOLERANCE_S = 1e-3


def _head(outputs: Outputs, n: int) -> Outputs:
    """The first ``n`` rows of ``outputs`` (the visible faces; coasting ones follow them)."""
    return outputs if len(outputs) == n else outputs.rows(slice(0, n))
