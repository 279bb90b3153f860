"""The model registry: the one path from a name and keyword arguments to a model.

Model files register their factories with ``@register_model``; ``create_model(name, **kw)``
builds one; ``model_from_checkpoint`` rebuilds a saved one from its own config.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass

from avaffect.checkpoint import Checkpoint, load_checkpoint
from avaffect.errors import AvaffectError

from .base import AffectModel


@dataclass(frozen=True)
class ModelEntry:
    name: str
    factory: Callable[..., AffectModel]
    description: str
    paper_row: str  # what it reproduces, e.g. "MT-VGG (Table 4)"; "" for lite variants
    defaults: dict


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, description: str, paper_row: str = "", **defaults):
    """Decorator: register ``factory`` under ``name``; ``defaults`` are bound keyword arguments
    (this is how a "lite" variant is the same factory with a smaller width)."""

    def wrap(factory: Callable[..., AffectModel]) -> Callable[..., AffectModel]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = ModelEntry(name, factory, description, paper_row, dict(defaults))
        return factory

    return wrap


def _ensure_loaded() -> None:
    from . import zoo  # noqa: F401  (importing registers every model)


def list_models() -> list[ModelEntry]:
    _ensure_loaded()
    return list(_REGISTRY.values())


def _entry(name: str) -> ModelEntry:
    _ensure_loaded()
    if name not in _REGISTRY:
        raise AvaffectError(f"unknown model {name!r}; `avaffect models` lists the {len(_REGISTRY)} known ones")
    return _REGISTRY[name]


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
