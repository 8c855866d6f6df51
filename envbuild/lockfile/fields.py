"""Typed getters and value checks for the lock reader: every failure names the dotted key.

Every value a lock holds that later becomes a path (artifact file names, dataset listings),
a name in a message or a command (package, index, target names), or a number is checked
here, where it is parsed, with the library that defines it (`packaging.utils` for wheel and
sdist file names, `packaging.version` for versions).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cache
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
# A bare name, or a name and one version specifier, without spaces: what most requirements
# are, and exactly the strings packaging's normal form leaves as they are.
_PUBLIC = r"[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?"
_SIMPLE_REQUIREMENT = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
    rf"(?:(?:==|!=){_PUBLIC}(?:\+[a-z0-9]+(?:\.[a-z0-9]+)*)?|(?:>=|<=|<|>){_PUBLIC})?")
_TITLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_ROW_ID = re.compile(r"[a-z][a-z-]*:[!-~]{1,160}")  # printable ASCII, no spaces

_DOTTED = re.compile(r"[0-9]+(\.[0-9]+){1,3}")
_INDEX = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_PLATFORMS = frozenset({"linux/amd64", "linux/arm64", "darwin/arm64", "darwin/amd64"})
_MAX_NAME = 63
_MAX_BASE = 1024


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
    from envbuild.platforms import python_problem

    value: str = d.get(table, key, path, str)
    if python_problem(value) is not None:
        raise d.fail(f"{path}.{key}", f'"{value}" is not a released CPython minor envbuild supports')
    return value


def project_title(d: Doc, table: Any, key: str, path: str) -> str:
    """The project's name: it is written into export headers and image labels."""
    value: str = d.get(table, key, path, str)
    if not _TITLE.fullmatch(value):
        raise d.fail(f"{path}.{key}", f'"{value[:80]}" is not a project name (letters, digits, ".", "_", "-")')
    return value


def timestamp(d: Doc, table: Any, key: str, path: str) -> str | None:
    value: str | None = d.get(table, key, path, str, optional=True)
    if value is None:
        return None
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
        valid = escape(value) == value and len(value) <= 40
    except ValueError:
        valid = False
    if not valid:
        raise d.fail(f"{path}.{key}", f'"{value[:80]}" is not an RFC 3339 time')
    return value


def resolver(d: Doc, table: Any, key: str, path: str) -> str:
    from envbuild.resolvers import RESOLVERS

    value: str = d.get(table, key, path, str)
    if value not in RESOLVERS:
        raise d.fail(f"{path}.{key}", f'unknown resolver "{value}"')
    return value


def cuda(d: Doc, table: Any, key: str, path: str) -> str | None:
    """A CUDA version the hardware data knows, in its one spelling (major.minor)."""
    if not isinstance(table, dict) or key not in table:
        return None
    from envbuild.hardware.validate import validate_cuda  # CPU targets never load the data
    from envbuild.hardware.versions import canonical_cuda

    value: str = d.get(table, key, path, str)
    if canonical_cuda(value) != value or validate_cuda(value) is not None:
        raise d.fail(f"{path}.{key}", f'"{value}" is not a known CUDA version in its one spelling (12.4)')
    return value


def gpus(d: Doc, table: Any, key: str, path: str) -> tuple[str, ...]:
    """GPU names as the hardware data names them, sorted, each once."""
    values = d.strings(table, key, path)
    if values:
        from envbuild.hardware.validate import canonical_gpu  # CPU targets never load the data
    for position, name in enumerate(values):
        if canonical_gpu(name) != name:
            raise d.fail(f"{path}.{key}[{position}]", f'"{name}" is not a known GPU in its one spelling')
    if list(values) != sorted(set(values)):
        raise d.fail(f"{path}.{key}", "GPU names are not sorted and unique")
    return values


def requirements(d: Doc, table: Any, key: str, path: str) -> tuple[str, ...]:
    """Requirement strings in the normal form the lock writes, sorted, each once."""
    values = d.strings(table, key, path)
    for position, text in enumerate(values):
        if _SIMPLE_REQUIREMENT.fullmatch(text):
            continue  # `name` or `name<op>version`: its own normal form (packaging not loaded)
        from packaging.requirements import InvalidRequirement, Requirement

        try:
            valid = str(Requirement(text)) == text
        except InvalidRequirement:
            valid = False
        if not valid:
            raise d.fail(f"{path}.{key}[{position}]", f'"{text[:120]}" is not a requirement in normal form')
    if list(values) != sorted(set(values)):
        raise d.fail(f"{path}.{key}", "requirements are not sorted and unique")
    return values


def hardware_row(d: Doc, row: Any, path: str) -> None:
    """A consulted hardware-data row: a row id, known fields, plain printable values."""
    if not isinstance(row, dict):
        raise d.fail(path, "expected a table")
    plain(d, row, path)
    row_id = row.get("row_id")
    if not isinstance(row_id, str) or not _ROW_ID.fullmatch(row_id):
        raise d.fail(f"{path}.row_id", f'"{str(row_id)[:80]}" is not a hardware row id')
    unknown = sorted(set(row) - _row_keys())
    if unknown:
        raise d.fail(f"{path}.{unknown[0]}", "unknown key (a newer envbuild, or an edit?)")


@cache
def _row_keys() -> frozenset[str]:
    """Every field a hardware row's canonical form can hold: the row types' own fields."""
    import dataclasses

    from envbuild.hardware.rows import ROW_TYPES

    return frozenset({"row_id", "missing"} | {f.name for t in ROW_TYPES for f in dataclasses.fields(t)})


def driver_floor(d: Doc, table: Any, path: str, *, cuda_version: str | None,
                 rows: tuple[dict[str, Any], ...]) -> str | None:
    """The floor is the declared CUDA toolkit's own, as its consulted row records it."""
    value = optional_dotted(d, table, "driver-floor", path)
    row = next((r for r in rows if r.get("row_id") == f"cuda:{cuda_version}"), None)
    expected = row.get("driver_min") if row is not None and cuda_version is not None else None
    if value != expected:
        raise d.fail(f"{path}.driver-floor", f'"{value}" is not the floor its hardware row records '
                     f'({expected or "none"})')
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


def base_reference(d: Doc, table: Any, key: str, path: str) -> str | None:
    """An image base as the manifest wrote it: `oci:DIR[:TAG]` or `docker-archive:PATH`
    (printable, as written: it becomes a path only where the manifest names the same text)
    or a registry reference the registry parser accepts."""
    from envbuild.image.registry.interface import parse_reference

    value: str | None = d.get(table, key, path, str, optional=True)
    if value is None:
        return None
    if value == "system":  # built from the target's locked Debian packages (issue 11)
        return value
    if value.startswith(("oci:", "docker-archive:")):
        valid = not value.endswith(":") and len(value) <= _MAX_BASE and escape(value) == value
    else:
        try:
            parse_reference(value)
            valid = len(value) <= _MAX_BASE
        except InputError:
            valid = False
    if not valid:
        raise d.fail(f"{path}.{key}", f'"{value[:120]}" is neither oci:DIR[:TAG], docker-archive:PATH '
                     "nor a registry reference")
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
