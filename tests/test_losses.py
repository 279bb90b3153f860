"""The training losses on hand-worked cases, including missing labels (Aff-Wild2's markers)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from avaffect.errors import AvaffectError
from avaffect.labels import INVALID_LABEL, INVALID_VA
from avaffect.train.objectives.losses import (
    MultiTaskLoss,
    arcface_collapse_loss,
    arcface_loss,
    bce_loss,
    ccc_loss,
    cce_loss,
    mse_loss,
)


@pytest.fixture
def rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _va(rng: torch.Generator, n: int = 32) -> torch.Tensor:
    return torch.rand(n, 2, generator=rng) * 2 - 1


def _assert_attached_zero(loss: torch.Tensor, leaf: torch.Tensor) -> None:
    assert loss.item() == 0.0
    loss.backward()
    assert leaf.grad is not None and torch.all(leaf.grad == 0)


# ----------------------------------------------------------------------------- CCC (eq. 3)


def test_ccc_loss_is_zero_for_a_perfect_prediction(rng):
    target = _va(rng)
    assert ccc_loss(target.clone(), target).item() == pytest.approx(0.0, abs=1e-6)


def test_ccc_loss_is_one_for_a_constant_prediction(rng):
    target = _va(rng)
    assert ccc_loss(torch.full_like(target, 0.3), target).item() == pytest.approx(1.0)


def test_ccc_loss_is_two_for_an_anti_correlated_prediction(rng):
    target = _va(rng)
    target = target - target.mean(0)  # zero mean, so -target is concordant with CCC -1
    assert ccc_loss(-target, target).item() == pytest.approx(2.0, abs=1e-5)


def test_ccc_loss_matches_hand_worked_values():
    # valence: pred [1, 2, 3] vs [1, 2, 4]: means 2, 7/3; var 2/3, 14/9; cov 1;
    # CCC = 2 / (2/3 + 14/9 + 1/9) = 6/7. arousal: pred = target, CCC 1.
    pred = torch.tensor([[1.0, 0.1], [2.0, 0.2], [3.0, 0.4]])
    target = torch.tensor([[1.0, 0.1], [2.0, 0.2], [4.0, 0.4]])
    assert ccc_loss(pred, target).item() == pytest.approx(1 - (6 / 7 + 1) / 2, abs=1e-6)


def test_ccc_loss_masks_missing_rows_like_dropping_them(rng):
    pred, target = _va(rng), _va(rng)
    masked = target.clone()
    masked[::3] = INVALID_VA
    keep = torch.ones(len(target), dtype=torch.bool)
    keep[::3] = False
    assert ccc_loss(pred, masked).item() == pytest.approx(ccc_loss(pred[keep], target[keep]).item())


def test_ccc_loss_flattens_sequences(rng):
    pred, target = _va(rng, 24), _va(rng, 24)
    sequence = ccc_loss(pred.reshape(4, 6, 2), target.reshape(4, 6, 2))
    assert sequence.item() == pytest.approx(ccc_loss(pred, target).item())


def test_ccc_loss_without_labels_is_an_attached_zero(rng):
    pred = _va(rng).requires_grad_()
    _assert_attached_zero(ccc_loss(pred, torch.full_like(pred, INVALID_VA)), pred)


def test_ccc_loss_gradient_improves_the_prediction(rng):
    pred, target = _va(rng).requires_grad_(), _va(rng)
    loss = ccc_loss(pred, target)
    loss.backward()
    with torch.no_grad():
        assert ccc_loss(pred - 0.1 * pred.grad, target) < loss


# ----------------------------------------------------------------------------- MSE


def test_mse_loss_masks_missing_values(rng):
    pred, target = _va(rng), _va(rng)
    masked = target.clone()
    masked[:5, 0] = INVALID_VA
    masked[7, :] = INVALID_VA
    keep = masked != INVALID_VA
    assert mse_loss(pred, masked).item() == pytest.approx(
        F.mse_loss(pred[keep], target[keep]).item()
    )


def test_mse_loss_without_labels_is_an_attached_zero(rng):
    pred = _va(rng).requires_grad_()
    _assert_attached_zero(mse_loss(pred, torch.full_like(pred, INVALID_VA)), pred)


# ----------------------------------------------------------------------------- CCE


def test_cce_loss_masks_missing_labels_like_dropping_them(rng):
    logits = torch.randn(10, 7, generator=rng)
    labels = torch.tensor([0, 1, 2, 3, 4, 5, 6, 0, 1, 2])
    masked = labels.clone()
    masked[[1, 4, 8]] = INVALID_LABEL
    keep = masked != INVALID_LABEL
    weights = torch.linspace(0.5, 2.0, 7)
    expected = F.cross_entropy(logits[keep], labels[keep], weight=weights, label_smoothing=0.1)
    got = cce_loss(logits, masked, class_weights=weights, label_smoothing=0.1)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_cce_loss_of_uniform_logits_is_log_num_classes():
    loss = cce_loss(torch.zeros(4, 7), torch.tensor([0, 3, 6, 2]))
    assert loss.item() == pytest.approx(math.log(7))


def test_cce_loss_without_labels_is_an_attached_zero(rng):
    logits = torch.randn(6, 7, generator=rng, requires_grad=True)
    _assert_attached_zero(cce_loss(logits, torch.full((6,), INVALID_LABEL)), logits)


# ----------------------------------------------------------------------------- BCE


def test_bce_loss_masks_per_element(rng):
    logits = torch.randn(8, 8, generator=rng)
    targets = (torch.rand(8, 8, generator=rng) > 0.5).float()
    masked = targets.clone()
    masked[0] = INVALID_LABEL
    masked[3, 2:5] = INVALID_LABEL
    keep = masked >= 0
    expected = F.binary_cross_entropy_with_logits(logits[keep], targets[keep])
    assert bce_loss(logits, masked).item() == pytest.approx(expected.item(), rel=1e-6)


def test_bce_loss_accepts_soft_targets():
    # BCE(x=0, y) = log 2 whatever y is; at the optimum x = logit(y) it equals the entropy of y.
    assert bce_loss(torch.zeros(1, 8), torch.full((1, 8), 0.3)).item() == pytest.approx(math.log(2))
    entropy = -(0.3 * math.log(0.3) + 0.7 * math.log(0.7))
    optimum = torch.full((1, 8), math.log(0.3 / 0.7))
    assert bce_loss(optimum, torch.full((1, 8), 0.3)).item() == pytest.approx(entropy, rel=1e-5)


def test_bce_loss_without_labels_is_an_attached_zero(rng):
    logits = torch.randn(3, 8, generator=rng, requires_grad=True)
    _assert_attached_zero(bce_loss(logits, torch.full((3, 8), float(INVALID_LABEL))), logits)


# ----------------------------------------------------------------------------- ArcFace


def _cosines(rng: torch.Generator, n: int = 12) -> torch.Tensor:
    return torch.rand(n, 7, generator=rng) * 1.6 - 0.8


def test_arcface_loss_without_margin_is_cce_on_scaled_cosines(rng):
    cosine, labels = _cosines(rng), torch.arange(12) % 7
    expected = F.cross_entropy(30.0 * cosine, labels)
    assert arcface_loss(cosine, labels, scale=30.0, margin=0.0).item() == pytest.approx(
        expected.item(), rel=1e-5
    )


def test_arcface_margin_makes_the_loss_larger(rng):
    cosine, labels = _cosines(rng), torch.arange(12) % 7
    losses = [arcface_loss(cosine, labels, scale=16.0, margin=m).item() for m in (0.0, 0.2, 0.5)]
    assert losses[0] < losses[1] < losses[2]


def test_arcface_target_logit_is_cos_theta_plus_margin():
    # One row, target class 0 at theta = 60 degrees, m = 0.5: the logit becomes cos(60deg + 0.5).
    cosine = torch.tensor([[0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    scale, margin = 10.0, 0.5
    logits = torch.tensor([[math.cos(math.pi / 3 + margin), 0, 0, 0, 0, 0, 0]]) * scale
    expected = F.cross_entropy(logits, torch.tensor([0]))
    got = arcface_loss(cosine, torch.tensor([0]), scale, margin)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_arcface_past_pi_uses_the_monotone_fallback_and_stays_finite():
    # theta close to pi: theta + m > pi, so the target logit is cos(theta) - m sin(m).
    margin, scale = 0.5, 8.0
    cosine = torch.tensor([[-0.99, 0.1, 0.2, 0.0, -0.1, 0.3, 0.0], [-1.0, 0, 0, 0, 0, 0, 0]])
    cosine.requires_grad_()
    labels = torch.tensor([0, 0])
    loss = arcface_loss(cosine, labels, scale, margin)
    loss.backward()
    assert torch.isfinite(loss) and torch.all(torch.isfinite(cosine.grad))
    fallback = cosine.detach().clone()
    fallback[:, 0] -= margin * math.sin(margin)
    assert loss.item() == pytest.approx(F.cross_entropy(scale * fallback, labels).item(), rel=1e-5)
    assert loss.item() > arcface_loss(cosine.detach(), labels, scale, 0.0).item()


def test_arcface_loss_masks_missing_labels(rng):
    cosine = _cosines(rng)
    labels = torch.arange(12) % 7
    masked = labels.clone()
    masked[::2] = INVALID_LABEL
    expected = arcface_loss(cosine[1::2], labels[1::2], 16.0, 0.3)
    assert arcface_loss(cosine, masked, 16.0, 0.3).item() == pytest.approx(
        expected.item(), rel=1e-5
    )
    leaf = cosine.clone().requires_grad_()
    _assert_attached_zero(arcface_loss(leaf, torch.full((12,), INVALID_LABEL), 16.0, 0.3), leaf)


@pytest.mark.parametrize("scale, margin", [(30.0, 0.3), (10.0, 0.3), (64.0, 0.5)])
def test_arcface_collapse_loss_is_the_loss_when_every_cosine_is_one(scale, margin):
    labels = torch.arange(14) % 7
    collapsed = arcface_loss(torch.ones(14, 7), labels, scale, margin)
    # (1 - cos^2 is clamped at 1e-7 before the square root, which moves the loss by < 0.01)
    assert collapsed.item() == pytest.approx(arcface_collapse_loss(scale, margin, 7), abs=0.02)


def test_a_large_scale_makes_collapse_cheaper_than_a_few_misclassified_faces():
    # every face at cosine 0.7 to its class; one in four (FER2013's label noise is about that)
    # at cosine 1 to a wrong one
    labels = torch.arange(28) % 7
    cosine = torch.zeros(28, 7)
    cosine[torch.arange(28), labels] = 0.7
    cosine[torch.arange(0, 28, 4), (labels[::4] + 1) % 7] = 1.0
    separated = {s: arcface_loss(cosine, labels, s, 0.3).item() for s in (10.0, 30.0)}
    assert separated[30.0] > arcface_collapse_loss(30.0, 0.3, 7)  # collapse wins at s = 30
    assert separated[10.0] < arcface_collapse_loss(10.0, 0.3, 7)  # and loses at s = 10


# ----------------------------------------------------------------------------- multi-task


def _outputs(rng: torch.Generator, *lead: int) -> dict[str, torch.Tensor]:
    return {
        "va": torch.tanh(torch.randn(*lead, 2, generator=rng)).requires_grad_(),
        "au": torch.randn(*lead, 8, generator=rng, requires_grad=True),
        "expr": torch.randn(*lead, 7, generator=rng, requires_grad=True),
    }


def _targets(rng: torch.Generator, *lead: int) -> dict[str, torch.Tensor]:
    return {
        "va": torch.rand(*lead, 2, generator=rng) * 2 - 1,
        "au": (torch.rand(*lead, 8, generator=rng) > 0.5).float(),
        "expr": torch.randint(0, 7, lead, generator=rng),
    }


def test_multitask_total_is_the_weighted_sum_of_the_terms(rng):
    outputs, targets = _outputs(rng, 16), _targets(rng, 16)
    loss = MultiTaskLoss(va_weight=2.0, au_weight=0.5, expr_weight=1.5, va_loss="ccc+mse")
    total, parts = loss(outputs, targets)
    va = ccc_loss(outputs["va"], targets["va"]) + mse_loss(outputs["va"], targets["va"])
    au = bce_loss(outputs["au"], targets["au"])
    expr = cce_loss(outputs["expr"], targets["expr"])
    assert parts == pytest.approx({"va": va.item(), "au": au.item(), "expr": expr.item()})
    assert total.item() == pytest.approx(2.0 * va.item() + 0.5 * au.item() + 1.5 * expr.item())
    total.backward()
    assert all(out.grad is not None for out in outputs.values())


def test_multitask_uses_only_tasks_present_in_outputs_and_targets(rng):
    outputs, targets = _outputs(rng, 8), _targets(rng, 8)
    del outputs["au"], targets["va"]
    total, parts = MultiTaskLoss()(outputs, targets)
    assert set(parts) == {"expr"}
    assert total.item() == pytest.approx(parts["expr"])


def test_multitask_flattens_sequences(rng):
    outputs, targets = _outputs(rng, 3, 5), _targets(rng, 3, 5)
    flat_outputs = {k: v.detach().reshape(15, -1) for k, v in outputs.items()}
    flat_targets = {
        k: v.reshape(15, -1) if k != "expr" else v.reshape(15) for k, v in targets.items()
    }
    assert MultiTaskLoss()(outputs, targets)[0].item() == pytest.approx(
        MultiTaskLoss()(flat_outputs, flat_targets)[0].item()
    )


def test_multitask_with_every_label_missing_is_a_differentiable_zero(rng):
    outputs = _outputs(rng, 4)
    targets = {
        "va": torch.full((4, 2), INVALID_VA),
        "au": torch.full((4, 8), float(INVALID_LABEL)),
        "expr": torch.full((4,), INVALID_LABEL),
    }
    total, parts = MultiTaskLoss(va_loss="ccc+mse")(outputs, targets)
    assert total.item() == 0.0 and parts == {"va": 0.0, "au": 0.0, "expr": 0.0}
    total.backward()
    assert all(torch.all(out.grad == 0) for out in outputs.values())


class _TinyArcFace(nn.Module):
    """The ArcFace interface MultiTaskLoss relies on: class centres, scale, margin."""

    arcface = True
    scale, margin = 16.0, 0.4

    def __init__(self) -> None:
        super().__init__()
        self.centres = nn.Parameter(torch.randn(7, 4, generator=torch.Generator().manual_seed(1)))

    def arcface_cosine(self, embedding: torch.Tensor) -> torch.Tensor:
        return F.normalize(embedding, dim=-1) @ F.normalize(self.centres, dim=-1).T


def test_multitask_uses_the_arcface_term_for_arcface_models(rng):
    model = _TinyArcFace()
    embedding = F.normalize(torch.randn(2, 3, 4, generator=rng), dim=-1)
    labels = torch.tensor([[0, 1, INVALID_LABEL], [3, 6, 2]])
    total, parts = MultiTaskLoss(expr_weight=2.0)({"embedding": embedding}, {"expr": labels}, model)
    expected = arcface_loss(
        model.arcface_cosine(embedding.reshape(6, 4)), labels.reshape(6), 16.0, 0.4
    )
    assert parts["expr"] == pytest.approx(expected.item())
    assert total.item() == pytest.approx(2.0 * expected.item())
    total.backward()
    assert model.centres.grad is not None and model.centres.grad.abs().sum() > 0


def test_arcface_margin_warms_up_linearly_over_its_steps(rng):
    model = _TinyArcFace()  # margin 0.4
    embedding = F.normalize(torch.randn(6, 4, generator=rng), dim=-1)
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    cosine = model.arcface_cosine(embedding)
    loss = MultiTaskLoss(margin_warmup_steps=4)

    def expr_at(step):
        return loss({"embedding": embedding}, {"expr": labels}, model, step=step)[1]["expr"]

    for step, margin in [(0, 0.1), (1, 0.2), (3, 0.4), (100, 0.4), (None, 0.4)]:
        assert expr_at(step) == pytest.approx(arcface_loss(cosine, labels, 16.0, margin).item())
    assert MultiTaskLoss()({"embedding": embedding}, {"expr": labels}, model, step=0)[1]["expr"] == (
        pytest.approx(arcface_loss(cosine, labels, 16.0, 0.4).item())  # no warm-up: full margin
    )
    with pytest.raises(AvaffectError, match="margin_warmup_steps"):
        MultiTaskLoss(margin_warmup_steps=-1)


def test_multitask_rejects_bad_configuration_and_disjoint_tasks(rng):
    with pytest.raises(AvaffectError, match="VA loss"):
        MultiTaskLoss(va_loss="l1")
    with pytest.raises(AvaffectError, match="weight"):
        MultiTaskLoss(au_weight=-1.0)
    with pytest.raises(AvaffectError, match="no task in common"):
        MultiTaskLoss()({"va": torch.zeros(2, 2)}, {"expr": torch.zeros(2, dtype=torch.long)})


def test_losses_of_half_precision_outputs_are_float32_and_finite(rng):
    # What a model returns under mixed precision: the losses still work in float32.
    outputs = {k: v.detach().bfloat16().requires_grad_() for k, v in _outputs(rng, 8).items()}
    outputs["va"] = torch.full((8, 2), 0.25, dtype=torch.bfloat16, requires_grad=True)  # constant
    targets = _targets(rng, 8)
    loss = MultiTaskLoss(va_loss="ccc+mse", expr_class_weights=(1.0,) * 7, au_pos_weight=(2.0,) * 8)
    total, parts = loss(outputs, targets)
    assert total.dtype == torch.float32 and torch.isfinite(total)
    assert parts["va"] == pytest.approx(1.0 + mse_loss(outputs["va"].float(), targets["va"]).item())
    total.backward()
    assert all(torch.isfinite(out.grad.float()).all() for out in outputs.values())
