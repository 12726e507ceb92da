"""A small registry of model builders, so tests and docs can iterate over every model.

A builder is a model class or a function that returns a model. Registering it also makes
every model it builds remember how it was built: the registry name and the constructor's
keyword arguments (defaults included), returned by :func:`model_config`. That record is
what lets :mod:`mlcheatsheet.checkpoint` save a model with its configuration and rebuild
it later, whether the model came from :func:`build_model` or from calling the class (or
builder function) directly.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

__all__ = ["ModelConfig", "available_models", "build_model", "get_builder", "model_config", "register_model"]

Builder = Callable[..., nn.Module]
B = TypeVar("B", bound=Builder)

_REGISTRY: dict[str, Builder] = {}

# Instance attribute holding a model's ModelConfig (a plain attribute: never in the state dict).
_CONFIG_ATTR = "_mlcheatsheet_config"


@dataclass(frozen=True)
class ModelConfig:
    """How a registered model was built.

    Attributes:
        name: The registry name of its builder, e.g. ``"mlp"``.
        kwargs: Every argument of the builder by keyword, defaults included, so
            ``build_model(name, **kwargs)`` builds the same architecture again. Checkpoints
            store these names, so renaming an argument needs a new checkpoint format
            version that maps the old name (see :mod:`mlcheatsheet.checkpoint`).
    """

    name: str
    kwargs: dict[str, Any]


def register_model(name: str) -> Callable[[B], B]:
    """Class or function decorator that registers a model builder under ``name``.

    For a class, its ``__init__`` is wrapped; for a function, the function is wrapped (and
    the wrapper is registered and returned). Either way each model built records its
    :class:`ModelConfig`, read back with :func:`model_config`. A subclass of a registered
    class records nothing unless it is registered itself, because the parent's name
    would rebuild the wrong class.

    Raises:
        ValueError: ``name`` is empty or already registered (names are never silently
            replaced).
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a model name must be a non-empty string, got {name!r}")

    def decorate(builder: B) -> B:
        if name in _REGISTRY:
            raise ValueError(f"a model named {name!r} is already registered ({_REGISTRY[name].__qualname__})")
        registered: Any = _record_class(builder, name) if isinstance(builder, type) else _record_function(builder, name)
        _REGISTRY[name] = registered
        return registered  # type: ignore[no-any-return]

    return decorate


def _record_class(cls: type, name: str) -> type:
    original = cls.__init__
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self: nn.Module, *args: Any, **kwargs: Any) -> None:  # noqa: N807 - it is the class's __init__
        original(self, *args, **kwargs)
        if type(self) is cls:  # a registered subclass records its own name, after this
            _remember(self, name, signature, (self, *args), kwargs, skip_first=True)

    cls.__init__ = __init__  # type: ignore[misc]
    return cls


def _record_function(builder: Callable[..., Any], name: str) -> Callable[..., Any]:
    signature = inspect.signature(builder)

    @functools.wraps(builder)
    def build(*args: Any, **kwargs: Any) -> Any:
        model = builder(*args, **kwargs)
        if isinstance(model, nn.Module):  # overrides what a registered class recorded
            _remember(model, name, signature, args, kwargs, skip_first=False)
        return model

    return build


def _remember(
    model: nn.Module, name: str, signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any], *, skip_first: bool
) -> None:
    config: ModelConfig | None = None
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:  # a signature that does not describe the call: record nothing
        bound = None
    if bound is not None:
        bound.apply_defaults()
        recorded: dict[str, Any] = {}
        replayable = True
        for i, (param_name, value) in enumerate(bound.arguments.items()):
            kind = signature.parameters[param_name].kind
            if i == 0 and skip_first:
                continue  # ``self``
            if kind is inspect.Parameter.VAR_POSITIONAL:
                replayable = replayable and not value  # extra positionals cannot be replayed by keyword
            elif kind is inspect.Parameter.VAR_KEYWORD:
                recorded.update(value)
            else:
                recorded[param_name] = value
        config = ModelConfig(name, recorded) if replayable else None
    object.__setattr__(model, _CONFIG_ATTR, config)  # bypass nn.Module.__setattr__: a plain attribute


def model_config(model: nn.Module) -> ModelConfig:
    """The registry name and constructor arguments ``model`` was built with.

    Example:
        >>> from mlcheatsheet.models import MLP, model_config
        >>> model_config(MLP(hidden_dims=(64,))).kwargs["hidden_dims"]
        (64,)

    Raises:
        ValueError: ``model`` was not built by a registered builder (or was built with
            extra positional arguments, which cannot be replayed by keyword).
    """
    config = getattr(model, _CONFIG_ATTR, None)
    if not isinstance(config, ModelConfig):
        raise ValueError(
            f"{type(model).__name__} was not built by a registered model builder, so its configuration "
            f"is unknown; build it with build_model(name, ...) (registered: {', '.join(available_models())})"
        )
    return config


@functools.cache  # once per process: the modules stay imported
def _register_every_family() -> None:
    """Import every module of this package once, so that each registers its builders.

    Found by listing the package rather than named here, so a new family needs no entry
    (and the registry depends on no family: importing one model loads only its module).
    """
    package = __name__.rpartition(".")[0]
    for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package}.{module.name}")


def available_models() -> tuple[str, ...]:
    """The registered model names, sorted."""
    _register_every_family()
    return tuple(sorted(_REGISTRY))


def get_builder(name: str) -> Builder:
    """The builder registered under ``name``.

    Raises:
        ValueError: No model has that name; the message lists the valid names.
    """
    if isinstance(name, str) and name not in _REGISTRY:
        _register_every_family()
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(available_models())}") from None


def build_model(name: str, **kwargs: object) -> nn.Module:
    """Build the model registered under ``name`` with keyword hyper-parameters.

    Example:
        >>> from mlcheatsheet.models import build_model
        >>> build_model("mlp", hidden_dims=(64,)).__class__.__name__
        'MLP'
    """
    return get_builder(name)(**kwargs)
