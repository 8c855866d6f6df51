"""`envbuild image`."""

from __future__ import annotations

from pathlib import Path

import click

from envbuild.cli._boundary import emit_json, info
from envbuild.cli._options import json_option, manifest_options, resolve_lock_path


@click.command(epilog="""\b
Examples:
  envbuild image --output oci:build/image
  envbuild image --target cpu --target arm --output oci:out --json
  envbuild image --push                      (to [image] repository, tag lock-<hash>)
  envbuild image --push 127.0.0.1:5000/team/app --load
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) envbuild image --offline""")
@manifest_options
@click.option("-t", "--target", "targets", multiple=True, metavar="T",
              help="Build this target (repeatable; default: every target).")
@click.option("-o", "--output", default=None, metavar="oci:DIR",
              help="Write an OCI image layout here (replaced only when the build succeeds) "
                   "[default: oci:image, or none with --push/--load].")
@click.option("--push", "push", is_flag=False, flag_value="", default=None, metavar="[REF]",
              help="Push to REF, a repository (default: [image] repository), tagged "
                   "lock-<image hash>; skipped when the tag already has this digest.")
@click.option("--load", is_flag=True, help="Load into the local Docker engine (DOCKER_HOST).")
@click.option("--offline", is_flag=True, help="Use the cache only; fail naming what is missing.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="ENVBUILD_CACHE_DIR", help="The cache folder [env: ENVBUILD_CACHE_DIR].")
@json_option
def image(manifest_path: Path, lock_path: Path | None, targets: tuple[str, ...],
          output: str | None, push: str | None, load: bool, offline: bool,
          cache_dir: Path | None, as_json: bool) -> None:
    """Build bit-for-bit OCI images of locked targets, without a daemon."""
    from envbuild.image.build import ImageOptions, image_command

    if output is None and push is None and not load:
        output = "oci:image"
    report = image_command(ImageOptions(
        manifest_path=manifest_path, lock_path=resolve_lock_path(manifest_path, lock_path),
        targets=targets, output=output, push=push, load=load, offline=offline,
        cache_dir=cache_dir), info)
    if as_json:
        emit_json(report.document())
        return
    for name, target in sorted(report.build.targets.items()):
        rebuilt = sum(1 for layer in target.layers if not layer.reused)
        click.echo(f"{name}  {target.digest}  {len(target.layers)} layers "
                   f"({rebuilt} rebuilt)  {target.size} bytes")
    for pushed in report.pushed:
        state = "unchanged" if pushed.unchanged else f"{len(pushed.uploaded)} blobs sent"
        click.echo(f"pushed {pushed.reference}  {pushed.digest}  ({state})")
    for tag in report.loaded:
        click.echo(f"loaded {tag}")
