"""CREMA-D speech clips: which belong to a split (by actor), their labels, their audio and steps.

CREMA-D (Cao, Cooper, Keutmann, Gur, Nenkova & Verma, "CREMA-D: Crowd-sourced Emotional
Multimodal Actors Dataset", IEEE Trans. Affective Computing 5(4):377-390, 2014; ODbL 1.0 /
DbCL 1.0, keep this attribution with any copy) is 91 actors speaking 12 sentences in six
emotions. A folder of its clips is read as is: every ``ACTOR_SENTENCE_EMOTION_LEVEL.flac``
(or ``.wav``, the official ``AudioWAV/``) is a clip; the name carries all the labels, so no
side file is needed. Emotions map onto avaffect.labels' order; CREMA-D has no surprise.

**Speaker-independent split.** A model must be scored on voices it never heard, so the split
is by actor, fixed here once (:data:`SPLIT_ACTORS`). It covers the 41 actors of the shared
subset (1001 and 1002 are held out of it on purpose for a final evaluation; see
shared/data/SOURCES.md). Rule, applied once to ``actor_demographics.csv`` and written out
below so that it never depends on a file: within each sex, the actor ids sorted ascending
are permuted by ``numpy.random.default_rng(0)`` (females first, then males, from one
generator); the first three of each permutation go to ``validation`` and the next three to
``test``, the rest to ``Training``. So validation and test hold 3 women and 3 men each
(about 400 clips apiece), and training 13 women and 16 men. Clips of actors in no list are
not used (counted in ``stats``).

Timing: a clip is a sequence of *steps* at ``step_rate`` steps per second; step ``k`` ends
at ``(k + 1) / step_rate`` seconds (sample ``round((k + 1) * rate / step_rate)``), and its
spectrogram is the ``context_s`` of audio ending there (:mod:`avaffect.audio`: the last
frame ends at the step's time, silence before the clip starts). A clip of ``d`` seconds has
``ceil(d * step_rate)`` steps, so the last step hears its end.

Audio is decoded lazily, once per process, and kept as the file's int16 samples (all 2,729
shared clips: 2 hours, ~230 MB): opening a split reads only the file headers (half a second
for all clips), so training and validation sets open fast and a test touching three clips
decodes three; each DataLoader worker decodes what it reads. Keeping the native int16,
rather than float32 at the run's rate, bounds the memory to the files' size whatever the
run's sample rate (44.1 kHz float32 would be 1.3 GB); resampling one clip when it is read
costs milliseconds.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from avaffect.audio import SpectrogramConfig, frame_end_samples, resample
from avaffect.errors import AvaffectError
from avaffect.labels import EXPRESSIONS

from .base import TRAIN_ALIASES, VALIDATION_ALIASES, normalize_split

#: CREMA-D's recording rate: what a clip is read at when no spectrogram is made from it
CREMA_D_RATE = 16000

#: CREMA-D emotion code -> avaffect.labels.EXPRESSIONS index
EMOTION_TO_OURS = {
    code: EXPRESSIONS.index(name)
    for code, name in (
        ("NEU", "Neutral"),
        ("ANG", "Anger"),
        ("DIS", "Disgust"),
        ("FEA", "Fear"),
        ("HAP", "Happiness"),
        ("SAD", "Sadness"),
    )
}
SPLITS = {"Training": TRAIN_ALIASES, "validation": VALIDATION_ALIASES, "test": ("testing",)}

#: actor ids of each split (the rule that drew them is in the module docstring)
SPLIT_ACTORS: dict[str, tuple[int, ...]] = {
    "validation": (1006, 1007, 1016, 1020, 1041, 1045),
    "test": (1003, 1014, 1015, 1024, 1028, 1035),
    "Training": (
        1004, 1005, 1008, 1009, 1010, 1011, 1012, 1013, 1017, 1018, 1019, 1021, 1022, 1023,
        1025, 1026, 1027, 1029, 1030, 1031, 1032, 1033, 1034, 1036, 1038, 1039, 1040, 1056,
        1072,
    ),
}  # fmt: skip

CLIP_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
SUFFIXES = (".flac", ".wav")
PCM_SCALE = 32768.0  # int16 full scale: samples / PCM_SCALE lie in [-1, 1)


def import_soundfile():
    """The ``soundfile`` module (libsndfile), or an error that says how to install it."""
    try:
        import soundfile
    except (ImportError, OSError):  # OSError: the module is there, libsndfile is not
        raise AvaffectError(
            "reading CREMA-D clips needs soundfile (libsndfile); install it with: "
            "pip install avaffect[audio]"
        ) from None
    return soundfile


def steps_of(seconds: float, step_rate: float) -> int:
    """Steps of a clip lasting ``seconds``: enough that the last one hears the clip's end."""
    return max(1, math.ceil(seconds * step_rate - 1e-9))


