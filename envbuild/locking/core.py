"""`envbuild lock`: resolve every target, check its hardware, write the hashed lock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envbuild.errors import CheckFailed, InputError

if TYPE_CHECKING:  # the network side loads only when a target is resolved
    from envbuild.conda.lock import CondaLocked
    from envbuild.indexclient import UrlMemo
    from envbuild.resolvers.interface import ResolvedPackage
from envbuild.fileio import exclusive_lock, write_atomic, write_error
from envbuild.inputfiles import read_input_bytes
from envbuild.lockfile import codec, reader
from envbuild.lockfile.hashes import seal, seal_target
from envbuild.lockfile.model import SCHEMA_VERSION, Artifact, Lock, LockedPackage, LockedTarget
from envbuild.locking import inputs
from envbuild.locking.hardware import check_resolution, validate_target
from envbuild.manifest import Manifest, load_manifest
from envbuild.scrub import escape

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class LockOptions:
    manifest_path: Path
    lock_path: Path
    targets: tuple[str, ...] = ()  # empty: every target
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class LockResult:
    lock: Lock
    written: bool  # False when the existing lock already matched
    resolved: tuple[str, ...]  # targets resolved in this run
    warnings: tuple[str, ...]
    # The fast-path memo key of (manifest as read, lock as written); None for a no-op or
    # when the written lock is not current (a --target run that left others stale).
    snapshot: str | None = None


def load_checked_manifest(path: Path) -> Manifest:
    return load_manifest(path, hardware_check=validate_target)


def check(manifest_path: Path, lock_path: Path) -> tuple[Lock, list[str]]:
    """Offline: the reasons the lock is stale (empty when current)."""
    manifest = load_checked_manifest(manifest_path)
    try:
        present = lock_path.exists()
    except OSError as error:  # ENAMETOOLONG, EACCES: `--lock` names no readable place
        raise InputError(f"{escape(str(lock_path))}: cannot read the lock: "
                         f"{escape(error.strerror or str(error))}") from None
    if not present:
        raise CheckFailed(f"{lock_path}: no lock file: the manifest has never been locked here",
                          hint="create it with `envbuild lock`")
    examined = reader.read(lock_path)
    return examined.lock, inputs.staleness(manifest, examined, lock_path)


def lock(options: LockOptions, progress: Progress) -> LockResult:
    manifest_bytes = _read_bytes(options.manifest_path)
    manifest = load_checked_manifest(options.manifest_path)
    unknown = sorted(set(options.targets) - set(manifest.targets))
    if unknown:
        raise InputError(f"unknown target{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}",
                         hint=f"targets in {options.manifest_path.name}: {', '.join(manifest.targets)}")
    lock_path = options.lock_path
    # The lock's folder is what is locked: two `envbuild lock` runs there wait for each
    # other, and no lock file is left in the project (users commit what they find there).
    with exclusive_lock(lock_path.parent, folder=True):
        try:
            exists = lock_path.exists()
        except OSError as error:  # a name the file system cannot hold: where it is written
            raise write_error(lock_path, error) from None
        examined = reader.read(lock_path) if exists else None
        previous = examined.lock if examined else None
        forced = options.upgrade or bool(options.upgrade_packages)
        if examined is not None and not forced and not manifest.datasets \
                and not inputs.staleness(manifest, examined, lock_path):
            return LockResult(lock=examined.lock, written=False, resolved=(), warnings=manifest.warnings)
        # With datasets, every lock looks at them again (stat and ETag hints decide what
        # is re-read), so a changed dataset is re-hashed even when the manifest is not.
        result = _relock(manifest, options, examined, progress)
        if previous is not None and result.lock == previous:
            return LockResult(lock=previous, written=False, resolved=(), warnings=result.warnings)
        write_atomic(lock_path, codec.dump(result.lock).encode("utf-8"))
        if inputs.staleness(manifest, reader.Examined(lock=result.lock, failures=()), lock_path):
            return result  # --target left another target stale: nothing to remember
        from envbuild.locking import fastpath

        # Keyed on the manifest bytes this run resolved, not on what the file holds now.
        key = fastpath.key_of(manifest_bytes, codec.dump(result.lock).encode("utf-8"), lock_path,
                              manifest_dir=manifest.folder)
        return dataclasses.replace(result, snapshot=key)


def _read_bytes(path: Path) -> bytes | None:
    try:
        return read_input_bytes(path, what="manifest")
    except InputError:  # load_manifest, right after, names the problem
        return None


def _relock(manifest: Manifest, options: LockOptions, examined: reader.Examined | None,
            progress: Progress) -> LockResult:
    # A lock that does not prove gives preferences (its pins) and nothing else: no target is
    # kept from it, no hash or dataset digest is reused.
    previous = examined.lock if examined is not None and examined.proved else None
    preferred = examined.lock if examined is not None else None
    _, per_target = inputs.all_input_hashes(manifest)
    # Nothing is kept from a lock that does not prove: every target is resolved again.
    chosen = set(options.targets or manifest.targets) if previous is preferred else set(manifest.targets)
    forced = options.upgrade or bool(options.upgrade_packages)
    pins = base_pins(manifest, previous, forced, progress)
    todo = []
    kept: dict[str, LockedTarget] = {}
    for name in sorted(manifest.targets):
        old = previous.targets.get(name) if previous else None
        current = old is not None and previous is not None \
            and inputs.target_is_current(manifest, previous, name, per_target[name])
        if name in chosen and (forced or not current):
            todo.append(name)
        elif old is not None and current and (old.base, old.base_digest) != pins[name]:
            # Only the base moved (an `oci:` layout rebuilt, a tag re-resolved): the packages
            # stand; the new pin enters the target's table, and so its hash.
            kept[name] = seal_target(dataclasses.replace(old, base=pins[name][0],
                                                         base_digest=pins[name][1]))
        elif old is not None:
            # Current, or stale but not chosen with --target: kept as locked; `lock --check`
            # still reports a stale one until it is re-locked.
            kept[name] = old
    from concurrent.futures import ThreadPoolExecutor

    from envbuild.conda.lock import index_flags, lock_conda
    from envbuild.indexclient import UrlMemo
    from envbuild.scratch import scratch_dir

    warnings = list(manifest.warnings)
    memo = UrlMemo()
    # Conda first, every target at once (one fetch of each channel); PyPI goes on top.
    conda = lock_conda(manifest, todo, previous=previous, preferred=preferred, upgrade=options.upgrade,
                       progress=progress)
    with scratch_dir("lock") as scratch:
        def one(name: str) -> tuple[LockedTarget, list[str]]:
            return _lock_target(manifest, name, per_target[name], previous, preferred, options,
                                Path(scratch) / name, memo, progress, pins[name], conda[name])

        with ThreadPoolExecutor(max_workers=min(4, max(1, len(todo)))) as pool:
            results = list(pool.map(one, todo))
    targets = dict(kept)
    for target, target_warnings in results:
        targets[target.name] = target
        warnings.extend(target_warnings)
    if manifest.system is not None:
        from envbuild.system.lock import lock_system

        targets = lock_system(manifest, targets, tuple(todo), previous=preferred.targets if preferred else {},
                              upgrade=options.upgrade, upgrade_packages=options.upgrade_packages,
                              progress=progress)
    datasets = _datasets(manifest, options.lock_path, previous, progress)
    result = seal(Lock(
        version=SCHEMA_VERSION,
        lock_hash="",
        # Over the input hashes actually recorded, so a target left stale keeps the lock stale.
        input_hash=inputs.input_hash(manifest, {n: t.input_hash for n, t in sorted(targets.items())}),
        name=manifest.name,
        python=manifest.python,
        exclude_newer=manifest.exclude_newer,
        indexes={n: {"exclude-newer-exempt": i.exclude_newer_exempt, **index_flags(i.kind)}
                 for n, i in sorted(manifest.indexes.items())},
        targets=dict(sorted(targets.items())),
        datasets=datasets,
    ))
    memo.save()
    return LockResult(lock=result, written=True, resolved=tuple(sorted(todo)), warnings=tuple(warnings))


def base_pins(manifest: Manifest, previous: Lock | None, forced: bool,
              progress: Progress) -> dict[str, tuple[str | None, str | None]]:
    """Target name -> (base as written, its manifest digest for the target's platform).

    An `oci:` layout is read every time (offline: a rebuilt layout is a new pin); a registry
    base keeps the previous lock's pin for the same reference and platform, and is resolved
    again only when it is new or with `--upgrade` (a tag that moves does not move the lock).
    """
    from envbuild.image.pin import is_offline_kind, resolve_base

    pins: dict[str, tuple[str | None, str | None]] = {}
    resolved: dict[tuple[str, str], str] = {}  # one resolution per (base, platform)
    for name, target in sorted(manifest.targets.items()):
        reference = base_reference(manifest, name)
        if reference is None:
            pins[name] = (None, None)
            continue
        if reference == "system":  # built from the target's locked Debian packages (issue 11)
            if manifest.system is None or not manifest.system.packages_for(name):
                raise InputError(f'target "{name}": [image] base = "system" builds the base from the '
                                 "target's system packages, and it has none",
                                 hint='add a [system] section with distribution = "debian:bookworm" '
                                      "and packages = [...]")
            pins[name] = ("system", None)
            continue
        old = previous.targets.get(name) if previous is not None else None
        key = (reference, target.platform)
        if old is not None and old.base == reference and old.base_digest and not forced \
                and old.platform == target.platform and not is_offline_kind(reference):
            resolved.setdefault(key, old.base_digest)
        if key not in resolved:
            if not is_offline_kind(reference):
                progress(f"resolving image base {reference} for {target.platform}")
            try:
                resolved[key] = resolve_base(reference, folder=manifest.folder, platform=target.platform)
            except InputError as error:
                raise InputError(f'target "{name}" ({target.platform}): {error.message}',
                                 hint=error.hint) from None
        pins[name] = (reference, resolved[key])
    return pins


def base_reference(manifest: Manifest, name: str) -> str | None:
    """The base the manifest names for a target, as written; InputError (exit 2) when
    [image] base is a table without the target's platform and the target names none."""
    target = manifest.targets[name]
    if not target.platform.startswith("linux/"):
        return None  # images are Linux images: a macOS target is never built on a base
    reference = manifest.base_for(target)
    if reference is None and manifest.image_bases:
        raise InputError(f'target "{name}" ({target.platform}): [image] base names no base for '
                         f"{target.platform}",
                         hint=f'add "{target.platform}" = "..." to [image] base, or give '
                              f'[targets.{name}] a base of its own')
    return reference


def _lock_target(manifest: Manifest, name: str, input_hash: str, previous: Lock | None,
                 preferred: Lock | None, options: LockOptions, workdir: Path, memo: UrlMemo,
                 progress: Progress, pin: tuple[str | None, str | None],
                 conda: CondaLocked) -> tuple[LockedTarget, list[str]]:
    from envbuild.resolvers import get_resolver
    from envbuild.resolvers.interface import Resolution, ResolveRequest

    target = manifest.targets[name]
    old = previous.targets.get(name) if previous else None
    pinned = preferred.targets.get(name) if preferred else None
    preferences = {p.name: p.version for p in pinned.packages} if pinned else {}
    requirements = manifest.requirements_for(target)
    progress(f"resolving {name} ({target.platform}"
             + (f", cuda {target.cuda}" if target.cuda else "") + ")")
    from envbuild.manifest.conda import python_indexes

    request = ResolveRequest(
        target=target, requirements=requirements, indexes=python_indexes(manifest.indexes),
        exclude_newer=manifest.exclude_newer, allow_sdist=manifest.allow_sdist,
        preferences=preferences, upgrade=options.upgrade,
        upgrade_packages=options.upgrade_packages, workdir=workdir,
        constraints=conda.constraints())
    # A target whose packages all come from conda leaves a PyPI resolver nothing to do.
    resolution = Resolution(packages=()) if conda.records and not requirements \
        else get_resolver(target.resolver).resolve(request)
    resolution = dataclasses.replace(resolution, packages=conda.on_top(resolution.packages))
    torch = next((p for p in resolution.packages if p.name == "torch"), None)
    torch_requires = None
    if target.cuda and torch is not None and torch.artifact.url:
        from envbuild.indexclient import requires_dist

        # The ranges torch declares for cuDNN, cuBLAS, NCCL...: from its PEP 658 metadata.
        torch_requires = requires_dist(torch.artifact.url, index_name=torch.index)
    report = check_resolution(target, resolution.packages, torch_requires=torch_requires)
    packages = [_locked(p, old.package(p.name) if old else None, progress, memo)
                for p in resolution.packages]
    target_in = inputs.target_inputs(manifest, target)
    hardware = list(report.consulted)
    locked = seal_target(LockedTarget(
        name=name,
        hash="",
        input_hash=input_hash, platform=target.platform, python=target.python,
        glibc=target.glibc, cuda=target.cuda, gpus=tuple(sorted(target.gpus)),
        driver_floor=report.driver_floor, resolver=target.resolver,
        requirements=tuple(target_in["requirements"]), hardware=tuple(hardware),
        packages=tuple(packages), base=pin[0], base_digest=pin[1], **conda.fields()))
    progress(f"locked {name}: {len(packages)} packages"
             + (f", {len(conda.records)} conda packages" if conda.records else ""))
    # The hardware report's warnings already name their target.
    warnings = list(report.warnings)
    if target.cuda and torch is not None and torch_requires is None:
        warnings.append(f'target "{name}": {torch.artifact.file}: its index serves no metadata file, '
                        "so the NVIDIA library versions were not checked against the ranges torch declares")
    return locked, warnings


def _locked(p: ResolvedPackage, before: LockedPackage | None, progress: Progress,
            memo: UrlMemo) -> LockedPackage:
    from envbuild.indexclient import hash_remote_file, remote_size

    a = p.artifact
    origin = "index"
    hash_, size = a.hash, a.size
    if hash_ is None and before is not None and before.artifact.file == a.file \
            and before.index == p.index:
        # Hashed by an earlier lock: the pinned hash stands, and installs verify against it.
        hash_, size, origin = before.artifact.hash, before.artifact.size, before.artifact.hash_origin
    if hash_ is not None and size is None:
        # uv hashed the file itself (the index published no hash) but reports no size;
        # the server's Content-Length gives it without a second multi-GB download.
        size, origin = remote_size(a.url, index_name=p.index), "computed"
    if hash_ is None or size is None:
        # No hash at all, or no size: download once and hash it ourselves.
        progress(f"hashing {a.file} (the index publishes no hash)")
        hash_, size = hash_remote_file(a.url, index_name=p.index)
        origin = "computed"
    if a.url and p.index_url:
        memo.remember(p.index_url, a.file, hash_, a.url)
    return LockedPackage(name=p.name, version=p.version, index=p.index,
                         dependencies=p.dependencies,
                         artifact=Artifact(kind=a.kind, file=a.file, size=size, hash=hash_,
                                           hash_origin=origin))


def _datasets(manifest: Manifest, lock_path: Path, previous: Lock | None,
              progress: Progress) -> dict[str, dict[str, Any]]:
    if not manifest.datasets:
        return {}
    from envbuild.data.lockstate import lock_datasets

    return lock_datasets(manifest.datasets, manifest_dir=manifest.folder, lock_path=lock_path,
                         previous=previous.datasets if previous else None, progress=progress)


__all__ = ["LockOptions", "LockResult", "check", "lock"]
