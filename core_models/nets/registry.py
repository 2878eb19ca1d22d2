"""Registry of network builders: one name, one function that returns an ``nn.Module``.

A builder is registered with :func:`register_model` and built by name with
:func:`build_model`. Every keyword argument a builder takes is JSON-friendly,
so a :class:`~core_models.model_spec.ModelSpec` can save it and rebuild the
same network later.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from core_models.errors import ModelError

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}

F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(name: str) -> Callable[[F], F]:
    """Decorator that registers a builder under ``name``.

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"maskrcnn_light"``; must be unique.
    """

    def decorator(builder: F) -> F:
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"a model builder named {name!r} is already registered")
        _BUILDERS[name] = builder
        return builder

    return decorator


def registered_models() -> list[str]:
    """Names of all registered builders, sorted."""
    return sorted(_BUILDERS)


def get_builder(name: str) -> Callable[..., nn.Module]:
    """The builder registered as ``name``; :class:`ModelError` if there is none."""
    try:
        return _BUILDERS[name]
    except KeyError:
        raise ModelError(
            f"unknown model builder {name!r}; known builders: {', '.join(registered_models()) or 'none'}"
        ) from None


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the network registered as ``name`` with keyword arguments ``kwargs``.

    Raises
    ------
    ModelError
        When the name is unknown or an argument is not accepted.
    """
    builder = get_builder(name)
    try:
        inspect.signature(builder).bind(**kwargs)
    except TypeError as exc:
        raise ModelError(f"model builder {name!r} rejected its arguments: {exc}") from None
    return builder(**kwargs)
