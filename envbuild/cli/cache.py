"""`envbuild cache`."""

from __future__ import annotations

from pathlib import Path

import click

from envbuild.cli._boundary import emit_json
from envbuild.cli._options import json_option

_CACHE_DIR = click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False),
                          default=None, envvar="ENVBUILD_CACHE_DIR",
                          help="The cache folder [env: ENVBUILD_CACHE_DIR].")


@click.group(epilog="""\b
Examples:
  envbuild cache info
  envbuild cache prune --older-than 30
  envbuild cache prune --all""")
def cache() -> None:
    """Show or prune the cache of wheels, base blobs and built layers."""


@cache.command()
@_CACHE_DIR
@json_option
def info(cache_dir: Path | None, as_json: bool) -> None:
    """Report the cache's size, by section."""
    from envbuild.image.store import Store
    from envbuild.image.usage import usage

    report = usage(Store(cache_dir))
    if as_json:
        emit_json(report.document())
        return
    click.echo(f"cache {report.root}")
    for name, files, size in report.sections:
        click.echo(f"  {name:<7} {files:>6} files  {_human(size):>10}")
    click.echo(f"  {'total':<7} {'':>12}  {_human(report.total):>10}")


@cache.command()
@_CACHE_DIR
@click.option("--older-than", "days", type=click.FloatRange(min=0), default=30.0,
              show_default=True, metavar="DAYS", help="Remove entries unused for this long.")
@click.option("--all", "everything", is_flag=True, help="Remove every entry.")
def prune(cache_dir: Path | None, days: float, everything: bool) -> None:
    """Remove unused entries (and any partial files)."""
    from envbuild.cli._boundary import info as say
    from envbuild.image.store import Store
    from envbuild.image.usage import prune as core_prune

    removed, freed = core_prune(Store(cache_dir), older_than_days=None if everything else days)
    say(f"removed {removed} files, {_human(freed)}")


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
