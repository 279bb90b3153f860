"""RAVDESS speech, alone and with CREMA-D, and RAVDESS's surprised voices in the A/V pairs.

The clips are the real ones (shared/data/ravdess_speech, 16 kHz FLAC with labels.csv); each
test opens a split (file headers only) and reads a handful of clips. Skipped, with the reason,
where ../shared is not there.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from avaffect.audio import SpectrogramConfig
from avaffect.checkpoint import read_config
from avaffect.cli import main
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.labels import EXPRESSIONS
from avaffect.train.data import open_dataset
from avaffect.train.data.crema_d_ravdess import CremaDRavdess
from avaffect.train.data.paired_av import FER2013CremaAV
from avaffect.train.data.ravdess import Ravdess
from avaffect.train.data.ravdess_clips import SPLIT_ACTORS, RavdessClips, split_rule
from avaffect.train.data.voice_augment import VoiceAugment
from avaffect.train.evaluation.evaluate import trained_options
from avaffect.train.objectives.priors import VA_PRIOR

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RAVDESS = SHARED / "ravdess_speech"
CREMA = SHARED / "crema_d_audio"
FER_NPZ = SHARED / "fer2013" / "fer2013_train_publictest.npz"
AUDIO = SpectrogramConfig(sample_rate=16000)
FER_FACE = FaceSpec(size=48, color="gray", template="fer2013")
SURPRISE = EXPRESSIONS.index("Surprise")
NAMES = {"neutral": "Neutral", "calm": "Neutral", "happy": "Happiness", "sad": "Sadness",
         "angry": "Anger", "fearful": "Fear", "disgust": "Disgust", "surprised": "Surprise"}

needs_ravdess = pytest.mark.skipif(
    not (RAVDESS / "labels.csv").is_file(), reason=f"shared RAVDESS speech not found at {RAVDESS}"
)
needs_all = pytest.mark.skipif(
    not ((RAVDESS / "labels.csv").is_file() and (CREMA / "labels.csv").is_file() and FER_NPZ.is_file()),
    reason=f"shared RAVDESS ({RAVDESS}), CREMA-D ({CREMA}) or FER2013 ({FER_NPZ}) not found",
)


def labels_csv() -> dict[str, dict[str, str]]:
    with open(RAVDESS / "labels.csv", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def test_the_split_is_by_actor_balanced_by_sex_and_follows_its_rule() -> None:
    assert split_rule() == SPLIT_ACTORS
    everyone = [a for actors in SPLIT_ACTORS.values() for a in actors]
    assert sorted(everyone) == list(range(1, 23))  # each of the 22 actors in exactly one split
    for split, (women, men) in {"validation": (2, 2), "test": (3, 3), "Training": (6, 6)}.items():
        actors = SPLIT_ACTORS[split]
        assert (sum(a % 2 == 0 for a in actors), sum(a % 2 == 1 for a in actors)) == (women, men)


@needs_ravdess
def test_clips_carry_the_labels_of_labels_csv() -> None:
    rows = labels_csv()
    clips = {split: RavdessClips(RAVDESS, split, 16000) for split in SPLIT_ACTORS}
    assert sum(len(c) for c in clips.values()) == len(rows) == 1320
    for split, part in clips.items():
        assert set(part.actors.tolist()) == set(SPLIT_ACTORS[split])
        for path, label, level in zip(part.paths, part.labels, part.intensity, strict=True):
            row = rows[path.name]
            assert EXPRESSIONS[label] == NAMES[row["emotion"]]
            assert level == (row["intensity"] == "strong")
    test = clips["test"]
    assert len(test) == 360 and (test.labels == SURPRISE).sum() == 48
    dropped = RavdessClips(RAVDESS, "test", 16000, calm="drop")
    assert len(dropped) == 360 - 48 and dropped.stats["calm_dropped"] == 48
    assert "02" not in dropped.codes


@needs_ravdess
def test_sequences_hear_the_clip_and_strong_clips_reach_further_on_arousal() -> None:
    plain = Ravdess(RAVDESS, "validation", audio=AUDIO, seq_len=16, step_rate=5.0, priors=True)
    strong = Ravdess(RAVDESS, "validation", audio=AUDIO, seq_len=16, step_rate=5.0, priors=True,
                     strong_arousal=1.5)
    i = int(np.flatnonzero((plain.clips.intensity == 1) & (plain.clips.labels == EXPRESSIONS.index("Anger")))[0])
    a, b = plain[i], strong[i]
    assert a["spectrogram"].shape == (16, 1, 265, 44) and (a["expr"] >= 0).all()  # 3.2 s of a ~3.7 s clip
    np.testing.assert_array_equal(a["spectrogram"], b["spectrogram"])
    np.testing.assert_array_equal(a["va"], VA_PRIOR[a["expr"]])
    np.testing.assert_allclose(b["va"][:, 1], np.clip(a["va"][:, 1] * 1.5, -1, 1))
    np.testing.assert_array_equal(b["va"][:, 0], a["va"][:, 0])  # valence is left alone
    normal = int(np.flatnonzero(plain.clips.intensity == 0)[0])
    np.testing.assert_array_equal(strong[normal]["va"], plain[normal]["va"])


@needs_all
def test_both_corpora_together_repeat_ravdess_in_training_only() -> None:
    train = open_dataset("crema_d_ravdess", CREMA, "Training", sequence=True, audio=AUDIO, seq_len=16,
                         ravdess=RAVDESS, ravdess_repeat=2, step_rate=5.0)
    val = open_dataset("crema_d_ravdess", CREMA, "validation", sequence=True, audio=AUDIO, seq_len=16,
                       ravdess=RAVDESS, ravdess_repeat=2, step_rate=5.0)
    assert len(train) == train.stats["crema_d_clips"] + 2 * 720
    assert len(val) == val.stats["crema_d_clips"] + 240
    targets = train.expression_targets()
    assert len(targets) == len(train) and (targets == SURPRISE).sum() == 2 * 96
    np.testing.assert_array_equal(val[len(val) - 1]["spectrogram"], val.ravdess[239]["spectrogram"])
    with pytest.raises(AvaffectError, match="needs the RAVDESS folder"):
        CremaDRavdess(CREMA, "validation", audio=AUDIO)
    with pytest.raises(AvaffectError, match="option step_jitter must be true or false, got 'maybe'"):
        open_dataset("crema_d_ravdess", CREMA, "Training", sequence=True, audio=AUDIO, ravdess=RAVDESS,
                     step_jitter="maybe")  # a bare word on the command line is not a yes


def test_gain_and_noise_change_the_waveform_and_off_leaves_it() -> None:
    tone = (0.1 * np.sin(np.linspace(0, 200, 16000))).astype(np.float32)
    assert VoiceAugment()(tone) is tone
    torch.manual_seed(0)
    out = VoiceAugment(gain_db=10.0, noise_snr_db=15.0)(tone)
    torch.manual_seed(0)
    again = VoiceAugment(gain_db=10.0, noise_snr_db=15.0)(tone)
    np.testing.assert_array_equal(out, again)  # seeded by torch, as the trainer seeds it
    ratios = []
    for _ in range(20):
        changed = VoiceAugment(gain_db=10.0)(tone)
        ratios.append(float(np.abs(changed).max() / np.abs(tone).max()))
    assert min(ratios) >= 10 ** (-10 / 20) - 1e-6 and max(ratios) <= 10 ** (10 / 20) + 1e-6
    assert max(ratios) / min(ratios) > 1.5
    with pytest.raises(AvaffectError, match="gain_db"):
        VoiceAugment(gain_db=-1.0)


def test_masks_blank_bands_and_stretches_of_each_window_and_off_leaves_them() -> None:
    windows = np.random.default_rng(0).standard_normal((6, 1, 265, 44)).astype(np.float32)
    np.testing.assert_array_equal(VoiceAugment(gain_db=10.0).mask(windows.copy()), windows)
    torch.manual_seed(0)
    masked = VoiceAugment(freq_mask=20, time_mask=5).mask(windows.copy())
    for before, after in zip(windows[:, 0], masked[:, 0], strict=True):
        blank = before != after  # noise never equals its mean, so a changed cell is a masked one
        np.testing.assert_allclose(after[blank], before.mean(), rtol=1e-6)  # the window's own mean
        bands, stretches = blank.all(axis=1), blank.all(axis=0)
        assert bands.sum() <= 2 * 20 and stretches.sum() <= 2 * 5
        assert not (blank & ~bands[:, None] & ~stretches[None, :]).any()  # whole bands and stretches only
    assert (masked != windows).any()
    with pytest.raises(AvaffectError, match="freq_mask"):
        VoiceAugment(freq_mask=-1)


@needs_ravdess
def test_training_clips_are_masked_and_jittered_and_validation_ones_never() -> None:
    options = dict(audio=AUDIO, seq_len=8, step_rate=2.5, freq_mask=20, time_mask=5, step_jitter=True)
    plain = Ravdess(RAVDESS, "Training", audio=AUDIO, seq_len=8, step_rate=2.5)
    torch.manual_seed(0)
    augmented = Ravdess(RAVDESS, "Training", **options)
    firsts = [augmented[0]["spectrogram"] for _ in range(3)]
    assert not np.array_equal(firsts[0], plain[0]["spectrogram"])
    assert not np.array_equal(firsts[0], firsts[1])  # drawn anew each time the clip is read
    np.testing.assert_array_equal(Ravdess(RAVDESS, "validation", **options)[0]["spectrogram"],
                                  Ravdess(RAVDESS, "validation", audio=AUDIO, seq_len=8, step_rate=2.5)[0]["spectrogram"])


def test_an_eval_on_one_corpus_inherits_what_applies_to_it() -> None:
    options = {"ravdess": "/r", "ravdess_repeat": 2, "step_rate": 5.0, "priors": True, "gain_db": 10.0,
               "calm": "neutral", "strong_arousal": 1.3}
    training = {"dataset": "crema_d_ravdess", "config": {"data": {"options": options}}}
    crema = trained_options(training, "crema_d")
    assert crema == {"step_rate": 5.0, "priors": True, "gain_db": 10.0}
    assert trained_options(training, "ravdess") == {k: v for k, v in options.items() if "ravdess" not in k}
    assert trained_options(training, "fer2013") == {}


@needs_all
def test_with_ravdess_the_pairs_include_surprise_on_both_sides() -> None:
    paired = FER2013CremaAV(FER_NPZ, "test", face=FER_FACE, audio=AUDIO, seq_len=32, crema_d=CREMA,
                            ravdess=RAVDESS)
    assert paired.stats["expr_Surprise"] > 0 and paired.stats["surprise_faces_skipped"] == 0
    surprised = [i for i in range(len(paired)) if (paired.labels[paired.pair_faces[paired.plan[i][0]]] == SURPRISE).any()]
    clips = [clip for clip, _ in paired.segment_clips(surprised[0])]
    pairs = paired.plan[surprised[0]][0]
    for clip, face in zip(clips, paired.pair_faces[pairs], strict=True):
        if paired.labels[face] == SURPRISE:
            assert clip.parent == RAVDESS and clip.stem.split("-")[2] == "08"
            assert int(clip.stem.split("-")[6]) in SPLIT_ACTORS["test"]
    sample = paired[surprised[0]]
    assert sample["spectrogram"].shape == (32, 1, 265, 44) and (sample["expr"] == SURPRISE).any()


@needs_all
def test_the_audio_recipes_train_on_both_corpora_in_two_stages(tmp_path: Path) -> None:
    tiny = ["steps=2", "batch_size=2", "data.sequence_length=4", "data.val_limit=2", "num_workers=0",
            "eval_every=0", "checkpoint_every=0", f"data.options.ravdess={RAVDESS}"]
    base, masked = tmp_path / "base", tmp_path / "masked"
    stage_1 = ["train", "audio_crema_d_ravdess_base", "--data", str(CREMA), "--out", str(base), "--no-progress"]
    assert main([*stage_1, *tiny]) == 0
    stage_2 = ["train", "default_audio_crema_d_ravdess", "--data", str(CREMA), "--out", str(masked), "--no-progress",
               f"model.init_from={base / 'last.safetensors'}"]
    assert main([*stage_2, *tiny]) == 0
    config = read_config(masked / "last.safetensors")
    assert 0.0 <= config.metrics["end_expr_acc"] <= 1.0  # validated per clip as well as per step
    options = config.training["config"]["data"]["options"]
    assert options["freq_mask"] > 0 and options["time_mask"] > 0 and options["step_jitter"] is True
    assert config.training["step_rate"] == options["step_rate"]  # the clock live steps it at


@needs_ravdess
def test_eval_says_when_clips_are_cut_short_and_how_to_hear_them_whole(capsys) -> None:
    """RAVDESS's clips last 3.2-5.6 s: scored as 8 steps of 0.4 s, most are cut, and a per-clip
    figure on them is not "after hearing all of it"; the report must say so."""
    command = ["eval", "--checkpoint", "default_audio_crema_d_ravdess", "--dataset", "ravdess", "--path", str(RAVDESS),
               "--split", "validation", "--limit", "3", "--no-progress"]
    assert main([*command, "--sequence-length", "8"]) == 0
    note = [line for line in capsys.readouterr().out.splitlines() if "cut there" in line]
    assert len(note) == 1 and "of the split's 240 clips run past 8 steps (3.2 s)" in note[0]
    whole = int(note[0].rsplit("--sequence-length ", 1)[1].split()[0])
    assert main([*command, "--sequence-length", str(whole)]) == 0
    assert "cut there" not in capsys.readouterr().out


def test_eval_lists_only_the_dataset_options_in_effect_on_a_test_split(capsys) -> None:
    """The voice trained with gain, noise, masks and jitter; on its test actors none of them
    acts, so the report must not list them as if the clips were heard that way."""
    assert main(["eval", "--checkpoint", "default_audio_crema_d_ravdess", "--dataset", "ravdess", "--path",
                 str(RAVDESS), "--split", "test", "--limit", "2", "--no-progress"]) == 0
    options = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("dataset options:"))
    assert "step_rate=2.5" in options and "calm=neutral" in options
    for training_only in ("gain_db", "noise_snr_db", "freq_mask", "time_mask", "step_jitter"):
        assert training_only not in options
