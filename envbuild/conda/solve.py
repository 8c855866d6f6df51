"""Solve a target's conda specs with rattler, for the target's subdir plus noarch and its
virtual packages, and turn the answer into checked lock records.

rattler is asynchronous; `solve` is the one place it is driven: one asyncio.run solves every
target concurrently through one gateway, so each channel's repodata is fetched once.
Repodata is cached in envbuild's cache (HTTP caching decides when it is fetched again).

Beyond what the solver enforces (virtual packages), a solution is refused when
- a CUDA target got the CPU build of a package whose same version has a CUDA build (the
  solver ranks builds of one version by build number and timestamp, not by the GPU; CUDA
  builds are offered to it as preferences first, so this means it could not take one);
- a CUDA toolkit or runtime package is newer than the target's CUDA version;
- a file the previous lock pins is now served with another size or hash (the channel's
  copy changed under the same name: a re-lock must not silently take it).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from envbuild.conda.virtual import subdir, virtual_packages
from envbuild.errors import CheckFailed, ExternalError, InputError
from envbuild.lockfile.conda import record_problem
from envbuild.lockfile.model import CondaPackage
from envbuild.scrub import scrub

if TYPE_CHECKING:
    from rattler import Gateway, RepoDataRecord

T = TypeVar("T")
# Packages whose version is the CUDA toolkit version they bring.
CUDA_TOOLKITS = frozenset({"cuda-version", "cuda-toolkit", "cudatoolkit", "cuda-cudart", "cuda-runtime",
                           "cuda-nvcc", "cuda-libraries"})


class CondaSolveImpossible(InputError):
    """The target's conda specs cannot be satisfied on its hardware."""


class ChannelUnreachable(ExternalError):
    """A conda channel could not be read."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CondaRequest:
    target: str  # the target's name, for messages
    platform: str
    python: str
    cuda: str | None
    glibc: str
    specs: tuple[str, ...]
    channels: tuple[tuple[str, str], ...]  # (index name, URL), by priority
    previous: tuple[CondaPackage, ...] = ()  # the last lock's records: pins and the tamper check
    keep_pins: bool = True  # False with --upgrade: previous records are only checked, not preferred
    trusted: bool = True  # the previous records come from a lock that proves: refuse changed files
    exclude_newer: str | None = None  # RFC 3339: records built later are not considered
    exempt: tuple[str, ...] = ()  # channels (index names) the cutoff does not apply to


def solve(requests: list[CondaRequest], *, cache: Path) -> list[tuple[CondaPackage, ...]]:
    """Each request's conda packages, sorted by name, solved concurrently with one gateway
    (a channel's repodata is fetched once for all targets). Raises, for the first failing
    request in the given order, CondaSolveImpossible (exit 2), ChannelUnreachable (exit 3)
    or CheckFailed (exit 1, a pinned file changed)."""
    if not requests:
        return []
    return asyncio.run(_solve_all(requests, cache))


async def _solve_all(requests: list[CondaRequest], cache: Path) -> list[tuple[CondaPackage, ...]]:
    from rattler import Gateway

    gateway = Gateway(cache_dir=cache)
    results = await asyncio.gather(*(_guarded(_solve(r, gateway), r) for r in requests),
                                   return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if not isinstance(r, BaseException)]


async def _guarded(work: Coroutine[Any, Any, T], request: CondaRequest) -> T:
    """rattler's own errors as envbuild's, naming the target and, in the hint, the target's
    values (cuda, glibc, python) or the exclude-newer cutoff the failure came from."""
    from rattler.exceptions import GatewayError, SolverError

    from envbuild.conda.hints import solver_hint

    target = request.target
    try:
        return await work
    except (_Unsolvable, SolverError) as failure:
        error = failure.error if isinstance(failure, _Unsolvable) else failure
        hint = solver_hint(str(error), cuda=request.cuda, glibc=request.glibc, python=request.python)
        dropped = failure.dropped if isinstance(failure, _Unsolvable) else []
        if dropped:
            shown = ", ".join(dropped[:5]) + (", ..." if len(dropped) > 5 else "")
            hint = (f"exclude-newer ({request.exclude_newer}) left out {len(dropped)} newer build(s) "
                    f"({shown}): move exclude-newer later, or set exclude-newer-exempt = true on the "
                    f"channel's index; or {hint}")
        raise CondaSolveImpossible(f'target "{target}": the conda packages cannot be solved:\n'
                                   f"{_indent(str(error))}", hint=hint) from None
    except GatewayError as error:
        raise ChannelUnreachable(f'target "{target}": a conda channel could not be read:\n{_indent(str(error))}',
                                 hint="check the network and the channel URLs under [indexes]") from None


class _Unsolvable(Exception):
    """rattler's SolverError with what the exclude-newer cutoff left out."""

    def __init__(self, error: Exception, dropped: list[str]) -> None:
        super().__init__(str(error))
        self.error, self.dropped = error, dropped


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in scrub(text).strip().splitlines())


