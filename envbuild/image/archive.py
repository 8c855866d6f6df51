"""A base from a docker-archive tarball (`docker save`): `docker-archive:PATH`.

The archive's `manifest.json` names one image's config and layers (Docker 20.10 writes the
layers as plain tars, Docker 25+ as OCI blobs; both carry that file). An archive holds no
registry manifest, so what the lock pins is the image ID, the digest of its config: the
config lists every layer's diff_id, so the ID names the image's content exactly. Reading it
needs the tar's headers, `manifest.json` and the config only (`lock --check` affords it).

At build time each layer is checked against its diff_id and stored gzip-compressed in the
cache (once per diff_id: a record maps it to the compressed blob), and an OCI manifest is
written over them; from there on the base is like any other.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import tarfile
from pathlib import Path
from typing import IO, Any

from envbuild.canonical import canonical_bytes
from envbuild.canonical import digest as canonical_digest
from envbuild.errors import CheckFailed
from envbuild.image.base import BaseError, BaseImage, check_platform, json_object, make_base
from envbuild.image.config import CONFIG, MANIFEST
from envbuild.image.layers import LAYER_MEDIA_TYPE
from envbuild.image.store import Store

PREFIX = "docker-archive:"
_MAX_JSON = 16 << 20  # manifest.json and a config: small; a bound against a hostile archive


def archive_path(reference: str) -> Path:
    return Path(reference.removeprefix(PREFIX))


def image_id(reference: str, *, os_name: str, architecture: str) -> str:
    """The image ID (config digest) of the one image in the archive; its config must be for
    the platform (BaseError names both)."""
    with _open(reference) as tar:
        _, config_data = _entry(reference, tar)
    config = json_object(reference, config_data)
    check_platform(reference, config, os_name, architecture)
    return "sha256:" + hashlib.sha256(config_data).hexdigest()


def read_archive_base(reference: str, *, os_name: str, architecture: str, store: Store,
                      pinned: str) -> BaseImage:
    """The base in the archive, which must still be the image the lock pinned."""
    with _open(reference) as tar:
        entry, config_data = _entry(reference, tar)
        found = "sha256:" + hashlib.sha256(config_data).hexdigest()
        if found != pinned:
            raise CheckFailed(f"base {reference} changed since locking: the lock pins {pinned}, "
                              f"the archive now holds {found}",
                              hint="re-lock (`envbuild lock`) to build on the new base, or restore the old one")
        config = json_object(reference, config_data)
        check_platform(reference, config, os_name, architecture)
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        names = entry.get("Layers", [])
        if not isinstance(names, list) or len(names) != len(diff_ids):
            raise BaseError(f"base {reference}: config lists {len(diff_ids)} diff_ids for "
                            f"{len(names) if isinstance(names, list) else 0} layers")
        layers = [_layer(reference, tar, str(name), str(diff_id), store)
                  for name, diff_id in zip(names, diff_ids, strict=True)]
    config_digest = _put(store, config_data)
    manifest = canonical_bytes({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": config_digest, "size": len(config_data)},
        "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": d, "size": s} for d, s in layers]})
    manifest_digest = _put(store, manifest)
    return make_base(reference, manifest_digest, json.loads(manifest), config,
                     store.root / "blobs", store)


def _open(reference: str) -> tarfile.TarFile:
    path = archive_path(reference)
    try:
        return tarfile.open(path, "r:")  # seekable: headers are read, data is skipped
    except (OSError, tarfile.TarError) as error:
        raise BaseError(f"base {reference}: cannot read {path} as a docker-archive tarball: {error}",
                        hint="write docker-archive:PATH to a `docker save` tarball") from None


def _entry(reference: str, tar: tarfile.TarFile) -> tuple[dict[str, Any], bytes]:
    data = _member(reference, tar, "manifest.json")
    try:
        entries = json.loads(data)
    except ValueError as error:
        raise BaseError(f"base {reference}: manifest.json is not JSON: {error}") from None
    if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
        count = len(entries) if isinstance(entries, list) else 0
        raise BaseError(f"base {reference}: expected one image in the archive, found {count}",
                        hint="save one image: docker save IMAGE -o FILE")
    return entries[0], _member(reference, tar, str(entries[0].get("Config", "")))


def _member(reference: str, tar: tarfile.TarFile, name: str) -> bytes:
    handle = _file(reference, tar, name)
    data = handle.read(_MAX_JSON + 1)
    if len(data) > _MAX_JSON:
        raise BaseError(f"base {reference}: {name} is larger than {_MAX_JSON} bytes")
    return data


def _file(reference: str, tar: tarfile.TarFile, name: str) -> IO[bytes]:
    try:
        member = tar.getmember(name)
    except KeyError:
        raise BaseError(f"base {reference}: the archive has no {name[:200]}") from None
    handle = tar.extractfile(member) if member.isfile() else None
    if handle is None:
        raise BaseError(f"base {reference}: {name[:200]} is not a file in the archive")
    return handle


def _layer(reference: str, tar: tarfile.TarFile, name: str, diff_id: str,
           store: Store) -> tuple[str, int]:
    """(gzip digest, size) of a layer in the cache, made once per diff_id."""
    record = store.layer_record(canonical_digest({"archive-layer": diff_id}))
    try:
        known = json.loads(record.read_text())
        if store.blob_path(known["digest"]).is_file():
            return str(known["digest"]), int(known["size"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    with store.temp_file() as tmp:
        plain = hashlib.sha256()
        with _file(reference, tar, name) as source:
            head = source.read(2)
            if head == b"\x1f\x8b":  # Docker 25+ may keep a gzip blob: stored as it is
                with tmp.open("wb") as out:
                    out.write(head)
                    shutil.copyfileobj(source, out, 1 << 20)
                with gzip.open(tmp, "rb") as inflated:
                    while chunk := inflated.read(1 << 20):
                        plain.update(chunk)
            else:
                plain.update(head)
                with tmp.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                                          filename="") as out:
                    out.write(head)
                    while chunk := source.read(1 << 20):
                        plain.update(chunk)
                        out.write(chunk)
        if "sha256:" + plain.hexdigest() != diff_id:
            raise CheckFailed(f"base {reference}: layer {name[:200]} does not match its diff_id {diff_id}",
                              hint="the archive is damaged; save it again")
        data_digest = "sha256:" + _file_sha256(tmp)
        size = tmp.stat().st_size
        store.commit(tmp, store.blob_path(data_digest))
    with store.temp_file() as tmp:
        tmp.write_text(json.dumps({"digest": data_digest, "size": size}))
        store.commit(tmp, record)
    return data_digest, size


def _put(store: Store, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = store.blob_path(digest)
    if not path.is_file():
        with store.temp_file() as tmp:
            tmp.write_bytes(data)
            store.commit(tmp, path)
    return digest


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()
