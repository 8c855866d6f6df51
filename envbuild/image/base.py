"""A base image: from an OCI image layout on disk (`oci:DIR[:TAG]`) here, from a registry
in `pull.py`; both give a `BaseImage`.

Its layers become the image's first layers, as they are (same blobs, same digests). Facts
read from its layers once and remembered in the cache by the base's manifest digest: where
its Python lives (`usr/local/bin/python3.N` first, else `usr/bin/python3.N`) and its GNU C
library version (dpkg's record of libc6, else the version string inside libc.so.6), and
which /usr/local site directories its Pythons' site.py adds: Debian's
`usr/lib/python3.N/site.py` (it names `local/lib` ... `dist-packages`) adds
/usr/local/lib/python3.N/dist-packages; a standard library in `usr/local/lib/python3.N`
(a python.org build, prefix /usr/local) has /usr/local/lib/python3.N/site-packages.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from envbuild.canonical import digest as canonical_digest
from envbuild.errors import CheckFailed, InputError
from envbuild.image.imagefiles import FileIndex, save_base_index
from envbuild.image.layers import LAYER_MEDIA_TYPE, Layer
from envbuild.image.store import Store

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
_GZIP_LAYERS = {LAYER_MEDIA_TYPE, "application/vnd.docker.image.rootfs.diff.tar.gzip"}
_PYTHON = re.compile(r"^(?:\./)?(usr/local/bin|usr/bin)/python(3\.\d+)$")
_REF_NAME = "org.opencontainers.image.ref.name"
_SITE_PY = re.compile(r"^(usr/lib|usr/local/lib)/python(3\.\d+)/site\.py$")


@dataclass(frozen=True, kw_only=True, slots=True)
class BaseImage:
    reference: str
    manifest_digest: str
    config: dict[str, Any]
    layers: tuple[Layer, ...]
    blob_dir: Path  # the folder holding sha256/<hex> blobs (a layout's blobs/, the cache's)
    python: str | None  # the interpreter's path in the image, when found
    glibc: str | None  # "2.36"; None when the base has no GNU C library (or it was not found)
    site_dirs: tuple[str, ...] = ()  # /usr/local/lib/python3.N/{dist,site}-packages found

    def blob(self, digest: str) -> Path:
        return self.blob_dir / "sha256" / digest.split(":", 1)[1]


class BaseError(InputError):
    """The base image cannot be used."""


def split_reference(reference: str) -> tuple[Path, str | None]:
    """`oci:DIR[:TAG]` -> (DIR, TAG)."""
    rest = reference.removeprefix("oci:")
    head, sep, tail = rest.rpartition(":")
    if sep and "/" not in tail and Path(head).is_dir():
        return Path(head), tail
    return Path(rest), None


def read_base(reference: str, *, os_name: str, architecture: str, store: Store,
              pinned: str | None = None) -> BaseImage:
    """The base in the layout `reference` names, for one platform. `pinned`: the manifest
    digest the lock recorded; a layout that now holds another image for it is refused."""
    folder, manifest_digest, manifest, config = locate_layout(reference, os_name, architecture)
    if pinned is not None and manifest_digest != pinned:
        raise CheckFailed(f"base {reference} changed since locking: the lock pins {pinned}, "
                          f"the layout now holds {manifest_digest} for {os_name}/{architecture}",
                          hint="re-lock (`envbuild lock`) to build on the new base, or restore the old one")
    return make_base(reference, manifest_digest, manifest, config, folder / "blobs", store)


def locate_layout(reference: str, os_name: str,
                  architecture: str) -> tuple[Path, str, dict[str, Any], dict[str, Any]]:
    """(folder, manifest digest, manifest, config) of the image an `oci:DIR[:TAG]` layout
    holds for one platform: its index may list one image, one per platform, or a nested
    index. Reads JSON only (no layer), so `lock --check` can afford it."""
    folder, tag = split_reference(reference)
    if not (folder / "oci-layout").is_file():
        raise BaseError(f"base {reference}: {folder} is not an OCI image layout "
                        "(no oci-layout file)", hint="write it as oci:DIR[:TAG]")
    index = _json(folder, folder / "index.json", None)
    manifests = [m for m in index.get("manifests", []) if isinstance(m, dict)]
    if tag is not None:
        manifests = [m for m in manifests if m.get("annotations", {}).get(_REF_NAME) == tag]
    if len(manifests) > 1 and all("platform" in m for m in manifests):
        # One image per platform side by side (as `envbuild image` writes them).
        manifests = [pick_platform(reference, {"manifests": manifests}, os_name, architecture)]
    if len(manifests) != 1:
        tags = sorted(str(m.get("annotations", {}).get(_REF_NAME)) for m in
                      index.get("manifests", []))
        raise BaseError(f"base {reference}: expected one image, found {len(manifests)}",
                        hint=f"name one by tag (oci:DIR:TAG); tags: {', '.join(tags) or 'none'}")
    descriptor = manifests[0]
    if descriptor.get("mediaType") in (INDEX, _DOCKER_LIST):
        nested = _json(folder, _blob(folder, descriptor["digest"]), descriptor["digest"])
        descriptor = pick_platform(reference, nested, os_name, architecture)
    manifest_digest = str(descriptor["digest"])
    manifest = _json(folder, _blob(folder, manifest_digest), manifest_digest)
    config = _json(folder, _blob(folder, manifest["config"]["digest"]),
                   manifest["config"]["digest"])
    check_platform(reference, config, os_name, architecture)
    return folder, manifest_digest, manifest, config


def check_platform(reference: str, config: dict[str, Any], os_name: str,
                   architecture: str) -> None:
    """A single-platform base must be for the target's platform (no emulation, no mixing)."""
    found = (config.get("os", os_name), config.get("architecture", architecture))
    if found != (os_name, architecture):
        raise BaseError(f"base {reference} is {found[0]}/{found[1]}, the target is "
                        f"{os_name}/{architecture}",
                        hint="use a multi-platform base, or one per target platform")


