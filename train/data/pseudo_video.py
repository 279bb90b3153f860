"""FER2013 as pseudo-video: sequences for the recurrent default model, built from still faces.

``FER2013PseudoVideo(path, "train", seq_len=32)[i]`` is a sequence of ``seq_len`` frames made
of consecutive *segments*: each segment is one FER2013 face under a smooth random trajectory
(:mod:`.pseudo_motion`), lasting a random number of frames in ``segments``; its labels (the
expression and, with ``priors=True``, the AU and VA targets of :mod:`avaffect.train.objectives.priors`)
are constant over the segment and change where the next face starts. So the GRU learns to hold
a state over a moving face and to move on when the face (the expression) changes.

Which faces go into which sequence is planned once, from ``seed``, as a shuffled pass over the
split (every face appears once per epoch); how sequence ``i`` moves depends only on
``(seed, i)``, never on the epoch or the loader worker, so a resumed run sees the same data.
Open it by name as ``open_dataset("fer2013_video", path, split, sequence=True)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec, crops_to_input
from avaffect.train.objectives.priors import au_prior, va_prior

from .base import GREY_FACE, AffectDataset, Augment, class_counts, missing_au, missing_va
from .fer2013 import FER2013
from .pseudo_motion import MotionRange, segment_frames


def plan_sequences(
    num_faces: int, seq_len: int, segments: tuple[int, int], rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cut a shuffled pass over ``num_faces`` faces into sequences of ``seq_len`` frames:
    a list of (face indices, segment lengths), the lengths summing to ``seq_len``, each
    segment lasting a random number of frames in ``segments`` (see :func:`fill_sequences`)."""
    order = rng.permutation(num_faces)
    lo, hi = segments
    return fill_sequences(order, seq_len, lambda _: int(rng.integers(lo, hi + 1)))


def fill_sequences(
    items: np.ndarray, seq_len: int, length_of: Callable[[int], int]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Lay ``items`` end to end, in order, as segments of ``length_of(item)`` frames and cut
    them into sequences of ``seq_len`` frames: a list of (items, segment lengths), the lengths
    summing to ``seq_len``. A segment that would overrun its sequence is cut short (the next
    sequence starts with the next item); items left over for a last, partial sequence are
    not used. ``length_of`` is called once per item used, in order, so a random one stays a
    function of its seed. Shared with the paired audio-visual data (:mod:`.paired_av`),
    whose segments last as long as their speech clips."""
    plan, used = [], 0
    while True:
        chosen, lengths, filled = [], [], 0
        while filled < seq_len and used < len(items):
            length = min(int(length_of(items[used])), seq_len - filled)
            chosen.append(items[used])
            lengths.append(length)
            used, filled = used + 1, filled + length
        if filled < seq_len:
            return plan
        plan.append((np.array(chosen, np.int64), np.array(lengths, np.int64)))


def render_segments(
    images: np.ndarray,
    faces: np.ndarray,
    lengths: np.ndarray,
    spec: FaceSpec,
    rng: np.random.Generator,
    motion: MotionRange,
) -> np.ndarray:
    """The face input float32 [sum(lengths), 3, S, S] of consecutive segments: still
    ``images[faces[j]]`` (grey uint8 48x48) moving for ``lengths[j]`` frames along a
    trajectory drawn from ``rng`` (:func:`.pseudo_motion.segment_frames`), brightness drift
    applied in input units. Shared with :mod:`.paired_av`, so both move faces alike."""
    parts = [
        segment_frames(images[f], int(n), spec.size, rng, motion)
        for f, n in zip(faces, lengths, strict=True)
    ]
    frames = np.concatenate([grey for grey, _ in parts])
    brightness = np.concatenate([offset for _, offset in parts])
    face = np.clip(crops_to_input(frames, spec) + brightness[:, None, None, None], -1.0, 1.0)
    return face.astype(np.float32)


def _check_options(seq_len: int, segments, seed: int) -> tuple[int, int]:
    segments = tuple(int(n) for n in segments)
    if len(segments) != 2 or not 1 <= segments[0] <= segments[1]:
        raise AvaffectError(
            f"segments must be (min, max) frames with 1 <= min <= max, got {segments}"
        )
    if seq_len < 1:
        raise AvaffectError(f"seq_len must be at least 1, got {seq_len}")
    if seed < 0:
        raise AvaffectError(f"the pseudo-video seed must be 0 or more, got {seed}")
    return segments


def motion_range(motion: MotionRange | dict | None) -> MotionRange:
    """``motion`` as a MotionRange; a dict (a recipe's ``data.options.motion``) names its fields."""
    if motion is None or isinstance(motion, MotionRange):
        return motion or MotionRange()
    try:
        return MotionRange(**motion)
    except TypeError:
        fields = ", ".join(MotionRange.__dataclass_fields__)
        raise AvaffectError(f"motion {motion!r}: use a table of {fields}") from None


class FER2013PseudoVideo(AffectDataset):
    """Sequences ``"face"`` [T, 3, S, S], ``"va"`` [T, 2], ``"au"`` [T, 8], ``"expr"`` [T]."""

    name = "fer2013_video"
    sequence = True

    def __init__(
        self,
        path: str | Path,
        split: str = "train",
        face: FaceSpec = GREY_FACE,
        augment: Augment | None = None,
        seq_len: int = 32,
        segments: tuple[int, int] | list[int] = (8, 24),
        priors: bool = True,
        seed: int = 0,
        motion: MotionRange | dict | None = None,
    ):
        super().__init__(face, None, augment)
        segments = _check_options(seq_len, segments, seed)
        stills = FER2013(path, split, face=face)  # reads the file and checks the split
        self.images, self.labels = stills.images, stills.labels
        self.source, self.usage = stills.source, stills.usage
        self.seq_len, self.segments, self.seed = seq_len, segments, seed
        self.priors = bool(priors)
        self.tasks = ("va", "au", "expr") if self.priors else ("expr",)
        self.motion = motion_range(motion)
        self.plan = plan_sequences(len(self.images), seq_len, segments, np.random.default_rng(seed))
        if not self.plan:
            raise AvaffectError(
                f"{self.source}: split {self.usage!r} has {len(self.images)} faces, too few for "
                f"one sequence of {seq_len} frames; lower seq_len"
            )
        used = np.concatenate([faces for faces, _ in self.plan])
        self.stats = {
            "sequences": len(self.plan),
            "faces": len(used),
            **class_counts(self.labels[used]),
        }

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        i = range(len(self.plan))[i]  # IndexError past the end; -1 is the last sequence
        faces, lengths = self.plan[i]
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, i]))
        face = render_segments(self.images, faces, lengths, self.face_spec, rng, self.motion)
        expr = np.repeat(self.labels[faces], lengths)
        return {
            "face": self._augmented(face),
            "va": va_prior(expr) if self.priors else missing_va(self.seq_len),
            "au": au_prior(expr) if self.priors else missing_au(self.seq_len),
            "expr": expr.astype(np.int64),
        }

    def expression_targets(self) -> np.ndarray:
        """The expression of each sequence's last frame, for sampling weights."""
        return np.array([self.labels[faces[-1]] for faces, _ in self.plan], np.int64)
