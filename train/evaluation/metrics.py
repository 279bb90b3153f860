"""Evaluation metrics of the paper and of the ABAW challenges, each skipping missing labels.

Everything takes numpy arrays or torch tensors and returns plain floats / numpy arrays.
Missing labels follow Aff-Wild2 (:mod:`avaffect.labels`): VA -5 (anything below -3, or
NaN, counts as missing), AU and expression -1.

Degenerate cases, defined on purpose:
- CCC is 0 when the predictions or the targets are constant (the correlation is undefined,
  and a constant predictor has learnt nothing), and NaN when there is no annotated row.
- Expression F1: a class absent from both predictions and targets has no F1 (NaN) and is
  left out of the mean, rather than counting as 0 (which would punish a model for a class
  the test set lacks) or 1. A class present in only one of them has F1 0.
- AU F1 is the binary F1 of each AU's positive class, under the same rule: an AU that is
  neither annotated as active nor predicted active is left out of the mean.
- A metric with no annotated element at all is NaN; :func:`evaluate_outputs` omits it.
"""

from __future__ import annotations

import numpy as np

from avaffect.labels import AUS, INVALID_LABEL, INVALID_VA

_VA_MISSING_BELOW = (INVALID_VA + -1.0) / 2.0  # VA lives in [-1, 1]; the marker is -5

# ABAW weights: AU (ABAW 2020) 0.5 F1 + 0.5 accuracy; Expr 0.67 F1 + 0.33 accuracy.
ABAW_AU_F1_WEIGHT = 0.5
ABAW_EXPR_F1_WEIGHT = 0.67


def to_numpy(values) -> np.ndarray:
    """A numpy view of a numpy array, a torch tensor (any device) or a sequence."""
    if hasattr(values, "detach"):  # torch.Tensor, without importing torch here
        values = values.detach().cpu()
        # numpy has no bfloat16: widen low-precision floats.
        values = (values.float() if values.is_floating_point() else values).numpy()
    return np.asarray(values)


# ----------------------------------------------------------------------------- valence/arousal


def ccc(pred, true) -> float:
    """Concordance correlation coefficient of one dimension over the annotated rows."""
    pred = to_numpy(pred).astype(np.float64).reshape(-1)
    true = to_numpy(true).astype(np.float64).reshape(-1)
    valid = true > _VA_MISSING_BELOW
    if not valid.any():
        return float("nan")
    pred, true = pred[valid], true[valid]
    if np.ptp(pred) == 0.0 or np.ptp(true) == 0.0:  # exact test: rounding makes var() ~1e-34
        return 0.0
    mean_p, mean_t = pred.mean(), true.mean()
    var_p, var_t = pred.var(), true.var()
    cov = ((pred - mean_p) * (true - mean_t)).mean()
    return float(2.0 * cov / (var_p + var_t + (mean_p - mean_t) ** 2))


def ccc_va(pred, true) -> dict[str, float]:
    """CCC of valence and arousal: [..., 2] each -> {"valence", "arousal", "mean"}."""
    pred, true = to_numpy(pred).reshape(-1, 2), to_numpy(true).reshape(-1, 2)
    valence, arousal = ccc(pred[:, 0], true[:, 0]), ccc(pred[:, 1], true[:, 1])
    both = [v for v in (valence, arousal) if not np.isnan(v)]
    mean = float(np.mean(both)) if both else float("nan")
    return {"valence": valence, "arousal": arousal, "mean": mean}


# ----------------------------------------------------------------------------- classification


def _valid_labels(pred_labels, true_labels) -> tuple[np.ndarray, np.ndarray]:
    pred = to_numpy(pred_labels).astype(np.int64).reshape(-1)
    true = to_numpy(true_labels).astype(np.int64).reshape(-1)
    if pred.shape != true.shape:
        raise ValueError(f"predictions {pred.shape} and labels {true.shape} differ in length")
    valid = true != INVALID_LABEL
    return pred[valid], true[valid]


def confusion_matrix(
    pred_labels, true_labels, num_classes: int, normalize: str | None = None
) -> np.ndarray:
    """[C, C] counts, rows = true class, columns = predicted class (scikit-learn's layout).

    ``normalize="true"`` divides each row by its count; a class absent from the targets keeps
    a row of zeros.
    """
    if normalize not in (None, "true"):
        raise ValueError(f"normalize must be None or 'true', got {normalize!r}")
    pred, true = _valid_labels(pred_labels, true_labels)
    for name, values in (("predicted", pred), ("true", true)):
        if len(values) and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{name} labels must lie in [0, {num_classes}), got {values.min()}..{values.max()}"
            )
    counts = np.bincount(true * num_classes + pred, minlength=num_classes**2)
    matrix = counts[: num_classes**2].reshape(num_classes, num_classes).astype(np.float64)
    if normalize == "true":
        rows = matrix.sum(1, keepdims=True)
        matrix = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    return matrix


def f1_per_class(pred_labels, true_labels, num_classes: int) -> np.ndarray:
    """F1 of every class, [C]; NaN for a class absent from both predictions and targets."""
    matrix = confusion_matrix(pred_labels, true_labels, num_classes)
    tp = np.diag(matrix)
    fp, fn = matrix.sum(0) - tp, matrix.sum(1) - tp
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.full(num_classes, np.nan), where=denom > 0)


def mean_f1(pred_labels, true_labels, num_classes: int) -> float:
    """Unweighted (macro) mean F1 over the classes that occur in predictions or targets."""
    return _nanmean(f1_per_class(pred_labels, true_labels, num_classes))


