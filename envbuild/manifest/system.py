"""The manifest's `[system]` table (Debian system packages, issue 11) and each target's
`system-packages` extras.

    [system]
    distribution = "debian:bookworm"
    archive = "http://..."          # optional; default: the one apt uses on this machine
    archive-name = "snapshot"       # optional; the name the lock records (default "default")
    keyring = "keys/archive.gpg"    # optional; default: debian-archive-keyring
    components = ["main"]           # optional
    packages = ["python3.11", "libgomp1 (>= 12)"]

The archive's URL never enters the lock or any hash: the lock records the archive by name,
so a lock made through a mirror works against the archive and the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from envbuild.errors import Problem
from envbuild.manifest.locate import dotted
from envbuild.scrub import scrub

DEFAULT_ARCHIVE = "default"
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
DISTRIBUTIONS = ("debian",)  # later: ubuntu
_CODENAME = re.compile(r"[a-z][a-z0-9-]{1,31}")
_ARCHIVE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_COMPONENT = re.compile(r"[a-z][a-z0-9-]{0,31}")
# A Debian package name (Policy 5.6.1), optionally one version constraint in Depends syntax.
PACKAGE_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_REQUEST = re.compile(r"(?P<name>[a-z0-9][a-z0-9+.-]+)"
                      r"(?:\s*\(\s*(?P<op><<|<=|=|>=|>>)\s*(?P<version>[A-Za-z0-9.+~:-]+)\s*\))?")
_KEYS = ("distribution", "archive", "archive-name", "keyring", "components", "packages")

LineOf = Callable[[str], "int | None"]


@dataclass(frozen=True, kw_only=True, slots=True)
class SystemSpec:
    """`[system]` as read: what every Linux target locks, plus each target's extras."""

    distribution: str  # "debian:bookworm"
    archive: str  # the name the lock records: "default" unless `archive-name` says otherwise
    archive_url: str | None  # None: the archive apt uses on this machine (never hashed)
    keyring: Path  # the keyring gpgv checks InRelease against
    components: tuple[str, ...]
    packages: tuple[str, ...]  # requests as written and checked ("name" or "name (op version)")
    extras: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (target name, its system-packages)

    @property
    def codename(self) -> str:
        return self.distribution.partition(":")[2]

    def packages_for(self, target: str) -> tuple[str, ...]:
        """The target's requests: [system] packages, then its own extras, sorted, each once."""
        return tuple(sorted({*self.packages, *dict(self.extras).get(target, ())}))


def request_parts(text: str) -> tuple[str, str | None, str | None]:
    """(name, operator, version) of a checked request."""
    match = _REQUEST.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    return match["name"], match["op"], match["version"]


def parse_system(raw: Any, targets: dict[str, Any], *, file: str, line_of: LineOf,
                 folder: Path) -> tuple[SystemSpec | None, list[Problem]]:
    """`[system]` and every target's `system-packages`; problems are collected, not raised."""
    problems: list[Problem] = []

    def problem(key: str, message: str) -> None:
        problems.append(Problem(file=file, line=line_of(key), key=key, message=message))

    extras = _extras(targets, problem)
    if raw is None:
        for name, _ in extras:
            problem(f"{dotted('targets', name)}.system-packages",
                    'system packages need a [system] table; add [system] distribution = "debian:bookworm"')
        return None, problems
    if not isinstance(raw, dict):
        problem("system", "must be a table")
        return None, problems
    for key in sorted(set(raw) - set(_KEYS)):
        problem(f"system.{dotted(key)}", f"unknown key; allowed: {', '.join(_KEYS)}")
    distribution = _distribution(raw.get("distribution"), problem)
    url = _archive_url(raw.get("archive"), problem)
    name = _string(raw, "archive-name", problem, DEFAULT_ARCHIVE)
    if not _ARCHIVE_NAME.fullmatch(name):
        problem("system.archive-name", f'"{name[:80]}" is not an archive name (letters, digits, ".", "_", "-")')
    keyring_text = _string(raw, "keyring", problem, DEFAULT_KEYRING)
    keyring = Path(keyring_text) if Path(keyring_text).is_absolute() else folder / keyring_text
    components = _list(raw, "components", problem, ["main"])
    for position, component in enumerate(components):
        if not _COMPONENT.fullmatch(component):
            problem(f"system.components[{position}]", f'"{component[:80]}" is not an archive component')
    packages = _requests(raw, "system", problem)
    if not packages and not extras:
        problem("system.packages", 'no system packages requested; add packages = ["ca-certificates"]')
    for target_name, target in sorted(targets.items()):
        platform = target.get("platform") if isinstance(target, dict) else None
        if isinstance(platform, str) and not platform.startswith("linux"):
            problem(f"{dotted('targets', target_name)}.platform",
                    f'"{platform}" is not Linux: [system] packages are Debian packages for Linux '
                    "targets; move this target to a manifest without [system]")
    if distribution is None:
        return None, problems
    return SystemSpec(distribution=distribution, archive=name, archive_url=url, keyring=keyring,
                      components=tuple(components), packages=packages, extras=extras), problems


