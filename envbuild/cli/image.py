"""`envbuild image`."""

from __future__ import annotations

from pathlib import Path

import click

from envbuild.cli._boundary import emit_json, info
from envbuild.cli._options import json_option, manifest_options, resolve_lock_path


@click.group(invoke_without_command=True, epilog="""\b
Examples:
  envbuild image --output oci:build/image
  envbuild image --target cpu --target arm --output oci:out --json
  envbuild image --push                      (to [image] repository, tag lock-<hash>)
  envbuild image --push 127.0.0.1:5000/team/app --load
  SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) envbuild image --offline
  envbuild image --builder docker --target cpu --load   (on the engine DOCKER_HOST names)
  envbuild image --builder nix --target cpu --output oci:out   (Nix fetches the wheels)
  envbuild image inspect --target cpu --sbom (the SBOM attached at --push)""")
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
@click.option("--builder", default="oci", show_default=True, metavar="NAME",
              help="oci: envbuild's own, bit-for-bit; nix: Nix fetches and proves the wheels, same "
                   "image; docker: the Docker engine (DOCKER_HOST): the same package files and "
                   "/opt/envbuild runtime and lock, but pip's INSTALLER, RECORD, REQUESTED "
                   "and script wrappers, a working-directory layer when no files are copied, "
                   "and not the same digest.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="ENVBUILD_CACHE_DIR", help="The cache folder [env: ENVBUILD_CACHE_DIR].")
@json_option
@click.pass_context
def image(ctx: click.Context, manifest_path: Path, lock_path: Path | None, targets: tuple[str, ...],
          output: str | None, push: str | None, load: bool, offline: bool, builder: str,
          cache_dir: Path | None, as_json: bool) -> None:
    """Build bit-for-bit OCI images of locked targets, without a daemon.

    With a subcommand (inspect), only the subcommand runs."""
    from envbuild.image.build import ImageOptions, image_command

    if ctx.invoked_subcommand is not None:
        return
    if output is None and push is None and not load:
        output = "oci:image"
    report = image_command(ImageOptions(
        manifest_path=manifest_path, lock_path=resolve_lock_path(manifest_path, lock_path),
        targets=targets, output=output, push=push, load=load, offline=offline,
        cache_dir=cache_dir, builder=builder), info)
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


@image.command(epilog="""\b
Examples:
  envbuild image inspect --sbom
  envbuild image inspect --target gpu --provenance > provenance.json""")
@manifest_options
@click.option("-t", "--target", default=None, metavar="T",
              help="The target whose pushed image to inspect (default: the only one).")
@click.option("--sbom", is_flag=True, help="Print the CycloneDX SBOM.")
@click.option("--provenance", is_flag=True,
              help="Print the in-toto SLSA provenance statement.")
def inspect(manifest_path: Path, lock_path: Path | None, target: str | None,
            sbom: bool, provenance: bool) -> None:
    """Print an attestation attached to a pushed image, checked.

    The image is the one `envbuild image --push` recorded beside the lock; the document is
    read from the registry through its referrers, every digest checked, and compared with
    what the lock gives for that image: exit 1 when any byte differs. A provenance made from
    an older lock that builds the same image passes, with a note naming that lock."""
    from envbuild.errors import InputError
    from envbuild.lockfile import load
    from envbuild.supplychain.attest import inspect as inspect_core

    # Two flags, not one shared value: click would let the last of both win silently.
    if sbom and provenance:
        raise InputError("give --sbom or --provenance, not both: each prints one document",
                         hint="run inspect once for each")
    if not sbom and not provenance:
        raise InputError("give --sbom or --provenance")
    kind = "sbom" if sbom else "provenance"
    resolved = resolve_lock_path(manifest_path, lock_path)
    inspected = inspect_core(load(resolved), resolved, target, kind)
    for note in inspected.notes:
        info(f"note: {note}")
    click.echo(inspected.data.decode("utf-8"), nl=False)


@image.command("rebuild-check", epilog="""\b
Examples:
  envbuild image rebuild-check registry.example.com/team/app@sha256:...
  envbuild image rebuild-check -f app/envbuild.toml registry.example.com/team/app:lock-1a2b
Exit 0: the rebuild has the published digest; 1: it differs (the layers are listed);
2: bad input (not an envbuild image, a lock that does not prove); 3: registry unreachable.""")
@click.argument("reference", metavar="REF")
@click.option("-f", "--file", "manifest_path", type=click.Path(path_type=Path, dir_okay=False),
              default=Path("envbuild.toml"), show_default=True,
              help="The project's manifest: its [image] settings and copied files.")
@click.option("-o", "--output", default=None, metavar="oci:DIR",
              help="Also write the rebuilt image here as an OCI layout.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              envvar="ENVBUILD_CACHE_DIR", help="The cache folder [env: ENVBUILD_CACHE_DIR].")
@json_option
def rebuild_check(reference: str, manifest_path: Path, output: str | None,
                  cache_dir: Path | None, as_json: bool) -> None:
    """Rebuild a published image from the lock it carries and compare the digests.

    The lock is read out of the image and proved; the [image] settings and copied files
    are the project's (-f), the build epoch the image's created time."""
    from envbuild.cli._boundary import check_failed
    from envbuild.image.build import output_folder
    from envbuild.image.rebuildcheck import RebuildOptions
    from envbuild.image.rebuildcheck import rebuild_check as core

    result = core(RebuildOptions(
        reference=reference, manifest_path=manifest_path, cache_dir=cache_dir,
        output=output_folder(output) if output is not None else None), info)
    if as_json:
        emit_json(result.document())
    else:
        click.echo(f"{result.target}  {result.reference}")
        click.echo(f"published  {result.published}")
        click.echo(f"rebuilt    {result.rebuilt}")
    if result.same:
        if not as_json:
            click.echo("same digest: the image is what its lock and the project build")
        return
    lines = [f"{result.reference}: the rebuild differs from the published image"]
    lines += [f"  layer {x.position} ({x.name}): published {x.published or '(none)'}, "
              f"rebuilt {x.rebuilt or '(none)'}" for x in result.layers]
    if result.config_fields:
        lines.append(f"  config: {', '.join(result.config_fields)}")
    check_failed("\n".join(lines))


@image.command(epilog="""\b
Examples:
  envbuild image sign --generate-key ~/.envbuild/signing.key   (and signing.key.pub)
  envbuild image sign --key signing.key --target cpu        (the image --push recorded)
  envbuild image sign --key signing.key 127.0.0.1:5000/team/app@sha256:...""")
@manifest_options
@click.option("--key", "key_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, metavar="FILE", help="The ed25519 private key (PEM) to sign with.")
@click.option("--generate-key", "new_key", type=click.Path(path_type=Path, dir_okay=False),
              default=None, metavar="FILE",
              help="Write a new ed25519 key to FILE (mode 0600) and FILE.pub, then stop.")
@click.option("-t", "--target", default=None, metavar="T",
              help="Sign the image `envbuild image --push` recorded for T (default: the only "
                   "target, when no REF is given).")
@click.argument("ref", required=False)
def sign(manifest_path: Path, lock_path: Path | None, key_path: Path | None,
         new_key: Path | None, target: str | None, ref: str | None) -> None:
    """Sign an image digest, its SBOM and its provenance (DSSE, ed25519).

    The signature covers the image manifest digest and the digests of the SBOM and
    provenance attached to it, and is attached as one more OCI referrer. REF must name the
    image by digest: a tag is refused, as it can move after signing."""
    from envbuild.errors import InputError
    from envbuild.image.registry.interface import parse_reference
    from envbuild.lockfile import load
    from envbuild.supplychain.sign import (
        generate_key,
        load_signer,
        recorded_image,
        sign_reference,
    )

    if new_key is not None:
        if key_path is not None or ref is not None or target is not None:
            raise InputError("--generate-key only writes a key; sign in a second run")
        keyid = generate_key(new_key)
        click.echo(f"wrote the private key {click.format_filename(new_key)} (keep it secret) "
                   f"and the public key {click.format_filename(new_key)}.pub (key id "
                   f"{keyid[:16]})")
        return
    if key_path is None:
        raise InputError("give --key FILE (or --generate-key FILE to make one)")
    if ref is not None and target is not None:
        raise InputError("give REF or --target T, not both")
    signer = load_signer(key_path)
    if ref is not None:
        reference = parse_reference(ref)
    else:
        resolved = resolve_lock_path(manifest_path, lock_path)
        reference = recorded_image(load(resolved), resolved, target)
    signed = sign_reference(reference, signer)
    click.echo(f"signed {reference}  key {signed.keyid[:16]}  signature {signed.signature}")
    for artifact_type, digest in signed.attestations:
        click.echo(f"  {_KIND_NAMES.get(artifact_type, artifact_type)} {digest}")


@image.command("verify-sig", epilog="""\b
Examples:
  envbuild image verify-sig --key signing.key.pub 127.0.0.1:5000/team/app@sha256:...
  envbuild image verify-sig --key signing.key.pub 127.0.0.1:5000/team/app:lock-abc""")
@click.option("--key", "key_path", type=click.Path(path_type=Path, dir_okay=False),
              required=True, metavar="PUB", help="The ed25519 public key (PEM) to trust.")
@click.argument("ref")
def verify_sig(key_path: Path, ref: str) -> None:
    """Verify an image's signature, SBOM and provenance: exit 1 on any difference.

    Passes only when a signature attached to the image is valid for PUB, names this image
    manifest's digest, and lists exactly the SBOM and provenance attached now. A tag is
    resolved to its digest once, and that digest is what is checked."""
    from envbuild.image.registry.interface import parse_reference
    from envbuild.supplychain.sign import load_public_key, verify_reference

    key = load_public_key(key_path)
    reference = parse_reference(ref)
    signed = verify_reference(reference, key)
    click.echo(f"verified {reference.registry}/{reference.repository}@{signed.image}  key "
               f"{signed.keyid[:16]}  sbom and provenance as signed")


_KIND_NAMES = {"application/vnd.cyclonedx+json": "sbom",
               "application/vnd.in-toto+json": "provenance"}
