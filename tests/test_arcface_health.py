"""The trainer warns, once and in one line, when an ArcFace model's class weights collapse."""

from __future__ import annotations

import torch

from avaffect.train.models import create_model
from avaffect.train.objectives.arcface_health import arcface_collapse_warning

TINY = {"width": 0.125, "face_size": 32, "embedding_dim": 16}


def test_fresh_class_weights_are_apart_and_raise_no_warning() -> None:
    model = create_model("mt_arcvgg", **TINY)
    cosine, first, second = model.closest_classes()
    assert cosine < 0.9 and first != second
    assert arcface_collapse_warning(model) == ""


def test_collapsed_class_weights_are_named_with_the_fix() -> None:
    model = create_model("mt_arcvgg", scale=30.0, margin=0.3, **TINY)
    with torch.no_grad():
        model.arcface_weight[2] = model.arcface_weight[5] * 3.0  # same direction, other length
    cosine, first, second = model.closest_classes()
    assert cosine > 0.999 and {first, second} == {"Disgust", "Sadness"}
    warning = arcface_collapse_warning(model)
    assert "Disgust" in warning and "Sadness" in warning and "\n" not in warning
    assert "(3.17)" in warning  # the collapsed loss at s = 30
    assert "model.kwargs.scale (try 15)" in warning and "loss.margin_warmup_steps" in warning


def test_models_without_an_arcface_head_are_not_checked() -> None:
    assert arcface_collapse_warning(create_model("mt_vgg", width=0.125, face_size=32)) == ""
