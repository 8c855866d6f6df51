"""Load and validate `envbuild.toml`, collecting every problem before failing."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envbuild import inputfiles
from envbuild.errors import InputError, Problem, ProblemsError
from envbuild.manifest.locate import LineIndex
from envbuild.manifest.model import DEFAULT_INDEX, PLATFORMS, Index, Manifest, Target

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_PYTHON = re.compile(r"^3\.\d{1,2}$")
_CUDA = re.compile(r"^\d{1,2}\.\d$")
_GLIBC = re.compile(r"^2\.\d{1,2}$")
_SECTIONS = ("project", "dependencies", "dependency-groups", "indexes", "targets", "resolution",
             "datasets", "image", "cluster", "run")
_RESOLVERS = ("uv", "pip-tools")
DEFAULT_GLIBC = "2.28"

HardwareCheck = Callable[[Target, Callable[[str, str], None]], None]


class _Reader:
    """Typed getters over the parsed TOML that record problems instead of raising."""

    def __init__(self, file: str, lines: LineIndex) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(
            Problem(file=self.file, line=self.lines.line_of(key), key=key, message=message)
        )

    def table(self, data: Any, key: str) -> dict[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problem(key, f"must be a table, not {_kind(data)}")
            return {}
        return data

    def unknown(self, data: dict[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for name in data:
            if name not in allowed:
                close = difflib.get_close_matches(name, allowed, n=1)
                fix = f'; did you mean "{close[0]}"?' if close else f"; allowed: {', '.join(allowed)}"
                self.problem(f"{key}.{name}" if key else name, f"unknown key{fix}")

    def string(self, data: dict[str, Any], key: str, name: str, *, required: bool = False,
               pattern: re.Pattern[str] | None = None, example: str = "") -> str | None:
        value = data.get(name)
        dotted = f"{key}.{name}"
        if value is None:
            if required:
                self.problem(key, f'missing required key "{name}"' + (f"; add {example}" if example else ""))
            return None
        if not isinstance(value, str):
            hint = f"; for example {example}" if example else ""
            self.problem(dotted, f"must be a string, not {_kind(value)}{hint}")
            return None
        if pattern is not None and not pattern.match(value):
            self.problem(dotted, f'invalid value "{value}"' + (f"; for example {example}" if example else ""))
            return None
        return value

    def strings(self, data: dict[str, Any], key: str, name: str) -> tuple[str, ...]:
        value = data.get(name, [])
        dotted = f"{key}.{name}"
        if not isinstance(value, list):
            self.problem(dotted, f"must be an array of strings, not {_kind(value)}")
            return ()
        out = []
        for position, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            else:
                self.problem(f"{dotted}[{position}]", f"must be a string, not {_kind(item)}")
        return tuple(out)

    def requirements(self, data: dict[str, Any], key: str, name: str) -> tuple[str, ...]:
        out = []
        for position, text in enumerate(self.strings(data, key, name)):
            try:
                req = Requirement(text)
            except InvalidRequirement as error:
                self.problem(f"{key}.{name}[{position}]",
                             f'invalid requirement "{text}": {str(error).splitlines()[0]}; '
                             'write it as PEP 508, e.g. "torch==2.5.1"')
                continue
            if req.url:
                self.problem(f"{key}.{name}[{position}]",
                             f'direct URL requirements are not supported ("{text}"); publish the '
                             "package to an index and declare it under [indexes]")
                continue
            out.append(str(req))
        return tuple(out)


def _kind(value: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean",
            int: "an integer", float: "a float"}.get(type(value), type(value).__name__)


def read_manifest_text(path: Path) -> str:
    """The manifest's text; a missing, unreadable, oversized or non-regular file is bad input."""
    try:
        return inputfiles.read_input_text(path, what="manifest")
    except InputError as error:
        if os.path.lexists(path):
            raise
        raise InputError(error.message, hint="run envbuild in the folder holding envbuild.toml, "
                                              "or pass -f PATH") from None


def parse_toml(text: str, *, file: str) -> dict[str, Any]:
    """TOML to data, nesting bounded; a syntax error becomes a Problem with its line."""
    try:
        return inputfiles.parse_toml(text, source=file, what="manifest")
    except InputError as refused:
        # The shared parser raises `from None`; the TOMLDecodeError stays on __context__
        # and still carries the line the Problem names. Other refusals (nesting) pass as they are.
        error = refused.__context__
        if not isinstance(error, tomllib.TOMLDecodeError):
            raise
        match = re.search(r"\(at line (\d+), column \d+\)", str(error))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error))
        raise ProblemsError([Problem(file=file, line=int(match.group(1)) if match else None,
                                     key="", message=f"invalid TOML: {message}")]) from None


