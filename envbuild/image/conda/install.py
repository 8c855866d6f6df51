"""The locked conda packages linked into one prefix of the image, and what follows from it.

Each package is unpacked and checked (`extract.py`), held against the lock (its
`info/index.json` must name the locked name, version, build and subdir), then every path
its `info/paths.json` lists is written under the prefix, placeholders replaced
(`prefix.py`), and its `conda-meta` record written (`meta.py`). Packages go in name order;
a path two packages ship is refused (conda would clobber one with the other, in an order
that depends on the solve). `noarch: python` packages are linked as conda links them:
`site-packages/` into the prefix's `lib/python3.N/site-packages/`, `python-scripts/` into
`bin/`, and their entry points written as scripts. Link scripts (`bin/.NAME-post-link.sh`)
are never run: images are built without running package code.

The layer holds the prefix alone, every file at the fixed wheel epoch, so the same lock
gives the same layer on every machine. When the conda set holds `python`, the image's
interpreter is `<prefix>/bin/python3.N` and the locked wheels go to its site-packages.
"""

from __future__ import annotations

import hashlib
import posixpath
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envbuild.errors import InputError
from envbuild.image.conda.extract import PackageRefused, PathEntry, Unpacked, listing, unpack
from envbuild.image.conda.meta import META, Linked, meta_name, meta_record
from envbuild.image.conda.prefix import replace_prefix
from envbuild.image.config import image_env
from envbuild.image.imagefiles import EXECUTABLE, FileIndex
from envbuild.image.install import SITE_PACKAGES, InstallLayout
from envbuild.image.layers import layer_key
from envbuild.image.plan import PlannedLayer
from envbuild.lockfile.model import CondaPackage, LockedTarget
from envbuild.safepath import relative

if TYPE_CHECKING:
    from envbuild.image.builders.interface import BuildRequest
    from envbuild.image.store import Store

PREFIX = "/opt/conda"
LAYER_NAME = "conda packages"
_ENTRY_POINT = """\
#!{python}
# -*- coding: utf-8 -*-
import re
import sys

from {module} import {head}

if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw?|\\.exe)?$', '', sys.argv[0])
    sys.exit({call}())
"""


def conda_layer(target: LockedTarget, epoch: int) -> PlannedLayer | None:
    """The one layer of the target's conda packages (None: it locks none)."""
    if not target.conda:
        return None
    files = [[p.name, p.file, p.hash] for p in sorted(target.conda, key=lambda p: p.name)]
    return PlannedLayer(name=LAYER_NAME, packages=(), key=layer_key(
        "conda", {"prefix": PREFIX, "python": target.python, "packages": files,
                  "linker": 1}, epoch))


def conda_layout(target: LockedTarget) -> InstallLayout | None:
    """The image's Python when the conda set holds `python`: `<prefix>/bin/python3.N`,
    wheels into its own site-packages (conda's python adds it). None: no conda python."""
    python = next((p for p in target.conda if p.name == "python"), None)
    if python is None:
        return None
    if ".".join(python.version.split(".")[:2]) != target.python:
        raise InputError(f'target "{target.name}" is locked for Python {target.python} but '
                         f"its conda packages hold python {python.version}",
                         hint="re-lock: the conda python and the target's Python must agree")
    return InstallLayout(interpreter=f"{PREFIX}/bin/python{target.python}", prefix=PREFIX,
                         site_dir=SITE_PACKAGES, on_site_path=True)


def conda_env(target: LockedTarget, base_config: dict[str, Any] | None) -> list[tuple[str, str]]:
    """PATH with the prefix's bin first, and CONDA_PREFIX (as `conda activate` sets it; the
    verifier in the image finds the prefix by it)."""
    if not target.conda:
        return []
    base_path = image_env(base_config, [])["PATH"]
    return [("PATH", f"{PREFIX}/bin:{base_path}"), ("CONDA_PREFIX", PREFIX)]


def install_conda(root: Path, packages: Sequence[tuple[CondaPackage, Path]], *,
                  python: str) -> None:
    """Link (package, archive) pairs into `root` + PREFIX, the image root being `root`.

    Packages are unpacked beside `root` (in the layer's staging folder, never packed)."""
    prefix_dir = root / PREFIX.lstrip("/")
    prefix_dir.mkdir(parents=True)
    (prefix_dir / META).mkdir()
    owners: dict[str, str] = {}
    for position, (package, archive) in enumerate(sorted(packages, key=lambda x: x[0].name)):
        unpacked = unpack(archive, root.parent / f"conda-{position}", package=package.name)
        _check_index(package, unpacked)
        linked = _link(package, unpacked, prefix_dir, python, owners)
        record = relative(prefix_dir, f"{META}/{meta_name(package)}", what="conda record")
        record.write_bytes(meta_record(package, unpacked.index, linked))
        shutil.rmtree(unpacked.root)


def _check_index(package: CondaPackage, unpacked: Unpacked) -> None:
    index = unpacked.index
    locked = {"name": package.name, "version": package.version, "build": package.build,
              "subdir": package.subdir}
    found = {key: str(index.get(key)) for key in locked}
    if found != locked:
        differ = ", ".join(f"{k} {found[k]} (locked {v})" for k, v in locked.items()
                           if found[k] != v)
        raise PackageRefused(f"{package.name}: {package.file} is not the locked package: "
                             f"its info/index.json says {differ}",
                             hint="the channel serves another package under the locked name")


