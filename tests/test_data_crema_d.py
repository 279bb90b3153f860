"""CREMA-D speech as spectrogram sequences, and FER2013 faces paired with it, on the shared data.

The clips are the real ones (shared/data/crema_d_audio, 16 kHz FLAC); each test opens a split
(file headers only) and reads a handful of clips, so all of them stay fast. The two recipes
run two tiny steps each through ``avaffect train``: proof that data, model and recipe wire
together, not of what they learn.
"""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from avaffect.audio import SpectrogramConfig, spectrogram
from avaffect.checkpoint import CheckpointConfig, load_checkpoint, save_checkpoint
from avaffect.cli import main
from avaffect.errors import AvaffectError
from avaffect.face import FaceSpec
from avaffect.labels import EXPRESSIONS
from avaffect.train.config import load_recipe
from avaffect.train.data import open_dataset
from avaffect.train.data.crema_d import CremaD
from avaffect.train.data.crema_d_clips import EMOTION_TO_OURS, SPLIT_ACTORS, CremaDClips
from avaffect.train.data.paired_av import FER2013CremaAV
from avaffect.train.models import create_model
from avaffect.train.objectives.priors import AU_PRIOR, VA_PRIOR

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CREMA = SHARED / "crema_d_audio"
FER_NPZ = SHARED / "fer2013" / "fer2013_train_publictest.npz"
AUDIO = SpectrogramConfig(sample_rate=16000)
FER_FACE = FaceSpec(size=48, color="gray", template="fer2013")

needs_crema = pytest.mark.skipif(
    not (CREMA / "labels.csv").is_file(), reason=f"shared CREMA-D audio not found at {CREMA}"
)
needs_both = pytest.mark.skipif(
    not ((CREMA / "labels.csv").is_file() and FER_NPZ.is_file()),
    reason=f"shared CREMA-D ({CREMA}) or FER2013 ({FER_NPZ}) not found",
)


def emotion_of(path: Path) -> int:
    """Our expression index, read from a clip's name (ACTOR_SENTENCE_EMOTION_LEVEL)."""
    return EMOTION_TO_OURS[path.stem.split("_")[2]]


def decoded(path: Path) -> np.ndarray:
    import soundfile

    samples, rate = soundfile.read(str(path), dtype="float32")
    assert rate == 16000
    return samples


@pytest.fixture(scope="module")
def validation() -> CremaD:
    return CremaD(CREMA, "validation", audio=AUDIO, seq_len=32, priors=True)


@pytest.fixture(scope="module")
def paired() -> FER2013CremaAV:
    return FER2013CremaAV(
        FER_NPZ, "validation", face=FER_FACE, audio=AUDIO, seq_len=32, crema_d=CREMA
    )


# ---- crema_d -----------------------------------------------------------------------------


@needs_crema
def test_clips_are_sequences_of_spectrograms_labelled_by_their_name(validation: CremaD) -> None:
    assert validation.tasks == ("va", "au", "expr") and len(validation) == validation.stats["clips"]
    for i in (0, 1, len(validation) - 1):
        sample = validation[i]
        assert sample["spectrogram"].shape == (32, 1, 265, 44) and "face" not in sample
        assert sample["spectrogram"].dtype == np.float32
        length = min(int(validation.steps[i]), 32)
        expr = emotion_of(validation.clips.paths[i])
        assert (sample["expr"][:length] == expr).all() and (sample["expr"][length:] == -1).all()
        np.testing.assert_array_equal(sample["au"][:length], AU_PRIOR[sample["expr"][:length]])
        np.testing.assert_array_equal(sample["va"][:length], VA_PRIOR[sample["expr"][:length]])
        assert (sample["au"][length:] == -1).all() and (sample["va"][length:] == -5).all()
    named = {code: EXPRESSIONS[ours] for code, ours in EMOTION_TO_OURS.items()}
    assert named == {
        "ANG": "Anger",
        "DIS": "Disgust",
        "FEA": "Fear",
        "HAP": "Happiness",
        "NEU": "Neutral",
        "SAD": "Sadness",
    }  # fmt: skip  (CREMA-D has no surprise)
    assert validation.stats["expr_Surprise"] == 0 and validation.stats["expr_Neutral"] > 0


@needs_crema
def test_a_clip_has_a_step_per_tenth_of_a_second_and_is_padded_or_cropped(
    validation: CremaD,
) -> None:
    seconds = np.array([len(decoded(p)) / 16000 for p in validation.clips.paths[:5]])
    np.testing.assert_array_equal(validation.steps[:5], np.ceil(seconds * 10))
    short = CremaD(CREMA, "validation", audio=AUDIO, seq_len=8)
    assert short.tasks == ("expr",)
    sample = short[0]
    assert sample["spectrogram"].shape[0] == 8 and (sample["expr"] >= 0).all()  # cropped
    assert (sample["au"] == -1).all() and (sample["va"] == -5).all()  # no priors asked


