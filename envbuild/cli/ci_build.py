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
    """Build and push the images of the changed and added targets, and of unchanged ones
    whose tag the registry lacks; a target whose tag already names its digest is not sent
    again, and one whose tag names another digest fails."""
    from envbuild.ci.build import CiBuildOptions, ci_build
    from envbuild.errors import EnvbuildError, InputError
    from envbuild.scrub import escape

    if push is None:
        raise InputError("ci build publishes its images: pass --push [REF]",
                         hint="to build without pushing, use envbuild image --target T")
    report = ci_build(CiBuildOptions(
        manifest_path=manifest_path, lock_path=resolve_lock_path(manifest_path, lock_path),
        base=base, push=push, targets=targets, cache_dir=cache_dir), info)
    if as_json:
        emit_json(report.document())
    else:
        rows = [("target", "digest", "state", "seconds")]
        rows += [(b.name, b.digest, b.state, f"{b.seconds:.1f}") for b in report.built]
        rows += [(f.name, "-", "failed", "-") for f in report.failed]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for row in rows:
            click.echo(escape("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                              .rstrip()))
        if report.skipped:
            click.echo(escape("unchanged, not built: " + " ".join(report.skipped)))
        if report.no_image:
            click.echo(escape("no image (platform): " + " ".join(report.no_image)))
    if report.failed:
        first = report.failed[0].error
        if len(report.failed) > 1:  # the boundary names the first; the others here
            for failed in report.failed[1:]:
                info(f"error: target {failed.name}: {failed.error.message}")
        error = EnvbuildError(f"target {report.failed[0].name}: {first.message}", hint=first.hint)
        error.exit_code = first.exit_code  # the first failure's kind decides the exit
        raise error
