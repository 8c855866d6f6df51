"""`envbuild cluster`: node pools and jobs pinned to the lock, per provider."""

from __future__ import annotations

from pathlib import Path

import click

from envbuild.cli._boundary import emit_json, info
from envbuild.cli._options import json_option, manifest_options, resolve_lock_path
from envbuild.cluster import PROVIDERS


@click.command(epilog="""\b
Examples:
  envbuild cluster -o deploy
  envbuild cluster --provider kubernetes --image registry.example.com/app@sha256:... -o k8s
  envbuild cluster --provider eks --provider slurm --strict --json""")
@manifest_options
@click.option("-p", "--provider", "providers", multiple=True, type=click.Choice(PROVIDERS),
              help="Emit for this provider (repeatable; default: cluster.providers).")
@click.option("-o", "--output", type=click.Path(path_type=Path, file_okay=False),
              default=Path("cluster"), show_default=True, help="Folder to write the files into.")
@click.option("--image", "images", multiple=True, metavar="[TARGET=]REF@sha256:...",
              help="Image by digest for every target, or for one (repeatable; default: the "
                   "digests `envbuild image --push` recorded beside the lock).")
@click.option("--strict", is_flag=True,
              help="Fail when an account-specific setting, a dataset's volume or the image's "
                   "recorded size is missing instead of emitting a Terraform variable, a marked "
                   "placeholder or an assumed value, and when the recorded image is stale.")
@json_option
def cluster(manifest_path: Path, lock_path: Path | None, providers: tuple[str, ...],
            output: Path, images: tuple[str, ...], strict: bool, as_json: bool) -> None:
    """Emit node pools and training jobs pinned to the lock's hash.

    Kubernetes Jobs, Karpenter NodePools, GKE and EKS node pools (Terraform) and Slurm
    sbatch scripts, from [cluster] and [run] of the manifest.
    """
    from envbuild.cluster.emit import ClusterOptions, emit_cluster

    result = emit_cluster(ClusterOptions(
        manifest_path=manifest_path, lock_path=resolve_lock_path(manifest_path, lock_path),
        output=output, providers=providers, images=images, strict=strict))
    if result.placeholders:
        info(f"warning: {len(result.placeholders)} account-specific setting"
             f"{'s are' if len(result.placeholders) != 1 else ' is'} not set; emitted as "
             "Terraform variables or marked placeholders (--strict makes this an error):")
        for placeholder in result.placeholders:
            info(f"  {placeholder.render()}")
    for note in result.notes:
        info(f"note: {note}")
    if as_json:
        emit_json(result.document())
        return
    for file in result.files:
        click.echo(str(output / file.path))
