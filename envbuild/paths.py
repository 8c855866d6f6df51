"""Where envbuild keeps its cache (standard library only: the fast paths import it)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$ENVBUILD_CACHE_DIR, else $XDG_CACHE_HOME/envbuild, else ~/.cache/envbuild."""
    explicit = os.environ.get("ENVBUILD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "envbuild"
