"""The model zoo of Kollias & Zafeiriou (BMVC 2019) behind one registry.

``create_model(name, **kwargs)`` builds any registered model (``avaffect models`` lists
them); ``model_from_checkpoint(path)`` rebuilds a saved one from its own config.

The names are loaded on first use (PEP 562), so that importing ``avaffect.train.models.cli``
to build the command line does not import torch: ``avaffect --help`` stays instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "AffectModel": ".base",
    "create_model": ".registry",
    "list_models": ".registry",
    "model_from_checkpoint": ".registry",
    "register_model": ".registry",
}
__all__ = ["AffectModel", "create_model", "list_models", "model_from_checkpoint", "register_model"]

if TYPE_CHECKING:
    from .base import AffectModel
    from .registry import create_model, list_models, model_from_checkpoint, register_model


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value
