"""A base image made from a target's locked Debian packages (`base = "system"`), from the OS
up, with no image from a registry: to the rest of the builder it is a `BaseImage` like any.

The locked `.deb`s are fetched (`fetch.py`), unpacked as data (`tree.py`), completed as
their maintainer scripts would have (`finish.py`) and packed into one layer (`pack.py`).
Nothing from the packages runs, so an arm64 base is made on amd64 the same way. The layer
is cached by its inputs (each package's name, version, architecture and hash, the
distribution, the platform, this module's format) and its files carry a fixed mtime, like
wheel layers, so the same lock gives the same blob, and so the same image digest, on
every machine and every rebuild, whatever SOURCE_DATE_EPOCH says. The config makes the
image run as the non-root user `envbuild` (1000:1000), and its command `python3` when
the set holds Debian's `python3-minimal` (which ships that link).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from envbuild.canonical import canonical_bytes
from envbuild.errors import InputError
from envbuild.image.base import BaseImage, make_base
from envbuild.image.config import CONFIG, DEFAULT_PATH, MANIFEST, architecture, timestamp
from envbuild.image.layers import LAYER_MEDIA_TYPE, Layer, LayerCache, layer_key
from envbuild.image.layout import sha256
from envbuild.image.store import Store
from envbuild.image.system.debfile import read_control
from envbuild.image.system.dpkgdb import Installed
from envbuild.image.system.fetch import ensure_debs
from envbuild.image.system.finish import GID, UID, finish, working_directory
from envbuild.image.system.pack import write_tree
from envbuild.image.system.tree import Tree, relation_names, unpack
from envbuild.lockfile.model import LockedTarget, SystemPackage
from envbuild.scrub import escape

SYSTEM_BASE = "system"  # LockedTarget.base for an image built from its `system` set alone
SYSTEM_EPOCH = 0  # every file's mtime: the layer must not change with the project's epoch
_FORMAT = 2  # bump when the unpacking or finishing changes what a layer holds
_NAME = "system packages"
WORKDIR_LAYER = "working directory"


def system_base(target: LockedTarget, *, store: Store, archives: Mapping[str, str],
                offline: bool, progress: Callable[[str], None]) -> BaseImage:
    """The target's base, built from `target.system` (cached by its inputs)."""
    os_name, arch = architecture(target.platform)
    packages = _checked(target, arch)
    distribution = target.system_distribution or "debian"
    key = system_identity(target)
    cache = LayerCache(store, warn=progress)
    layer = cache.get(key, _NAME)
    if layer is None:
        debs = ensure_debs(store, packages, archives=archives, offline=offline,
                           progress=progress)
        progress(f"{target.name}: unpacking {len(packages)} system packages ({arch})")
        layer = cache.build_packed(key, _NAME, lambda out: _build(
            store, packages, debs, out, architecture=arch, distribution=distribution))
    settings: dict[str, object] = {"Env": [f"PATH={DEFAULT_PATH}"], "User": f"{UID}:{GID}"}
    # python3-minimal ships the `python3` link (python3 depends on it): `docker run IMAGE`.
    if any(p.name in ("python3", "python3-minimal") for p in packages):
        settings["Cmd"] = ["python3"]
    config = {
        "architecture": arch, "os": os_name, "created": timestamp(SYSTEM_EPOCH),
        "config": settings,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [{"created": timestamp(SYSTEM_EPOCH), "comment": "envbuild",
                     "created_by": f"envbuild: {len(packages)} {distribution} packages"}],
    }
    config_bytes = canonical_bytes(config)
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST,
                "config": {"mediaType": CONFIG, "digest": sha256(config_bytes),
                           "size": len(config_bytes)},
                "layers": [{"mediaType": LAYER_MEDIA_TYPE, "digest": layer.digest,
                            "size": layer.size}]}
    base = make_base(f"{SYSTEM_BASE}:{distribution}", sha256(canonical_bytes(manifest)),
                     manifest, config, store.root / "blobs", store)
    python, site_dirs = _facts(target)
    if base.python != python or site_dirs[0] not in base.site_dirs:
        raise InputError(f'target "{target.name}": its system packages have no {python} with '
                         f"Debian's site directory {site_dirs[0]}",
                         hint=f"run `envbuild lock`: it requests python{target.python} for "
                              'base = "system"')
    # The facts the plan takes from the lock alone (planned_system_base), checked above.
    # Named for what it holds in progress and --json, not "base layer 0" as a pulled base's.
    layers = tuple(replace(x, name=f"{_NAME} ({len(packages)})") for x in base.layers)
    return replace(base, python=python, site_dirs=site_dirs, layers=layers)


