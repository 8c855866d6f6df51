"""Image builders, by name. Adding one is a module and a line here."""

from __future__ import annotations

import importlib

from envbuild.errors import InputError
from envbuild.image.builders.interface import Builder

DEFAULT = "oci"
_BUILDERS = {"oci": ("envbuild.image.builders.oci", "NativeOciBuilder"),
             "nix": ("envbuild.image.builders.nix", "NixBuilder"),
             "docker": ("envbuild.image.builders.docker", "DockerBuilder")}


def get_builder(name: str = DEFAULT) -> Builder:
    if name not in _BUILDERS:
        raise InputError(f'unknown image builder "{name}"',
                         hint=f"use one of: {', '.join(_BUILDERS)}")
    module, attribute = _BUILDERS[name]
    builder: Builder = getattr(importlib.import_module(module), attribute)()
    return builder
