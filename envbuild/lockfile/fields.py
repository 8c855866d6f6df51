"""Typed getters and value checks for the lock reader: every failure names the dotted key.

Every value a lock holds that later becomes a path (artifact file names, dataset listings),
a name in a message or a command (package, index, target names), or a number is checked
here, where it is parsed, with the library that defines it (`packaging.utils` for wheel and
sdist file names, `packaging.version` for versions).
"""

from __future__ import annotations

import re
from typing import Any

from packaging.utils import (
    InvalidName,
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from envbuild.canonical import is_hash
from envbuild.errors import InputError
from envbuild.safepath import component_problem
from envbuild.scrub import escape

_HINT = "the lock is damaged or hand-edited; regenerate it with `envbuild lock`"
_DOTTED = re.compile(r"[0-9]+(\.[0-9]+){1,3}")
_PYTHON = re.compile(r"3\.[0-9]{1,2}")
_INDEX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_PLATFORMS = frozenset({"linux/amd64", "linux/arm64", "darwin/arm64", "darwin/amd64"})
_MAX_NAME = 63


class LockFormatError(InputError):
    """The lock file is not a valid envbuild lock: a value is malformed, unsafe or inconsistent."""


class Doc:
    """Typed getters that name the dotted path of a bad value."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> LockFormatError:
        return LockFormatError(escape(f"{self.source}: {message} in '{path}'"), hint=_HINT)

    def get(self, table: Any, key: str, path: str, kind: type | tuple[type, ...], *,
            optional: bool = False) -> Any:
        if not isinstance(table, dict):
            raise self.fail(path, "expected a table")
        where = f"{path}.{key}" if path else key
        if key not in table:
            if optional:
                return None
            raise self.fail(where, "missing value")
        value = table[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(where, f"unexpected {type(value).__name__}")
        if isinstance(value, dict) and not all(isinstance(k, str) for k in value):
            raise self.fail(where, "keys must be strings")
        return value

    def known(self, table: Any, path: str, keys: frozenset[str]) -> None:
        if not isinstance(table, dict):
            raise self.fail(path or "(top)", "expected a table")
        unknown = sorted(set(table) - keys)
        if unknown:
            where = f"{path}.{unknown[0]}" if path else unknown[0]
            raise self.fail(where, "unknown key (a newer envbuild, or an edit?)")

    def hash(self, table: Any, key: str, path: str) -> str:
        value: str = self.get(table, key, path, str)
        if not is_hash(value, algorithms=("sha256",)):
            raise self.fail(f"{path}.{key}" if path else key, f'"{value}" is not sha256:<64 lowercase hex>')
        return value

    def strings(self, table: Any, key: str, path: str) -> tuple[str, ...]:
        values = self.get(table, key, path, list)
        for position, item in enumerate(values):
            if not isinstance(item, str):
                raise self.fail(f"{path}.{key}[{position}]", f"unexpected {type(item).__name__}")
        return tuple(values)


def nonempty(d: Doc, table: Any, key: str, path: str) -> str:
    value: str = d.get(table, key, path, str)
    if not value.strip() or escape(value) != value:
        raise d.fail(f"{path}.{key}", f'"{value}" is not a name')
    return value


def component(d: Doc, name: str, path: str, *, what: str) -> str:
    """A key that becomes a file or folder name (target, dataset)."""
    problem = component_problem(name) or (f"is longer than {_MAX_NAME} characters"
                                          if len(name) > _MAX_NAME else None)
    if problem:
        raise d.fail(f"{path}.{name[:80]}", f'{what} "{name[:80]}" {problem}')
    return name


def index_name(d: Doc, name: str, path: str) -> str:
    if not _INDEX.fullmatch(name):
        raise d.fail(f"{path}.{name[:80]}", f'"{name[:80]}" is not an index name')
    return name


def python(d: Doc, table: Any, key: str, path: str) -> str:
    value: str = d.get(table, key, path, str)
    if not _PYTHON.fullmatch(value):
        raise d.fail(f"{path}.{key}", f'"{value}" is not a Python minor version (3.N)')
    return value


def dotted(d: Doc, table: Any, key: str, path: str) -> str:
    value: str = d.get(table, key, path, str)
    if not _DOTTED.fullmatch(value):
        raise d.fail(f"{path}.{key}", f'"{value}" is not a dotted version number')
    return value


def optional_dotted(d: Doc, table: Any, key: str, path: str) -> str | None:
    return dotted(d, table, key, path) if isinstance(table, dict) and key in table else None


def platform(d: Doc, table: Any, key: str, path: str) -> str:
    value: str = d.get(table, key, path, str)
    if value not in _PLATFORMS:
        raise d.fail(f"{path}.{key}", f'unknown platform "{value}"')
    return value


def project_name(d: Doc, table: Any, key: str, path: str) -> str:
    value: str = d.get(table, key, path, str)
    normalised(d, value, f"{path}.{key}")
    return value


def normalised(d: Doc, value: str, path: str) -> None:
    try:
        valid = bool(value) and canonicalize_name(value, validate=True) == value
    except InvalidName:
        valid = False
    if not valid:
        raise d.fail(path, f'"{value}" is not a normalised project name')


def version(d: Doc, table: Any, key: str, path: str) -> str:
    value: str = d.get(table, key, path, str)
    try:
        Version(value)
    except InvalidVersion:
        raise d.fail(f"{path}.{key}", f'"{value}" is not a version') from None
    return value


def artifact_file(d: Doc, file: str, *, kind: str, name: str, version: str, path: str) -> None:
    """The file name is one plain component that packaging parses as a wheel or sdist of
    exactly this project and version."""
    problem = component_problem(file)
    if problem:
        raise d.fail(path, f'file name "{file[:200]}" {problem}')
    try:
        if kind == "wheel":
            parsed_name, parsed_version, _, _ = parse_wheel_filename(file)
        else:
            parsed_name, parsed_version = parse_sdist_filename(file)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as error:
        raise d.fail(path, f'"{file}" is not a {kind} file name ({error})') from None
    if parsed_name != name or parsed_version != Version(version):
        raise d.fail(path, f'"{file}" is {parsed_name} {parsed_version}, not {name} {version}')


def relative_path(d: Doc, value: str, path: str) -> None:
    """A `/`-separated relative path of plain components (joined under a root later)."""
    if not value or value.startswith("/"):
        raise d.fail(path, f'"{value}" is not a relative path')
    for part in value.split("/"):
        problem = component_problem(part)
        if problem:
            raise d.fail(path, f'"{value}": component "{part}" {problem}')


def plain(d: Doc, value: Any, path: str, depth: int = 0) -> None:
    """Only the kinds of value canonical JSON holds (no floats, dates), nested shallowly."""
    if depth > 8:
        raise d.fail(path, "nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            plain(d, item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            plain(d, item, f"{path}[{position}]", depth + 1)
    elif not (isinstance(value, (str, int, bool))):
        raise d.fail(path, f"unexpected {type(value).__name__}")


__all__ = ["Doc", "LockFormatError", "is_hash"]
