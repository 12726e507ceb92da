"""A small registry of model builders, so tests and docs can iterate over every model."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

__all__ = ["available_models", "build_model", "get_builder", "register_model"]

Builder = Callable[..., nn.Module]
B = TypeVar("B", bound=Builder)

_REGISTRY: dict[str, Builder] = {}


def register_model(name: str) -> Callable[[B], B]:
    """Class or function decorator that registers a model builder under ``name``.

    Raises:
        ValueError: ``name`` is already registered (names are never silently replaced).
    """

    def decorate(builder: B) -> B:
        if name in _REGISTRY:
            raise ValueError(f"a model named {name!r} is already registered ({_REGISTRY[name].__qualname__})")
        _REGISTRY[name] = builder
        return builder

    return decorate


def available_models() -> tuple[str, ...]:
    """The registered model names, sorted."""
    return tuple(sorted(_REGISTRY))


def get_builder(name: str) -> Builder:
    """The builder registered under ``name``.

    Raises:
        ValueError: No model has that name; the message lists the valid names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(available_models())}") from None


def build_model(name: str, **kwargs: object) -> nn.Module:
    """Build the model registered under ``name`` with keyword hyper-parameters.

    Example:
        >>> from mlcheatsheet.models import build_model
        >>> build_model("mlp", hidden_dims=(64,)).__class__.__name__
        'MLP'
    """
    return get_builder(name)(**kwargs)
