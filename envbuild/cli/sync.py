"""`envbuild sync`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from envbuild.cli._boundary import check_failed, emit_json, info
from envbuild.cli._options import json_option, manifest_options, resolve_lock_path


@click.command(epilog="""\b
Examples:
  envbuild sync                              (.venv beside the manifest, the only target)
  envbuild sync --target cpu --venv /opt/envs/cpu
  envbuild sync --python .venv/bin/python --offline --json""")
@manifest_options
@click.option("--target", "target", default=None,
              help="The target to install (default: $ENVBUILD_TARGET, or the only one).")
@click.option("--python", "python", default=None, metavar="PATH",
              type=click.Path(path_type=Path),
              help="An existing virtual environment: its python, or its folder.")
@click.option("--venv", "venv", default=None, metavar="DIR",
              type=click.Path(path_type=Path),
              help="The virtual environment to update, made when missing "
                   "[default: .venv beside the manifest].")
@click.option("--offline", is_flag=True, help="Use the wheel cache only; fail naming what is missing.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="ENVBUILD_CACHE_DIR", help="The cache folder [env: ENVBUILD_CACHE_DIR].")
@click.option("--no-hardware", is_flag=True,
              help="Verify without the GPU and driver checks (also ENVBUILD_NO_HARDWARE=1).")
@click.option("--deep", is_flag=True, help="Verify every installed file against its RECORD.")
@json_option
def sync(manifest_path: Path, lock_path: Path | None, target: str | None, python: Path | None,
         venv: Path | None, offline: bool, cache_dir: Path | None, no_hardware: bool, deep: bool,
         as_json: bool) -> None:
    """Make or update a virtual environment exactly from one locked target, then verify it.

    Installs the target's locked wheels (from envbuild's cache, downloading only what is
    missing, each checked against its locked hash) with uv, removes every distribution
    the lock does not name (a venv made with seed packages keeps pip, setuptools and
    wheel), reinstalls ("repaired") each locked one whose installed files differ from its
    RECORD, and runs `envbuild verify` on the result: exit 1 if it fails, 2 if the
    target's platform does not fit this host.
    """
    from envbuild.sync.core import SyncOptions, sync_environment

    result = sync_environment(SyncOptions(
        manifest_path=manifest_path, lock_path=resolve_lock_path(manifest_path, lock_path),
        target=target, python=python, venv=venv, offline=offline, cache_dir=cache_dir,
        no_hardware=no_hardware, deep=deep), info, os.environ)
    if as_json:
        emit_json(result.document())
    for note in result.verdict.notes:
        info(f"note: {note}")
    if not result.verdict.ok:
        check_failed(result.verdict.render())
    counts = (f"{len(result.changes.added)} added, {len(result.changes.removed)} removed, "
              f"{len(result.changes.reinstalled)} reinstalled, "
              f"{len(result.changes.repaired)} repaired, "
              f"{len(result.downloaded)} wheel(s) downloaded")
    made = "created" if result.created else "synced"
    info(f"{made} {result.environment} from target {result.target} ({counts})")
    info(result.verdict.render())
