"""What of the manifest enters the lock, and what `lock --check` compares.

A target's inputs are everything that can change its resolution; index URLs are not among
them (a mirror must not make a lock stale), index names and flags are.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from envbuild.canonical import digest
from envbuild.conda.lock import changed_specs as changed_conda
from envbuild.conda.lock import recorded_changes as conda_changes
from envbuild.conda.lock import target_inputs as conda_inputs
from envbuild.lockfile.conda import provided_versions as conda_provided
from envbuild.lockfile.model import SCHEMA_VERSION, Lock, LockedTarget
from envbuild.manifest.model import DEFAULT_INDEX, Manifest, Target

if TYPE_CHECKING:
    from envbuild.lockfile.reader import Examined


def target_inputs(manifest: Manifest, target: Target) -> dict[str, Any]:
    routed = {index for _, index in target.sources}
    used = sorted(n for n, i in manifest.indexes.items()
                  if (n == DEFAULT_INDEX or n in routed or not i.explicit) and i.kind != "conda")
    # The base as written: where it points is a target input; the digest it resolves to is
    # a lock-time fact (kept in the target's table), compared by `base_changes`.
    reference = manifest.base_for(target) if target.platform.startswith("linux/") else None
    base = {"base": reference} if reference is not None else {}
    return {
        **base,
        **system_inputs(manifest, target),
        "schema": SCHEMA_VERSION,
        "platform": target.platform,
        "python": target.python,
        "glibc": target.glibc,
        "cuda": target.cuda,
        "gpus": sorted(target.gpus),
        "resolver": target.resolver,
        "requirements": normalised_requirements(manifest.requirements_for(target)),
        "sources": dict(target.sources),
        "indexes": {n: {"exclude-newer-exempt": manifest.indexes[n].exclude_newer_exempt,
                        "explicit": manifest.indexes[n].explicit} for n in used},
        "exclude-newer": manifest.exclude_newer,
        "allow-sdist": list(manifest.allow_sdist),
        **conda_inputs(manifest, target),
    }


def system_inputs(manifest: Manifest, target: Target) -> dict[str, Any]:
    """[system] as it decides the target's system set: the distribution, the archive's name
    (never its URL, keyring or components: a mirror must not make a lock stale) and the
    target's requests."""
    if manifest.system is None:
        return {}
    spec = manifest.system
    return {"system": {"distribution": spec.distribution, "archive": spec.archive,
                       "components": list(spec.components), "packages": list(spec.packages_for(target.name))}}


def _unlocked_requests(manifest: Manifest, target: Target, locked: LockedTarget) -> list[str]:
    """The target's requested system packages its locked system set lacks."""
    if manifest.system is None:
        return []
    from envbuild.manifest.system import request_parts
    from envbuild.system.implicit import implicit_requests

    names = {p.name for p in locked.system}
    requested = {request_parts(r)[0] for r in manifest.system.packages_for(target.name)}
    requested |= set(implicit_requests(locked))  # the manylinux baseline of its wheels, ...
    return sorted(n for n in requested if n not in names)


def system_changes(name: str, manifest: Manifest, locked: LockedTarget) -> list[str]:
    """What a target's recorded system set says that its inputs do not (an edit with the
    hashes recomputed): another distribution, a requested package missing."""
    spec = manifest.system
    if spec is None:
        return [f'target "{name}": the lock records system packages, the manifest has no [system]'] \
            if locked.system else []
    if locked.system_distribution != spec.distribution:
        return [f'target "{name}": the lock records system distribution {locked.system_distribution}, '
                f"the manifest says {spec.distribution}"]
    return [f'target "{name}": system package {n} is requested but not locked'
            for n in _unlocked_requests(manifest, manifest.targets[name], locked)]


def normalised_requirements(requirements: tuple[str, ...]) -> list[str]:
    return sorted({str(Requirement(r)) for r in requirements})


def dataset_inputs(manifest: Manifest) -> dict[str, Any]:
    if not manifest.datasets:
        return {}
    from envbuild.data.lockstate import dataset_inputs as one

    return {name: one(spec) for name, spec in sorted(manifest.datasets.items())}


def input_hash(manifest: Manifest, target_hashes: dict[str, str]) -> str:
    return digest({
        "schema": SCHEMA_VERSION,
        "name": manifest.name,
        "python": manifest.python,
        "targets": target_hashes,
        "datasets": dataset_inputs(manifest),
    })


def all_input_hashes(manifest: Manifest) -> tuple[str, dict[str, str]]:
    per_target = {n: digest(target_inputs(manifest, t)) for n, t in sorted(manifest.targets.items())}
    return input_hash(manifest, per_target), per_target


def staleness(manifest: Manifest, examined: Examined, lock_path: Path) -> list[str]:
    """Why the lock no longer matches the manifest, one line per reason; empty when current.
    A lock that does not prove (its content does not match its hashes) says so first."""
    lock = examined.lock
    overall, per_target = all_input_hashes(manifest)
    reasons: list[str] = list(examined.failures)
    if lock.name != manifest.name:
        reasons.append(f'project name changed: "{lock.name}" -> "{manifest.name}"')
    if lock.python != manifest.python:
        reasons.append(f"project python changed: {lock.python} -> {manifest.python}")
    for name in sorted(set(per_target) - set(lock.targets)):
        reasons.append(f'target "{name}" is not in the lock')
    for name in sorted(set(lock.targets) - set(per_target)):
        reasons.append(f'target "{name}" is in the lock but no longer in the manifest')
    for name in sorted(set(per_target) & set(lock.targets)):
        locked = lock.targets[name]
        if locked.input_hash != per_target[name]:
            reasons.append(_target_change(name, manifest, locked.requirements, locked))
        else:
            reasons.extend(_recorded_changes(name, manifest, locked))
        reasons.extend(hardware_changes(name, locked.hardware))
    if manifest.datasets or lock.datasets:
        from envbuild.data.lockstate import check_locked

        # Recorded inputs and listing headers only: re-reading data is `data verify`'s job.
        reasons.extend(check_locked(manifest.datasets, lock.datasets, lock_path=lock_path))
    reasons.extend(base_changes(manifest, lock))
    if not reasons and lock.input_hash != overall:
        reasons.append("the manifest's inputs changed")
    return reasons


