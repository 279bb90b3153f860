"""The expression -> AU / VA prior tables, and FER2013 emitting them as soft targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avaffect.labels import AUS, EXPRESSIONS
from avaffect.train.data import FER2013, open_dataset
from avaffect.train.objectives.priors import AU_PRIOR, VA_PRIOR, au_prior, va_prior


def aus_of(expression: str, level: float) -> set[str]:
    row = AU_PRIOR[EXPRESSIONS.index(expression)]
    return {au for au, p in zip(AUS, row, strict=True) if p == level}


def va_of(expression: str) -> np.ndarray:
    return VA_PRIOR[EXPRESSIONS.index(expression)]


def test_tables_follow_the_label_order_and_ranges() -> None:
    assert AU_PRIOR.shape == (7, 8) and VA_PRIOR.shape == (7, 2)
    assert set(np.unique(AU_PRIOR)) <= {0.0, 0.5, 1.0}
    assert (np.abs(VA_PRIOR) <= 1).all()
    assert not AU_PRIOR.flags.writeable  # one table for everybody: nobody edits it in place


def test_au_prior_matches_du_tao_martinez_2014_table_1() -> None:
    # prototypical AUs (> 70% of subjects) -> 1.0; variants -> 0.5; restricted to our 8 AUs
    assert aus_of("Happiness", 1.0) == {"AU12", "AU25"} and aus_of("Happiness", 0.5) == {"AU6"}
    assert aus_of("Sadness", 1.0) == {"AU4", "AU15"} and aus_of("Sadness", 0.5) == {"AU1", "AU6"}
    assert aus_of("Surprise", 1.0) == {"AU1", "AU2", "AU25"} and not aus_of("Surprise", 0.5)
    assert aus_of("Fear", 1.0) == {"AU1", "AU4", "AU20", "AU25"} and aus_of("Fear", 0.5) == {"AU2"}
    assert aus_of("Anger", 1.0) == {"AU4"} and not aus_of("Anger", 0.5)
    assert not aus_of("Disgust", 1.0) and aus_of("Disgust", 0.5) == {"AU4"}
    assert not AU_PRIOR[EXPRESSIONS.index("Neutral")].any()


def test_va_prior_places_the_emotions_on_the_circumplex() -> None:
    assert va_of("Happiness")[0] > 0 > va_of("Sadness")[0]
    for aroused in ("Anger", "Fear", "Surprise"):
        assert va_of(aroused)[1] > va_of("Neutral")[1] > va_of("Sadness")[1]
    np.testing.assert_allclose(va_of("Anger"), [-0.51, 0.59])  # Russell & Mehrabian (1977)
    np.testing.assert_array_equal(va_of("Neutral"), [0.0, 0.0])


def test_missing_labels_give_masked_rows_and_shapes_follow_the_labels() -> None:
    labels = np.array([[4, -1], [0, 5]])
    au, va = au_prior(labels), va_prior(labels)
    assert au.shape == (2, 2, 8) and va.shape == (2, 2, 2) and au.dtype == np.float32
    assert (au[0, 1] == -1).all() and (va[0, 1] == -5).all()
    np.testing.assert_array_equal(au[1, 1], AU_PRIOR[5])
    assert au_prior(3).shape == (8,)
    with pytest.raises(ValueError, match="-1 .missing. or 0..6"):
        au_prior([7])


def write_npz(path: Path, labels: list[int], usage: str = "Training") -> Path:
    images = np.random.default_rng(0).integers(0, 256, (len(labels), 48, 48), dtype=np.uint8)
    np.savez(path, images=images, labels=np.array(labels), usage=np.array([usage] * len(labels)))
    return path


def test_fer2013_with_priors_emits_targets_consistent_with_the_expression(tmp_path: Path) -> None:
    npz = write_npz(tmp_path / "fer.npz", [3, 4, 6, 0])  # FER: Happy, Sad, Neutral, Angry
    plain = FER2013(npz, "train")
    assert (
        plain.tasks == ("expr",) and (plain[0]["au"] == -1).all() and (plain[0]["va"] == -5).all()
    )
    data = open_dataset("fer2013", npz, "train", priors=True)  # how a recipe's data.options arrive
    assert data.tasks == ("va", "au", "expr")
    for i in range(len(data)):
        sample = data[i]
        np.testing.assert_array_equal(sample["au"], AU_PRIOR[sample["expr"]])
        np.testing.assert_array_equal(sample["va"], VA_PRIOR[sample["expr"]])
    assert (
        EXPRESSIONS[int(data[0]["expr"])] == "Happiness" and data[0]["au"][AUS.index("AU12")] == 1
    )
