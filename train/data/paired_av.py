"""FER2013 faces paired with CREMA-D speech: sequences for the audio-visual default model.

No database here has faces and voices recorded together, so the pairs are made: a sequence
is a run of *segments*, each one FER2013 face moving as in :mod:`.pseudo_video` and, at the
same time, one CREMA-D clip (:mod:`.crema_d_clips`) spoken with the SAME expression. Face
frames and spectrogram windows step together at ``step_rate`` steps per second; a segment
lasts as many steps as its clip (about 27 at the default 10 steps/s), the last one of a
sequence cut short. The labels (the expression and, with ``priors=True``, the AU and VA
targets of :mod:`avaffect.train.objectives.priors`) are constant over a segment and change where the
next one starts. The sequence's audio is its clips laid end to end, so a window just after
a change still hears the end of the previous clip, as a live microphone would.

With CREMA-D alone Surprise faces are skipped: it has no surprised speech to pair them with
(counted in ``stats["surprise_faces_skipped"]``). The option ``ravdess`` (its speech folder)
adds RAVDESS's clips of the same split's actors (:mod:`.ravdess_clips`) to CREMA-D's, so
surprised faces pair with RAVDESS's surprised speech and every expression is in the pairs.

Splits keep faces and voices independent between training and evaluation: ``Training``
pairs FER2013 Training faces with CREMA-D's training actors; ``validation`` and ``test``
pair FER2013 PublicTest faces (the even and the odd rows of it, so that those two share no
face either) with CREMA-D's validation and test actors. FER2013 itself holds some duplicate
images across its usages; that is the database's, not this pairing's.

Which face goes with which clip and into which sequence is planned once from ``seed``: a
shuffled pass over the faces, each given the next clip of a shuffled cycle through the clips
of its expression; how sequence ``i`` moves depends only on ``(seed, i)``.

Two databases, one ``path``: ``path`` is the FER2013 file (as for ``fer2013_video``) and the
option ``crema_d`` the CREMA-D folder (a recipe's ``data.options.crema_d``). Open it by name
as ``open_dataset("fer2013_crema_av", npz, split, sequence=True, audio=..., crema_d=folder)``.
Opened without ``audio`` it yields the same sequences' faces only (no ``"spectrogram"``), so a
visual model is scored on exactly what the audio-visual one sees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avaffect.audio import SpectrogramConfig, spectrogram_windows
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.labels import EXPRESSIONS
from avaffect.train.objectives.priors import au_prior, va_prior

from .base import GREY_FACE, AffectDataset, Augment, class_counts, missing_au, missing_va
from .crema_d_clips import CREMA_D_RATE, CremaDClips, check_step_rate, step_end_samples
from .fer2013 import FER2013
from .pseudo_motion import MotionRange
from .pseudo_video import fill_sequences, motion_range, render_segments
from .ravdess_clips import RavdessClips

SURPRISE = EXPRESSIONS.index("Surprise")
#: CREMA-D split -> (FER2013 usage, which rows of it)
FACE_ROWS = {
    "Training": ("Training", slice(None)),
    "validation": ("PublicTest", slice(0, None, 2)),
    "test": ("PublicTest", slice(1, None, 2)),
}


def pair_clips(
    face_labels: np.ndarray, clip_labels: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For each face (in order), a clip of the same expression: int64 [faces], -1 where no
    clip has its expression. Each expression's clips are used in a shuffled cycle, so every
    clip serves about equally often."""
    out = np.full(len(face_labels), -1, np.int64)
    for expr in np.unique(face_labels):
        faces = np.flatnonzero(face_labels == expr)
        clips = np.flatnonzero(clip_labels == expr)
        if not len(clips):
            continue
        cycles = -(-len(faces) // len(clips))
        out[faces] = np.concatenate([rng.permutation(clips) for _ in range(cycles)])[: len(faces)]
    return out


class ClipPool:
    """Clips of several corpora as one: ``paths``, ``labels``, ``steps()``, ``samples(i)``."""

    def __init__(self, parts: list[CremaDClips]):
        self.parts, self.split = parts, parts[0].split
        self.paths = [path for part in parts for path in part.paths]
        self.labels = np.concatenate([part.labels for part in parts])
        self.offsets = np.cumsum([0] + [len(part) for part in parts])
        self.stats = {"actors": sum(part.stats["actors"] for part in parts)}

    def __len__(self) -> int:
        return len(self.paths)

    def steps(self, step_rate: float) -> np.ndarray:
        return np.concatenate([part.steps(step_rate) for part in self.parts])

    def samples(self, i: int) -> np.ndarray:
        k = int(np.searchsorted(self.offsets, i, side="right")) - 1
        return self.parts[k].samples(i - int(self.offsets[k]))


class FER2013CremaAV(AffectDataset):
    """Sequences ``"face"`` [T, 3, S, S], ``"spectrogram"`` [T, 1, F, W], ``"va"`` [T, 2],
    ``"au"`` [T, 8], ``"expr"`` [T]."""

    name = "fer2013_crema_av"
    sequence = True

    def __init__(
        self,
        path: str | Path,
        split: str = "Training",
        face: FaceSpec = GREY_FACE,
        audio: SpectrogramConfig | None = None,
        augment: Augment | None = None,
        seq_len: int = 32,
        crema_d: str | Path | None = None,
        ravdess: str | Path | None = None,
        step_rate: float = 10.0,
        priors: bool = True,
        seed: int = 0,
        motion: MotionRange | dict | None = None,
    ):
        # the folder comes in as an option, so say how to set one (CremaDClips cannot)
        how = "set the option crema_d to it (train: data.options.crema_d=PATH, eval: --option crema_d=PATH)"
        if crema_d is None:
            raise AvaffectError(f"fer2013_crema_av needs the CREMA-D folder too: {how}; the path is the FER2013 file")
        if not Path(crema_d).expanduser().is_dir():
            raise AvaffectError(f"fer2013_crema_av: CREMA-D folder {crema_d} not found; {how}")
        if seq_len < 1 or seed < 0:
            raise AvaffectError(
                f"seq_len must be at least 1 and seed 0 or more, got {seq_len}, {seed}"
            )
        super().__init__(face, audio, augment)
        self.step_rate = check_step_rate(step_rate)
        # Without audio (a visual model scored on the same pairs) the clips still lay out the
        # plan: their lengths come from the WAV headers, so the sequences are the same ones.
        rate = audio.sample_rate if audio is not None else CREMA_D_RATE
        self.clips = CremaDClips(crema_d, split, rate)  # also checks the split
        if ravdess is not None:
            self.clips = ClipPool([self.clips, RavdessClips(ravdess, split, rate)])
        self.split = self.clips.split
        usage, rows = FACE_ROWS[self.split]
        stills = FER2013(path, usage, face=face)
        images, labels = stills.images[rows], stills.labels[rows]
        keep = (labels != SURPRISE) | (ravdess is not None)
        self.images, self.labels = images[keep], labels[keep]
        self.source, self.usage = stills.source, usage
        self.seq_len, self.seed = seq_len, seed
        self.priors = bool(priors)
        self.tasks = ("va", "au", "expr") if self.priors else ("expr",)
        self.motion = motion_range(motion)
        self.clip_steps = self.clips.steps(self.step_rate)
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(self.images))
        clips = pair_clips(self.labels[order], self.clips.labels, rng)
        self.pair_faces, self.pair_clips = order[clips >= 0], clips[clips >= 0]
        self.plan = fill_sequences(
            np.arange(len(self.pair_faces)), seq_len, lambda j: self.clip_steps[self.pair_clips[j]]
        )
        if not self.plan:
            raise AvaffectError(
                f"{self.source}: {len(self.pair_faces)} faces of split {self.split!r} have a "
                f"CREMA-D clip, too few for one sequence of {seq_len} steps; lower seq_len"
            )
        used = np.concatenate([pairs for pairs, _ in self.plan])
        self.stats = {
            "sequences": len(self.plan),
            "faces": len(used),
            "clips": len(set(self.pair_clips[used].tolist())),
            "actors": self.clips.stats["actors"],
            "surprise_faces_skipped": int((~keep).sum()),
            "faces_without_clip": int((clips < 0).sum()),
            **class_counts(self.labels[self.pair_faces[used]]),
        }

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        i = range(len(self.plan))[i]  # IndexError past the end; -1 is the last sequence
        pairs, lengths = self.plan[i]
        faces, clips = self.pair_faces[pairs], self.pair_clips[pairs]
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, i]))
        face = render_segments(self.images, faces, lengths, self.face_spec, rng, self.motion)
        expr = np.repeat(self.labels[faces], lengths)
        sample = {
            "face": self._augmented(face),
            "va": va_prior(expr) if self.priors else missing_va(self.seq_len),
            "au": au_prior(expr) if self.priors else missing_au(self.seq_len),
            "expr": expr.astype(np.int64),
        }
        if self.audio is not None:
            track = self._track(clips, lengths)
            ends = step_end_samples(np.arange(self.seq_len), self.step_rate, self.audio)
            sample["spectrogram"] = spectrogram_windows(track, ends, self.audio)
        return sample

    def segment_clips(self, i: int) -> list[tuple[Path, int]]:
        """What sequence ``i`` hears: (clip file, steps) of each segment, in order."""
        pairs, lengths = self.plan[range(len(self.plan))[i]]
        return [
            (self.clips.paths[c], int(n))
            for c, n in zip(self.pair_clips[pairs], lengths, strict=True)
        ]

    def _track(self, clips: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The clips laid end to end: clip ``j`` starts where its segment starts (sample
        ``round(first step * rate / step_rate)``), cut at the next segment's start."""
        starts = np.concatenate([[0], np.cumsum(lengths)])
        bounds = np.round(starts * self.audio.sample_rate / self.step_rate).astype(np.int64)
        track = np.zeros(int(bounds[-1]), np.float32)
        for clip, begin, end in zip(clips, bounds[:-1], bounds[1:], strict=True):
            samples = self.clips.samples(int(clip))[: end - begin]
            track[begin : begin + len(samples)] = samples
        return track

    def expression_targets(self) -> np.ndarray:
        """The expression of each sequence's last segment, for sampling weights."""
        return np.array([self.labels[self.pair_faces[p[-1]]] for p, _ in self.plan], np.int64)
