"""The model registry: the one path from a name and keyword arguments to a model.

``MODELS`` is the table of every network, in the order ``avaffect models`` lists them: each
entry names its factory through a loader (a function that imports it, see avaffect.lazy), so a
model file is imported when one of its models is built, and the model files import nothing
from here. ``create_model(name, **kw)`` builds one; ``model_from_checkpoint`` rebuilds a saved
one from its own config; ``register_model`` adds a model of your own to the table.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from avaffect.checkpoint import Checkpoint, load_checkpoint
from avaffect.errors import AvaffectError
from avaffect.lazy import Loader

from .base import AffectModel

Factory = Callable[..., AffectModel]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    load: Loader[Factory]  # imports the factory's module and returns the factory
    description: str
    paper_row: str = ""  # what it reproduces, e.g. "MT-VGG (Table 4)"; "" for lite variants
    defaults: dict = field(default_factory=dict)  # bound keyword arguments (a lite variant's width)

    @property
    def factory(self) -> Factory:
        return self.load()


def _vgg():
    from . import vgg

    return vgg


def _sphereface():
    from . import sphereface

    return sphereface


def _inception_resnet():
    from . import inception_resnet

    return inception_resnet


def _arcface():
    from . import arcface

    return arcface


def _recurrent():
    from . import recurrent

    return recurrent


def _audiovisual():
    from . import audiovisual

    return audiovisual


LITE_CPU = "for real time on a CPU"
_TABLE = (
    ModelEntry(
        "st_vgg", lambda: _vgg().st_vgg,
        "single-task VGG16 (VGG-FACE) predicting one of va | au | expr (kwarg task)",
        "ST-VGG (single-task baseline)",
    ),
    ModelEntry("st_vgg_lite", lambda: _vgg().st_vgg, f"ST-VGG at width 0.25 {LITE_CPU}", defaults={"width": 0.25}),
    ModelEntry(
        "mt_vgg", lambda: _vgg().mt_vgg,
        "multi-task VGG16 (VGG-FACE): VA, 8 AUs and 7 expressions on the first fc", "MT-VGG",
    ),
    ModelEntry("mt_vgg_lite", lambda: _vgg().mt_vgg, f"MT-VGG at width 0.25 {LITE_CPU}", defaults={"width": 0.25}),
    ModelEntry(
        "st_sphereface", lambda: _sphereface().st_sphereface,
        "single-task SphereFace-20 predicting one of va | au | expr (kwarg task)",
        "ST-SphereFace (single-task baseline)",
    ),
    ModelEntry(
        "st_sphereface_lite", lambda: _sphereface().st_sphereface,
        f"ST-SphereFace at width 0.25 {LITE_CPU}", defaults={"width": 0.25},
    ),
    ModelEntry(
        "mt_sphereface", lambda: _sphereface().mt_sphereface,
        "multi-task SphereFace-20: VA, 8 AUs and 7 expressions on its 512-d fc", "MT-SphereFace",
    ),
    ModelEntry(
        "mt_sphereface_lite", lambda: _sphereface().mt_sphereface,
        f"MT-SphereFace at width 0.25 {LITE_CPU}", defaults={"width": 0.25},
    ),
    ModelEntry(
        "st_inception_resnet", lambda: _inception_resnet().st_inception_resnet,
        "single-task Inception-ResNet v1 predicting one of va | au | expr (kwarg task)",
        "ST-Inception-ResNet (single-task baseline)",
    ),
    ModelEntry(
        "st_inception_resnet_lite", lambda: _inception_resnet().st_inception_resnet,
        f"ST-Inception-ResNet at width 0.25 with 1/2/1 blocks {LITE_CPU}",
        defaults={"width": 0.25, "blocks": [1, 2, 1]},
    ),
    ModelEntry(
        "mt_inception_resnet", lambda: _inception_resnet().mt_inception_resnet,
        "multi-task Inception-ResNet v1: VA, 8 AUs and 7 expressions on its pooled features",
        "MT-Inception-ResNet",
    ),
    ModelEntry(
        "mt_inception_resnet_lite", lambda: _inception_resnet().mt_inception_resnet,
        f"MT-Inception-ResNet at width 0.25 with 1/2/1 blocks {LITE_CPU}",
        defaults={"width": 0.25, "blocks": [1, 2, 1]},
    ),
    ModelEntry(
        "mt_arcres", lambda: _arcface().mt_arcres,
        "ArcRes residual net with VA/AU heads and an ArcFace expression head (class centres at test time)",
        "MT-ArcRes (ArcFace)",
    ),
    ModelEntry(
        "mt_arcres_lite", lambda: _arcface().mt_arcres,
        f"MT-ArcRes at width 0.25, one unit per stage and a 64-d embedding {LITE_CPU}",
        defaults={"width": 0.25, "units": [1, 1, 1, 1], "embedding_dim": 64},
    ),
    ModelEntry(
        "mt_arcvgg", lambda: _arcface().mt_arcvgg,
        "VGG16 (to its first fc) with VA/AU heads and an ArcFace expression head (class centres at test time)",
        "MT-ArcVGG (ArcFace)",
    ),
    ModelEntry(
        "mt_arcvgg_lite", lambda: _arcface().mt_arcvgg,
        f"MT-ArcVGG at width 0.25 and a 64-d embedding {LITE_CPU}",
        defaults={"width": 0.25, "embedding_dim": 64},
    ),
    ModelEntry(
        "mt_vgg_rnn", lambda: _recurrent().mt_vgg_rnn,
        "MT-VGG trunk to its first fc, a 2-layer GRU (128) and the MT heads, over face sequences",
        "MT-VGG-RNN",
    ),
    ModelEntry(
        "mt_vgg_rnn_lite", lambda: _recurrent().mt_vgg_rnn,
        f"MT-VGG-RNN at width 0.25 {LITE_CPU}", defaults={"width": 0.25},
    ),
    ModelEntry(
        "mt_vgg_rnn_audio", lambda: _recurrent().mt_vgg_rnn_audio,
        "MT-VGG-RNN over the spectrogram alone: the audio stream, trained alone in phase 1",
        "A/V-MT-VGG-RNN audio stream (phase 1)",
    ),
    ModelEntry(
        "mt_vgg_rnn_audio_lite", lambda: _recurrent().mt_vgg_rnn_audio,
        f"audio MT-VGG-RNN at width 0.125 {LITE_CPU}", defaults={"width": 0.125},
    ),
    ModelEntry(
        "av_mt_vgg_rnn", lambda: _audiovisual().av_mt_vgg_rnn,
        "face and spectrogram MT-VGG-RNN streams fused by a 2-layer GRU (128), then the MT heads",
        "A/V-MT-VGG-RNN",
    ),
    ModelEntry(
        "av_mt_vgg_rnn_lite", lambda: _audiovisual().av_mt_vgg_rnn,
        f"A/V-MT-VGG-RNN at width 0.25 (audio stream 0.125, as mt_vgg_rnn_audio_lite) {LITE_CPU}",
        defaults={"width": 0.25, "audio_width": 0.125},
    ),
)

#: model name -> its entry, in the order ``avaffect models`` lists them
MODELS: dict[str, ModelEntry] = {entry.name: entry for entry in _TABLE}


def register_model(
    name: str, factory: Factory, description: str, paper_row: str = "", **defaults
) -> ModelEntry:
    """Add a model of your own to the table (``defaults`` are bound keyword arguments), so that
    ``create_model``, ``avaffect models`` and checkpoints naming it find it."""
    if name in MODELS:
        raise ValueError(f"model {name!r} registered twice")
    MODELS[name] = entry = ModelEntry(name, lambda: factory, description, paper_row, dict(defaults))
    return entry


def list_models() -> list[ModelEntry]:
    return list(MODELS.values())


def _entry(name: str) -> ModelEntry:
    if name not in MODELS:
        raise AvaffectError(f"unknown model {name!r}; `avaffect models` lists the {len(MODELS)} known ones")
    return MODELS[name]


def model_options(name: str) -> set[str]:
    """The keyword arguments a registered model's factory takes (``face_size``,
    ``mirror_average``, ...): what a caller may add to a config without guessing."""
    return set(inspect.signature(_entry(name).factory).parameters)


def create_model(name: str, **kwargs) -> AffectModel:
    """Build a registered model; ``kwargs`` override the entry's defaults."""
    entry = _entry(name)
    try:
        return entry.factory(**{**entry.defaults, **kwargs})
    except TypeError as err:
        raise AvaffectError(f"model {name!r}: bad arguments {kwargs} ({err})") from None


def model_from_checkpoint(path_or_ckpt: str | os.PathLike | Checkpoint) -> tuple[AffectModel, Checkpoint]:
    """Rebuild a model from a checkpoint's own config and load its weights (eval mode)."""
    ckpt = path_or_ckpt if isinstance(path_or_ckpt, Checkpoint) else load_checkpoint(path_or_ckpt)
    model = create_model(ckpt.config.model, **ckpt.config.model_kwargs)
    result = model.load_state_dict(ckpt.state_dict, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise AvaffectError(
            f"{ckpt.path}: weights do not match model {ckpt.config.model!r} "
            f"(missing {result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]})"
        )
    return model.eval(), ckpt
