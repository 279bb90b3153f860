"""The model zoo of Kollias & Zafeiriou (BMVC 2019) behind one registry.

``create_model(name, **kwargs)`` builds any model of the table (``avaffect models`` lists
them); ``model_from_checkpoint(path)`` rebuilds a saved one from its own config.

The names are loaded on first use (PEP 562), so that importing this package (as building the
command line may) does not import torch: ``avaffect --help`` stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from avaffect.lazy import lazy_exports

_EXPORTS = {
    "AffectModel": "base",
    "create_model": "registry",
    "list_models": "registry",
    "model_from_checkpoint": "registry",
    "model_options": "registry",
    "register_model": "registry",
}
__all__ = [
    "AffectModel", "create_model", "list_models", "model_from_checkpoint", "model_options", "register_model",
]

if TYPE_CHECKING:
    from .base import AffectModel
    from .registry import (
        create_model,
        list_models,
        model_from_checkpoint,
        model_options,
        register_model,
    )

__getattr__ = lazy_exports(__name__, _EXPORTS)