def load_manifest(path: Path, *, hardware_check: HardwareCheck | None = None) -> Manifest:
    """Read and validate a manifest. Raises ProblemsError listing every problem found."""
    return parse_manifest(read_manifest_text(path), path=path, hardware_check=hardware_check)


def parse_manifest(text: str, *, path: Path, hardware_check: HardwareCheck | None = None) -> Manifest:
    file = path.name
    data = parse_toml(text, file=file)
    r = _Reader(file, LineIndex(text))
    r.unknown(data, "", _SECTIONS)

    project = r.table(data.get("project"), "project")
    if "project" not in data:
        r.problem("project", 'missing [project] table; add [project] with name = "..." and python = "3.11"')
    r.unknown(project, "project", ("name", "python", "exclude-newer"))
    name = r.string(project, "project", "name", required="project" in data, pattern=_NAME,
                    example='name = "llm-finetune"') or ""
    python = r.string(project, "project", "python", required="project" in data, pattern=_PYTHON,
                      example='python = "3.11"') or "3.11"
    exclude_newer = r.string(project, "project", "exclude-newer",
                             example='exclude-newer = "2025-06-01T00:00:00Z"')
    if exclude_newer is not None:
        exclude_newer = _timestamp(r, exclude_newer)

    deps = r.table(data.get("dependencies"), "dependencies")
    r.unknown(deps, "dependencies", ("python",))
    dependencies = r.requirements(deps, "dependencies", "python")

    groups_table = r.table(data.get("dependency-groups"), "dependency-groups")
    groups = {g: r.requirements(groups_table, "dependency-groups", g) for g in sorted(groups_table)}

    indexes = _indexes(r, r.table(data.get("indexes"), "indexes"))

    resolution = r.table(data.get("resolution"), "resolution")
    r.unknown(resolution, "resolution", ("resolver", "allow-sdist"))
    resolver = r.string(resolution, "resolution", "resolver") or "uv"
    if resolver not in _RESOLVERS:
        r.problem("resolution.resolver", f'unknown resolver "{resolver}"; use one of: {", ".join(_RESOLVERS)}')
    allow_sdist = _allow_sdist(r, resolution)

    targets_table = r.table(data.get("targets"), "targets")
    if not targets_table:
        r.problem("targets", 'no targets declared; add one, e.g. [targets.cpu] platform = "linux/amd64"')
    targets: dict[str, Target] = {}
    for tname in sorted(targets_table):
        target = _target(r, tname, targets_table[tname], python=python, resolver=resolver,
                         groups=groups, indexes=indexes)
        if target is not None:
            targets[tname] = target
            if hardware_check is not None:
                hardware_check(target, r.problem)

    datasets: dict[str, Any] = {}
    if "datasets" in data:
        from envbuild.data.manifest import parse_datasets

        datasets, problems = parse_datasets(r.table(data["datasets"], "datasets"), file=file,
                                            line_of=r.lines.line_of, manifest_dir=path.parent)
        r.problems.extend(problems)

    image_base = None
    if "image" in data:
        from envbuild.image.settings import parse_image_settings

        try:
            image_base = parse_image_settings(data["image"], file=file, lines=r.lines, folder=path.parent).base
        except ProblemsError as error:
            r.problems.extend(error.problems)

    if "cluster" in data or "run" in data:
        from envbuild.cluster.manifest import parse_cluster

        _, problems = parse_cluster(data, file=file, line_of=r.lines.line_of)
        r.problems.extend(problems)

    if r.problems:
        raise ProblemsError(r.problems, hint=f"fix the problems above in {path}")
    return Manifest(path=path, name=name, python=python, exclude_newer=exclude_newer,
                    dependencies=dependencies, groups=groups, indexes=indexes, targets=targets,
                    allow_sdist=allow_sdist, datasets=datasets, image_base=image_base)