async def _solve(request: CondaRequest, gateway: Gateway) -> tuple[CondaPackage, ...]:
    from rattler import BuildString, Channel, GenericVirtualPackage, PackageName, Version
    from rattler.exceptions import SolverError

    from envbuild.conda import cutoff as by_time

    platforms: list[Any] = [subdir(request.platform), "noarch"]
    cutoff = by_time.parse_cutoff(request.exclude_newer)
    channels = await by_time.sources(gateway, [Channel(url) for _, url in request.channels],
                                     [name in request.exempt for name, _ in request.channels], platforms, cutoff)
    virtual = [GenericVirtualPackage(PackageName(v.name), Version(v.version), BuildString(v.build))
               for v in virtual_packages(platform=request.platform, cuda=request.cuda, glibc=request.glibc)]
    # The previous lock's records, as the channels serve them now, are the solver's preferences.
    names = sorted({p.name for p in request.previous}) if request.keep_pins else []
    preferred = _pins(request, await _candidates(gateway, channels, platforms, names))
    # A Python that conda brings must be the target's: the PyPI packages on top are for it.
    constraints = [f"python {request.python}.*"]

    async def attempt(prefer: dict[str, RepoDataRecord]) -> list[RepoDataRecord]:
        from rattler import solve as rattler_solve

        try:
            return await rattler_solve(sources=channels, specs=list(request.specs), gateway=gateway,
                                       platforms=platforms, virtual_packages=virtual,
                                       locked_packages=list(prefer.values()), constraints=constraints)
        except SolverError as error:
            raise _Unsolvable(error, by_time.dropped(channels)) from None

    records = await attempt(preferred)
    if request.cuda is not None:
        known = await _candidates(gateway, channels, platforms, sorted({r.name.normalized for r in records}))
        cuda_first = {**preferred, **_cuda_builds(records, known)}
        if cuda_first != preferred:
            records = await attempt(cuda_first)
        _check_cuda_builds(request, records, known)
    return _locked(request, records)


async def _candidates(gateway: Gateway, channels: list[Any], platforms: list[Any],
                      names: list[str]) -> list[RepoDataRecord]:
    if not names:
        return []
    result = await gateway.query(channels, platforms, names, recursive=False)
    return [record for group in result for record in group]


def _name(spec: str) -> str:
    return spec.split(" ", 1)[0].split("[", 1)[0]


def _pins(request: CondaRequest, known: list[RepoDataRecord]) -> dict[str, RepoDataRecord]:
    """The records the previous lock chose, as the channels serve them now."""
    wanted = {(p.subdir, p.file) for p in request.previous}
    return {r.name.normalized: r for r in known if (r.subdir, r.file_name) in wanted}


def _is_cuda_build(record: RepoDataRecord) -> bool:
    return any(_name(spec) == "__cuda" for spec in record.depends)


def _cuda_builds(records: list[RepoDataRecord], known: list[RepoDataRecord]) -> dict[str, RepoDataRecord]:
    """For each chosen CPU build, the newest CUDA build of the same version, as a preference."""
    out: dict[str, RepoDataRecord] = {}
    for record in records:
        if _is_cuda_build(record):
            continue
        builds = [k for k in known if k.name.normalized == record.name.normalized
                  and str(k.version) == str(record.version) and _is_cuda_build(k)]
        if builds:
            out[record.name.normalized] = max(builds, key=lambda k: (k.build_number, k.build))
    return out


