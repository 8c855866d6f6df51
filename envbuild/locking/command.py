"""What `envbuild lock` does, as one call: the memo first, then the full check or lock.

Kept free of heavy imports: a no-op or `--check` answered by the memo loads nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from envbuild.locking import fastpath


@dataclass(frozen=True, kw_only=True, slots=True)
class LockRequest:
    manifest_path: Path
    lock_path: Path
    targets: tuple[str, ...] = ()
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    check_only: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class LockOutcome:
    lock_path: Path
    lock_hash: str
    written: bool
    reasons: tuple[str, ...]  # why the lock is stale (--check only); empty when current
    resolved: tuple[str, ...]
    warnings: tuple[str, ...]


def run(request: LockRequest, progress: Callable[[str], None]) -> LockOutcome:
    """`lock --check`: report staleness (offline); `lock`: make the lock current."""
    lock_path = request.lock_path
    # A lock that pins datasets looks at the data on every `lock` (only --check is offline).
    forced = request.upgrade or bool(request.upgrade_packages) or bool(request.targets) or \
        (not request.check_only and fastpath.has_datasets(lock_path))
    known = None if forced else fastpath.current_lock_hash(request.manifest_path, lock_path)
    if known is not None:
        return LockOutcome(lock_path=lock_path, lock_hash=known, written=False, reasons=(),
                           resolved=(), warnings=())

    from envbuild.locking import core

    if request.check_only:
        before = fastpath.snapshot(request.manifest_path, lock_path)
        current, reasons = core.check(request.manifest_path, lock_path)
        if not reasons:
            fastpath.remember_current(before, request.manifest_path, lock_path, current.lock_hash)
        return LockOutcome(lock_path=lock_path, lock_hash=current.lock_hash, written=False,
                           reasons=tuple(reasons), resolved=(), warnings=())
    result = core.lock(core.LockOptions(
        manifest_path=request.manifest_path, lock_path=lock_path, targets=request.targets,
        upgrade=request.upgrade, upgrade_packages=request.upgrade_packages), progress)
    if result.written:
        # The manifest may have changed while resolving; the key then no longer matches.
        fastpath.remember_current(result.snapshot, request.manifest_path, lock_path, result.lock.lock_hash)
    return LockOutcome(lock_path=lock_path, lock_hash=result.lock.lock_hash, written=result.written,
                       reasons=(), resolved=result.resolved, warnings=result.warnings)
