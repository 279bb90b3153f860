"""Whether an ArcFace run is healthy: its class weights must stay apart.

With few, noisy classes and a large scale, the ArcFace loss can be lowest where every class
weight and every embedding point one way (train/objectives/losses.py: arcface_collapse_loss). The
training loss then still falls while accuracy drops, so the trainer checks the weights at
every validation and says what to change.
"""

from __future__ import annotations

from torch import nn

from avaffect.train.objectives.losses import arcface_collapse_loss

#: cosine between two ArcFace class weights above which the run is warned that they collapsed
#: (healthy weights of 7 classes sit at cosines of -1/6 to 0.3; a collapsed FER2013 run reached 1.00)
COLLAPSED_COSINE = 0.9


def arcface_collapse_warning(model: nn.Module) -> str:
    """A one-line warning when an ArcFace model's class weights have collapsed; "" otherwise."""
    if not getattr(model, "arcface", False):
        return ""
    cosine, first, second = model.closest_classes()
    if cosine < COLLAPSED_COSINE:
        return ""
    floor = arcface_collapse_loss(model.scale, model.margin, len(model.arcface_weight))
    return (
        f"warning: the ArcFace class weights of {first} and {second} point the same way (cosine "
        f"{cosine:.2f}): the classes are collapsing, a state whose loss ({floor:.2f}) the scale "
        f"{model.scale:g} makes cheaper than separating them; lower model.kwargs.scale (try "
        f"{model.scale / 2:g}), grow the margin in (loss.margin_warmup_steps) or start from a "
        "trained trunk (model.init_from)"
    )
