"""What `envbuild lock` does for a target's conda packages (called from locking.core).

Conda is solved first; the PyPI packages are then resolved on top of it, constrained to the
versions conda brings of the Python distributions it installs (numpy from conda stays
numpy from conda), and every such package is left out of the PyPI set: an environment
never gets a second copy of what conda installed, and never a second Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envbuild.lockfile.conda import provided_names, provided_versions
from envbuild.lockfile.model import CondaPackage, Lock, LockedTarget

if TYPE_CHECKING:
    from envbuild.manifest.model import Manifest, Target
    from envbuild.resolvers.interface import ResolvedPackage


@dataclass(frozen=True, kw_only=True, slots=True)
class CondaLocked:
    channels: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()  # sorted
    records: tuple[CondaPackage, ...] = ()

    def constraints(self) -> tuple[str, ...]:
        """PEP 508 pins for the PyPI resolver: the Python distributions conda brings."""
        return tuple(f"{name}=={version}" for name, version in provided_versions(self.records).items())

    def on_top(self, packages: tuple[ResolvedPackage, ...]) -> tuple[ResolvedPackage, ...]:
        """The PyPI packages to install on top: those conda does not provide."""
        provided = provided_names(self.records)
        return tuple(p for p in packages if p.name not in provided)

    def fields(self) -> dict[str, Any]:
        return {"conda": self.records, "conda_channels": self.channels,
                "conda_requirements": self.requirements}


def lock_conda(manifest: Manifest, names: list[str], *, previous: Lock | None, preferred: Lock | None,
               upgrade: bool, progress: Callable[[str], None]) -> dict[str, CondaLocked]:
    """Solve the conda specs of the named targets (an empty record for those without)."""
    from envbuild.manifest.conda import specs_for

    out = {name: CondaLocked() for name in names}
    wanting = [name for name in names if specs_for(manifest, manifest.targets[name])]
    if not wanting:
        return out
    from envbuild.conda.solve import CondaRequest, solve
    from envbuild.paths import cache_dir

    channels = tuple((n, str(manifest.indexes[n].url)) for n in manifest.conda_channels)
    progress(f"solving conda packages for {', '.join(wanting)}")
    requests = []
    for name in wanting:
        target = manifest.targets[name]
        old = previous.targets.get(name) if previous is not None else None
        pinned = preferred.targets.get(name) if preferred is not None else None
        # Pins come from the last lock even when it does not prove (as PyPI preferences
        # do); a changed file is refused only against a lock that proves.
        requests.append(CondaRequest(
            target=name, platform=target.platform, python=target.python, cuda=target.cuda,
            glibc=target.glibc, specs=specs_for(manifest, target), channels=channels,
            previous=old.conda if old is not None else (pinned.conda if pinned is not None else ()),
            keep_pins=not upgrade, trusted=old is not None, exclude_newer=manifest.exclude_newer,
            exempt=tuple(n for n in manifest.conda_channels if manifest.indexes[n].exclude_newer_exempt)))
    for request, records in zip(requests, solve(requests, cache=cache_dir() / "conda"), strict=True):
        out[request.target] = CondaLocked(channels=manifest.conda_channels,
                                          requirements=tuple(sorted(set(request.specs))), records=records)
    return out


def index_flags(kind: str) -> dict[str, str]:
    """The lock's `indexes` flags for an index's kind: conda channels say so, PyPI indexes
    (every lock before conda) say nothing, so their bytes and hashes stay as they were."""
    return {"kind": "conda"} if kind == "conda" else {}


def target_inputs(manifest: Manifest, target: Target) -> dict[str, Any]:
    """The target's conda inputs (channel names and specs; never URLs), or none at all."""
    from envbuild.manifest.conda import specs_for

    specs = specs_for(manifest, target)
    if not specs:
        return {}
    return {"conda": {"channels": list(manifest.conda_channels), "specs": sorted(set(specs))}}


def recorded_changes(name: str, expected: dict[str, Any], locked: LockedTarget) -> list[str]:
    """What the lock records for conda that the manifest now contradicts."""
    want = expected.get("conda", {"channels": [], "specs": []})
    reasons = []
    if list(locked.conda_channels) != want["channels"]:
        reasons.append(f'target "{name}": the lock records conda channels {list(locked.conda_channels)}, '
                       f"the manifest says {want['channels']}")
    if list(locked.conda_requirements) != want["specs"]:
        reasons.append(f'target "{name}": the lock records conda specs {list(locked.conda_requirements)}, '
                       f"the manifest says {want['specs']}")
    return reasons


def changed_specs(expected: dict[str, Any], locked: LockedTarget) -> list[str]:
    """`+conda:SPEC`/`-conda:SPEC` and a channel change, for `lock --check`'s summary line."""
    want = expected.get("conda", {"channels": [], "specs": []})
    now, before = set(want["specs"]), set(locked.conda_requirements)
    details = [f"+conda:{s}" for s in sorted(now - before)] + [f"-conda:{s}" for s in sorted(before - now)]
    if list(locked.conda_channels) != want["channels"]:
        details.append(f"conda channels {list(locked.conda_channels)} -> {want['channels']}")
    return details