def base_layers(reference: str, manifest: dict[str, Any],
                config: dict[str, Any]) -> tuple[Layer, ...]:
    """The layers a base manifest lists, paired with its config's diff_ids."""
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    if len(diff_ids) != len(manifest.get("layers", [])):
        raise BaseError(f"base {reference}: config lists {len(diff_ids)} diff_ids for "
                        f"{len(manifest.get('layers', []))} layers")
    layers = []
    for position, (entry, diff_id) in enumerate(zip(manifest["layers"], diff_ids, strict=True)):
        if entry.get("mediaType") not in _GZIP_LAYERS:
            raise BaseError(f"base {reference}: layer {position} is {entry.get('mediaType')}; "
                            "only gzip layers are supported")
        layers.append(Layer(digest=entry["digest"], diff_id=diff_id, size=entry["size"],
                            media_type=entry["mediaType"], name=f"base layer {position}",
                            reused=True))
    return tuple(layers)


def make_base(reference: str, manifest_digest: str, manifest: dict[str, Any],
              config: dict[str, Any], blob_dir: Path, store: Store) -> BaseImage:
    layers = base_layers(reference, manifest, config)
    bare = BaseImage(reference=reference, manifest_digest=manifest_digest, config=config,
                     layers=layers, blob_dir=blob_dir, python=None, glibc=None)
    python, glibc, site_dirs = _detect_facts(bare, store)
    return BaseImage(reference=reference, manifest_digest=manifest_digest, config=config,
                     layers=layers, blob_dir=blob_dir, python=python, glibc=glibc,
                     site_dirs=site_dirs)


def pick_platform(reference: str, index: dict[str, Any], os_name: str,
                   architecture: str) -> dict[str, Any]:
    for entry in index.get("manifests", []):
        platform = entry.get("platform", {})
        if platform.get("os") == os_name and platform.get("architecture") == architecture:
            return dict(entry)
    found = sorted("/".join((str(e.get("platform", {}).get("os")), str(e.get("platform", {}).get("architecture"))))
                   for e in index.get("manifests", []) if isinstance(e, dict))
    raise BaseError(f"base {reference}: no image for {os_name}/{architecture} "
                    f"(it has: {', '.join(found) or 'none'})",
                    hint="use a base with an image for this platform, or name one per platform")


def _blob(folder: Path, digest: str) -> Path:
    return folder / "blobs" / "sha256" / digest.split(":", 1)[-1]


