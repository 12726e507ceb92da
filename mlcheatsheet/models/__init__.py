"""The architectures, one family per module, and the registry that names them.

Importing this package registers every model, so :func:`~mlcheatsheet.models.registry.build_model` and
:func:`~mlcheatsheet.models.registry.available_models` see them all.
"""

from .mlp import MLP
from .registry import available_models, build_model, get_builder, register_model

__all__ = ["MLP", "available_models", "build_model", "get_builder", "register_model"]