@needs_crema
def test_each_step_hears_the_second_of_audio_ending_at_it(validation: CremaD) -> None:
    i = 3
    audio = decoded(validation.clips.paths[i])
    audio = np.concatenate([audio, np.zeros(1600, np.float32)])  # the last step may end after it
    windows = validation[i]["spectrogram"]
    for step in (0, 4, 12, int(validation.steps[i]) - 1):
        end = round((step + 1) * 16000 / 10)
        expected = spectrogram(audio[:end], AUDIO)  # the last frame ends at the step's time
        np.testing.assert_allclose(windows[step], expected, atol=1e-5)
    assert not np.allclose(windows[4], windows[12])


@needs_crema
def test_splits_are_by_actor_with_no_actor_in_two() -> None:
    splits = {name: CremaDClips(CREMA, name, 16000) for name in ("Training", "validation", "test")}
    actors = {name: set(clips.actors.tolist()) for name, clips in splits.items()}
    assert not actors["Training"] & actors["validation"]
    assert not actors["Training"] & actors["test"]
    assert not actors["validation"] & actors["test"]
    with (CREMA / "actor_demographics.csv").open() as handle:
        sex = {int(row["ActorID"]): row["Sex"] for row in csv.DictReader(handle)}
    assert set().union(*actors.values()) == set(sex)  # the 41 shared actors, each used once
    assert sum(len(clips) for clips in splits.values()) == len(list(CREMA.glob("*.flac")))
    for name in ("validation", "test"):
        assert sorted(sex[a] for a in actors[name]) == ["Female"] * 3 + ["Male"] * 3
    assert all(1001 not in ids for ids in SPLIT_ACTORS.values())  # held out of the shared data


