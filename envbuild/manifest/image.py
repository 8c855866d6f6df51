"""The manifest's `[image]` table as frozen data, validated with file, line and fix.

The manifest package parses every section; the image builder reads the result through
`envbuild.image.settings`, so image/ imports manifest/ and not the reverse (only the
image-reference parser, a leaf module that imports nothing of envbuild's but its errors,
is borrowed to check `base` and `repository`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envbuild.errors import InputError, Problem, ProblemsError
from envbuild.manifest.locate import LineIndex, dotted

ARCHIVE = "docker-archive:"  # a `docker save` tarball
_KEYS = ("base", "repository", "workdir", "env", "copy", "entrypoint", "python")
DEFAULT_WORKDIR = "/workspace"


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageSettings:
    # As written: "oci:DIR[:TAG]" or "docker-archive:PATH" (relative to the manifest's
    # folder, or absolute), or "host/repo[:tag][@sha256:...]" in a registry; one for every platform (an index or a
    # single-platform image), or `bases`, one per platform. `base_location` finds it.
    base: str | None
    repository: str | None
    workdir: str  # where `copy` puts files (their project-relative paths kept under it)
    env: tuple[tuple[str, str], ...]  # sorted by name
    copy: tuple[str, ...]  # paths relative to the manifest's folder, as written
    entrypoint: tuple[str, ...]
    python: str | None  # the interpreter's path in the image, when declared
    # The config's WorkingDir: `workdir` when declared, else where `python -m` finds the
    # first `copy` entry's code (`working_dir()` below).
    working_dir: str = DEFAULT_WORKDIR
    bases: tuple[tuple[str, str], ...] = ()  # (platform, reference as written), sorted

    def base_for(self, platform: str) -> str | None:
        """The base [image] names for `platform` (None: none for it, or no base at all)."""
        return self.base if self.base is not None else dict(self.bases).get(platform)

    def document(self) -> dict[str, Any]:
        """Plain data for the image hash (the base enters as its resolved digest).

        `repository` is left out: where an image is pushed does not change its bytes, so
        the same lock pushed to two repositories is the same digest.
        """
        return {"workdir": self.workdir, "env": dict(self.env),
                "copy": list(self.copy), "entrypoint": list(self.entrypoint),
                "python": self.python, "working_dir": self.working_dir}


def parse_image_settings(table: Any, *, file: str, lines: LineIndex,
                         folder: Path) -> ImageSettings:
    """`[image]` as ImageSettings; raises ProblemsError naming each bad key and its line."""
    problems: list[Problem] = []

    def problem(key: str, message: str) -> None:
        problems.append(Problem(file=file, line=lines.line_of(key), key=key, message=message))

    if not isinstance(table, dict):
        problem("image", "must be a table")
        table = {}
    for key in table:
        if key not in _KEYS:
            problem(f"image.{key}", f"unknown key; allowed: {', '.join(_KEYS)}")

    def string(key: str) -> str | None:
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            problem(f"image.{key}", "must be a string")
            return None
        return value

    def strings(key: str, example: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problem(f"image.{key}", f"must be an array of strings, for example {example}")
            return ()
        return tuple(value)

    base, bases = _bases(table.get("base"), problem)
    repository = string("repository")
    if repository is not None:
        from envbuild.image.registry.interface import parse_reference

        try:
            if parse_reference(repository).tag or "@" in repository:
                problem("image.repository", "names a repository, without a tag or digest")
        except InputError:
            problem("image.repository", f'"{repository}" is not a repository like '
                    '"registry.example.com/team/app"')
    declared_workdir = string("workdir")
    workdir = declared_workdir or DEFAULT_WORKDIR
    if not posixpath.isabs(workdir) or ".." in workdir.split("/"):
        problem("image.workdir", f'"{workdir}" must be an absolute path without "..", '
                'for example "/workspace"')
    python = string("python")
    if python is not None and not _is_interpreter(python):
        problem("image.python", f'"{python}" must be the absolute path of a python3.N '
                'interpreter, for example "/usr/local/bin/python3.11"')
    env = table.get("env", {})
    pairs: list[tuple[str, str]] = []
    if not isinstance(env, dict):
        problem("image.env", 'must be a table of strings, for example { HF_HOME = "/cache/hf" }')
    else:
        for name, value in sorted(env.items()):
            if not isinstance(value, str):
                problem(f"image.env.{name}", "must be a string")
            elif not name or "=" in name:
                problem(f"image.env.{name}", "is not a valid variable name")
            else:
                pairs.append((name, value))
    copy = strings("copy", '["src/", "configs/"]')
    for position, item in enumerate(copy):
        parts = item.replace("\\", "/").split("/")
        if posixpath.isabs(item) or ".." in parts:
            problem(f"image.copy[{position}]",
                    f'"{item}" must be a path inside the project, relative to the manifest')
        elif not (folder / item).exists():
            problem(f"image.copy[{position}]", f'"{item}" does not exist beside the manifest')
    entrypoint = strings("entrypoint", '["python3", "-m", "train"]')
    if problems:
        raise ProblemsError(problems, hint="fix the [image] table of the manifest")
    return ImageSettings(base=base, repository=repository, workdir=workdir,
                         env=tuple(pairs), copy=copy, entrypoint=entrypoint, python=python,
                         working_dir=declared_workdir or working_dir(workdir, copy, folder),
                         bases=bases)


def working_dir(root: str, copy: tuple[str, ...], folder: Path) -> str:
    """The folder from which `python -m NAME` finds the first `copy` entry's code.

    A folder of modules (`src/`, no `__init__.py`) is that folder; a package (`src/pkg/`,
    with `__init__.py`) or a file (`train.py`) is the folder holding it. Files keep their
    project-relative paths under `root`, so `copy = ["src/"]` with `src/train.py` gives
    `/workspace/src`, where `python3 -m train` finds `train` (the working directory is first
    on `sys.path` for `-m`). Without `copy`: `root`.
    """
    if not copy:
        return root
    first = posixpath.normpath(copy[0].replace("\\", "/"))
    source = folder / first
    if source.is_dir() and not (source / "__init__.py").is_file():
        return posixpath.normpath(posixpath.join(root, first))
    return posixpath.normpath(posixpath.join(root, posixpath.dirname(first)))


def base_problem(reference: str) -> str | None:
    """Why `reference` is not a base (None: it is one): `oci:DIR[:TAG]`, `docker-archive:PATH`,
    a registry reference, or "system" (built from the target's locked [system] packages)."""
    if reference == "system":
        return None
    for prefix in ("oci:", ARCHIVE):
        if reference.startswith(prefix):
            return None if len(reference) > len(prefix) else f'"{prefix}" names no file'
    from envbuild.image.registry.interface import parse_reference

    try:
        parse_reference(reference)
    except InputError:
        return (f'"{reference}" is neither "oci:DIR[:TAG]", "docker-archive:FILE" nor a registry '
                'reference like "127.0.0.1:5000/base/python:3.11@sha256:..."')
    return None


def base_location(reference: str, folder: Path) -> str:
    """Where a base is read from: a layout or archive given relative to the manifest lies in
    its folder, wherever envbuild runs from; anything else is the reference itself."""
    for prefix in ("oci:", ARCHIVE):
        rest = reference.removeprefix(prefix)
        if reference.startswith(prefix) and not rest.startswith("/"):
            return f"{prefix}{(folder / rest).as_posix()}"
    return reference


def _bases(value: Any, problem: Callable[[str, str], None]) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """`base = "REF"` (an index or one image), or `base = { "linux/amd64" = "REF", ... }`."""
    from envbuild.platforms import PLATFORMS, canonical_platform

    if value is None:
        return None, ()
    if isinstance(value, str):
        if (why := base_problem(value)) is not None:
            problem("image.base", why)
            return None, ()
        return value, ()
    if not isinstance(value, dict) or not value:
        problem("image.base", 'must be a reference, or a table of one per platform, for example '
                '{ "linux/amd64" = "oci:base-amd64", "linux/arm64" = "oci:base-arm64" }')
        return None, ()
    pairs: dict[str, str] = {}
    for platform, reference in sorted(value.items()):
        key = dotted("image", "base", platform)
        canonical = canonical_platform(platform) if platform not in PLATFORMS else platform
        if canonical is None:
            problem(key, f'unknown platform "{platform}"; use one of: {", ".join(PLATFORMS)}')
        elif canonical in pairs:
            problem(key, f'names {canonical} again; give each platform one base')
        elif not isinstance(reference, str):
            problem(key, "must be a string")
        elif (why := base_problem(reference)) is not None:
            problem(key, why)
        else:
            pairs[canonical] = reference
    return None, tuple(sorted(pairs.items()))


def _is_interpreter(path: str) -> bool:
    name = posixpath.basename(path)
    return posixpath.isabs(path) and name.startswith("python3.") and name[8:].isdigit()
