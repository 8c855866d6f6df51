"""The one way a value from a lock, listing, manifest or index becomes a filesystem path.

`inside(root, *parts)` joins path components onto `root` and refuses, with an InputError,
anything that could leave it: an absolute part, `..`, a separator inside a component, a NUL,
an empty name, or a result that resolves (through symlinks already on disk) outside `root`.
"""

from __future__ import annotations

import os
from pathlib import Path

from envbuild.errors import InputError
from envbuild.scrub import escape

# Longer than any real file name component allows on common filesystems (255 bytes).
_MAX_COMPONENT = 255


class UnsafePath(InputError):
    """A value would name a path outside the folder it belongs in."""


def check_component(name: str, *, what: str) -> str:
    """`name` if it is one plain path component, else UnsafePath naming `what`."""
    problem = component_problem(name)
    if problem:
        raise UnsafePath(f'{what} "{escape(name)}" {problem}',
                         hint="the value was edited or comes from a hostile source; regenerate it")
    return name


def inside(root: Path, *parts: str, what: str) -> Path:
    """`root / part / ...` after checking each part is one plain component, and that the
    result does not resolve outside `root`."""
    for part in parts:
        check_component(part, what=what)
    path = root.joinpath(*parts)
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise UnsafePath(f'{what} "{escape("/".join(parts))}" resolves outside {escape(str(root))}',
                         hint="a symlink in the way points elsewhere; remove it")
    return path


def relative(root: Path, relpath: str, *, what: str) -> Path:
    """A `/`-separated relative path (as listings record them) under `root`, each component
    checked as by `inside`."""
    if not relpath or relpath.startswith("/"):
        raise UnsafePath(f'{what} "{escape(relpath)}" is not a relative path')
    return inside(root, *relpath.split("/"), what=what)


def component_problem(name: str) -> str | None:
    """Why `name` is not one plain path component (None when it is)."""
    if not name:
        return "is empty"
    if name in (".", ".."):
        return "is not a file name"
    if "/" in name or "\\" in name or os.sep in name or (os.altsep and os.altsep in name):
        return "contains a path separator"
    if "\0" in name:
        return "contains a NUL character"
    if len(name.encode("utf-8", "surrogateescape")) > _MAX_COMPONENT:
        return f"is longer than {_MAX_COMPONENT} bytes"
    if escape(name) != name:
        return "contains control characters"
    return None
