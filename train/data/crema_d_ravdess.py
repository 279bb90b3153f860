"""CREMA-D and RAVDESS speech together: seven expressions, Surprise from RAVDESS.

One dataset of the clips of both (each split by actor, so every split holds voices of its own
from both corpora), each item as :class:`~.crema_d.CremaD` gives it: CREMA-D's clips first,
then RAVDESS's. ``path`` is the CREMA-D folder and the option ``ravdess`` the RAVDESS folder
(a recipe's ``data.options.ravdess``). ``ravdess_repeat`` lists each RAVDESS training clip
that many times (validation and test: once), since RAVDESS's 720 training clips, its 96
surprised ones among them, would otherwise be a quarter of the voices and Surprise 3.6% of
them. The other options go to both corpora (``calm`` and ``strong_arousal`` to RAVDESS only).

Open it by name as ``open_dataset("crema_d_ravdess", crema_folder, split, sequence=True,
audio=..., ravdess=folder)``; ``avaffect eval --dataset crema_d`` / ``--dataset ravdess``
score a model trained on it on either corpus alone, with the options it was trained with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avaffect.audio import SpectrogramConfig
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec

from .base import RGB_FACE, AffectDataset, Augment, class_counts
from .crema_d import CremaD, clip_length_stats
from .ravdess import Ravdess


class CremaDRavdess(AffectDataset):
    """Sequences ``"spectrogram"`` [T, 1, F, W], ``"va"`` [T, 2], ``"au"`` [T, 8], ``"expr"`` [T]."""

    name = "crema_d_ravdess"
    sequence = True

    def __init__(
        self,
        path: str | Path,
        split: str = "Training",
        face: FaceSpec = RGB_FACE,
        audio: SpectrogramConfig | None = None,
        augment: Augment | None = None,
        seq_len: int = 32,
        ravdess: str | Path | None = None,
        ravdess_repeat: int = 1,
        step_rate: float = 10.0,
        priors: bool = False,
        gain_db: float = 0.0,
        noise_snr_db: float = 0.0,
        calm: str = "neutral",
        strong_arousal: float = 1.0,
        freq_mask: int = 0,
        time_mask: int = 0,
        step_jitter: bool = False,
    ):
        how = "set the option ravdess to it (train: data.options.ravdess=PATH, eval: --option ravdess=PATH)"
        if ravdess is None:
            raise AvaffectError(f"crema_d_ravdess needs the RAVDESS folder too: {how}; the path is the CREMA-D folder")
        if not Path(ravdess).expanduser().is_dir():
            raise AvaffectError(f"crema_d_ravdess: RAVDESS folder {ravdess} not found; {how}")
        if ravdess_repeat < 1:
            raise AvaffectError(f"ravdess_repeat must be at least 1, got {ravdess_repeat}")
        shared = dict(face=face, audio=audio, augment=augment, seq_len=seq_len, step_rate=step_rate,
                      priors=priors, gain_db=gain_db, noise_snr_db=noise_snr_db,
                      freq_mask=freq_mask, time_mask=time_mask, step_jitter=step_jitter)
        self.crema_d = CremaD(path, split, **shared)
        self.ravdess = Ravdess(ravdess, split, calm=calm, strong_arousal=strong_arousal, **shared)
        super().__init__(face, audio, augment)
        self.split, self.seq_len, self.tasks = self.crema_d.split, seq_len, self.crema_d.tasks
        self.step_rate = self.crema_d.step_rate  # both corpora's, checked once by CremaD
        training = self.split == "Training"
        repeat = ravdess_repeat if training else 1
        self.unused_options = self.crema_d.unused_options + (() if training else ("ravdess_repeat",))
        self.ravdess_items = np.tile(np.arange(len(self.ravdess)), repeat)
        self.stats = {
            "crema_d_clips": len(self.crema_d),
            "ravdess_clips": len(self.ravdess),
            "ravdess_repeat": repeat,
            "items": len(self),
            **clip_length_stats(np.concatenate([self.crema_d.steps, self.ravdess.steps]), seq_len, self.step_rate),
            **class_counts(self.expression_targets()),
        }

    def __len__(self) -> int:
        return len(self.crema_d) + len(self.ravdess_items)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        i = range(len(self))[i]  # IndexError past the end; -1 is the last item
        if i < len(self.crema_d):
            return self.crema_d[i]
        return self.ravdess[int(self.ravdess_items[i - len(self.crema_d)])]

    def expression_targets(self) -> np.ndarray:
        """The expression of each item, for sampling weights."""
        ravdess = self.ravdess.expression_targets()[self.ravdess_items]
        return np.concatenate([self.crema_d.expression_targets(), ravdess])
