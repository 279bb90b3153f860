"""Evaluation metrics on small explicit arrays whose values are worked out by hand."""

import math

import numpy as np
import pytest
import torch

from avaffect.labels import INVALID_LABEL, INVALID_VA
from avaffect.train.evaluation.metrics import (
    abaw_au,
    abaw_expr,
    accuracy,
    au_accuracy,
    au_f1,
    ccc,
    ccc_va,
    confusion_matrix,
    evaluate_outputs,
    f1_per_class,
    mean_diagonal,
    mean_f1,
)

# ----------------------------------------------------------------------------- CCC


def test_ccc_hand_worked():
    # means 2 and 7/3, variances 2/3 and 14/9, covariance 1: CCC = 2 / (2/3 + 14/9 + 1/9) = 6/7.
    assert ccc([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]) == pytest.approx(6 / 7)


def test_ccc_perfect_constant_and_anti_correlated():
    true = np.array([-0.5, 0.1, 0.3, 0.1])
    assert ccc(true, true) == pytest.approx(1.0)
    assert ccc(np.full(4, 0.2), true) == 0.0
    assert ccc(true, np.full(4, 0.2)) == 0.0
    noisy = np.random.default_rng(0).uniform(-1, 1, 1001)
    assert ccc(np.full(1001, 0.1), noisy) == 0.0  # exactly, whatever the rounding of the mean
    centred = true - true.mean()
    assert ccc(-centred, centred) == pytest.approx(-1.0)


def test_ccc_skips_missing_rows_and_is_nan_without_any():
    pred = np.array([1.0, 5.0, 2.0, 3.0])
    true = np.array([1.0, INVALID_VA, 2.0, 4.0])
    assert ccc(pred, true) == pytest.approx(6 / 7)
    assert math.isnan(ccc(pred, np.full(4, INVALID_VA)))


def test_ccc_va_reports_each_dimension_and_their_mean():
    pred = np.array([[1.0, 0.1], [2.0, 0.2], [3.0, 0.3]])
    true = np.array([[1.0, 0.1], [2.0, 0.2], [4.0, 0.3]])
    assert ccc_va(pred, true) == pytest.approx({"valence": 6 / 7, "arousal": 1.0, "mean": 13 / 14})


# ----------------------------------------------------------------------------- expressions

# Seven annotated frames and one missing (-1), 7 classes. Pairs (true -> predicted):
# 0->0, 0->1, 1->1, 1->1, 2->2, 2->0, 3->4; the missing frame's prediction (5) is ignored.
EXPR_TRUE = np.array([0, 0, 1, 1, 2, 2, 3, INVALID_LABEL])
EXPR_PRED = np.array([0, 1, 1, 1, 2, 0, 4, 5])


def test_confusion_matrix_counts_rows_true_columns_predicted():
    matrix = confusion_matrix(EXPR_PRED, EXPR_TRUE, 7)
    expected = np.zeros((7, 7))
    for t, p in [(0, 0), (0, 1), (1, 1), (1, 1), (2, 2), (2, 0), (3, 4)]:
        expected[t, p] += 1
    np.testing.assert_array_equal(matrix, expected)


def test_confusion_matrix_normalised_by_true_class():
    matrix = confusion_matrix(EXPR_PRED, EXPR_TRUE, 7, normalize="true")
    np.testing.assert_allclose(matrix[0, :3], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(matrix[3, 4], 1.0)
    np.testing.assert_array_equal(matrix[4:], 0.0)  # classes absent from the targets


def test_f1_per_class_hand_worked():
    # class 0: tp 1, fp 1, fn 1 -> 0.5; class 1: tp 2, fp 1 -> 0.8; class 2: tp 1, fn 1 -> 2/3;
    # class 3: only missed -> 0; class 4: only predicted -> 0; classes 5, 6: absent -> NaN.
    f1 = f1_per_class(EXPR_PRED, EXPR_TRUE, 7)
    np.testing.assert_allclose(f1[:5], [0.5, 0.8, 2 / 3, 0.0, 0.0])
    assert np.isnan(f1[5:]).all()
    assert mean_f1(EXPR_PRED, EXPR_TRUE, 7) == pytest.approx((0.5 + 0.8 + 2 / 3) / 5)


def test_accuracy_and_mean_diagonal_hand_worked():
    assert accuracy(EXPR_PRED, EXPR_TRUE) == pytest.approx(4 / 7)
    # per-class recall of the classes present in the targets: 1/2, 2/2, 1/2, 0/1
    assert mean_diagonal(EXPR_PRED, EXPR_TRUE, 7) == pytest.approx(0.5)


def test_classification_metrics_accept_torch_tensors():
    assert accuracy(torch.tensor(EXPR_PRED), torch.tensor(EXPR_TRUE)) == pytest.approx(4 / 7)


def test_confusion_matrix_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match="labels must lie"):
        confusion_matrix([0, 7], [0, 1], 7)
    with pytest.raises(ValueError, match="normalize"):
        confusion_matrix([0], [0], 7, normalize="all")