def _extras(targets: dict[str, Any], problem: Callable[[str, str], None]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    for name, target in sorted(targets.items()):
        if isinstance(target, dict) and "system-packages" in target:
            out.append((name, _requests(target, dotted("targets", name), problem, key="system-packages")))
    return tuple(out)


def _distribution(value: Any, problem: Callable[[str, str], None]) -> str | None:
    if value is None:
        problem("system", 'missing required key "distribution"; add distribution = "debian:bookworm"')
        return None
    family, _, codename = value.partition(":") if isinstance(value, str) else ("", "", "")
    if family not in DISTRIBUTIONS or not _CODENAME.fullmatch(codename):
        problem("system.distribution", f'"{str(value)[:80]}" is not a distribution envbuild locks; '
                                       'write "debian:<codename>", e.g. "debian:bookworm"')
        return None
    return str(value)


def _archive_url(value: Any, problem: Callable[[str, str], None]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(r"^(https?|file)://", value):
        problem("system.archive", f'"{scrub(str(value))[:120]}" is not an http(s) or file URL')
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (parses the port, which raises on a malformed one)
    except ValueError as error:
        problem("system.archive", f'"{scrub(value)}" is not a valid URL ({error})')
        return None
    if "@" in parts.netloc or parts.query or parts.fragment:
        problem("system.archive", f'"{scrub(value)}" has user information, a query or a fragment, '
                                  "which would show in messages; remove it (archives are read without credentials)")
        return None
    return value.rstrip("/")


def _string(raw: dict[str, Any], key: str, problem: Callable[[str, str], None], default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        problem(f"system.{key}", "must be a non-empty string")
        return default
    return value


def _list(raw: dict[str, Any], key: str, problem: Callable[[str, str], None], default: list[str],
          where: str = "system") -> list[str]:
    value = raw.get(key, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problem(f"{where}.{key}", "must be an array of strings")
        return []
    return value


def _requests(raw: dict[str, Any], where: str, problem: Callable[[str, str], None], *,
              key: str = "packages") -> tuple[str, ...]:
    out: dict[str, str] = {}
    for position, text in enumerate(_list(raw, key, problem, [], where)):
        match = _REQUEST.fullmatch(text.strip())
        if match is None:
            problem(f"{where}.{key}[{position}]", f'"{text[:80]}" is not a Debian package name, '
                                                  'optionally with one version constraint ("libgomp1 (>= 12)")')
        elif match["name"] in out:
            problem(f"{where}.{key}[{position}]", f'"{match["name"]}" is requested twice')
        else:
            op = f' ({match["op"]} {match["version"]})' if match["op"] else ""
            out[match["name"]] = match["name"] + op
    return tuple(sorted(out.values()))