def _timestamp(r: _Reader, text: str) -> str | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        r.problem("project.exclude-newer",
                  f'invalid timestamp "{text}"; write an RFC 3339 instant in UTC, e.g. "2025-06-01T00:00:00Z"')
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _indexes(r: _Reader, table: dict[str, Any]) -> dict[str, Index]:
    out = {DEFAULT_INDEX: Index(name=DEFAULT_INDEX, url=None, explicit=False)}
    for name in sorted(table):
        key = f"indexes.{name}"
        if name == DEFAULT_INDEX:
            r.problem(key, f'"{DEFAULT_INDEX}" names the clients\' default index and cannot be redeclared; '
                           "pick another name")
            continue
        if not _NAME.match(name):
            r.problem(key, "invalid index name; use letters, digits, '-', '_' and '.'")
            continue
        spec = r.table(table[name], key)
        r.unknown(spec, key, ("url", "exclude-newer-exempt", "explicit"))
        url = r.string(spec, key, "url", required=True, example='url = "https://example.org/simple"')
        if url is not None and not re.match(r"^(https?|file)://", url):
            r.problem(f"{key}.url", f'"{url}" is not an http(s) or file URL')
            url = None
        if url is not None and re.match(r"^[a-z]+://[^/@]*:[^/@]*@", url):
            r.problem(f"{key}.url", "credentials in an index URL would be written to the lock's inputs; "
                                    "remove them and use netrc, a keyring or "
                                    f"UV_INDEX_{name.upper().replace('-', '_')}_USERNAME/_PASSWORD")
            url = None
        exempt = spec.get("exclude-newer-exempt", False)
        explicit = spec.get("explicit", True)
        for flag, value in (("exclude-newer-exempt", exempt), ("explicit", explicit)):
            if not isinstance(value, bool):
                r.problem(f"{key}.{flag}", f"must be true or false, not {_kind(value)}")
        if url is not None:
            out[name] = Index(name=name, url=url.rstrip("/"), exclude_newer_exempt=exempt is True,
                              explicit=explicit is not False)
    return out


def _allow_sdist(r: _Reader, resolution: dict[str, Any]) -> tuple[str, ...]:
    value = resolution.get("allow-sdist", [])
    if value is True:
        return ("*",)
    if value is False:
        return ()
    return tuple(sorted(canonicalize_name(n) for n in r.strings(resolution, "resolution", "allow-sdist")))


def _target(r: _Reader, name: str, raw: Any, *, python: str, resolver: str,
            groups: dict[str, tuple[str, ...]], indexes: dict[str, Index]) -> Target | None:
    key = f"targets.{name}"
    if not _NAME.match(name):
        r.problem(key, "invalid target name; use letters, digits, '-', '_' and '.'")
        return None
    spec = r.table(raw, key)
    r.unknown(spec, key, ("platform", "cuda", "gpus", "sources", "dependencies", "groups",
                          "glibc", "resolver"))
    platform = r.string(spec, key, "platform", required=True, example='platform = "linux/amd64"')
    if platform is not None and platform not in PLATFORMS:
        close = difflib.get_close_matches(platform, PLATFORMS, n=1)
        fix = f'did you mean "{close[0]}"?' if close else f"use one of: {', '.join(PLATFORMS)}"
        r.problem(f"{key}.platform", f'unknown platform "{platform}"; {fix}')
        platform = None
    cuda = r.string(spec, key, "cuda", pattern=_CUDA, example='cuda = "12.4"')
    gpus = r.strings(spec, key, "gpus")
    glibc = r.string(spec, key, "glibc", pattern=_GLIBC, example='glibc = "2.28"') or DEFAULT_GLIBC
    target_resolver = r.string(spec, key, "resolver") or resolver
    if target_resolver not in _RESOLVERS:
        r.problem(f"{key}.resolver", f'unknown resolver "{target_resolver}"; use one of: {", ".join(_RESOLVERS)}')
    sources_table = r.table(spec.get("sources"), f"{key}.sources")
    sources = []
    for package, index in sorted(sources_table.items()):
        if not isinstance(index, str):
            r.problem(f"{key}.sources.{package}", f"must be an index name, not {_kind(index)}")
        elif index not in indexes:
            declared = sorted(set(indexes) - {DEFAULT_INDEX})
            close = difflib.get_close_matches(index, declared, n=1)
            fix = (f'did you mean "{close[0]}"?' if close else
                   f'declare it: [indexes] {index} = {{ url = "..." }}')
            r.problem(f"{key}.sources.{package}", f'unknown index "{index}"; {fix}')
        else:
            sources.append((canonicalize_name(package), index))
    target_groups = r.strings(spec, key, "groups")
    for position, group in enumerate(target_groups):
        if group not in groups:
            r.problem(f"{key}.groups[{position}]",
                      f'unknown dependency group "{group}"; declare it under [dependency-groups]')
    extra = r.requirements(spec, key, "dependencies")
    if platform is None:
        return None
    return Target(name=name, platform=platform, python=python, glibc=glibc, cuda=cuda,
                  gpus=tuple(gpus), sources=tuple(sources), dependencies=extra,
                  groups=tuple(g for g in target_groups if g in groups), resolver=target_resolver)
