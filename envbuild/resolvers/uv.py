"""The default resolver: uv, run as a subprocess from its PyPI wheel.

Two uv runs per target. The first resolves (`requirements.txt` output with `# via` and
`# from` annotations: the dependency edges and each package's index; an existing output
file makes uv keep previous pins). The second asks for the exact pins with `--no-deps` as
`pylock.toml`, read with `packaging.pylock`, for every candidate file with size, hash and
upload time; envbuild then picks the one file the target installs.
Routing a package to a named index needs uv's `tool.uv.sources`, so both runs read a
generated `pyproject.toml` in a private folder.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import threading
import tomllib
import urllib.parse
from pathlib import Path

from packaging.pylock import Package, Pylock, PylockValidationError
from packaging.utils import canonicalize_name

from envbuild import platforms
from envbuild.lockfile.tomlemit import dumps
from envbuild.manifest.model import DEFAULT_INDEX, Index
from envbuild.resolvers.choose import choose_artifact
from envbuild.resolvers.interface import (
    Candidate,
    Resolution,
    ResolutionImpossible,
    ResolvedPackage,
    Resolver,
    ResolveRequest,
    ResolverError,
)
from envbuild.scrub import scrub

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)\s*(?:#\s*via\s+(.*))?$")
_EXTERNAL_SIGNS = ("could not be queried", "Failed to fetch", "error sending request", "Connection refused",
                   "401 Unauthorized", "403 Forbidden", "dns error", "timed out")
_FROM = re.compile(r"^\s+#\s*from\s+(\S+)\s*$")


_FIND_LOCK = threading.Lock()


@functools.cache
def _find_uv() -> str:
    try:
        from uv import find_uv_bin
    except ImportError:
        raise ResolverError("the uv package is not installed beside envbuild",
                            hint="reinstall envbuild: pip install envbuild") from None
    return str(find_uv_bin())


def uv_binary() -> str:
    """uv from envbuild's own installed packages, never from PATH."""
    # find_uv_bin reads sysconfig, whose lazy set-up is not thread-safe: targets resolve
    # in threads, so the first lookup is serialised.
    with _FIND_LOCK:
        return _find_uv()


class UvResolver(Resolver):
    name = "uv"

    def resolve(self, request: ResolveRequest) -> Resolution:
        work = request.workdir
        resolve_dir, pins_dir = work / "resolve", work / "pins"
        _write_project(resolve_dir, request, request.requirements)
        out = resolve_dir / "requirements.txt"
        if request.preferences and not request.upgrade:
            out.write_text("".join(f"{n}=={v}\n" for n, v in sorted(request.preferences.items())))
        args = ["pip", "compile", "pyproject.toml", "-o", out.name, "--emit-index-annotation",
                "--annotation-style", "line", *_common_args(request)]
        if request.upgrade:
            args.append("--upgrade")
        for package in request.upgrade_packages:
            args += ["--upgrade-package", package]
        if not request.allow_sdist:
            args.append("--no-build")
        if request.constraints:
            (resolve_dir / "constraints.txt").write_text("".join(f"{c}\n" for c in request.constraints))
            args += ["--constraint", "constraints.txt"]
        _run_uv(args, resolve_dir, request)
        pins, edges, index_urls = _parse_annotated(out.read_text(), request.indexes)

        _write_project(pins_dir, request, tuple(f"{n}=={v}" for n, v in sorted(pins.items())))
        _run_uv(["pip", "compile", "pyproject.toml", "-o", "pylock.toml", "--format", "pylock.toml",
                 "--no-deps", *_common_args(request)], pins_dir, request)
        candidates = _read_pylock(pins_dir / "pylock.toml")

        packages = []
        for name, version in sorted(pins.items()):
            files = candidates.get(name, [])
            artifact = choose_artifact(name, version, files, request.target,
                                       allow_sdist=_allows(request.allow_sdist, name))
            index, index_url = index_urls[name]
            packages.append(ResolvedPackage(name=name, version=version, index=index, index_url=index_url,
                                            dependencies=tuple(sorted(edges.get(name, ()))),
                                            artifact=artifact))
        return Resolution(packages=tuple(packages))


def _allows(allow_sdist: tuple[str, ...], name: str) -> bool:
    return "*" in allow_sdist or name in allow_sdist


