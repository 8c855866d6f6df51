"""The `[datasets]` table of the manifest: one `DatasetSpec` per dataset."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from envbuild.data.digest import parse_digest
from envbuild.data.filters import pattern_problem
from envbuild.errors import Problem

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_KEYS = ("source", "include", "mount", "digest")
SCHEMES = ("file", "http", "https", "s3")


@dataclass(frozen=True, kw_only=True, slots=True)
class DatasetSpec:
    """One declared dataset, as written in the manifest."""

    name: str
    source: str  # a path (relative to the manifest's folder), file://, http(s):// or s3://
    include: tuple[str, ...] = ()
    mount: str | None = None
    digest: str | None = None  # when given, locking verifies it


def parse_datasets(
    table: Mapping[str, object],
    *,
    file: str,
    line_of: Callable[[str], int | None],
    manifest_dir: Path,
) -> tuple[dict[str, DatasetSpec], list[Problem]]:
    """Every dataset of the `[datasets]` table, and every problem found in it."""
    specs: dict[str, DatasetSpec] = {}
    problems: list[Problem] = []

    def problem(key: str, message: str) -> None:
        problems.append(Problem(file=file, line=line_of(key), key=key, message=message))

    for name, raw in table.items():
        where = f"datasets.{name}"
        if not _NAME.fullmatch(name):
            problem(where, "dataset names use letters, digits, '.', '_' and '-'; rename it")
            continue
        if not isinstance(raw, Mapping):
            problem(where, f"must be a table; write [datasets.{name}] with a source key")
            continue
        for key in sorted(set(raw) - set(_KEYS)):
            problem(f"{where}.{key}", f"unknown key; use one of {', '.join(_KEYS)}")
        source = _source(raw.get("source"), f"{where}.source", problem)
        include = _include(raw.get("include"), f"{where}.include", problem)
        mount = _mount(raw.get("mount"), f"{where}.mount", problem)
        digest = _digest(raw.get("digest"), f"{where}.digest", problem)
        if source is not None:
            specs[name] = DatasetSpec(name=name, source=source, include=include, mount=mount, digest=digest)
    return specs, problems


_Report = Callable[[str, str], None]


def _source(value: object, key: str, problem: _Report) -> str | None:
    if value is None:
        problem(key, 'missing; add source = "<path | file:// | https:// | s3://bucket/prefix>"')
        return None
    if not isinstance(value, str) or not value.strip():
        problem(key, "must be a non-empty string (a path or URL)")
        return None
    scheme, sep, rest = value.partition("://")
    if not sep:
        return value
    if scheme not in SCHEMES:
        problem(key, f"unsupported scheme {scheme!r}; use a path, file://, http(s):// or s3://")
        return None
    if scheme == "s3" and not rest.split("/", 1)[0]:
        problem(key, "s3 source needs a bucket; write s3://<bucket>/<prefix>")
        return None
    if scheme in ("http", "https") and not rest.split("/", 1)[0]:
        problem(key, f"{scheme} source needs a host; write {scheme}://<host>/<path>")
        return None
    if "@" in rest.split("/", 1)[0]:
        problem(key, "credentials in a source URL would be written to the lock; remove them and use "
                     "netrc (http) or your AWS configuration (s3)")
        return None
    return value


def _include(value: object, key: str, problem: _Report) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problem(key, 'must be a list of glob strings, e.g. ["**/*.JPEG"]')
        return ()
    for pattern in value:
        why = pattern_problem(pattern)
        if why:
            problem(key, f"pattern {pattern!r}: {why}")
    return tuple(value)


def _mount(value: object, key: str, problem: _Report) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        problem(key, 'must be an absolute path inside images and jobs, e.g. "/data/name"')
        return None
    return value


def _digest(value: object, key: str, problem: _Report) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        problem(key, "must be a string 'blake3:<hex>' or 'sha256:<hex>'")
        return None
    try:
        parse_digest(value)
    except ValueError as error:
        problem(key, str(error))
        return None
    return value