def step_end_samples(steps: np.ndarray, step_rate: float, audio: SpectrogramConfig) -> np.ndarray:
    """The sample at which the window of each (0-based) step ends: ``(k + 1) / step_rate`` s."""
    return frame_end_samples((np.asarray(steps, np.float64) + 1.0) / step_rate, audio)


def check_step_rate(step_rate: float) -> float:
    """``step_rate`` as a float; above 100 a step (10 ms) would be finer than the spectrogram's
    own 22 ms hop, so the steps would repeat frames rather than add time resolution."""
    step_rate = float(step_rate)
    if not (math.isfinite(step_rate) and 0 < step_rate <= 100):
        raise AvaffectError(
            f"step_rate must be a number of steps per second in (0, 100], got {step_rate}"
        )
    return step_rate


class CremaDClips:
    """The clips of one split of a CREMA-D folder: ``paths``, ``actors``, ``labels`` (ours),
    ``seconds`` (from the file headers), and ``samples(i)``: float32 mono audio at
    ``sample_rate``, decoded on first use and kept (int16) for the life of the process."""

    def __init__(self, root: str | Path, split: str, sample_rate: int):
        self.soundfile = import_soundfile()  # fail now, not in a DataLoader worker
        root = Path(root).expanduser()
        if not root.is_dir():
            raise AvaffectError(
                f"{root}: CREMA-D folder not found; pass the folder that holds its "
                "ACTOR_SENTENCE_EMOTION_LEVEL.flac (or .wav) clips"
            )
        self.root, self.sample_rate = root, int(sample_rate)
        self.split = normalize_split(split, SPLITS, f"CREMA-D {root}")
        wanted = set(SPLIT_ACTORS[self.split])
        clips, other_actors, other_files = [], 0, 0
        for path in sorted(p for p in root.iterdir() if p.suffix.lower() in SUFFIXES):
            match = CLIP_NAME.match(path.stem)
            if match is None or match.group(3) not in EMOTION_TO_OURS:
                other_files += 1
            elif int(match.group(1)) not in wanted:
                other_actors += 1
            else:
                clips.append((path, int(match.group(1)), EMOTION_TO_OURS[match.group(3)]))
        if not clips:
            found = "no CREMA-D clips" if not other_actors else "no clips of this split's actors"
            raise AvaffectError(
                f"{root}: {found} for split {self.split!r} (actors {sorted(wanted)}); pass the "
                "folder of CREMA-D's ACTOR_SENTENCE_EMOTION_LEVEL.flac (or .wav) clips"
            )
        self.paths = [path for path, _, _ in clips]
        self.actors = np.array([actor for _, actor, _ in clips], np.int64)
        self.labels = np.array([label for _, _, label in clips], np.int64)
        self.seconds = np.array([self._header_seconds(p) for p in self.paths], np.float64)
        self.stats = {
            "clips": len(clips),
            "actors": len(set(self.actors.tolist())),
            "clips_of_other_actors": other_actors,
            "files_not_clips": other_files,
        }
        self._pcm: dict[int, tuple[np.ndarray, int]] = {}  # clip -> (int16 mono, native rate)

    def __len__(self) -> int:
        return len(self.paths)

    def steps(self, step_rate: float) -> np.ndarray:
        """int64 [clips]: the number of steps of every clip at ``step_rate``."""
        return np.array([steps_of(s, step_rate) for s in self.seconds], np.int64)

    def samples(self, i: int) -> np.ndarray:
        """Clip ``i`` as float32 mono in [-1, 1) at ``sample_rate``."""
        if i not in self._pcm:
            self._pcm[i] = self._decode(self.paths[i])
        pcm, rate = self._pcm[i]
        return resample(pcm.astype(np.float32) / PCM_SCALE, rate, self.sample_rate)

    def _header_seconds(self, path: Path) -> float:
        try:
            info = self.soundfile.info(str(path))
        except (RuntimeError, OSError) as err:  # soundfile's errors derive from these
            raise AvaffectError(f"{path}: not a readable audio file ({err}); remove it") from None
        return info.frames / info.samplerate

    def _decode(self, path: Path) -> tuple[np.ndarray, int]:
        try:
            pcm, rate = self.soundfile.read(str(path), dtype="int16", always_2d=True)
        except (RuntimeError, OSError) as err:
            raise AvaffectError(
                f"{path}: cannot decode the clip ({err}); is the file complete?"
            ) from None
        mono = pcm[:, 0] if pcm.shape[1] == 1 else pcm.mean(axis=1).round().astype(np.int16)
        return mono, int(rate)

    def __getstate__(self) -> dict:
        """DataLoader workers start with an empty cache (each decodes what it reads), and the
        soundfile module is imported again rather than pickled."""
        state = {k: v for k, v in self.__dict__.items() if k != "soundfile"}
        state["_pcm"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.soundfile = import_soundfile()
