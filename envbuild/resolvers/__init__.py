"""Resolver backends behind one interface (see interface.py)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from envbuild.errors import InputError

if TYPE_CHECKING:  # the lock reader imports the names below without the interface's weight
    from envbuild.resolvers.interface import Resolver

_BACKENDS = {"uv": ("envbuild.resolvers.uv", "UvResolver"),
             "pip-tools": ("envbuild.resolvers.piptools", "PipToolsResolver")}
RESOLVERS = tuple(_BACKENDS)


def get_resolver(name: str) -> Resolver:
    if name not in _BACKENDS:
        raise InputError(f'unknown resolver "{name}"', hint=f"use one of: {', '.join(_BACKENDS)}")
    module, attr = _BACKENDS[name]
    resolver: Resolver = getattr(importlib.import_module(module), attr)()
    return resolver