# ----------------------------------------------------------------------------- action units

# Four frames, 8 AUs. AU1: true 1 1 0 0, predicted 1 0 1 0 -> tp 1, fp 1, fn 1: F1 0.5.
# AU2: true 1 0 (missing) 1, predicted 1 0 1 1 -> perfect: F1 1. AU4: never active, predicted
# once -> F1 0. AU6..AU25: neither annotated nor predicted active -> no F1, left out.
AU_TRUE = np.zeros((4, 8))
AU_TRUE[:, 0] = [1, 1, 0, 0]
AU_TRUE[:, 1] = [1, 0, INVALID_LABEL, 1]
AU_PROBS = np.full((4, 8), 0.1)
AU_PROBS[:, 0] = [0.9, 0.4, 0.6, 0.1]
AU_PROBS[:, 1] = [0.5, 0.2, 0.9, 0.7]
AU_PROBS[0, 2] = 0.7


def test_au_f1_per_au_and_mean_hand_worked():
    scores = au_f1(AU_PROBS, AU_TRUE)
    assert scores["AU1"] == pytest.approx(0.5)
    assert scores["AU2"] == pytest.approx(1.0)
    assert scores["AU4"] == 0.0
    assert all(math.isnan(scores[name]) for name in ("AU6", "AU12", "AU15", "AU20", "AU25"))
    assert scores["mean"] == pytest.approx(0.5)


def test_au_accuracy_counts_every_annotated_element():
    # 31 annotated elements; wrong: AU1 twice, AU4 once.
    assert au_accuracy(AU_PROBS, AU_TRUE) == pytest.approx(28 / 31)


def test_au_metrics_from_logits_threshold_at_zero():
    logits = np.log(AU_PROBS / (1 - AU_PROBS))
    assert au_f1(logits, AU_TRUE, from_logits=True) == pytest.approx(
        au_f1(AU_PROBS, AU_TRUE), nan_ok=True
    )
    assert au_accuracy(logits, AU_TRUE, from_logits=True) == pytest.approx(28 / 31)


def test_au_soft_targets_count_as_active_from_one_half():
    soft = AU_TRUE.copy()
    soft[soft == 1] = 0.7
    assert au_f1(AU_PROBS, soft)["mean"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- ABAW and evaluate


def test_abaw_combinations():
    assert abaw_au(0.4, 0.9) == pytest.approx(0.65)
    assert abaw_expr(0.5, 0.8) == pytest.approx(0.67 * 0.5 + 0.33 * 0.8)


def test_evaluate_outputs_gives_the_flat_dict_of_every_task():
    va_pred = np.array([[1.0, 0.1], [2.0, 0.2], [3.0, 0.3]])
    va_true = np.array([[1.0, 0.1], [2.0, 0.2], [4.0, 0.3]])
    expr_logits = np.eye(7)[EXPR_PRED] * 3.0
    outputs = {
        "va": torch.tensor(va_pred),
        "au": torch.tensor(np.log(AU_PROBS / (1 - AU_PROBS))),  # a model's AU output: logits
        "expr": torch.tensor(expr_logits),
    }
    targets = {"va": va_true, "au": AU_TRUE, "expr": EXPR_TRUE}
    metrics = evaluate_outputs(outputs, targets)
    expr_f1, expr_acc = (0.5 + 0.8 + 2 / 3) / 5, 4 / 7
    assert metrics == pytest.approx(
        {
            "va_ccc_valence": 6 / 7,
            "va_ccc_arousal": 1.0,
            "va_ccc": 13 / 14,
            "abaw_va": 13 / 14,
            "au_f1": 0.5,
            "au_acc": 28 / 31,
            "abaw_au": 0.5 * 0.5 + 0.5 * 28 / 31,
            "expr_f1": expr_f1,
            "expr_acc": expr_acc,
            "expr_mean_diag": 0.5,
            "abaw_expr": 0.67 * expr_f1 + 0.33 * expr_acc,
        }
    )
    assert all(isinstance(value, float) for value in metrics.values())


def test_evaluate_outputs_flattens_sequences_and_accepts_probabilities():
    outputs = {"au": AU_PROBS.reshape(2, 2, 8)}
    metrics = evaluate_outputs(outputs, {"au": AU_TRUE.reshape(2, 2, 8)}, au_from_logits=False)
    assert metrics == pytest.approx(
        {"au_f1": 0.5, "au_acc": 28 / 31, "abaw_au": 0.5 * 0.5 + 0.5 * 28 / 31}
    )


def test_evaluate_outputs_omits_tasks_absent_or_without_labels():
    outputs = {"va": np.zeros((3, 2)), "au": np.zeros((3, 8)), "expr": np.zeros((3, 7))}
    targets = {"va": np.full((3, 2), INVALID_VA), "expr": np.full(3, INVALID_LABEL)}
    assert evaluate_outputs(outputs, targets) == {}
