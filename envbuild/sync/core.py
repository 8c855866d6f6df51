"""`envbuild sync` as one core call: options in, a SyncResult out (or an error).

Order: the target must fit this host and hold only wheels, and the environment's
interpreter must be found, all before anything is downloaded or changed; then the wheels
come into envbuild's cache (the one `envbuild image` fills, so what an image build
downloaded is not downloaded again), uv installs them, and the verifier checks the result
exactly as `envbuild verify --python` does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envbuild.errors import InputError
from envbuild.lockfile.model import Lock, LockedTarget
from envbuild.runtime.verdict import Verdict
from envbuild.sync.install import Changes
from envbuild.sync.interpreter import Interpreter

Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncOptions:
    manifest_path: Path
    lock_path: Path
    target: str | None = None  # None: $ENVBUILD_TARGET, else the lock's only target
    python: Path | None = None  # an existing venv's interpreter (or the venv folder)
    venv: Path | None = None  # made when missing; None (and no python): .venv beside the manifest
    offline: bool = False
    cache_dir: Path | None = None
    no_hardware: bool = False
    deep: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncResult:
    target: str
    target_hash: str
    lock_hash: str
    environment: Path  # the venv's folder
    python: Path
    created: bool
    downloaded: tuple[str, ...]  # wheel files that were not in the cache
    changes: Changes
    verdict: Verdict

    def document(self) -> dict[str, Any]:
        return {"target": self.target, "target_hash": self.target_hash,
                "lock_hash": self.lock_hash, "environment": str(self.environment),
                "python": str(self.python), "created": self.created,
                "downloaded": list(self.downloaded), "added": list(self.changes.added),
                "removed": list(self.changes.removed),
                "reinstalled": list(self.changes.reinstalled),
                "repaired": [{"package": r.package, "problems": list(r.problems)}
                             for r in self.changes.repaired],
                "verify": self.verdict.as_json()}


def sync_environment(options: SyncOptions, progress: Progress,
                     environ: Mapping[str, str] = os.environ) -> SyncResult:
    """Make or update the environment from the lock, then verify it."""
    from envbuild.image.store import Store
    from envbuild.image.wheels import cached_wheel, ensure_wheels
    from envbuild.lockfile import load
    from envbuild.runtime.hosted import VerifyRequest, verify_lock
    from envbuild.scratch import scratch_dir
    from envbuild.sync.install import install
    from envbuild.sync.interpreter import create_venv, probe, venv_python

    if options.python is not None and options.venv is not None:
        raise InputError("--python and --venv name the environment twice; give one")
    lock = load(options.lock_path)
    target = _choose(lock, options, environ)
    _refuse_conda(target)
    _check_host(target)
    _refuse_sdists(target)
    folder, interpreter, base = _environment(options, target)
    store = Store(options.cache_dir)
    with store.locked():  # a concurrent `cache prune` must not take wheels from under uv
        packages = sorted(target.packages, key=lambda p: p.name)
        # Checked here (a damaged one dropped with a warning), so that what is downloaded is
        # known and each cached wheel is hashed once: ensure_wheels sees only the rest.
        wheels = {p.artifact.hash: path for p in packages
                  if (path := cached_wheel(store, p, warn=progress)) is not None}
        missing = [p for p in packages if p.artifact.hash not in wheels]
        wheels |= ensure_wheels(store, missing, urls=_urls(options, needed=bool(missing)),
                                offline=options.offline, progress=progress)
        if base is not None:
            progress(f"creating {folder} (Python {target.python} from {base})")
            create_venv(folder, base)
            interpreter = probe(venv_python(folder), what="--venv")
        assert interpreter is not None  # made above when it was missing
        with scratch_dir("sync", root=store.tmp) as scratch:
            changes = install(interpreter, packages, wheels, scratch)
    for line in changes.removed:
        progress(f"- {line}")
    for line in changes.added:
        progress(f"+ {line}")
    for line in changes.reinstalled:
        progress(f"~ {line} (reinstalled from its locked wheel)")
    for repair in changes.repaired:
        progress(f"~ {repair.render()}")
    _, verdict = verify_lock(VerifyRequest(
        lock_path=options.lock_path, manifest_path=options.manifest_path, target=target.name,
        deep=options.deep, no_hardware=options.no_hardware, python=interpreter.python), environ)
    return SyncResult(target=target.name, target_hash=target.hash, lock_hash=lock.lock_hash,
                      environment=folder, python=interpreter.python, created=base is not None,
                      downloaded=tuple(sorted(p.artifact.file for p in missing)),
                      changes=changes, verdict=verdict)


def _choose(lock: Lock, options: SyncOptions, environ: Mapping[str, str]) -> LockedTarget:
    from envbuild.runtime.target import RuntimeInputError, choose_target

    try:
        name = choose_target(sorted(lock.targets), options.target, environ,
                             source=str(options.lock_path))
    except RuntimeInputError as error:
        raise InputError(str(error), hint="list them with `envbuild show`") from None
    return lock.targets[name]


def _check_host(target: LockedTarget) -> None:
    """The target's OS, machine and glibc floor against this host's (exit 2 with each)."""
    from envbuild.runtime.platformcheck import check_platform, host_facts
    from envbuild.runtime.target import TargetSpec

    facts = host_facts()
    # Only the platform facts are read; the interpreter is checked where it is found.
    spec = TargetSpec(name=target.name, hash=target.hash, lock_hash=None, python=target.python,
                      cuda=target.cuda, gpus=target.gpus, driver_floor=target.driver_floor,
                      packages=(), hardware=(), platform=target.platform, glibc=target.glibc)
    problems = [m.detail for m in check_platform(spec, facts) if m.kind != "python"]
    if problems:
        raise InputError(f"target {target.name} does not fit this host: " + "; ".join(problems),
                         hint=f"sync a target locked for {facts.platform}, or run this one "
                              f"in its image (envbuild image --target {target.name})")


def _refuse_conda(target: LockedTarget) -> None:
    """A venv holds PyPI wheels only: refused before anything is made, or a half-made venv
    (the PyPI part without the conda set it sits on) would be left behind. [system]
    packages are an image's base; the Python packages on top still fit a venv."""
    if target.conda:
        raise InputError(f'target "{target.name}" has conda packages; sync makes venvs from PyPI wheels only',
                         hint=f"build it as an image: envbuild image --target {target.name}")


