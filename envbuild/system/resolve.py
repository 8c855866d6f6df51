"""The closure of a target's requested Debian packages: one deterministic pass, as apt
chooses, without backtracking (a stable release holds one version of most packages).

The rule, in order:
1. Requests are taken sorted by name, then every `Essential: yes` package of the
   architecture (packages may rely on the Essential set without declaring it); each chosen
   package's `Pre-Depends` then `Depends` are followed breadth first.
2. A relation (`a (>= 1) | b`) is satisfied by a package already chosen when one can be:
   the first alternative that a chosen package satisfies, by name or through `Provides`.
3. Otherwise the first alternative that can be satisfied is chosen: a real package of that
   name first (the locked version while it satisfies and `--upgrade` is not asked, else the
   highest satisfying version), else a package providing it (a versioned relation only
   through a versioned `Provides`), the provider of highest `Priority` first, then by name.
4. One version per package: a relation the chosen version does not satisfy, and any
   `Conflicts` or `Breaks` between chosen packages, is an error naming both chains.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any

from envbuild.errors import ExternalError, InputError
from envbuild.system.packages import PackageRecord

_PRIORITY = {"required": 0, "important": 1, "standard": 2, "optional": 3, "extra": 4}
ESSENTIAL = "(Essential)"


class Unsatisfiable(InputError):
    """A request cannot be met, or two chosen packages conflict (exit 2)."""


class PinnedVersionGone(ExternalError):
    """A locked version has left the archive (exit 3): stable archives keep current versions only."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Relation:
    name: str
    op: str | None
    version: str | None

    def __str__(self) -> str:
        return f"{self.name} ({self.op} {self.version})" if self.op else self.name


@dataclass(frozen=True, kw_only=True, slots=True)
class Chosen:
    record: PackageRecord
    dependencies: tuple[str, ...]  # names of chosen packages that satisfy its relations, sorted


def compare(a: str, b: str) -> int:
    from debian.debian_support import version_compare

    return int(version_compare(a, b))


def satisfies(version: str, op: str | None, wanted: str | None) -> bool:
    if op is None or wanted is None:
        return True
    order = compare(version, wanted)
    return {"<<": order < 0, "<=": order <= 0, "<": order <= 0, "=": order == 0,
            ">=": order >= 0, ">": order >= 0, ">>": order > 0}[op]


def relations(text: str, arch: str) -> list[tuple[Relation, ...]]:
    """`Depends`-style text as groups of alternatives, for `arch`: architecture-restricted
    alternatives (`[amd64]`) that exclude it are dropped, `:any`/`:native` qualifiers read
    as the name, another architecture's qualifier cannot be met in a one-architecture set."""
    from debian.deb822 import PkgRelation

    out = []
    for group in PkgRelation.parse_relations(text) if text.strip() else []:
        alternatives = []
        for alt in group:
            restrictions = alt.get("arch")
            if restrictions and not _arch_matches(restrictions, arch):
                continue
            qualifier = alt.get("archqual")
            name = str(alt["name"]) if qualifier in (None, "any", "native", arch) else f"{alt['name']}:{qualifier}"
            wanted = alt.get("version")
            op, version = (str(wanted[0]), str(wanted[1])) if isinstance(wanted, tuple) else (None, None)
            alternatives.append(Relation(name=name, op=op, version=version))
        if alternatives:
            out.append(tuple(alternatives))
    return out


def _arch_matches(restrictions: Iterable[Any], arch: str) -> bool:
    positive = [r.arch for r in restrictions if r.enabled]
    negative = [r.arch for r in restrictions if not r.enabled]
    return (arch in positive or arch == "any") if positive else arch not in negative


class Universe:
    """The packages one index lists for one architecture, by name and by what they provide."""

    def __init__(self, records: Iterable[PackageRecord], *, arch: str, label: str) -> None:
        self.arch, self.label = arch, label
        self.by_name: dict[str, list[PackageRecord]] = {}
        seen: set[tuple[str, str]] = set()
        for record in records:
            if record.architecture in (arch, "all") and (record.name, record.version) not in seen:
                seen.add((record.name, record.version))
                self.by_name.setdefault(record.name, []).append(record)
        newest_first = cmp_to_key(_newer_first)
        for versions in self.by_name.values():
            versions.sort(key=newest_first)
        self.providers: dict[str, list[tuple[PackageRecord, str | None]]] = {}
        for versions in self.by_name.values():
            for record in versions:
                for group in relations(record.provides, arch) if record.provides else []:
                    for provided in group:
                        self.providers.setdefault(provided.name, []).append((record, provided.version))


def resolve(universe: Universe, requests: Iterable[str], *, pins: dict[str, str]) -> tuple[Chosen, ...]:
    """The closure of `requests` (Depends-syntax strings), sorted by name."""
    return _Closure(universe, pins).run(sorted(requests))


