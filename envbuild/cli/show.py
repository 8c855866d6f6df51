"""`envbuild show`."""

from __future__ import annotations

from pathlib import Path

import click

from envbuild.cli._boundary import emit_json
from envbuild.cli._options import json_option, manifest_options, resolve_lock_path


@click.command(epilog="""\b
Examples:
  envbuild show
  envbuild show --json | jq -r .lock_hash""")
@manifest_options
@json_option
def show(manifest_path: Path, lock_path: Path | None, as_json: bool) -> None:
    """Show the lock's targets, package counts (PyPI, conda, system), hashes and driver floors."""
    from envbuild.lockfile import load

    lock_file = resolve_lock_path(manifest_path, lock_path)
    current = load(lock_file)
    if as_json:
        emit_json({
            "lock": str(lock_file), "name": current.name, "lock_hash": current.lock_hash,
            "input_hash": current.input_hash,
            "targets": {n: {"hash": t.hash, "platform": t.platform, "python": t.python,
                            "cuda": t.cuda, "gpus": list(t.gpus), "driver_floor": t.driver_floor,
                            "packages": len(t.packages), "conda": len(t.conda), "system": len(t.system)}
                        for n, t in current.targets.items()},
            "datasets": {n: {"digest": d.get("digest"), "size": d.get("size"),
                             "files": d.get("files")} for n, d in current.datasets.items()},
        })
        return
    click.echo(f"{current.name}  {lock_file}")
    click.echo(f"lock hash   {current.lock_hash}")
    click.echo(f"input hash  {current.input_hash}")
    # pkgs: PyPI packages; conda and system: the target's conda and Debian packages.
    rows = [("target", "platform", "cuda", "gpus", "driver>=", "pkgs", "conda", "system", "hash")]
    for n, t in current.targets.items():
        rows.append((n, t.platform, t.cuda or "-", ",".join(t.gpus) or "-", t.driver_floor or "-",
                     str(len(t.packages)), str(len(t.conda)), str(len(t.system)), t.hash[:19]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    for n, d in current.datasets.items():
        click.echo(f"dataset {n}: {d.get('digest')} ({d.get('files')} files, {d.get('size')} bytes)")
