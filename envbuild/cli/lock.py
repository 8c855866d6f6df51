"""`envbuild lock`."""

from __future__ import annotations

from pathlib import Path

import click

from envbuild.cli._boundary import check_failed, emit_json, info, warn
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
    from envbuild.locking.command import LockRequest, run

    outcome = run(LockRequest(manifest_path=manifest_path,
                              lock_path=resolve_lock_path(manifest_path, lock_path), targets=targets,
                              upgrade=upgrade, upgrade_packages=upgrade_packages,
                              check_only=check_only), info)
    lock_file = outcome.lock_path
    for warning in outcome.warnings:
        warn(warning)
    if as_json:
        document = {"lock": str(lock_file), "lock_hash": outcome.lock_hash}
        emit_json({**document, "current": not outcome.reasons, "reasons": list(outcome.reasons)}
                  if check_only else
                  {**document, "written": outcome.written, "resolved": list(outcome.resolved),
                   "warnings": list(outcome.warnings)})
    if outcome.reasons:
        check_failed(f"{lock_file} is stale:\n" + "\n".join(f"  - {r}" for r in outcome.reasons)
                     + "\nrun `envbuild lock` to update it")
    if not as_json:
        info(f"wrote {lock_file} ({outcome.lock_hash})" if outcome.written
             else f"{lock_file} is up to date ({outcome.lock_hash})")
