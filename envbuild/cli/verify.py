"""`envbuild verify`: check an environment against one target of the lock."""

from __future__ import annotations

import os
from pathlib import Path

import click

from envbuild.cli._boundary import check_failed, emit_json, info
from envbuild.cli._options import json_option, manifest_options, resolve_lock_path


def verify_options(func: click.decorators.FC) -> click.decorators.FC:
    """The options `verify` and `run` share."""
    for decorator in reversed((
        click.option("--target", "target", default=None,
                     help="The target to check (default: $ENVBUILD_TARGET, or the only one)."),
        click.option("--no-hardware", is_flag=True,
                     help="Skip the GPU and driver checks (also ENVBUILD_NO_HARDWARE=1)."),
        click.option("--lock-hash", "lock_hash", default=None, metavar="H",
                     help="Fail unless the lock's hash is H."),
        click.option("--python", "python", default=None, metavar="PATH",
                     type=click.Path(path_type=Path, dir_okay=False),
                     help="The interpreter whose environment is checked [default: "
                          "the venv `envbuild sync` makes, .venv beside the manifest, when "
                          "it exists; else envbuild's own]."),
        click.option("--allow", "allow", multiple=True, metavar="NAME",
                     help="An unlocked distribution that may be present (pip, setuptools "
                          "and wheel always may)."),
    )):
        func = decorator(func)
    return func


@click.command(epilog="""\b
Examples:
  envbuild verify                             (.venv beside the manifest, if sync made it)
  envbuild verify --python /opt/envs/cpu/bin/python
  envbuild verify --target h100 --deep
  envbuild verify --no-hardware --lock-hash sha256:... --json""")
@manifest_options
@verify_options
@click.option("--deep", is_flag=True, help="Also check every installed file against its RECORD.")
@json_option
def verify(manifest_path: Path, lock_path: Path | None, target: str | None, no_hardware: bool,
           lock_hash: str | None, python: Path | None, allow: tuple[str, ...], deep: bool,
           as_json: bool) -> None:
    """Check the environment and host against one target; exit 1 listing every mismatch.

    The environment is --python's; without it, the venv `envbuild sync` makes (.venv
    beside the manifest) when it exists, else envbuild's own. Checks the Python version,
    every locked distribution at its version and nothing unlocked beside it, with --deep
    every installed file, and for GPU targets the GPU model, compute capability and
    driver floor (through NVML). A target's conda packages are checked against the conda
    prefix's conda-meta records; its Debian packages ([system]) against dpkg's status
    database, inside an image (the image's own verifier, /opt/envbuild/runtime).
    """
    from envbuild.runtime.hosted import VerifyRequest, failure_hint, verify_lock

    request = VerifyRequest(
        lock_path=resolve_lock_path(manifest_path, lock_path), manifest_path=manifest_path,
        target=target, deep=deep, no_hardware=no_hardware, lock_hash=lock_hash, python=python,
        allow=allow)
    _, verdict = verify_lock(request, os.environ)
    if as_json:
        emit_json(verdict.as_json())
    for note in verdict.notes:
        info(f"note: {note}")
    if not verdict.ok:
        hint = failure_hint(request, verdict)
        check_failed(verdict.render() + (f"\nhint: {hint}" if hint else ""))
    info(verdict.render())
