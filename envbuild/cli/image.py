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
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) envbuild image --offline""")
@manifest_options
@click.option("-t", "--target", "targets", multiple=True, metavar="T",
              help="Build this target (repeatable; default: every target).")
@click.option("-o", "--output", default="oci:image", show_default=True, metavar="oci:DIR",
              help="Write an OCI image layout here (replaced only when the build succeeds).")
@click.option("--offline", is_flag=True, help="Use the cache only; fail naming what is missing.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="ENVBUILD_CACHE_DIR", help="The cache folder [env: ENVBUILD_CACHE_DIR].")
@json_option
def image(manifest_path: Path, lock_path: Path | None, targets: tuple[str, ...], output: str,
          offline: bool, cache_dir: Path | None, as_json: bool) -> None:
    """Build bit-for-bit OCI images of locked targets, without a daemon."""
    from envbuild.image.build import ImageOptions, build_images

    result = build_images(ImageOptions(
        manifest_path=manifest_path, lock_path=resolve_lock_path(manifest_path, lock_path),
        targets=targets, output=output, offline=offline, cache_dir=cache_dir), info)
    if as_json:
        emit_json(result.document())
        return
    for name, target in sorted(result.targets.items()):
        rebuilt = sum(1 for layer in target.layers if not layer.reused)
        click.echo(f"{name}  {target.digest}  {len(target.layers)} layers "
                   f"({rebuilt} rebuilt)  {target.size} bytes")
