"""Which image runs each target: `--image REF@sha256:...` or the record `envbuild image --push`
leaves beside the lock. Never a tag: a reference without a digest is refused.

The record is `<lock file>.d/images.json` (for `envbuild.lock`: `envbuild.lock.d/images.json`):

    {"schema": 1,
     "targets": {"h100": {"ref": "registry.example.com/team/app",
                          "digest": "sha256:<64 hex>",
                          "image_hash": "sha256:<64 hex>",
                          "target_hash": "sha256:<64 hex>",
                          "epoch": 0,
                          "unpacked_bytes": 5905580032}}}

`ref` is the repository without tag or digest; `target_hash` is the locked target's hash the
image was built from, so an image of an older lock is caught; `unpacked_bytes` (absent in
records written before it existed) is the sum of the layers' uncompressed tar sizes, from
which `envbuild cluster` sizes node disks and the pod's ephemeral storage. `image_hash` names
the image's inputs (`envbuild/image/plan.py`) and `epoch` the SOURCE_DATE_EPOCH it was built
with (absent in older records: the current one is assumed), so `envbuild cluster` can tell an
image built before `[image]`, its base or the copied files changed (`stale_image`), without
building it. `write_record` writes it.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envbuild.canonical import is_hash
from envbuild.errors import EnvbuildError, InputError
from envbuild.fileio import write_atomic
from envbuild.inputfiles import read_input_text

if TYPE_CHECKING:
    from envbuild.lockfile.model import Lock

RECORD_SCHEMA = 1
_PINNED = re.compile(r"^(?P<ref>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")


@dataclass(frozen=True, kw_only=True, slots=True)
class PinnedImage:
    """An image by repository and digest; `pinned` is what specs carry."""

    ref: str
    digest: str
    source: str  # "--image" or the record's path, for messages
    unpacked_bytes: int | None = None  # the layers' tar sizes; None: not recorded
    image_hash: str | None = None  # the record's: what the image was built from
    epoch: int | None = None  # the build's SOURCE_DATE_EPOCH; None: not recorded

    @property
    def pinned(self) -> str:
        return f"{self.ref}@{self.digest}"


def record_path(lock_path: Path) -> Path:
    """`<lock>.d/images.json` beside the lock."""
    return lock_path.parent / f"{lock_path.name}.d" / "images.json"


def parse_image_option(text: str) -> tuple[str | None, PinnedImage]:
    """`REF@sha256:<hex>` (every target) or `TARGET=REF@sha256:<hex>`; a tag is dropped."""
    target, sep, ref = text.partition("=")
    if not sep or "/" in target or "@" in target:
        target, ref = "", text
    match = _PINNED.match(ref)
    if match is None:
        raise InputError(f'--image {text}: not pinned by digest; cluster specs name images by '
                         "digest only, never by tag",
                         hint="pass --image REGISTRY/REPO@sha256:<64 hex> (or TARGET=...), or "
                              "run `envbuild image --push`, which records the digest beside the lock")
    head, slash, last = match["ref"].rpartition("/")
    ref = f"{head}{slash}{last.split(':')[0]}"  # the digest names the image; a tag adds nothing
    return (target or None), PinnedImage(ref=ref, digest=match["digest"], source="--image")


def read_record(lock_path: Path) -> dict[str, tuple[PinnedImage, str]]:
    """Target -> (image, target hash it was built from); {} when there is no record."""
    path = record_path(lock_path)
    return {name: (PinnedImage(ref=e["ref"], digest=e["digest"], source=str(path),
                               unpacked_bytes=_unpacked(path, name, e.get("unpacked_bytes")),
                               image_hash=e["image_hash"],
                               epoch=_count(path, name, "epoch", e.get("epoch"))),
                   str(e["target_hash"])) for name, e in _entries(path).items()}


def stale_image(manifest_path: Path, lock: Lock, lock_path: Path, target: str,
                image: PinnedImage) -> tuple[str, bool] | None:
    """(message, stale) when the recorded image is not what `envbuild image` would build
    now: stale True when its hash differs, False when that cannot be told offline (then the
    message says why); None when it is current. Cheap: the copied files are hashed and the
    base's facts read from the cache, no layer is built."""
    from envbuild.image.build import build_epoch, planned_image_hashes

    where = record_path(lock_path)
    shown = f"{where.parent.name}/{where.name}"
    try:
        epoch = image.epoch if image.epoch is not None else build_epoch()
        now = planned_image_hashes(manifest_path, lock, {target: epoch})[target]
    except EnvbuildError as error:
        now = error
    if isinstance(now, EnvbuildError):
        return (f'target "{target}": cannot tell whether the image in {shown} is current: '
                f"{now.message.splitlines()[0]}", False)
    if now == image.image_hash:
        return None
    return (f'target "{target}": the image in {shown} ({image.digest}) is stale: its '
            f"image hash is {image.image_hash}, but the manifest, lock and copied files give "
            f"{now} now; run `envbuild image --push --target {target}`", True)


