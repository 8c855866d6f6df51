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
from urllib.parse import urlsplit, urlunsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envbuild import inputfiles
from envbuild.cluster.k8snames import target_name_problem
from envbuild.errors import InputError, Problem, ProblemsError
from envbuild.hardware.versions import canonical_cuda
from envbuild.manifest.locate import LineIndex, dotted
from envbuild.manifest.model import DEFAULT_INDEX, Index, Manifest, Target
from envbuild.platforms import PLATFORMS, canonical_platform, platform_of_arch, python_problem
from envbuild.scrub import scrub

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_GLIBC = re.compile(r"^2\.\d{1,2}$")
_SECTIONS = ("project", "dependencies", "dependency-groups", "indexes", "targets", "resolution",
             "datasets", "image", "cluster", "run", "system", "conda")
_RESOLVERS = ("uv", "pip-tools")
DEFAULT_GLIBC = "2.28"

HardwareCheck = Callable[[Target, Callable[[str, str], None]], None]


class _Reader:
    """Typed getters over the parsed TOML that record problems instead of raising."""

    def __init__(self, file: str, lines: LineIndex) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(
            Problem(file=self.file, line=self.lines.line_of(key), key=key, message=message)
        )

    def warn(self, key: str, message: str) -> None:
        self.warnings.append(
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
                self.problem(f"{key}.{dotted(name)}" if key else dotted(name), f"unknown key{fix}")

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
    python = r.string(project, "project", "python", required="project" in data,
                      example='python = "3.11"') or "3.11"
    python_issue = python_problem(python)
    if python_issue is not None:
        r.problem("project.python", python_issue)
    exclude_newer = r.string(project, "project", "exclude-newer",
                             example='exclude-newer = "2025-06-01T00:00:00Z"')
    if exclude_newer is not None:
        exclude_newer = _timestamp(r, exclude_newer)

    deps = r.table(data.get("dependencies"), "dependencies")
    r.unknown(deps, "dependencies", ("python", "conda"))
    dependencies = r.requirements(deps, "dependencies", "python")

    groups_table = r.table(data.get("dependency-groups"), "dependency-groups")
    groups = {g: r.requirements(groups_table, "dependency-groups", g) for g in sorted(groups_table)}

    indexes = _indexes(r, r.table(data.get("indexes"), "indexes"))
    from envbuild.manifest import conda

    conda_settings = conda.parse_conda(r, data, deps, indexes)

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
    conda.check_targets(r, conda_settings, targets, indexes)

    datasets: dict[str, Any] = {}
    if "datasets" in data:
        from envbuild.data.manifest import parse_datasets

        datasets, problems = parse_datasets(r.table(data["datasets"], "datasets"), file=file,
                                            line_of=r.lines.line_of, manifest_dir=path.parent)
        r.problems.extend(problems)

    image_base: str | None = None
    image_bases: tuple[tuple[str, str], ...] = ()
    if "image" in data:
        from envbuild.manifest.image import parse_image_settings

        try:
            settings = parse_image_settings(data["image"], file=file, lines=r.lines, folder=path.parent)
            image_base, image_bases = settings.base, settings.bases
        except ProblemsError as error:
            r.problems.extend(error.problems)

    system = None
    if "system" in data or any(isinstance(t, dict) and "system-packages" in t for t in targets_table.values()):
        from envbuild.manifest.system import parse_system

        system, problems = parse_system(data.get("system"), targets_table, file=file,
                                        line_of=r.lines.line_of, folder=path.parent)
        r.problems.extend(problems)

    if "cluster" in data or "run" in data:
        from envbuild.cluster.manifest import parse_cluster

        _, problems = parse_cluster(data, file=file, line_of=r.lines.line_of)
        r.problems.extend(problems)

    if r.problems:
        raise ProblemsError(r.problems, hint=f"fix the problems above in {path}")
    warnings = ProblemsError(r.warnings).problems  # sorted as problems are
    return Manifest(path=path, name=name, python=python, exclude_newer=exclude_newer,
                    dependencies=dependencies, groups=groups, indexes=indexes, targets=targets,
                    allow_sdist=allow_sdist, datasets=datasets, image_base=image_base,
                    image_bases=image_bases, system=system, conda_channels=conda_settings.channels,
                    conda_specs=conda_settings.specs,
                    warnings=tuple(w.render() for w in warnings))


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
        r.unknown(spec, key, ("url", "exclude-newer-exempt", "explicit", "kind"))
        from envbuild.manifest.conda import index_kind

        kind = index_kind(r, spec, key)
        url = r.string(spec, key, "url", required=True, example='url = "https://example.org/simple"')
        if url is not None and not re.match(r"^(https?|file)://", url):
            r.problem(f"{key}.url", f'"{scrub(url)}" is not an http(s) or file URL')
            url = None
        if url is not None and (secret := _index_url_secret(name, url, kind)) is not None:
            r.problem(f"{key}.url", secret)
            url = None
        exempt = spec.get("exclude-newer-exempt", False)
        explicit = spec.get("explicit", True)
        for flag, value in (("exclude-newer-exempt", exempt), ("explicit", explicit)):
            if not isinstance(value, bool):
                r.problem(f"{key}.{flag}", f"must be true or false, not {_kind(value)}")
        # Declared even when its URL was refused (a problem is recorded, so the manifest is
        # never returned): what names the index is then not told it is unknown as well.
        out[name] = Index(name=name, url=(url or "").rstrip("/"), exclude_newer_exempt=exempt is True,
                          explicit=explicit is not False, kind=kind)
    return out


def _index_url_secret(name: str, url: str, kind: str = "pypi") -> str | None:
    """Why an index URL is malformed or may carry a secret (user information, a query
    string, a fragment or `;` parameters: an index URL needs none), or None.

    Either would be written to the lock's inputs and shown by uv and pip; the message
    shows the URL masked."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parses the port, which raises on a malformed one)
    except ValueError as error:
        return f'"{scrub(url)}" is not a valid URL ({error})'
    found = [what for what, present in (("user information", "@" in parts.netloc),
                                        ("a query string", bool(parts.query)),
                                        ("a fragment", bool(parts.fragment)),
                                        ("parameters", ";" in parts.path)) if present]
    if not found:
        return None
    variable = f"UV_INDEX_{re.sub(r'[^A-Z0-9]', '_', name.upper())}"
    # Every part that may hold the secret is masked in the message.
    path, params, _ = parts.path.partition(";")
    shown = scrub(urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))) \
        + (";***" if params else "") + ("#***" if parts.fragment else "")
    if kind == "conda":  # the channel client is given no credentials at all
        return (f'"{shown}" has {" and ".join(found)}, where a token or password would be '
                "written to the lock's inputs and shown in messages; remove it: conda channels "
                "are read without credentials (private channels are not supported yet)")
    return (f'"{shown}" has {" and ".join(found)}, where a token or password would be '
            "written to the lock's inputs and shown in messages; remove it and give the "
            f"credentials through netrc or {variable}_USERNAME/{variable}_PASSWORD")


def _allow_sdist(r: _Reader, resolution: dict[str, Any]) -> tuple[str, ...]:
    value = resolution.get("allow-sdist", [])
    if value is True:
        return ("*",)
    if value is False:
        return ()
    return tuple(sorted(canonicalize_name(n) for n in r.strings(resolution, "resolution", "allow-sdist")))


def _target(r: _Reader, name: str, raw: Any, *, python: str, resolver: str,
            groups: dict[str, tuple[str, ...]], indexes: dict[str, Index]) -> Target | None:
    key = dotted("targets", name)
    if (problem := target_name_problem(name)) is not None:
        r.problem(key, problem)
        return None
    if not isinstance(raw, dict):
        r.table(raw, key)  # "must be a table"; a missing platform would only repeat it
        return None
    spec = raw
    r.unknown(spec, key, ("platform", "cuda", "gpus", "sources", "dependencies", "groups",
                          "glibc", "resolver", "base", "system-packages", "conda"))
    platform = _platform(r, key, r.string(spec, key, "platform", required=True,
                                          example='platform = "linux/amd64"'))
    problems_before = len(r.problems)
    cuda = _cuda(r, key, r.string(spec, key, "cuda", example='cuda = "12.4"'))
    gpus = _gpus(r, key, r.strings(spec, key, "gpus"))
    # Hardware rules judge well-spelled hardware only: a misspelt cuda or GPU is reported
    # once, not again as "gpus without cuda" or an unsupported pair.
    hardware_spelled = len(r.problems) == problems_before
    glibc = r.string(spec, key, "glibc", pattern=_GLIBC, example='glibc = "2.28"') or DEFAULT_GLIBC
    target_resolver = r.string(spec, key, "resolver") or resolver
    if target_resolver not in _RESOLVERS:
        r.problem(f"{key}.resolver", f'unknown resolver "{target_resolver}"; use one of: {", ".join(_RESOLVERS)}')
    sources_table = r.table(spec.get("sources"), f"{key}.sources")
    sources = []
    for package, index in sorted(sources_table.items()):
        if not isinstance(index, str):
            r.problem(f"{key}.sources.{dotted(package)}", f"must be an index name, not {_kind(index)}")
        elif index not in indexes:
            declared = sorted(set(indexes) - {DEFAULT_INDEX})
            close = difflib.get_close_matches(index, declared, n=1)
            fix = (f'did you mean "{close[0]}"?' if close else
                   f'declare it: [indexes] {index} = {{ url = "..." }}')
            r.problem(f"{key}.sources.{dotted(package)}", f'unknown index "{index}"; {fix}')
        else:
            sources.append((canonicalize_name(package), index))
    target_groups = r.strings(spec, key, "groups")
    for position, group in enumerate(target_groups):
        if group not in groups:
            r.problem(f"{key}.groups[{position}]",
                      f'unknown dependency group "{group}"; declare it under [dependency-groups]')
    extra = r.requirements(spec, key, "dependencies")
    from envbuild.manifest.conda import match_specs

    conda_specs = match_specs(r, spec, key, "conda")
    base = r.string(spec, key, "base", example='base = "oci:base-arm64"')
    if base is not None:
        from envbuild.manifest.image import base_problem

        if (why := base_problem(base)) is not None:
            r.problem(f"{key}.base", why)
    if platform is None or not hardware_spelled:
        return None
    return Target(name=name, platform=platform, python=python, glibc=glibc, cuda=cuda,
                  gpus=tuple(gpus), sources=tuple(sources), dependencies=extra,
                  groups=tuple(g for g in target_groups if g in groups), resolver=target_resolver,
                  base=base, conda=conda_specs)


def _platform(r: _Reader, key: str, platform: str | None) -> str | None:
    """The canonical platform; another spelling of one (`linux/x86_64`) is read as it, with
    a warning naming the canonical spelling (both hash alike)."""
    if platform is None or platform in PLATFORMS:
        return platform
    canonical = canonical_platform(platform)
    if canonical is not None:
        r.warn(f"{key}.platform", f'"{platform}" is read as "{canonical}"; write '
                                  f'platform = "{canonical}" to silence this warning')
        return canonical
    # A bare machine name ("x86_64") lacks its OS: suggested as linux, never accepted.
    close = platform_of_arch(platform) or next(iter(difflib.get_close_matches(platform, PLATFORMS, n=1)),
                                               None)
    fix = f'did you mean "{close}"?' if close else f"use one of: {', '.join(PLATFORMS)}"
    r.problem(f"{key}.platform", f'unknown platform "{platform}"; {fix}')
    return None


def _cuda(r: _Reader, key: str, cuda: str | None) -> str | None:
    """The canonical CUDA `major.minor` (`"12.4.0"` -> `"12.4"`)."""
    canonical = canonical_cuda(cuda) if cuda is not None else None
    if cuda is not None and canonical is None:
        from envbuild.hardware.validate import cuda_spelling_problem

        r.problem(f"{key}.cuda", cuda_spelling_problem(cuda))
    return canonical


def _gpus(r: _Reader, key: str, gpus: tuple[str, ...]) -> tuple[str, ...]:
    """The GPUs under the hardware data's own names (`h100` -> `H100`), each listed once."""
    if not gpus:
        return ()
    from envbuild.hardware.validate import canonical_gpu, unknown_gpu_problem

    names = [canonical_gpu(gpu) for gpu in gpus]
    for position, (gpu, name) in enumerate(zip(gpus, names, strict=True)):
        if name is None:
            r.problem(f"{key}.gpus[{position}]", unknown_gpu_problem(gpu))
        elif names.index(name) < position:
            r.problem(f"{key}.gpus[{position}]", f'"{gpu}" is {name} again '
                                                 f"(gpus[{names.index(name)}]); list each GPU once")
    return tuple(name or gpu for gpu, name in zip(gpus, names, strict=True))