def system_identity(target: LockedTarget) -> str:
    """The system base's identity in the image hash: the key of its one layer (every locked
    package's name, version, architecture and hash, the distribution, the platform, this
    module's format), known from the lock alone; the config is made from the same."""
    arch = architecture(target.platform)[1]
    return layer_key("system", {"format": _FORMAT, "distribution": target.system_distribution or "debian",
                                "platform": target.platform,
                                "packages": [[p.name, p.version, p.architecture, p.hash]
                                             for p in _checked(target, arch)]}, SYSTEM_EPOCH)


def planned_system_base(target: LockedTarget) -> BaseImage:
    """What planning needs of the base, from the lock alone (no .deb is read): the image
    hash (`ci plan`, `cluster`) is then known offline, and equals the built image's."""
    python, site_dirs = _facts(target)
    return BaseImage(reference=f"{SYSTEM_BASE}:{target.system_distribution or 'debian'}",
                     manifest_digest=system_identity(target), config={}, layers=(),
                     blob_dir=Path(), python=python, glibc=None, site_dirs=site_dirs)


def _facts(target: LockedTarget) -> tuple[str, tuple[str, ...]]:
    """(interpreter, site directories) of a system base: Debian's python3.X, which the lock
    requests for the target's Python, and the site directory Debian's site.py adds."""
    return f"/usr/bin/python{target.python}", (f"/usr/local/lib/python{target.python}/dist-packages",)


def workdir_layer(cache: LayerCache, key: str, path: str, epoch: int) -> Layer:
    """The layer that makes the working directory the image's user's (finish.py); it goes
    last, above the copied files' layer, whose folders are root's."""
    return cache.build_packed(key, WORKDIR_LAYER,
                              lambda out: write_tree(working_directory(path), out, epoch=epoch))


def workdir_key(path: str, epoch: int) -> str:
    return layer_key("workdir", {"format": _FORMAT, "path": path, "owner": [UID, GID]}, epoch)


def _checked(target: LockedTarget, arch: str) -> list[SystemPackage]:
    if not target.system:
        raise InputError(f'target "{target.name}" is built from system packages but locks '
                         "none", hint="add packages to [system] and run `envbuild lock`")
    wrong = sorted(f"{p.name} ({p.architecture})" for p in target.system
                   if p.architecture not in (arch, "all"))
    if wrong:
        raise InputError(f'target "{target.name}" is {target.platform} but locks system '
                         f"packages of another architecture: {escape(', '.join(wrong))}",
                         hint="run `envbuild lock`")
    return sorted(target.system, key=lambda p: (p.name, p.architecture))


def _build(store: Store, packages: list[SystemPackage], debs: dict[str, Path], out: Path, *,
           architecture: str, distribution: str) -> tuple[str, str, int]:
    tree = Tree()
    installed = []
    with store.temp_dir() as staging:
        for package in packages:
            control = read_control(debs[package.hash])
            tree.replaces[package.name] = relation_names(control.field("replaces"))
            installed.append(Installed(name=package.name, architecture=package.architecture,
                                       control=control))
        for package in packages:
            unpack(tree, package.name, debs[package.hash], staging)
        finish(tree, installed, architecture=architecture, distribution=distribution)
        return write_tree(tree, out, epoch=SYSTEM_EPOCH)