def unpacked_size(layers: Iterable[tuple[int | None, Path]]) -> int:
    """The sum of the layers' uncompressed sizes: (tar bytes when known, blob) per layer.

    envbuild knows the tar size of every layer it packs. For the others (a base's, or a
    layer cached by an older envbuild) the blob is inflated and counted: a gzip trailer
    holds only its own member's size modulo 2**32, and layers may have many members
    (envbuild's own do). A blob that is not gzip counts as it is."""
    total = 0
    for known, blob in layers:
        total += known if known is not None else _inflated_size(blob)
    return total


def _inflated_size(blob: Path) -> int:
    with blob.open("rb") as stream:
        if stream.read(2) != b"\x1f\x8b":
            return stream.seek(0, os.SEEK_END)
    size = 0
    with gzip.open(blob, "rb") as inflated:  # every member, one after another
        while chunk := inflated.read(1 << 20):
            size += len(chunk)
    return size


def write_record(lock_path: Path, target: str, *, ref: str, digest: str, image_hash: str,
                 target_hash: str, unpacked_bytes: int | None = None,
                 epoch: int | None = None) -> Path:
    """Add or replace one target's entry of the record (atomically) and return its path."""
    for label, value in (("digest", digest), ("image_hash", image_hash),
                         ("target_hash", target_hash)):
        if not is_hash(value, algorithms=("sha256",)):
            raise ValueError(f"{label} must be sha256:<64 hex>, got {value!r}")
    if "@" in ref:
        raise ValueError(f"ref must name a repository without a digest, got {ref!r}")
    path = record_path(lock_path)
    entries = _entries(path)
    entries[target] = {"ref": ref, "digest": digest, "image_hash": image_hash,
                       "target_hash": target_hash}
    if unpacked_bytes is not None:
        entries[target]["unpacked_bytes"] = unpacked_bytes
    if epoch is not None:
        entries[target]["epoch"] = epoch
    document = {"schema": RECORD_SCHEMA, "targets": entries}
    write_atomic(path, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())
    return path


def _unpacked(path: Path, name: str, value: object) -> int | None:
    return _count(path, name, "unpacked_bytes", value, what="a byte count")


def _count(path: Path, name: str, key: str, value: object, *,
           what: str = "a whole number") -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InputError(f"{path}: targets.{name}.{key}: expected {what}, "
                         f"got {value!r}", hint="run `envbuild image --push` again to rewrite it")
    return value


def _entries(path: Path) -> dict[str, dict[str, Any]]:
    if not os.path.lexists(path):
        return {}
    text = read_input_text(path, what="image record")  # bounded: a FIFO or device is refused
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:  # json recurses into nested arrays
        raise InputError(f"{path}: cannot read the image record: {error}",
                         hint="run `envbuild image --push` again to rewrite it") from None
    if not isinstance(data, dict) or data.get("schema") != RECORD_SCHEMA \
            or not isinstance(data.get("targets"), dict):
        raise InputError(f"{path}: expected schema {RECORD_SCHEMA} with a 'targets' table",
                         hint="run `envbuild image --push` again to rewrite it")
    return {name: _entry(path, name, raw) for name, raw in sorted(data["targets"].items())}


def _entry(path: Path, name: str, raw: Any) -> dict[str, Any]:
    where = f"{path}: targets.{name}"
    if not isinstance(raw, Mapping):
        raise InputError(f"{where}: expected a table")
    out: dict[str, Any] = {}
    for key in ("ref", "digest", "image_hash", "target_hash"):
        value = raw.get(key)
        if not isinstance(value, str) or not value:
            raise InputError(f"{where}.{key}: missing or not a string")
        if key != "ref" and not is_hash(value, algorithms=("sha256",)):
            raise InputError(f"{where}.{key}: expected sha256:<64 hex>, got {value!r}")
        out[key] = value
    if "@" in out["ref"]:
        raise InputError(f"{where}.ref: expected a repository without a digest, got {out['ref']!r}")
    for key in ("unpacked_bytes", "epoch"):
        if key in raw:
            out[key] = raw[key]
    return out
