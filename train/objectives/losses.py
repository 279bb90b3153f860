"""Training losses for the three tasks, each ignoring missing labels.

Aff-Wild2 marks a missing annotation with a sentinel (VA -5, AU and expression -1; see
:mod:`avaffect.labels`), and one frame may carry some tasks and not others. Every loss here
therefore averages over the valid labels only, and when a batch has no valid label for a
task it returns a zero that is still connected to the predictions, so ``backward()`` works
(and every parameter receives a gradient, which distributed training insists on).

The masking is done with weights rather than boolean indexing: no host-device sync and no
shape that depends on the data, so the losses also run inside CUDA graphs / torch.compile.

Shapes may be ``[B, ...]`` or ``[B, T, ...]`` (sequence models): leading dims are flattened.
Everything is computed in float32 whatever the predictions' dtype: under mixed precision the
model returns float16, in which batch variances lose their digits and the guards underflow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from avaffect.errors import AvaffectError
from avaffect.labels import INVALID_LABEL, INVALID_VA

VA_LOSSES = ("ccc", "mse", "ccc+mse")

# VA lives in [-1, 1]; the missing marker is -5. Anything below this threshold (or NaN) is
# missing, so a marker stored as float16 or written as -5.0000001 still counts as missing.
_VA_MISSING_BELOW = (INVALID_VA + -1.0) / 2.0  # -3.0


def va_valid_mask(target: torch.Tensor) -> torch.Tensor:
    """True where a valence/arousal target is annotated (not the -5 marker, not NaN)."""
    return target > _VA_MISSING_BELOW


def _masked_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean that is an attached zero (not NaN) when every weight is zero."""
    return (values * weights).sum() / weights.sum().clamp_min(1e-12)


def cce_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """Categorical cross-entropy over the labelled rows: logits [..., C], labels [...] long (-1 missing).

    With ``class_weights`` the mean is weighted as in :func:`torch.nn.functional.cross_entropy`
    (divided by the summed weights of the targets).
    """
    logits = logits.reshape(-1, logits.shape[-1]).float()
    labels = labels.reshape(-1).long()
    if class_weights is not None:
        class_weights = class_weights.float()
    per_row = F.cross_entropy(
        logits,
        labels,
        weight=class_weights,
        ignore_index=INVALID_LABEL,
        reduction="none",
        label_smoothing=label_smoothing,
    )
    valid = labels != INVALID_LABEL
    row_weight = valid.to(per_row.dtype)
    if class_weights is not None:
        row_weight = row_weight * class_weights[labels.clamp_min(0)]
    # per_row already carries each row's class weight; the denominator is their sum.
    return per_row.sum() / row_weight.sum().clamp_min(1e-12)


