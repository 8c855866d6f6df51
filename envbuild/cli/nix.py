"""`envbuild nix`."""

from __future__ import annotations

from pathlib import Path

import click

from envbuild.cli._boundary import emit_json, info
from envbuild.cli._options import json_option, manifest_options, resolve_lock_path


@click.group()
def nix() -> None:
    """Build a locked target with Nix: its wheels, its site-packages, or an image."""


@nix.command(epilog="""\b
Examples:
  envbuild nix build --target cpu                  (the site: no nixpkgs needed)
  envbuild nix build --target cpu -A wheels --json
  envbuild nix build --target cpu -o result --export-dir nix/cpu
Exit 1: a fetched wheel is not the locked one; 2: Nix missing, or the expression does not
evaluate (an image needs nixpkgs); 3: a download or a builder failed.""")
@manifest_options
@click.option("-t", "--target", default=None, metavar="T",
              help="The target to build (optional when the lock has one).")
@click.option("-A", "--attr", default="site", show_default=True,
              type=click.Choice(["site", "wheels", "image"]),
              help="site: $out/lib/pythonX.Y/site-packages; wheels: every locked wheel; "
                   "image: an OCI image (needs nixpkgs).")
@click.option("-o", "--out-link", type=click.Path(path_type=Path), default=None,
              help="Leave a result symlink here (a GC root); default: none.")
@click.option("--export-dir", type=click.Path(path_type=Path, dir_okay=True, file_okay=False),
              default=None, help="Keep the exported expression here (default: a scratch folder).")
@click.option("--python", default=None, metavar="PATH",
              help="The interpreter that unpacks the site, by absolute path "
                   "[default: /usr/bin/python3].")
@json_option
def build(manifest_path: Path, lock_path: Path | None, target: str | None, attr: str,
          out_link: Path | None, export_dir: Path | None, python: str | None,
          as_json: bool) -> None:
    """Export the target's Nix expression and run nix-build on one attribute."""
    from envbuild.nix.build import NixOptions, nix_build_command

    report = nix_build_command(NixOptions(
        manifest_path=manifest_path, lock_path=resolve_lock_path(manifest_path, lock_path),
        target=target, attr=attr, out_link=out_link, export_dir=export_dir, python=python),
        info)
    if as_json:
        emit_json(report.document())
        return
    for output in report.outputs:
        click.echo(output)
