"""Dataset sources, one module per kind, chosen by the location's URL scheme."""

from __future__ import annotations

import importlib
from pathlib import Path

from envbuild.data.sources.interface import Source

# scheme -> (module, class). Adding a source is one module and one line here.
_SOURCES: dict[str, tuple[str, str]] = {
    "file": ("envbuild.data.sources.local", "LocalSource"),
    "http": ("envbuild.data.sources.http", "HttpSource"),
    "https": ("envbuild.data.sources.http", "HttpSource"),
    "s3": ("envbuild.data.sources.s3", "S3Source"),
}


def open_source(location: str, *, base: Path) -> Source:
    """The source for `location`; a plain path is a local one, relative to `base`."""
    scheme, sep, _ = location.partition("://")
    if not sep:
        scheme = "file"
        location = str(base / location)
    module, name = _SOURCES[scheme]
    cls: type[Source] = getattr(importlib.import_module(module), name)
    return cls(location)