def _write_project(folder: Path, request: ResolveRequest, requirements: tuple[str, ...]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    used = {index for _, index in request.target.sources}
    declared = [i for n, i in sorted(request.indexes.items()) if n != DEFAULT_INDEX and i.url]
    uv: dict[str, object] = {}
    if request.target.sources:
        uv["sources"] = {pkg: {"index": index} for pkg, index in request.target.sources}
    if declared:
        # An explicit index serves only the packages routed to it; others join the search.
        uv["index"] = [{"name": i.name, "url": i.url, "explicit": i.explicit and i.name in used}
                       for i in declared if i.name in used or not i.explicit]
    document = {
        "project": {"name": "envbuild-resolve", "version": "0",
                    "requires-python": f"=={request.target.python}.*",
                    "dependencies": list(requirements)},
        "tool": {"uv": uv} if uv else None,
    }
    (folder / "pyproject.toml").write_text(dumps({k: v for k, v in document.items() if v}))


def _common_args(request: ResolveRequest) -> list[str]:
    target = request.target
    # uv wants an interpreter even when resolving for another platform (to build sdists
    # for metadata); envbuild's own, so nothing is looked up on PATH.
    args = ["--python", sys.executable, "--python-version", target.python,
            "--python-platform", platforms.uv_python_platform(target.platform, target.glibc),
            "--no-header", "--quiet", "--color", "never"]
    if request.exclude_newer:
        args += ["--exclude-newer", request.exclude_newer]
        # Files on exempt indexes carry no upload time: exclude-newer cannot judge them.
        for package, index in target.sources:
            if request.indexes[index].exclude_newer_exempt:
                args += ["--exclude-newer-package", f"{package}=false"]
    return args


def _run_uv(args: list[str], cwd: Path, request: ResolveRequest) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    env.setdefault("UV_NO_PROGRESS", "1")
    try:
        proc = subprocess.run([uv_binary(), *args], cwd=cwd, env=env, capture_output=True,
                              text=True, check=False)
    except OSError as error:
        raise ResolverError(f"cannot run uv: {error}") from None
    if proc.returncode == 0:
        return
    # uv's own "error: " prefixes would double envbuild's; its lines are indented under ours.
    relayed = scrub(proc.stderr.strip() or proc.stdout.strip()).splitlines()
    message = "\n".join("  " + line.removeprefix("error: ") for line in relayed)
    target = request.target.name
    if any(sign in message for sign in _EXTERNAL_SIGNS):
        # uv reports an unreachable or refusing index inside "No solution found" too.
        raise ResolverError(f'target "{target}": an index could not be read:\n{message}',
                            hint="check the network, the index URL and its credentials "
                                 "(netrc, or UV_INDEX_<NAME>_USERNAME/_PASSWORD)")
    if "No solution found" in message or "no wheels with a matching" in message or \
            "has no usable wheels" in message or "building source distributions is disabled" in message:
        raise ResolutionImpossible(f'target "{target}": the requirements cannot be satisfied:\n{message}',
                                   hint=_impossible_hint(message))
    raise ResolverError(f'target "{target}": uv failed:\n{message}',
                        hint="check the network and the index URLs; rerun as `envbuild -v lock` for details")


def _impossible_hint(message: str) -> str:
    if "wheel" in message or "source distribution" in message:
        return ("a package has no wheel for this target; allow building it from source with "
                '[resolution] allow-sdist = ["<package>"], or pin a version that ships one')
    return "relax a version constraint, or check which target the conflict is on"


def _parse_annotated(text: str, indexes: dict[str, Index]
                     ) -> tuple[dict[str, str], dict[str, set[str]], dict[str, tuple[str, str]]]:
    """Pins, dependency edges, and each package's index as (name, URL)."""
    by_url = {i.url.rstrip("/"): n for n, i in indexes.items() if i.url}
    pins: dict[str, str] = {}
    edges: dict[str, set[str]] = {}
    index_of: dict[str, tuple[str, str]] = {}
    current = ""
    for line in text.splitlines():
        pin = _PIN.match(line)
        if pin:
            current = canonicalize_name(pin.group(1))
            pins[current] = pin.group(2)
            index_of[current] = (DEFAULT_INDEX, "")
            for parent in (pin.group(3) or "").split(","):
                parent = parent.strip()
                if parent and "(" not in parent and not parent.startswith("-"):
                    edges.setdefault(canonicalize_name(parent), set()).add(current)
            continue
        source = _FROM.match(line)
        if source and current:
            url = source.group(1).rstrip("/")
            index_of[current] = (by_url.get(url, DEFAULT_INDEX), url)
    return pins, edges, index_of


def _read_pylock(path: Path) -> dict[str, list[Candidate]]:
    try:
        lock = Pylock.from_dict(tomllib.loads(path.read_text()))
    except (tomllib.TOMLDecodeError, PylockValidationError) as error:
        raise ResolverError(f"uv wrote a pylock.toml that does not validate: {error}") from None
    out: dict[str, list[Candidate]] = {}
    for package in lock.packages:
        out[canonicalize_name(package.name)] = _candidates(package)
    return out


def _candidates(package: Package) -> list[Candidate]:
    found = []
    for wheel in package.wheels or ():
        url = wheel.url or ""
        found.append(Candidate(kind="wheel", file=wheel.name or _basename(url), url=url,
                               size=wheel.size, hash=_sha256(wheel.hashes)))
    if package.sdist is not None:
        url = package.sdist.url or ""
        found.append(Candidate(kind="sdist", file=package.sdist.name or _basename(url),
                               url=url, size=package.sdist.size, hash=_sha256(package.sdist.hashes)))
    return found


def _basename(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])


def _sha256(hashes: object) -> str | None:
    value = hashes.get("sha256") if isinstance(hashes, dict) else None
    return "sha256:" + value.lower() if isinstance(value, str) else None
