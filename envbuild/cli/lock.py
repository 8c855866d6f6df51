"""`envbuild lock`."""

from __future__ import annotations

from pathlib import Path

import click

from envbuild.cli._boundary import check_failed, emit_json, info
from envbuild.cli._options import json_option, manifest_options, resolve_lock_path


@click.command(epilog="""\b
Examples:
  envbuild lock                          lock every target of ./envbuild.toml
  envbuild lock --target h100            re-resolve one target, keep the others
  envbuild lock --upgrade-package torch  move torch to its newest allowed version
  envbuild lock --check                  offline: exit 1 if the lock is stale""")
@manifest_options
@click.option("-t", "--target", "targets", multiple=True, metavar="T",
              help="Resolve only this target (repeatable); others keep their pins.")
@click.option("-U", "--upgrade", is_flag=True, help="Re-resolve ignoring existing pins.")
@click.option("-P", "--upgrade-package", "upgrade_packages", multiple=True, metavar="P",
              help="Re-resolve allowing this package to move (repeatable).")
@click.option("--check", "check_only", is_flag=True,
              help="Touch no network: exit 0 if the lock matches the manifest, 1 if stale.")
@json_option
def lock(manifest_path: Path, lock_path: Path | None, targets: tuple[str, ...], upgrade: bool,
         upgrade_packages: tuple[str, ...], check_only: bool, as_json: bool) -> None:
    """Resolve every target and write the hashed lock.

    The lock records, per target, the one file each package installs from (index name,
    file name, size, sha256), the hardware facts consulted and the driver floor.
    """
    from envbuild.locking import fastpath

    lock_file = resolve_lock_path(manifest_path, lock_path)
    # A lock that pins datasets looks at the data on every `lock` (only --check is offline).
    forced = upgrade or bool(upgrade_packages) or bool(targets) or \
        (not check_only and fastpath.has_datasets(lock_file))
    known = None if forced else fastpath.current_lock_hash(manifest_path, lock_file)
    if known is not None:
        if as_json:
            document = {"lock": str(lock_file), "lock_hash": known}
            emit_json({**document, "current": True, "reasons": []} if check_only
                      else {**document, "written": False, "resolved": [], "warnings": []})
        else:
            info(f"{lock_file} is up to date ({known})")
        return

    from envbuild.locking import core

    if check_only:
        before = fastpath.snapshot(manifest_path, lock_file)
        current, reasons = core.check(manifest_path, lock_file)
        if as_json:
            emit_json({"lock": str(lock_file), "current": not reasons, "reasons": reasons,
                       "lock_hash": current.lock_hash})
        if reasons:
            check_failed(f"{lock_file} is stale:\n" + "\n".join(f"  - {r}" for r in reasons)
                         + "\nrun `envbuild lock` to update it")
        fastpath.remember_current(before, manifest_path, lock_file, current.lock_hash)
        if not as_json:
            info(f"{lock_file} is up to date ({current.lock_hash})")
        return
    options = core.LockOptions(manifest_path=manifest_path, lock_path=lock_file, targets=targets,
                               upgrade=upgrade, upgrade_packages=upgrade_packages)
    result = core.lock(options, info)
    if result.written:
        # The manifest may have changed while resolving; the key then no longer matches.
        fastpath.remember_current(result.snapshot, manifest_path, lock_file, result.lock.lock_hash)
    for warning in result.warnings:
        click.secho("warning: ", fg="yellow", err=True, nl=False)
        info(warning)
    if as_json:
        emit_json({"lock": str(lock_file), "written": result.written,
                   "resolved": list(result.resolved), "lock_hash": result.lock.lock_hash,
                   "warnings": list(result.warnings)})
    elif result.written:
        info(f"wrote {lock_file} ({result.lock.lock_hash})")
    else:
        info(f"{lock_file} is up to date ({result.lock.lock_hash})")