def _link(package: CondaPackage, unpacked: Unpacked, prefix_dir: Path, python: str,
          owners: dict[str, str]) -> list[Linked]:
    noarch_python = unpacked.index.get("noarch") == "python"
    linked = []
    for entry in unpacked.paths:
        path = _noarch_path(entry.path, python) if noarch_python else entry.path
        dest = relative(prefix_dir, path, what=f"{package.name}: path")
        if entry.path_type != "directory":
            if path in owners or path.startswith(f"{META}/"):
                raise InputError(f"{package.name}: {package.file} ships {path}, which "
                                 f"{owners.get(path, 'the prefix')} already has",
                                 hint="two locked conda packages ship the same file")
            owners[path] = package.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        source = unpacked.root / entry.path
        if entry.path_type == "directory":
            dest.mkdir(exist_ok=True)
            linked.append(Linked(path=path, path_type="directory", sha256=None, size=None))
        elif entry.path_type == "softlink":
            dest.symlink_to(source.readlink())
            linked.append(Linked(path=path, path_type="softlink", sha256=entry.sha256,
                                 size=entry.size))
        else:
            linked.append(_file(package, entry, source, dest, path))
    if noarch_python:
        linked += _entry_points(package, unpacked.link, prefix_dir, python, owners)
    return linked


def _file(package: CondaPackage, entry: PathEntry, source: Path, dest: Path,
          path: str) -> Linked:
    if entry.placeholder is None:
        shutil.move(source, dest)
        return Linked(path=path, path_type="hardlink", sha256=entry.sha256, size=entry.size)
    data = replace_prefix(source.read_bytes(), entry.placeholder, PREFIX, entry.file_mode,
                          where=f"{package.name}: {path}")
    dest.write_bytes(data)
    dest.chmod(source.stat().st_mode & 0o777)
    return Linked(path=path, path_type="hardlink", sha256=entry.sha256, size=len(data),
                  placeholder=entry.placeholder, file_mode=entry.file_mode,
                  sha256_in_prefix=hashlib.sha256(data).hexdigest())


def _noarch_path(path: str, python: str) -> str:
    if path.startswith("site-packages/"):
        return f"lib/python{python}/{path}"
    if path.startswith("python-scripts/"):
        return "bin/" + path.removeprefix("python-scripts/")
    return path


def _entry_point_names(link: dict[str, Any] | None) -> list[str]:
    """A noarch python package's entry points (`info/link.json`), "NAME = MODULE:FUNC"."""
    noarch = (link or {}).get("noarch") or {}
    points = noarch.get("entry_points") or [] if isinstance(noarch, dict) else []
    return sorted(str(p) for p in points)


def _entry_points(package: CondaPackage, link: dict[str, Any] | None, prefix_dir: Path,
                  python: str, owners: dict[str, str]) -> list[Linked]:
    out = []
    for point in _entry_point_names(link):
        name, _, target = (part.strip() for part in point.partition("="))
        module, _, call = target.partition(":")
        if not name or not module or not call:
            raise PackageRefused(f"{package.name}: {package.file}: info/link.json: entry point "
                                 f'"{point}" is not NAME = MODULE:FUNCTION')
        path = posixpath.join("bin", name)
        dest = relative(prefix_dir, path, what=f"{package.name}: entry point")
        if path in owners:
            raise InputError(f"{package.name}: {package.file} ships {path}, which "
                             f"{owners[path]} already has",
                             hint="two locked conda packages ship the same file")
        owners[path] = package.name
        data = _ENTRY_POINT.format(python=f"{PREFIX}/bin/python{python}", module=module,
                                   head=call.split(".")[0], call=call).encode()
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        dest.chmod(0o755)
        digest = hashlib.sha256(data).hexdigest()
        out.append(Linked(path=path, path_type="unix_python_entry_point", sha256=digest,
                          size=len(data), sha256_in_prefix=digest))
    return out


def ensure_layers(request: BuildRequest, targets: Sequence[LockedTarget]) -> dict[str, Path]:
    """The archives of every conda package the conda layers still to build need, by hash
    (none when every such layer came from the cache)."""
    from envbuild.image.conda.fetch import ensure_conda

    packages = {p.hash: p for t in targets for p in t.conda}
    return ensure_conda(request.store, sorted(packages.values(), key=lambda p: (p.name, p.file)),
                        urls=request.urls, offline=request.offline, progress=request.progress)


def with_conda_files(wheels: FileIndex | None, store: Store,
                     target: LockedTarget) -> FileIndex | None:
    """The wheels' files for the image command's check, with the conda packages' (read from
    the cached archives' headers); None when any of them is not in the cache yet."""
    if wheels is None or not target.conda:
        return wheels
    files = FileIndex(wheels.entries)
    for package in sorted(target.conda, key=lambda p: p.name):
        archive = store.conda_path(package.hash, package.file)
        if not archive.is_file():
            return None
        info, headers = listing(archive)
        noarch_python = info["index.json"].get("noarch") == "python"
        for member in headers:
            name = member.name.removeprefix("./")
            if name.startswith("info/") or name == "info":
                continue
            member.name = f"{PREFIX}/{_noarch_path(name, target.python) if noarch_python else name}"
            files.add_member(member)
        for point in _entry_point_names(info["link.json"]) if noarch_python else []:
            files.add(f"{PREFIX}/bin/{point.partition('=')[0].strip()}", EXECUTABLE)
    return files