def base_changes(manifest: Manifest, lock: Lock) -> list[str]:
    """Targets whose base now resolves to another digest than the lock pins. Offline: an
    `oci:` layout or a `docker-archive:` tarball is read again (its JSON only); a registry
    base is compared by reference only (that is `_target_change`'s), its tag re-resolved by
    `envbuild lock --upgrade`."""
    from envbuild.errors import InputError
    from envbuild.image.pin import is_offline_kind, resolve_base

    reasons = []
    for name, locked in sorted(lock.targets.items()):
        target = manifest.targets.get(name)
        if target is None or locked.base is None or locked.base_digest is None \
                or locked.base != manifest.base_for(target) or not is_offline_kind(locked.base):
            continue
        try:
            now = resolve_base(locked.base, folder=manifest.folder, platform=locked.platform)
        except InputError as error:
            reasons.append(f'target "{name}": base {locked.base} cannot be read: {error.message}')
            continue
        if now != locked.base_digest:
            reasons.append(f'target "{name}": base {locked.base} changed: the lock pins '
                           f"{locked.base_digest}, it now holds {now} for {locked.platform}")
    return reasons


def target_is_current(manifest: Manifest, lock: Lock, name: str, input_hash: str) -> bool:
    """Whether a locked target of a proved lock can be kept as it is by a re-lock."""
    locked = lock.targets[name]
    return (locked.input_hash == input_hash
            and list(locked.requirements) == target_inputs(manifest, manifest.targets[name])["requirements"]
            and not hardware_changes(name, locked.hardware))


def _recorded_changes(name: str, manifest: Manifest, locked: LockedTarget) -> list[str]:
    """A lock whose input hash matches can still record other values than its inputs imply
    (an edit with the hashes recomputed): each recorded value is compared with the
    manifest, and each top-level requirement with the version locked for it."""
    target = manifest.targets[name]
    expected = target_inputs(manifest, target)
    recorded = {"platform": locked.platform, "python": locked.python, "glibc": locked.glibc,
                "cuda": locked.cuda, "gpus": sorted(locked.gpus), "resolver": locked.resolver,
                "requirements": list(locked.requirements), "base": locked.base}
    reasons = [f'target "{name}": the lock records {key} {value}, the manifest says {expected.get(key)}'
               for key, value in recorded.items() if expected.get(key) != value]
    reasons.extend(conda_changes(name, expected, locked))
    from envbuild.platforms import environment_markers

    reasons.extend(system_changes(name, manifest, locked))
    markers = environment_markers(target.platform, target.python)
    versions = {p.name: p.version for p in locked.packages}
    versions.update(conda_provided(locked.conda))  # numpy from conda satisfies `numpy>=1.26`
    for text in expected["requirements"]:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({**markers, "extra": ""}):
            continue
        version = versions.get(canonicalize_name(requirement.name))
        if version is None:
            reasons.append(f'target "{name}": {requirement.name} is required but not locked')
        elif not requirement.specifier.contains(version, prereleases=True):
            reasons.append(f'target "{name}": {requirement.name} {version} is locked, the manifest '
                           f"requires {requirement.specifier}")
    return reasons


def _target_change(name: str, manifest: Manifest, locked_reqs: tuple[str, ...], locked: Any) -> str:
    target = manifest.targets[name]
    now = normalised_requirements(manifest.requirements_for(target))
    added = sorted(set(now) - set(locked_reqs))
    removed = sorted(set(locked_reqs) - set(now))
    details = [f"+{r}" for r in added] + [f"-{r}" for r in removed]
    details += changed_conda(target_inputs(manifest, target), locked)
    for field, old, new in (("platform", locked.platform, target.platform),
                            ("cuda", locked.cuda, target.cuda),
                            ("gpus", sorted(locked.gpus), sorted(target.gpus)),
                            ("glibc", locked.glibc, target.glibc),
                            ("base", locked.base, target_inputs(manifest, target).get("base"))):
        if old != new:
            details.append(f"{field} {'(none)' if old is None else old} -> {'(none)' if new is None else new}")
    details += [f"+system {n}" for n in _unlocked_requests(manifest, target, locked)]
    settings = "indexes, sources, exclude-newer" + (", [system]" if manifest.system or locked.system else "")
    what = ", ".join(details) if details else f"resolution settings changed ({settings})"
    return f'target "{name}": {what}'


def hardware_changes(name: str, rows: tuple[dict[str, Any], ...]) -> list[str]:
    """The consulted hardware-data rows that differ from the data file installed now."""
    if not rows:
        return []
    current = _current_rows()
    out = []
    for row in rows:
        row_id = str(row.get("row_id"))
        # A recorded miss (a lookup that found no row) is re-judged only by `lock --upgrade`.
        if not row_id.startswith("miss:") and current.get(row_id) != row:
            out.append(f'target "{name}": hardware data row "{row_id}" changed since locking')
    return out


def _current_rows() -> dict[str, dict[str, Any]]:
    from envbuild.hardware.facts import load_facts

    facts = load_facts()
    groups = (facts.cudas, facts.cuda_compats, facts.gpus, facts.torch_builds,
              facts.pypi_defaults, facts.runtime_wheels)
    return {row.row_id: row.canonical() for group in groups for row in group}