def _refuse_sdists(target: LockedTarget) -> None:
    sdists = sorted(f"{p.name} {p.version}" for p in target.packages if p.artifact.kind != "wheel")
    if sdists:
        raise InputError(f"target {target.name} locks source distributions: {', '.join(sdists)}; "
                         "sync installs locked wheels only (a build's output has no locked hash)",
                         hint="publish wheels of them to an index and re-lock")


def _environment(options: SyncOptions, target: LockedTarget
                 ) -> tuple[Path, Interpreter | None, Path | None]:
    """(venv folder, its interpreter, None) for an existing venv, or (folder, None, the
    host interpreter to create it from)."""
    from envbuild.sync.interpreter import (
        check_fits,
        default_venv,
        find_python,
        is_venv,
        probe,
        venv_python,
    )

    if options.python is not None:
        given = venv_python(options.python) if options.python.is_dir() else options.python
        found = probe(given, what="--python")
        check_fits(found, target=target.name, python=target.python, what="--python",
                   hint=f"give a CPython {target.python} venv's python, or --venv DIR to make one")
        return found.prefix, found, None
    folder = options.venv if options.venv is not None else default_venv(options.manifest_path)
    if is_venv(folder):
        found = probe(venv_python(folder), what="--venv")
        check_fits(found, target=target.name, python=target.python, what="--venv",
                   hint=f"remove {folder} to have sync make it again, or name another --venv")
        return folder, found, None
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(f"--venv {folder}: exists and is not a virtual environment",
                         hint="name a new folder, or an existing virtual environment")
    return folder, None, find_python(target.python)


def _urls(options: SyncOptions, *, needed: bool) -> dict[str, str]:
    """Index URLs come from the manifest. With every wheel in the cache none is needed, so
    a lock alone (no manifest beside it) syncs from a warm cache."""
    from envbuild.export import index_urls
    from envbuild.manifest import load_manifest

    if not needed and not options.manifest_path.is_file():
        return {}
    return index_urls(load_manifest(options.manifest_path))