@needs_crema
def test_the_split_lists_follow_their_documented_rule() -> None:
    """Within each sex, sorted ids permuted by default_rng(0), females first: 3 validation,
    3 test, the rest training (crema_d_clips' docstring)."""
    with (CREMA / "actor_demographics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    rng = np.random.default_rng(0)
    drawn: dict[str, list[int]] = {"Training": [], "validation": [], "test": []}
    for sex in ("Female", "Male"):
        order = rng.permutation(sorted(int(r["ActorID"]) for r in rows if r["Sex"] == sex))
        drawn["validation"] += order[:3].tolist()
        drawn["test"] += order[3:6].tolist()
        drawn["Training"] += order[6:].tolist()
    assert {k: sorted(v) for k, v in drawn.items()} == {
        k: sorted(v) for k, v in SPLIT_ACTORS.items()
    }


@needs_crema
def test_decoded_audio_is_cached_but_not_pickled_into_workers(validation: CremaD) -> None:
    validation[0]
    assert validation.clips._pcm
    copy = pickle.loads(pickle.dumps(validation))
    assert not copy.clips._pcm
    np.testing.assert_array_equal(copy[0]["spectrogram"], validation[0]["spectrogram"])


@needs_crema
def test_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(AvaffectError, match="crema_d is speech only"):
        open_dataset("crema_d", CREMA, "validation", sequence=True)
    with pytest.raises(AvaffectError, match="unknown split 'dev'"):
        CremaD(CREMA, "dev", audio=AUDIO)
    with pytest.raises(AvaffectError, match="step_rate must be"):
        CremaD(CREMA, "test", audio=AUDIO, step_rate=0)
    with pytest.raises(AvaffectError, match="no CREMA-D clips"):
        CremaD(tmp_path, "test", audio=AUDIO)
    with pytest.raises(AvaffectError, match="sequences only"):
        open_dataset("crema_d", CREMA, "test", audio=AUDIO)
    with pytest.raises(AvaffectError, match="needs the CREMA-D folder too"):
        open_dataset("fer2013_crema_av", tmp_path, "test", sequence=True, audio=AUDIO)
    with pytest.raises(AvaffectError, match="folder .*nowhere not found; set the option crema_d"):
        open_dataset("fer2013_crema_av", FER_NPZ, "test", sequence=True, crema_d=tmp_path / "nowhere")


# ---- fer2013_crema_av ------------------------------------------------------------------------


@needs_both
def test_paired_sequences_have_faces_and_spectrograms_stepping_together(
    paired: FER2013CremaAV,
) -> None:
    sample = paired[0]
    assert sample["face"].shape == (32, 3, 48, 48) and sample["face"].dtype == np.float32
    assert sample["spectrogram"].shape == (32, 1, 265, 44)
    assert sample["va"].shape == (32, 2) and sample["au"].shape == (32, 8)
    assert (sample["expr"] >= 0).all() and paired.tasks == ("va", "au", "expr")
    # the first segment's clip starts the sequence's audio: its windows are that clip's own
    clip, steps = paired.segment_clips(0)[0]
    alone = CremaD(CREMA, "validation", audio=AUDIO, seq_len=32)
    own = alone[alone.clips.paths.index(clip)]["spectrogram"]
    np.testing.assert_allclose(sample["spectrogram"][:steps], own[:steps], atol=1e-6)


@needs_both
def test_paired_faces_and_voices_share_the_expression_and_never_surprise(
    paired: FER2013CremaAV,
) -> None:
    for i in range(0, len(paired), max(1, len(paired) // 12)):
        pairs, lengths = paired.plan[i]
        expr = paired[i]["expr"]
        face_expr = np.repeat(paired.labels[paired.pair_faces[pairs]], lengths)
        voice_expr = np.repeat([emotion_of(clip) for clip, _ in paired.segment_clips(i)], lengths)
        np.testing.assert_array_equal(expr, face_expr)
        np.testing.assert_array_equal(expr, voice_expr)
    assert paired.stats["expr_Surprise"] == 0 and paired.stats["surprise_faces_skipped"] > 0
    assert (paired.labels != EXPRESSIONS.index("Surprise")).all()


@needs_both
def test_paired_splits_keep_faces_and_actors_apart(paired: FER2013CremaAV) -> None:
    with np.load(FER_NPZ) as data:
        public = data["usage"].astype(str) == "PublicTest"
        images, labels = data["images"][public], data["labels"][public]
    test = FER2013CremaAV(FER_NPZ, "test", face=FER_FACE, audio=AUDIO, seq_len=32, crema_d=CREMA)
    # validation takes PublicTest's even rows and test its odd ones, Surprise (FER 5) left out
    for dataset, rows in ((paired, slice(0, None, 2)), (test, slice(1, None, 2))):
        np.testing.assert_array_equal(dataset.images, images[rows][labels[rows] != 5])
    assert set(paired.clips.actors.tolist()) == set(SPLIT_ACTORS["validation"])
    assert set(test.clips.actors.tolist()) == set(SPLIT_ACTORS["test"])
    heard = {int(clip.stem[:4]) for i in range(len(paired)) for clip, _ in paired.segment_clips(i)}
    assert heard <= set(SPLIT_ACTORS["validation"])


@needs_both
def test_without_audio_the_pairs_are_the_same_sequences_with_faces_only(
    paired: FER2013CremaAV,
) -> None:
    """What scores a visual model on exactly the sequences the audio-visual one sees."""
    faces_only = FER2013CremaAV(FER_NPZ, "validation", face=FER_FACE, seq_len=32, crema_d=CREMA)
    assert len(faces_only) == len(paired)
    sample, full = faces_only[3], paired[3]
    assert "spectrogram" not in sample
    np.testing.assert_array_equal(sample["face"], full["face"])
    np.testing.assert_array_equal(sample["expr"], full["expr"])


# ---- the recipes, end to end -----------------------------------------------------------------

TINY = [
    "steps=2",
    "batch_size=2",
    "data.sequence_length=4",
    "data.val_limit=2",
    "num_workers=0",
    "eval_every=0",
    "checkpoint_every=2",
    "--no-progress",
]


def stream_checkpoint(path: Path) -> Path:
    """An untrained checkpoint of the shipped streaming model's shape (what
    default_stream_fer2013 writes), to initialise the audio-visual face stream from."""
    _, recipe = load_recipe("default_stream_fer2013")  # its width, batch norm, mirror averaging
    kwargs = {**recipe["model"]["kwargs"], "face_size": recipe["face"]["size"]}
    model = create_model("mt_vgg_rnn_lite", **kwargs)
    config = CheckpointConfig(model="mt_vgg_rnn_lite", model_kwargs=kwargs, face=FER_FACE)
    return save_checkpoint(path, model.state_dict(), config)


@needs_both
def test_audio_then_audio_visual_recipes_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audio_run = tmp_path / "audio"
    args = ["train", "default_audio_crema_d", "--data", str(CREMA), "--out", str(audio_run)]
    assert main([*args, *TINY]) == 0
    audio_ckpt = load_checkpoint(audio_run / "last.safetensors")
    assert audio_ckpt.config.model == "mt_vgg_rnn_audio_lite"
    assert audio_ckpt.config.audio == AUDIO and AUDIO.shape == (1, 265, 44)

    face = stream_checkpoint(tmp_path / "stream.safetensors")
    av_run = tmp_path / "av"
    args = ["train", "default_av_fer2013_crema_d", "--data", str(FER_NPZ), "--out", str(av_run)]
    inits = [f"model.init_from={face}", f"model.init_audio_from={audio_run / 'last.safetensors'}"]
    assert main([*args, f"data.options.crema_d={CREMA}", *inits, *TINY]) == 0
    assert "streams initialised from" in capsys.readouterr().out
    av = load_checkpoint(av_run / "last.safetensors")
    assert av.config.model == "av_mt_vgg_rnn_lite" and av.config.face == FER_FACE
    assert av.config.model_kwargs["batch_norm"] is True
    # the audio stream started from the audio run's weights (lr is tiny over 2 steps)
    key = "frame.features.0.weight"
    assert torch.allclose(
        av.state_dict[f"audio_stream.{key}"], audio_ckpt.state_dict[key], atol=1e-3
    )