def accuracy(pred_labels, true_labels) -> float:
    """Fraction of annotated elements predicted right (NaN if none is annotated)."""
    pred, true = _valid_labels(pred_labels, true_labels)
    return float((pred == true).mean()) if len(true) else float("nan")


def mean_diagonal(pred_labels, true_labels, num_classes: int) -> float:
    """Mean of the row-normalised confusion matrix's diagonal over the classes that occur in
    the targets (mean per-class recall: RAF-DB's measure)."""
    matrix = confusion_matrix(pred_labels, true_labels, num_classes)
    rows = matrix.sum(1)
    present = rows > 0
    return (
        float((np.diag(matrix)[present] / rows[present]).mean()) if present.any() else float("nan")
    )


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if len(finite) else float("nan")


# ----------------------------------------------------------------------------- action units


def au_predictions(scores, from_logits: bool = False) -> np.ndarray:
    """Active (1) / inactive (0) per AU: probabilities thresholded at 0.5, logits at 0."""
    scores = to_numpy(scores).astype(np.float64)
    return (scores >= (0.0 if from_logits else 0.5)).astype(np.int64)


def _au_arrays(scores, targets, from_logits: bool) -> tuple[np.ndarray, np.ndarray]:
    targets = to_numpy(targets).astype(np.float64)
    pred = au_predictions(scores, from_logits).reshape(-1, targets.shape[-1])
    targets = targets.reshape(-1, targets.shape[-1])
    if pred.shape != targets.shape:
        raise ValueError(f"AU scores {pred.shape} and targets {targets.shape} differ in shape")
    # Soft targets count as active from 0.5 up; -1 marks a missing annotation.
    true = np.where(targets < 0, INVALID_LABEL, (targets >= 0.5).astype(np.int64))
    return pred, true


def au_f1(scores, targets, from_logits: bool = False) -> dict[str, float]:
    """Binary F1 of each AU's positive class and their mean: {"AU1": .., ..., "mean": ..}.

    ``scores`` [..., K] are probabilities (threshold 0.5) or, with ``from_logits``, logits
    (threshold 0); targets [..., K] are 0/1 (or soft, active from 0.5) with -1 missing.
    """
    pred, true = _au_arrays(scores, targets, from_logits)
    names = AUS if true.shape[1] == len(AUS) else tuple(f"label{i}" for i in range(true.shape[1]))
    per_au = np.array([f1_per_class(pred[:, k], true[:, k], 2)[1] for k in range(true.shape[1])])
    return {
        **{name: float(v) for name, v in zip(names, per_au, strict=True)},
        "mean": _nanmean(per_au),
    }


def au_accuracy(scores, targets, from_logits: bool = False) -> float:
    """Accuracy over every annotated (frame, AU) element (ABAW 2020's "total accuracy")."""
    pred, true = _au_arrays(scores, targets, from_logits)
    return accuracy(pred, true)


# ----------------------------------------------------------------------------- ABAW scores


def abaw_va(pred, true) -> float:
    """ABAW VA score: the mean of valence and arousal CCC."""
    return ccc_va(pred, true)["mean"]


def abaw_au(f1: float, acc: float) -> float:
    """ABAW 2020 AU score: 0.5 * mean F1 + 0.5 * total accuracy."""
    return ABAW_AU_F1_WEIGHT * f1 + (1.0 - ABAW_AU_F1_WEIGHT) * acc


def abaw_expr(f1: float, acc: float) -> float:
    """ABAW expression score: 0.67 * macro F1 + 0.33 * accuracy."""
    return ABAW_EXPR_F1_WEIGHT * f1 + (1.0 - ABAW_EXPR_F1_WEIGHT) * acc


def evaluate_outputs(outputs: dict, targets: dict, au_from_logits: bool = True) -> dict[str, float]:
    """The flat metrics dict the trainer logs and ``avaffect eval`` prints.

    ``outputs`` are what a model returns (``"va"`` [..., 2]; ``"au"`` [..., 8] logits, or
    probabilities with ``au_from_logits=False``; ``"expr"`` [..., 7] any score whose argmax
    is the class: logits, probabilities or ArcFace cosines); ``targets`` use the same keys
    with missing labels marked. Only tasks present in both and with annotated labels appear.
    """
    metrics: dict[str, float] = {}
    if "va" in outputs and "va" in targets:
        va = ccc_va(outputs["va"], targets["va"])
        metrics.update(
            va_ccc_valence=va["valence"], va_ccc_arousal=va["arousal"], va_ccc=va["mean"]
        )
        metrics["abaw_va"] = va["mean"]
    if "au" in outputs and "au" in targets:
        f1 = au_f1(outputs["au"], targets["au"], au_from_logits)["mean"]
        acc = au_accuracy(outputs["au"], targets["au"], au_from_logits)
        metrics.update(au_f1=f1, au_acc=acc, abaw_au=abaw_au(f1, acc))
    if "expr" in outputs and "expr" in targets:
        scores = to_numpy(outputs["expr"])
        pred = scores.reshape(-1, scores.shape[-1]).argmax(-1)
        true, classes = targets["expr"], scores.shape[-1]
        f1, acc = mean_f1(pred, true, classes), accuracy(pred, true)
        metrics.update(expr_f1=f1, expr_acc=acc, expr_mean_diag=mean_diagonal(pred, true, classes))
        metrics["abaw_expr"] = abaw_expr(f1, acc)
    return {name: value for name, value in metrics.items() if not np.isnan(value)}
