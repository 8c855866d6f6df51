"""Write an OCI image layout, all or nothing.

The layout is built in a temporary folder beside the output and renamed into place; an
existing layout is replaced only once the new one is complete, and a folder that is not an
OCI layout is never replaced. The temporary folders are scratch folders (`envbuild.scratch`):
what a killed write leaves beside the output is removed by the next write there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from envbuild.canonical import canonical_bytes
from envbuild.errors import CheckFailed, InputError
from envbuild.fileio import write_error
from envbuild.scratch import scratch_dir

LAYOUT_VERSION = b'{"imageLayoutVersion":"1.0.0"}'
_CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True, slots=True)
class ImageEntry:
    """One image of the layout: its manifest and the blobs it refers to."""

    ref_name: str
    manifest: bytes
    config: bytes
    blobs: tuple[tuple[str, Path], ...]  # (digest, where its bytes are now)
    platform: tuple[str, str]  # (os, architecture)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_layout(output: Path, images: list[ImageEntry]) -> None:
    """Write the images as an OCI layout at `output`, replacing it only when complete."""
    try:
        _write_layout(output, images)
    except OSError as error:  # `--output` is the user's: a name too long, no permission
        raise write_error(output, error) from None


def _write_layout(output: Path, images: list[ImageEntry]) -> None:
    _check_replaceable(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with _staging(output) as tmp:
        blobs = tmp / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        (tmp / "oci-layout").write_bytes(LAYOUT_VERSION)
        descriptors = []
        for image in sorted(images, key=lambda i: i.ref_name):
            for data in (image.config, image.manifest):
                (blobs / sha256(data).split(":")[1]).write_bytes(data)
            for blob_digest, source in image.blobs:
                target = blobs / blob_digest.split(":")[1]
                if not target.exists():
                    _copy_checked(source, target, blob_digest)
            os_name, arch = image.platform
            descriptors.append({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": sha256(image.manifest), "size": len(image.manifest),
                "platform": {"os": os_name, "architecture": arch},
                "annotations": {"org.opencontainers.image.ref.name": image.ref_name}})
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": descriptors}
        (tmp / "index.json").write_bytes(canonical_bytes(index))
        for path in tmp.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        _swap(tmp, output)


def _check_replaceable(output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise InputError(f"{output} exists and is not a folder", hint="choose another --output")
    if output.is_dir() and any(output.iterdir()) and not (output / "oci-layout").is_file():
        raise InputError(f"{output} is a folder that is not an OCI image layout; "
                         "it is not replaced", hint="choose an empty or new folder for --output")


@contextlib.contextmanager
def _staging(output: Path) -> Iterator[Path]:
    with scratch_dir(f".{output.name}.tmp", root=output.parent) as tmp:
        yield tmp


def _swap(tmp: Path, output: Path) -> None:
    """Put `tmp` at `output`; the old layout goes only after the new one is in place."""
    if not output.exists():
        tmp.replace(output)
        return
    with scratch_dir(f".{output.name}.old", root=output.parent) as old:
        output.replace(old / "layout")
        try:
            tmp.replace(output)
        except BaseException:
            (old / "layout").replace(output)
            raise


def _copy_checked(source: Path, target: Path, expected: str) -> None:
    sha = hashlib.sha256()
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(_CHUNK):
            sha.update(chunk)
            dst.write(chunk)
    if "sha256:" + sha.hexdigest() != expected:
        raise CheckFailed(f"blob {expected} ({source}) does not match its digest",
                          hint="a cached or base blob was altered; run `envbuild cache prune "
                               "--all` or rebuild the base")


def read_index(output: Path) -> dict[str, object]:
    data = json.loads((output / "index.json").read_bytes())
    return data if isinstance(data, dict) else {}
