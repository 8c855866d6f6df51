"""`envbuild ci build`."""

from __future__ import annotations

from pathlib import Path

import click

from envbuild.cli._boundary import emit_json, info
from envbuild.cli._options import json_option, manifest_options, resolve_lock_path
from envbuild.cli.ci_plan import base_option


@click.command(epilog="""\b
Examples:
  envbuild ci build --push                  every changed or added target
  envbuild ci build --base v1.2 --push 127.0.0.1:5000/team/app --target cpu --json""")
@manifest_options
@base_option
@click.option("--push", "push", is_flag=False, flag_value="", default=None, metavar="[REF]",
              help="Push to REF, a repository (default: [image] repository); required.")
@click.option("-t", "--target", "targets", multiple=True, metavar="T",
              help="Only this target, when the plan rebuilds it (repeatable).")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="ENVBUILD_CACHE_DIR", help="The cache folder [env: ENVBUILD_CACHE_DIR].")
@json_option
def build(manifest_path: Path, lock_path: Path | None, base: str | None, push: str | None,
          targets: tuple[str, ...], cache_dir: Path | None, as_json: bool) -> None:
    """Build and push the images of the changed and added targets only; a target whose
    tag already names its digest is not sent again."""
    from envbuild.ci.build import CiBuildOptions, ci_build
    from envbuild.errors import InputError
    from envbuild.scrub import escape

    if push is None:
        raise InputError("ci build publishes its images: pass --push [REF]",
                         hint="to build without pushing, use envbuild image --target T")
    report = ci_build(CiBuildOptions(
        manifest_path=manifest_path, lock_path=resolve_lock_path(manifest_path, lock_path),
        base=base, push=push, targets=targets, cache_dir=cache_dir), info)
    if as_json:
        emit_json(report.document())
        return
    rows = [("target", "digest", "state", "seconds")]
    rows += [(b.name, b.digest, "pushed" if b.pushed else "already present", f"{b.seconds:.1f}")
             for b in report.built]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo(escape("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()))
    if report.skipped:
        click.echo(escape("unchanged, not built: " + " ".join(report.skipped)))