class _Closure:
    def __init__(self, universe: Universe, pins: dict[str, str]) -> None:
        self.u, self.pins = universe, pins
        self.chosen: dict[str, PackageRecord] = {}
        self.chain: dict[str, tuple[str, ...]] = {}
        self.edges: dict[str, set[str]] = {}
        self.queue: deque[str] = deque()

    def run(self, requests: list[str]) -> tuple[Chosen, ...]:
        for text in requests:
            for group in relations(text, self.u.arch):
                self._satisfy(group, ())
        self._drain()
        for name in sorted(n for n, versions in self.u.by_name.items() if versions[0].essential):
            self._satisfy((Relation(name=name, op=None, version=None),), (ESSENTIAL,))
        self._drain()
        self._check_conflicts()
        return tuple(Chosen(record=self.chosen[n], dependencies=tuple(sorted(self.edges[n] - {n})))
                     for n in sorted(self.chosen))

    def _drain(self) -> None:
        while self.queue:
            name = self.queue.popleft()
            record = self.chosen[name]
            for group in relations(record.pre_depends, self.u.arch) + relations(record.depends, self.u.arch):
                satisfier = self._satisfy(group, (*self.chain[name], name))
                self.edges[name].add(satisfier)

    def _satisfy(self, group: tuple[Relation, ...], chain: tuple[str, ...]) -> str:
        """The name of the chosen package that satisfies `group`, choosing one if needed."""
        for alt in group:
            found = self._chosen_for(alt)
            if found is not None:
                return found
        for alt in group:
            record = self._candidate(alt, chain)
            if record is not None:
                self.chosen[record.name] = record
                self.chain[record.name] = chain
                self.edges[record.name] = set()
                self.queue.append(record.name)
                return record.name
        raise self._unsatisfiable(group, chain)

    def _chosen_for(self, alt: Relation) -> str | None:
        record = self.chosen.get(alt.name)
        if record is not None and satisfies(record.version, alt.op, alt.version):
            return record.name
        for provider, provided in self.u.providers.get(alt.name, []):
            if self.chosen.get(provider.name) is provider and _provides(provided, alt):
                return provider.name
        return None

    def _candidate(self, alt: Relation, chain: tuple[str, ...]) -> PackageRecord | None:
        if alt.name in self.chosen:
            return None  # one version per package: the chosen one does not satisfy `alt`
        versions = self.u.by_name.get(alt.name, [])
        if versions:
            pinned = self.pins.get(alt.name)
            if pinned is not None:
                match = next((r for r in versions if r.version == pinned), None)
                if match is None:
                    raise PinnedVersionGone(
                        f"{self.u.label}: {alt.name} {pinned}, locked for {self._path(chain, alt.name)}, "
                        f"is no longer in the archive (it now has {alt.name} {versions[0].version})",
                        hint="re-lock with `envbuild lock --upgrade` to take the archive's current "
                             "versions, or point [system] archive at a snapshot mirror that still holds it")
                if satisfies(match.version, alt.op, alt.version):
                    return match
            best = next((r for r in versions if satisfies(r.version, alt.op, alt.version)), None)
            if best is not None:
                return best
        providers = [(p, v) for p, v in self.u.providers.get(alt.name, [])
                     if _provides(v, alt) and p.name not in self.chosen
                     and self.u.by_name[p.name][0] is p]  # each provider's newest version only
        if not providers:
            return None
        providers.sort(key=lambda pv: (_PRIORITY.get(pv[0].priority, 5), pv[0].name))
        return providers[0][0]

    def _path(self, chain: tuple[str, ...], name: str) -> str:
        return " -> ".join((*chain, name)) if chain else name

    def _unsatisfiable(self, group: tuple[Relation, ...], chain: tuple[str, ...]) -> Unsatisfiable:
        where = " -> ".join(chain) if chain else "the request"
        if len(group) > 1:
            names = " | ".join(str(alt) for alt in group)
            return Unsatisfiable(f"{self.u.label}: {where} needs {names}: none of them can be installed",
                                 hint="check the package names and the target's architecture")
        alt = group[0]
        head = f"{self.u.label}: {self._path(chain, alt.name)}"
        if alt.name in self.chosen:
            held = self.chosen[alt.name]
            return Unsatisfiable(
                f"{head}: needs {alt}, but {held.name} {held.version} is chosen for "
                f"{self._path(self.chain[held.name], held.name)}",
                hint="the two requirements conflict; change one of the requests")
        versions = self.u.by_name.get(alt.name)
        if versions:
            return Unsatisfiable(f"{head}: needs {alt}, the archive has "
                                 + ", ".join(f"{alt.name} {r.version}" for r in versions),
                                 hint="change the version constraint, or point [system] archive at "
                                      "an archive that holds a matching version")
        if self.u.providers.get(alt.name):
            return Unsatisfiable(f"{head}: needs {alt}, which no package provides in a matching version")
        return Unsatisfiable(f"{head}: no package {alt.name} in the archive for {self.u.arch}",
                             hint="check the package name, [system] components and the target's platform")

    def _check_conflicts(self) -> None:
        problems = []
        for name in sorted(self.chosen):
            record = self.chosen[name]
            for field, text in (("conflicts with", record.conflicts), ("breaks", record.breaks)):
                for group in relations(text, self.u.arch):
                    for alt in group:
                        other = self._chosen_for(alt)
                        if other is not None and other != name:
                            held = self.chosen[other]
                            problems.append(
                                f"{self._path(self.chain[name], name)} ({record.version}) {field} {alt}, "
                                f"and {self._path(self.chain[other], other)} ({held.version}) is chosen")
        if problems:
            raise Unsatisfiable(f"{self.u.label}: " + "; ".join(problems),
                                hint="remove one of the conflicting requests")


def _newer_first(a: PackageRecord, b: PackageRecord) -> int:
    return compare(b.version, a.version)


def _provides(provided: str | None, alt: Relation) -> bool:
    """A versioned relation is met only by a versioned Provides (Debian Policy 7.5)."""
    if alt.op is None:
        return True
    return provided is not None and satisfies(provided, alt.op, alt.version)