def _check_cuda_builds(request: CondaRequest, records: list[RepoDataRecord],
                       known: list[RepoDataRecord]) -> None:
    problems, hints = [], []
    chosen_builds = _builds_named(request.specs)
    cuda = request.cuda.split(".") if request.cuda is not None else []
    for name, build in sorted(_cuda_builds(records, known).items()):
        if name in chosen_builds:
            continue  # the manifest selects this package's build itself ("name * cpu*")
        chosen = next(r for r in records if r.name.normalized == name)
        needs = ", ".join(s for s in build.depends if _name(s) == "__cuda")
        floors = [m.group(1).split(".") for m in re.finditer(r">=\s*([0-9][0-9.]*)", needs)]
        if any(_newer(f, cuda) for f in floors):  # the target's CUDA is the cause, not the others
            problems.append(f"{name} {chosen.version} {chosen.build} is a CPU build; its CUDA build "
                            f"{build.build} needs {needs}, newer than the target's CUDA {request.cuda}")
            hints.append(f"raise the target's cuda, or pin a {name} version built for CUDA {request.cuda}")
        else:
            problems.append(f"{name} {chosen.version} {chosen.build} is a CPU build; its CUDA build "
                            f"{build.build} ({needs}) could not be taken with the other packages")
            hints.append(f"pin a {name} version whose CUDA build fits the other packages")
        hints.append(f'to take the CPU build on purpose, select it: "{name} * cpu*"')
    for record in records:
        version = str(record.version).split(".")
        if record.name.normalized in CUDA_TOOLKITS and request.cuda is not None and _newer(version[:2], cuda):
            problems.append(f"{record.name.normalized} {record.version} is newer than the target's "
                            f"CUDA {request.cuda}")
            # A toolkit has no CPU build: the way out is its version or the target's CUDA.
            hints.append(f"pin {record.name.normalized}={request.cuda}, or raise the target's cuda")
    if problems:
        raise CondaSolveImpossible("\n".join(f'target "{request.target}": {p}' for p in problems),
                                   hint="; ".join(dict.fromkeys(hints)))


def _builds_named(specs: tuple[str, ...]) -> set[str]:
    """The packages whose build a spec selects (`name * cpu*`, `name[build=cpu*]`)."""
    from rattler import MatchSpec

    return {_name(spec) for spec in specs if MatchSpec(spec).build is not None}


def _newer(version: list[str], cuda: list[str]) -> bool:
    try:
        return tuple(int(v) for v in version) > tuple(int(c) for c in cuda)
    except ValueError:
        return False


def _locked(request: CondaRequest, records: list[RepoDataRecord]) -> tuple[CondaPackage, ...]:
    by_url = {url.rstrip("/"): name for name, url in request.channels}
    previous = {(p.channel, p.subdir, p.file): p for p in request.previous} if request.trusted else {}
    out = []
    changed = []
    for record in sorted(records, key=lambda r: r.name.normalized):
        channel = by_url.get(str(record.channel).rstrip("/"))
        name, version, build = record.name.normalized, str(record.version), str(record.build)
        file, size, dependencies = record.file_name, record.size, list(record.depends)
        sha256 = record.sha256.hex() if record.sha256 is not None else None
        md5 = record.md5.hex() if record.md5 is not None else None
        problem = record_problem(name=name, version=version, build=build, subdir=record.subdir, file=file,
                                 size=size, sha256=sha256, md5=md5, dependencies=dependencies)
        if channel is None or problem is not None or size is None:
            why = "comes from no declared channel" if problem is None else f"{problem[0]}: {problem[1]}"
            raise ChannelUnreachable(scrub(f'target "{request.target}": channel record '
                                           f"{str(file)[:200]!r} {why}"),
                                     hint="the channel serves a malformed repodata.json; fix or replace it")
        package = CondaPackage(name=name, version=version, build=build, subdir=record.subdir,
                               channel=channel, file=file, size=size, hash=f"sha256:{sha256}",
                               md5=str(md5), dependencies=tuple(dependencies))
        before = previous.get((channel, package.subdir, package.file))
        if before is not None and (before.size, before.hash, before.md5) != (package.size, package.hash,
                                                                               package.md5):
            changed.append(f"{channel}/{package.subdir}/{package.file}: the lock pins size {before.size}, "
                           f"{before.hash}, md5 {before.md5}; the channel now serves size "
                           f"{package.size}, {package.hash}, md5 {package.md5}")
        out.append(package)
    if changed:
        raise CheckFailed("\n".join([f'target "{request.target}": a locked conda package changed '
                                     "under the same file name:", *("  " + c for c in changed)]),
                          hint="a channel must never replace a published file; check the channel "
                               "(or its mirror) before trusting it")
    return tuple(out)