def _json(folder: Path, path: Path, digest: str | None) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BaseError(f"base {folder}: cannot read {path.name}: {error}") from None
    if digest is not None and "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise CheckFailed(f"base {folder}: blob {digest} does not match its digest",
                          hint="the base layout is damaged; rebuild or re-pull it")
    return json_object(f"{folder}: {path.name}", data)


def json_object(where: str, data: bytes) -> dict[str, Any]:
    """A base's manifest, index or config: a JSON object, or a clear error naming it."""
    try:
        value = json.loads(data)
    except ValueError as error:
        raise BaseError(f"base {where}: not JSON: {error}") from None
    if not isinstance(value, dict):
        raise BaseError(f"base {where}: not a JSON object")
    return value


def _detect_facts(base: BaseImage,
                  store: Store) -> tuple[str | None, str | None, tuple[str, ...]]:
    memo = store.layer_record(canonical_digest({"base-facts": base.manifest_digest}))
    try:
        cached = json.loads(memo.read_text())
        return cached["python"], cached["glibc"], tuple(cached["site_dirs"])
    except (OSError, ValueError, KeyError, TypeError):  # a memo from before site_dirs: rescan
        pass
    found: dict[str, str] = {}
    sites: dict[str, str | None] = {}  # site.py's folder -> the site directory it adds
    dpkg_glibc = libc_glibc = None
    files = FileIndex()  # for the image command's check (imagefiles.py), in the same pass
    for layer in base.layers:
        files.start_layer()
        with gzip.open(base.blob(layer.digest), "rb") as raw, \
                tarfile.open(fileobj=raw, mode="r|") as tar:
            for member in tar:
                files.add_member(member)
                name = member.name.removeprefix("./")
                match = _PYTHON.match(name)
                if match:
                    found.setdefault(match.group(1), f"/{match.group(1)}/python{match.group(2)}")
                elif (site := _SITE_PY.match(name)) and member.isfile():
                    sites[site.group(0)] = _site_dir(site.group(1), site.group(2),
                                                     tar.extractfile(member))
                elif name == "var/lib/dpkg/status" and member.isfile():
                    dpkg_glibc = _dpkg_libc6(tar.extractfile(member)) or dpkg_glibc
                elif _LIBC.match(name) and member.isfile():
                    libc_glibc = _libc_version(tar.extractfile(member)) or libc_glibc
    python = found.get("usr/local/bin") or found.get("usr/bin")
    glibc = dpkg_glibc or libc_glibc
    site_dirs = tuple(sorted({d for d in sites.values() if d is not None}))
    save_base_index(base.manifest_digest, files, store)
    with store.temp_file() as tmp:
        tmp.write_text(json.dumps({"python": python, "glibc": glibc,
                                   "site_dirs": list(site_dirs)}))
        store.commit(tmp, memo)
    return python, glibc, site_dirs


def _site_dir(lib: str, version: str, handle: IO[bytes] | None) -> str | None:
    """The /usr/local site directory a site.py in `/<lib>/python<version>/` adds, if any."""
    if lib == "usr/local/lib":
        return f"/usr/local/lib/python{version}/site-packages"
    text = handle.read() if handle else b""
    if b'"local/lib"' in text and b'"dist-packages"' in text:  # Debian's site.py
        return f"/usr/local/lib/python{version}/dist-packages"
    return None


_LIBC = re.compile(r"^(?:usr/)?lib(?:64)?/(?:[a-z0-9_]+-linux-gnu[a-z]*/)?libc\.so\.6$")
_DPKG_LIBC6 = re.compile(rb"^Package: libc6\n(?:[^\n]+\n)*?Version: (\d+\.\d+)", re.M)
_LIBC_RELEASE = re.compile(rb"release version (\d+\.\d+)")


def _dpkg_libc6(handle: IO[bytes] | None) -> str | None:
    match = _DPKG_LIBC6.search(handle.read()) if handle else None
    return match.group(1).decode() if match else None


def _libc_version(handle: IO[bytes] | None) -> str | None:
    match = _LIBC_RELEASE.search(handle.read()) if handle else None
    return match.group(1).decode() if match else None