def bce_loss(
    logits: torch.Tensor, targets: torch.Tensor, pos_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Binary cross-entropy per AU, averaged over annotated elements: logits and targets [..., K].

    Targets are in [0, 1] (soft targets allowed, e.g. AUs inferred from an expression through
    expression->AU priors) or -1 where missing; masking is per element.
    """
    logits = logits.reshape(-1, logits.shape[-1]).float()
    targets = targets.reshape(-1, targets.shape[-1]).float()
    valid = (targets >= 0).to(logits.dtype)
    per_element = F.binary_cross_entropy_with_logits(
        logits,
        targets.clamp(0.0, 1.0),
        pos_weight=None if pos_weight is None else pos_weight.float(),
        reduction="none",
    )
    return _masked_mean(per_element, valid)


def batch_ccc(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Concordance correlation per dimension over the annotated rows: [N, D] -> (ccc [D], valid [D]).

    ``valid`` is 1 for a dimension with at least one annotated row. A dimension whose
    predictions and targets are both constant has CCC 0 (the denominator is guarded).
    """
    mask = va_valid_mask(target).to(pred.dtype)
    target = torch.where(mask > 0, target, torch.zeros_like(target))
    count = mask.sum(0).clamp_min(1.0)
    mean_p = (pred * mask).sum(0) / count
    mean_t = (target * mask).sum(0) / count
    dev_p, dev_t = (pred - mean_p) * mask, (target - mean_t) * mask
    var_p, var_t = (dev_p**2).sum(0) / count, (dev_t**2).sum(0) / count
    cov = (dev_p * dev_t).sum(0) / count
    ccc = 2.0 * cov / (var_p + var_t + (mean_p - mean_t) ** 2 + 1e-8)
    return ccc, (mask.sum(0) > 0).to(pred.dtype)


def ccc_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The paper's eq. 3: ``1 - (CCC_v + CCC_a) / 2`` over the annotated rows; pred, target [..., 2].

    CCC is computed over the whole (flattened) batch, per dimension; a dimension without any
    annotated row is left out of the mean, and with none at all the loss is an attached zero.
    """
    pred = pred.reshape(-1, pred.shape[-1]).float()
    target = target.reshape(-1, target.shape[-1]).float()
    ccc, dim_valid = batch_ccc(pred, target)
    return _masked_mean(1.0 - ccc, dim_valid)


def mse_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over annotated VA elements; pred, target [..., 2]."""
    pred, target = pred.float(), target.float()
    mask = va_valid_mask(target)
    squared = (pred - torch.where(mask, target, torch.zeros_like(target))) ** 2
    return _masked_mean(squared, mask.to(pred.dtype))


def arcface_margin_logits(
    cosine: torch.Tensor, labels: torch.Tensor, margin: float
) -> torch.Tensor:
    """Replace each labelled row's target cosine cos(theta) by cos(theta + m).

    Where theta + m would pass pi, cos(theta + m) stops decreasing in theta (the margin would
    then reward moving away from the class centre), so, as insightface does, the target logit
    there is ``cos(theta) - m * sin(m)``: still monotone and continuous at the switch point
    ``cos(theta) = cos(pi - m)``.
    """
    cos_m, sin_m = math.cos(margin), math.sin(margin)
    threshold, fallback = math.cos(math.pi - margin), margin * math.sin(margin)
    sine = torch.sqrt((1.0 - cosine**2).clamp_min(1e-7))
    with_margin = cosine * cos_m - sine * sin_m
    with_margin = torch.where(cosine > threshold, with_margin, cosine - fallback)
    valid = labels != INVALID_LABEL
    one_hot = F.one_hot(labels.clamp_min(0), cosine.shape[-1]).bool() & valid[:, None]
    return torch.where(one_hot, with_margin, cosine)


def arcface_loss(
    cosine: torch.Tensor,
    labels: torch.Tensor,
    scale: float = 64.0,
    margin: float = 0.5,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Additive angular margin loss: CCE on ``scale * cos(theta_y + m)`` (ArcFace).

    ``cosine`` [..., C] are cosines between normalised embeddings and class centres; labels
    [...] long, -1 missing. With ``margin=0`` this is CCE on ``scale * cosine``.
    """
    cosine = cosine.reshape(-1, cosine.shape[-1]).float()
    labels = labels.reshape(-1).long()
    logits = arcface_margin_logits(cosine, labels, margin)
    return cce_loss(scale * logits, labels, class_weights=class_weights)


def arcface_collapse_loss(scale: float, margin: float, classes: int) -> float:
    """The ArcFace loss per sample when every class weight and every embedding point one way.

    There every cosine is 1 and the target's is cos(m), so the loss is
    ``log(1 + (C - 1) exp(s (1 - cos m)))`` whatever the labels: 3.2 at s = 30, m = 0.3, C = 7.
    A misclassified face costs about ``s`` times its cosine gap, so on noisy data with few
    classes a large scale can make this collapse cheaper than separating the classes; training
    then slides into it (a 7-class FER2013 run at s = 30 did, PublicTest accuracy 0.68 -> 0.45).
    """
    return math.log1p((classes - 1) * math.exp(scale * (1.0 - math.cos(margin))))


@dataclass
class MultiTaskLoss:
    """The weighted sum of the per-task losses of the tasks present in outputs and targets.

    ``va_loss`` picks the VA term: ``"ccc"`` (the paper), ``"mse"`` or ``"ccc+mse"`` (their
    sum). For a model with an ArcFace head the expression term is :func:`arcface_loss` on
    ``model.arcface_cosine(outputs["embedding"])`` with the model's own scale and margin.
    """

    va_weight: float = 1.0
    au_weight: float = 1.0
    expr_weight: float = 1.0
    va_loss: str = "ccc"
    label_smoothing: float = 0.0
    expr_class_weights: tuple[float, ...] | None = None
    au_pos_weight: tuple[float, ...] | None = None
    #: ArcFace: the margin grows linearly from 0 to the model's over this many steps. At margin
    #: 0 the loss is a softmax on scaled cosines, whose uninformative state costs log 7; with the
    #: margin from the first step an untrained net is pulled into class collapse
    #: (:func:`arcface_collapse_loss`) before it can separate the classes.
    margin_warmup_steps: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.margin_warmup_steps, bool) or not isinstance(self.margin_warmup_steps, int) \
                or self.margin_warmup_steps < 0:
            raise AvaffectError(
                f"loss.margin_warmup_steps must be a whole number of steps >= 0, got {self.margin_warmup_steps!r}"
            )
        if self.va_loss not in VA_LOSSES:
            raise AvaffectError(f"VA loss {self.va_loss!r} is unknown; use one of {VA_LOSSES}")
        for name in ("va_weight", "au_weight", "expr_weight"):
            if getattr(self, name) < 0:
                raise AvaffectError(f"loss weight {name} must be >= 0, got {getattr(self, name)}")

    def weights(self) -> dict[str, float]:
        return {"va": self.va_weight, "au": self.au_weight, "expr": self.expr_weight}

    def __call__(
        self,
        outputs: dict[str, torch.Tensor],
        targets: dict[str, torch.Tensor],
        model: torch.nn.Module | None = None,
        step: int | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return ``(total, parts)``: the weighted sum to backpropagate, and each task's
        unweighted term as a float for logging. ``step`` (0-based; None: past any warm-up)
        places the ArcFace margin on its warm-up ramp."""
        terms: dict[str, torch.Tensor] = {}
        if "va" in outputs and "va" in targets:
            terms["va"] = self._va_term(outputs["va"], targets["va"])
        if "au" in outputs and "au" in targets:
            terms["au"] = bce_loss(
                outputs["au"], targets["au"], self._tensor(self.au_pos_weight, outputs["au"])
            )
        if "expr" in targets and ("expr" in outputs or "embedding" in outputs):
            terms["expr"] = self._expr_term(outputs, targets["expr"], model, step)
        if not terms:
            raise AvaffectError(
                f"the loss has no task in common between the model outputs {sorted(outputs)} and "
                f"the targets {sorted(targets)}; check the dataset's tasks against the model's"
            )
        weights = self.weights()
        total = sum(weights[task] * term for task, term in terms.items())
        return total, {task: float(term.detach()) for task, term in terms.items()}

    def _va_term(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.va_loss == "ccc":
            return ccc_loss(pred, target)
        if self.va_loss == "mse":
            return mse_loss(pred, target)
        return ccc_loss(pred, target) + mse_loss(pred, target)

    def margin_fraction(self, step: int | None) -> float:
        """How much of the ArcFace margin applies at ``step`` (0-based)."""
        if not self.margin_warmup_steps or step is None:
            return 1.0
        return min(1.0, (step + 1) / self.margin_warmup_steps)

    def _expr_term(
        self,
        outputs: dict[str, torch.Tensor],
        labels: torch.Tensor,
        model: torch.nn.Module | None,
        step: int | None,
    ) -> torch.Tensor:
        if model is not None and getattr(model, "arcface", False):
            if "embedding" not in outputs:
                raise ValueError("an ArcFace model must return an 'embedding' output for its loss")
            embedding = outputs["embedding"]
            cosine = model.arcface_cosine(embedding.reshape(-1, embedding.shape[-1]))
            weights = self._tensor(self.expr_class_weights, cosine)
            margin = model.margin * self.margin_fraction(step)
            return arcface_loss(cosine, labels, model.scale, margin, class_weights=weights)
        if "expr" not in outputs:
            raise ValueError(
                "expression targets given but no 'expr' logits in the outputs "
                "(for an ArcFace model, pass model= so that its embedding is used)"
            )
        logits = outputs["expr"]
        weights = self._tensor(self.expr_class_weights, logits)
        return cce_loss(logits, labels, class_weights=weights, label_smoothing=self.label_smoothing)

    @staticmethod
    def _tensor(values: tuple[float, ...] | None, like: torch.Tensor) -> torch.Tensor | None:
        return (
            None
            if values is None
            else torch.tensor(values, dtype=torch.float32, device=like.device)
        )
