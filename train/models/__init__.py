"""The model zoo of Kollias & Zafeiriou (BMVC 2019) behind one registry.

``create_model(name, **kwargs)`` builds any registered model (``avaffect models`` lists
them); ``model_from_checkpoint(path)`` rebuilds a saved one from its own config.
"""

from .base import AffectModel
from .registry import create_model, list_models, model_from_checkpoint, register_model

__all__ = ["AffectModel", "create_model", "list_models", "model_from_checkpoint", "register_model"]
