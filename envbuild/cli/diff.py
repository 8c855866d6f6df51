"""`envbuild diff`."""

from __future__ import annotations

from pathlib import Path

import click

from envbuild.cli._boundary import emit_json
from envbuild.cli._options import json_option


@click.command(epilog="""\b
Examples:
  envbuild diff                         working envbuild.lock against the one in git HEAD
  envbuild diff old.lock new.lock
  envbuild diff --exit-code             exit 1 when anything differs (for CI)""")
@click.argument("old", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.argument("new", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--exit-code", is_flag=True, help="Exit 1 when the locks differ.")
@json_option
def diff(old: Path | None, new: Path | None, exit_code: bool, as_json: bool) -> None:
    """Compare two locks, per target: packages added, removed, changed, re-hashed.

    With no argument, compares ./envbuild.lock with its version in git HEAD; with one,
    compares that lock with its version in git HEAD.
    """
    from envbuild.lockdiff import diff_datasets, diff_locks, lock_from_git
    from envbuild.lockfile import load

    if old is not None and new is None:
        new_path = old
        before = lock_from_git(old)
    else:
        new_path = new or Path("envbuild.lock")
        before = load(old) if old else lock_from_git(new_path)
    after = load(new_path)
    diffs = diff_locks(before, after)
    data = diff_datasets(before, after)
    differs = before.lock_hash != after.lock_hash
    if as_json:
        emit_json({"old_lock_hash": before.lock_hash, "new_lock_hash": after.lock_hash,
                   "differs": differs, "targets": {d.name: d.as_dict() for d in diffs},
                   "datasets": {d.name: d.as_dict() for d in data}})
    else:
        if not differs:
            click.echo("locks are identical")
        for d in diffs:
            if d.status == "same":
                continue
            click.echo(f"target {d.name}: {d.status}")
            for line in d.added:
                click.echo(f"  + {line}")
            for line in d.removed:
                click.echo(f"  - {line}")
            for n, o, w in d.changed:
                click.echo(f"  ~ {n} {o} -> {w}")
            for n in d.rehashed:
                click.echo(f"  # {n}: same version, different file or hash")
        for ds in data:
            click.echo(f"dataset {ds.name}: {ds.status} ({ds.old or '-'} -> {ds.new or '-'})")
    if exit_code and differs:
        raise SystemExit(1)
