"""CREMA-D as sequences of spectrograms: real emotional speech for the audio stream.

``CremaD(folder, "Training", audio=SpectrogramConfig(sample_rate=16000), seq_len=32)[i]`` is
one clip (:mod:`.crema_d_clips`: which clips, split by actor, and their timing) as
``"spectrogram"`` [T, 1, F, W], one window per step at ``step_rate`` steps per second (default
10: a 2.7 s clip is 27 steps), each the 1 s of audio ending at its step. The labels are
constant over the clip: its expression and, with ``priors=True``, the AU and VA targets of
:mod:`avaffect.train.objectives.priors` (as FER2013 gets them). A clip of more than ``seq_len`` steps
keeps its first ``seq_len`` (the GRU starts from zero at the clip's start, as it does live
when the microphone opens); a shorter one is padded at the end by repeating its last window
with all labels masked (-1 / -5), as Aff-Wild2's sequences are, so a causal GRU's outputs
over the clip are unaffected.

There are no faces: the trainer's face spec and face augmentation are accepted (it passes
them to every dataset) and unused. ``gain_db`` and ``noise_snr_db`` augment the training
split's waveforms (:mod:`.voice_augment`: a random gain, and white noise at a random
signal-to-noise ratio), as a laptop microphone varies; ``freq_mask`` and ``time_mask`` mask
bands and stretches of its spectrograms (SpecAugment), and ``step_jitter`` starts the steps'
grid at a random point of the clip's first step (live, the microphone does not open on the
sentence's first sample). Open it by name as
``open_dataset("crema_d", folder, split, sequence=True, audio=SpectrogramConfig(...))``;
recorded at 16 kHz, it is best trained at ``sample_rate = 16000``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from avaffect.audio import SpectrogramConfig, spectrogram_windows
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.train.objectives.priors import au_prior, va_prior

from .base import (
    RGB_FACE,
    AffectDataset,
    Augment,
    class_counts,
    mask_labels,
    missing_au,
    missing_va,
)
from .crema_d_clips import CremaDClips, check_step_rate, step_end_samples
from .voice_augment import VoiceAugment

#: options that act on the training split only: on validation and test they change nothing
TRAINING_ONLY_OPTIONS = ("gain_db", "noise_snr_db", "freq_mask", "time_mask", "step_jitter")


def clip_length_stats(steps: np.ndarray, seq_len: int, step_rate: float) -> dict:
    """How many clips of ``steps`` steps run past a sequence of ``seq_len`` (and keep only its
    first ``seq_len``), the longest clip, and a sequence's length in seconds: evaluation reports
    cut clips and the sequence length that holds every clip whole."""
    return {
        "clips_cropped": int((steps > seq_len).sum()),
        "longest_clip_steps": int(steps.max(initial=0)),
        "sequence_seconds": seq_len / step_rate,
    }


class CremaD(AffectDataset):
    """Sequences ``"spectrogram"`` [T, 1, F, W], ``"va"`` [T, 2], ``"au"`` [T, 8], ``"expr"`` [T]."""

    name = "crema_d"
    sequence = True

    def __init__(
        self,
        path: str | Path,
        split: str = "Training",
        face: FaceSpec = RGB_FACE,
        audio: SpectrogramConfig | None = None,
        augment: Augment | None = None,
        seq_len: int = 32,
        step_rate: float = 10.0,
        priors: bool = False,
        gain_db: float = 0.0,
        noise_snr_db: float = 0.0,
        freq_mask: int = 0,
        time_mask: int = 0,
        step_jitter: bool = False,
    ):
        if audio is None:
            raise AvaffectError(
                f"{self.name} is speech only: open it with audio (train an audio model such as "
                "mt_vgg_rnn_audio_lite on it, or pass --audio to `avaffect data info`)"
            )
        if seq_len < 1:
            raise AvaffectError(f"seq_len must be at least 1, got {seq_len}")
        super().__init__(face, audio, augment)
        self.step_rate = check_step_rate(step_rate)
        self.clips = self._open_clips(path, split, audio.sample_rate)
        self.split, self.seq_len = self.clips.split, seq_len
        self.steps = self.clips.steps(self.step_rate)
        self.priors = bool(priors)
        # gain, noise and masks, and the steps' jitter, in training only (validation and test
        # hear the clips as they are, from their first sample)
        training = self.split == "Training"
        augment_voice = VoiceAugment(gain_db, noise_snr_db, freq_mask, time_mask)
        self.voice_augment = augment_voice if training else VoiceAugment()
        self.step_jitter = bool(step_jitter) and training
        self.unused_options = () if training else TRAINING_ONLY_OPTIONS
        self.tasks = ("va", "au", "expr") if self.priors else ("expr",)
        self.stats = {
            **self.clips.stats,
            **clip_length_stats(self.steps, seq_len, self.step_rate),
            "labelled_steps": int(np.minimum(self.steps, seq_len).sum()),
            **class_counts(self.clips.labels),
        }

    def _open_clips(self, path: str | Path, split: str, sample_rate: int) -> CremaDClips:
        return CremaDClips(path, split, sample_rate)

    def _va(self, i: int, expr: np.ndarray) -> np.ndarray:
        """The VA targets of clip ``i`` (its expression's prior), [T, 2]."""
        return va_prior(expr)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        i = range(len(self.clips))[i]  # IndexError past the end; -1 is the last clip
        length = min(int(self.steps[i]), self.seq_len)
        steps = np.minimum(np.arange(self.seq_len), length - 1)  # pad: repeat the last step
        ends = step_end_samples(steps, self.step_rate, self.audio)
        if self.step_jitter:  # the steps' grid starts anywhere in the clip's first step, as live
            ends += int(torch.randint(0, round(self.audio.sample_rate / self.step_rate), (1,)))
        expr = np.full(self.seq_len, self.clips.labels[i], np.int64)
        windows = spectrogram_windows(self.voice_augment(self.clips.samples(i)), ends, self.audio)
        sample = {
            "spectrogram": self.voice_augment.mask(windows),
            "va": self._va(i, expr) if self.priors else missing_va(self.seq_len),
            "au": au_prior(expr) if self.priors else missing_au(self.seq_len),
            "expr": expr,
        }
        mask_labels(sample, np.arange(self.seq_len) >= length)
        return sample

    def expression_targets(self) -> np.ndarray:
        """The expression of each clip, for sampling weights."""
        return self.clips.labels.copy()
