"""RAVDESS speech clips: which belong to a split (by actor), their labels, intensity and audio.

RAVDESS (Livingstone & Russo, "The Ryerson Audio-Visual Database of Emotional Speech and Song",
PLoS ONE 13(5): e0196391, 2018; CC BY-NC-SA 4.0, so weights trained on it are for
non-commercial use; keep this attribution with any copy) is 24 professional actors speaking
two fixed sentences in eight emotions at two intensities. The shared copy holds actors 01-22
as 16 kHz FLAC named as released, ``03-01-EE-II-SS-RR-AA.flac`` (modality, vocal channel,
emotion, intensity, statement, repetition, actor): the name carries every label, so
``labels.csv`` beside them is not needed (a folder of the release's WAVs reads the same).

Emotions map onto avaffect.labels' order; RAVDESS has **Surprise**, which CREMA-D lacks.
**Calm** (code 02) has no class of ours: ``calm="neutral"`` (the default) reads it as
Neutral, ``calm="drop"`` leaves those clips out. Calm is a low-arousal, mildly positive
delivery that listeners confuse with neutral more than with anything else (Livingstone &
Russo 2018), and the measurement in docs/defaults.md backs the default.

**Intensity** (01 normal, 02 strong; neutral has only normal) is kept per clip in
``intensity`` (0 normal, 1 strong), for the arousal targets.

**Speaker-independent split**, fixed here once (:data:`SPLIT_ACTORS`) by the rule used for
CREMA-D: within each sex (even ids female, odd male), the ids sorted ascending are permuted
by ``numpy.random.default_rng(0)`` (females first, then males, from one generator); the first
two of each permutation go to ``validation``, the next three to ``test``, the other six to
``Training``. So validation holds 2 women and 2 men (240 clips), test 3 and 3 (360 clips),
training 6 and 6 (720 clips). Actors 23 and 24 are not in the shared copy (kept back for a
final evaluation); clips of actors in no list are counted in ``stats`` and not used.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from avaffect.errors import AvaffectError
from avaffect.labels import EXPRESSIONS

from .base import normalize_split
from .crema_d_clips import SPLITS, SUFFIXES, CremaDClips, import_soundfile

#: RAVDESS's recording rate in the shared copy (the release is 48 kHz; both read the same)
RAVDESS_RATE = 16000

#: RAVDESS emotion code -> avaffect.labels.EXPRESSIONS index (calm: see CALM_CHOICES)
EMOTION_TO_OURS = {
    code: EXPRESSIONS.index(name)
    for code, name in (
        ("01", "Neutral"),
        ("03", "Happiness"),
        ("04", "Sadness"),
        ("05", "Anger"),
        ("06", "Fear"),
        ("07", "Disgust"),
        ("08", "Surprise"),
    )
}
CALM = "02"
CALM_CHOICES = {"neutral": EXPRESSIONS.index("Neutral"), "drop": None}

#: actor ids of each split (the rule that drew them is in the module docstring)
SPLIT_ACTORS: dict[str, tuple[int, ...]] = {
    "validation": (5, 10, 14, 21),
    "test": (1, 2, 6, 7, 13, 16),
    "Training": (3, 4, 8, 9, 11, 12, 15, 17, 18, 19, 20, 22),
}

CLIP_NAME = re.compile(r"^03-01-(\d{2})-(0[12])-(0[12])-(0[12])-(\d{2})$")


def split_rule(actors: range = range(1, 23)) -> dict[str, tuple[int, ...]]:
    """The rule of the module docstring, applied to ``actors``: how SPLIT_ACTORS was drawn."""
    rng = np.random.default_rng(0)
    out: dict[str, list[int]] = {"validation": [], "test": [], "Training": []}
    for parity in (0, 1):  # females (even ids) first, then males
        ids = rng.permutation(sorted(a for a in actors if a % 2 == parity)).tolist()
        out["validation"] += ids[:2]
        out["test"] += ids[2:5]
        out["Training"] += ids[5:]
    return {split: tuple(sorted(ids)) for split, ids in out.items()}


class RavdessClips(CremaDClips):
    """The clips of one split of a RAVDESS speech folder: ``paths``, ``actors``, ``labels``
    (ours), ``intensity`` (0 normal, 1 strong), ``codes`` (RAVDESS's emotion codes), ``seconds``, and ``samples(i)`` as
    :class:`CremaDClips` gives them (decoded once, resampled to ``sample_rate``)."""

    def __init__(self, root: str | Path, split: str, sample_rate: int, calm: str = "neutral"):
        self.soundfile = import_soundfile()  # fail now, not in a DataLoader worker
        if calm not in CALM_CHOICES:
            raise AvaffectError(f"calm must be one of {', '.join(CALM_CHOICES)}, got {calm!r}")
        root = Path(root).expanduser()
        if not root.is_dir():
            raise AvaffectError(
                f"{root}: RAVDESS folder not found; pass the folder that holds its "
                "03-01-EE-II-SS-RR-AA.flac (or .wav) speech clips"
            )
        self.root, self.sample_rate = root, int(sample_rate)
        self.split = normalize_split(split, SPLITS, f"RAVDESS {root}")
        wanted = set(SPLIT_ACTORS[self.split])
        clips, counts = [], {"clips_of_other_actors": 0, "files_not_clips": 0, "calm_dropped": 0}
        for path in sorted(p for p in root.iterdir() if p.suffix.lower() in SUFFIXES):
            match = CLIP_NAME.match(path.stem)
            if match is None:
                counts["files_not_clips"] += 1
                continue
            code, level, actor = match.group(1), int(match.group(2)) - 1, int(match.group(5))
            label = CALM_CHOICES[calm] if code == CALM else EMOTION_TO_OURS.get(code)
            if actor not in wanted:
                counts["clips_of_other_actors"] += 1
            elif code == CALM and label is None:
                counts["calm_dropped"] += 1
            elif label is None:
                counts["files_not_clips"] += 1
            else:
                clips.append((path, actor, label, level, code))
        if not clips:
            found = "no RAVDESS speech clips" if not counts["clips_of_other_actors"] else "no clips of this split's actors"
            raise AvaffectError(
                f"{root}: {found} for split {self.split!r} (actors {sorted(wanted)}); pass the "
                "folder of RAVDESS's 03-01-EE-II-SS-RR-AA.flac (or .wav) speech clips"
            )
        self.paths = [c[0] for c in clips]
        self.actors = np.array([c[1] for c in clips], np.int64)
        self.labels = np.array([c[2] for c in clips], np.int64)
        self.intensity = np.array([c[3] for c in clips], np.int64)
        self.codes = [c[4] for c in clips]  # RAVDESS's own emotion code ("02": calm)
        self.seconds = np.array([self._header_seconds(p) for p in self.paths], np.float64)
        self.stats = {
            "clips": len(clips),
            "actors": len(set(self.actors.tolist())),
            "strong_clips": int(self.intensity.sum()),
            **counts,
        }
        self._pcm: dict[int, tuple[np.ndarray, int]] = {}
