"""`envbuild export`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from envbuild.cli._boundary import emit_json, info, warn
from envbuild.cli._options import json_option, manifest_options, resolve_lock_path

if TYPE_CHECKING:
    from envbuild.lockfile.model import Lock, LockedTarget


@click.command(epilog="""\b
Examples:
  envbuild export --target h100 --format pylock -o pylock.h100.toml
  envbuild export --target cpu --format requirements -o req.txt
  pip install --no-deps --require-hashes -r req.txt
  envbuild export --target h100 --format conda-lock -o conda-lock.yml
  envbuild export --target cpu --format nix -o nix/cpu
  envbuild nix build --target cpu  (nix-build with the options this host needs; by hand:
    the nix-build line in nix/cpu/default.nix's header)
  envbuild export --target cpu --format dockerfile -o build/cpu
  docker load -i build/cpu/base.tar  (a layout or archive base: see the Dockerfile's header)
  DOCKER_BUILDKIT=0 docker build --network none build/cpu""")
@manifest_options
@click.option("-t", "--target", default=None, metavar="T",
              help="The target to export (optional when the lock has one).")
@click.option("--format", "fmt", type=click.Choice(["pylock", "requirements", "conda-lock", "explicit", "nix",
                                                        "dockerfile"]),
              required=True,
              help="pylock: PEP 751 pylock.<target>.toml; requirements: for pip --require-hashes; "
                   "conda-lock: conda-lock's lockfile; explicit: an @EXPLICIT file for conda create --file; "
                   "nix: a folder with default.nix and flake.nix (-o DIR); "
                   "dockerfile: a build context folder (-o DIR).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write here (atomically) instead of standard output (a folder for nix and dockerfile).")
@json_option
def export(manifest_path: Path, lock_path: Path | None, target: str | None, fmt: str,
           output: Path | None, as_json: bool) -> None:
    """Export one target of the lock as pylock, requirements, conda-lock, explicit, nix or dockerfile."""
    from envbuild import export as core
    from envbuild.fileio import write_atomic
    from envbuild.lockfile import load
    from envbuild.manifest import load_manifest

    manifest = load_manifest(manifest_path)
    lock = load(resolve_lock_path(manifest_path, lock_path))
    chosen = core.pick_target(lock, target)
    if fmt == "dockerfile":
        _dockerfile(manifest_path, resolve_lock_path(manifest_path, lock_path), chosen.name,
                    output, as_json)
        return
    urls = core.index_urls(manifest)
    if fmt == "nix":
        return _export_nix(lock, chosen, urls, output, as_json)
    text = core.exporter(fmt)(lock, chosen, urls)
    for warning in core.export_warnings(chosen):
        warn(warning)
    if output is not None:
        write_atomic(output, text.encode())
    # The conda formats count conda packages (conda-lock also carries the PyPI ones).
    count = len(chosen.packages) if fmt in ("pylock", "requirements") else len(chosen.conda)
    if as_json:
        # Without -o the exported text travels inside the one document on standard output.
        emit_json({"format": fmt, "target": chosen.name, "packages": count,
                   "output": str(output) if output is not None else None,
                   "text": text if output is None else None})
    elif output is None:
        click.echo(text, nl=False)
    else:
        kind = "packages" if fmt in ("pylock", "requirements") else "conda packages"
        info(f"wrote {output} ({count} {kind}, target {chosen.name})")


def _export_nix(lock: Lock, chosen: LockedTarget, urls: dict[str, str], output: Path | None,
                as_json: bool) -> None:
    from envbuild import export as core
    from envbuild.errors import InputError
    from envbuild.nix.export import export_nix, refuse_beyond_wheels

    refuse_beyond_wheels(chosen)
    if output is None:
        raise InputError("--format nix writes a folder", hint="give -o DIR")
    exported = export_nix(lock, chosen, urls, output)
    for warning in core.export_warnings(chosen):
        warn(warning)
    if as_json:
        emit_json({"format": "nix", "target": chosen.name, "packages": len(exported.wheels),
                   "output": str(output), "text": None})
    else:
        info(f"wrote {output}/default.nix and flake.nix ({len(exported.wheels)} wheels, "
             f"target {chosen.name})")


def _dockerfile(manifest_path: Path, lock_path: Path, target: str, output: Path | None,
                as_json: bool) -> None:
    from envbuild.errors import InputError
    from envbuild.image.build import build_request
    from envbuild.image.dockerfile import export_context

    if output is None:
        raise InputError("--format dockerfile writes a folder", hint="give -o DIR")
    request = build_request(manifest_path, lock_path, target, offline=False, cache_dir=None,
                            progress=info)
    context = export_context(request, target, output)
    if as_json:
        emit_json({"format": "dockerfile", "target": target, "output": str(output),
                   "packages": len(context.target.packages), "from": context.base_ref,
                   "image_hash": context.image_hash})
    else:
        info(f"wrote {output} (Dockerfile FROM {context.base_ref}, "
             f"{len(context.target.packages)} wheels, target {target})")
