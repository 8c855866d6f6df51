"""Conda packages for the image tests: locked records of channel packages, and hand-made
`.tar.bz2` archives for what no honest builder writes (hostile members, binary prefixes)."""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from envbuild.lockfile.model import CondaPackage
from tests.support.conda_channel import PLACEHOLDER, CondaFile, CondaSpec

MTIME = 1704067200


def locked(path: Path, spec: CondaSpec, *, channel: str = "forge") -> CondaPackage:
    """The lock's record of a package file (as the lock side writes it from repodata)."""
    data = path.read_bytes()
    return CondaPackage(name=spec.name, version=spec.version, build=spec.build,
                        subdir=spec.subdir, channel=channel, file=path.name, size=len(data),
                        hash="sha256:" + hashlib.sha256(data).hexdigest(),
                        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
                        dependencies=spec.depends)


def venv_python(version: str = "3.11.2") -> CondaSpec:
    """A `python` conda package that runs the base image's Debian interpreter as a prefix
    interpreter: `bin/python3.11` (a text-mode prefix file) execs /usr/bin/python3.11 with
    argv[0] set to `<prefix>/bin/python3.11`, and `<prefix>/pyvenv.cfg` makes that path the
    interpreter's prefix, so its sys.path is `<prefix>/lib/python3.11/site-packages` (and
    Debian's standard library, not its dist-packages), as a real conda python's would be.
    Only a correctly rewritten placeholder gives that path: an unreplaced one points at a
    folder that does not exist and the wheels in the prefix are not found."""
    short = ".".join(version.split(".")[:2])
    script = f'#!/bin/bash\nexec -a {PLACEHOLDER}/bin/python{short} /usr/bin/python{short} "$@"\n'
    return CondaSpec(name="python", version=version, build="0", fmt="tar.bz2", files=(
        CondaFile(f"bin/python{short}", script, executable=True, prefix=True),
        CondaFile("bin/python3", link=f"python{short}"),
        CondaFile("bin/python", link=f"python{short}"),
        CondaFile("pyvenv.cfg", f"home = /usr/bin\ninclude-system-site-packages = false\n"
                                f"version = {version}\n"),
        CondaFile(f"lib/python{short}/site-packages/conda_python_marker.py",
                  f'PREFIX = "{PLACEHOLDER}"\n', prefix=True),
    ))


@dataclass(frozen=True, kw_only=True, slots=True)
class Member:
    name: str
    data: bytes = b""
    link: str | None = None  # a symbolic link to this
    hardlink: str | None = None  # a hard link to this earlier member
    listed: bool = True  # in info/paths.json
    placeholder: str | None = None
    file_mode: str = "text"
    sha256: str | None = None  # what paths.json claims; None: the data's


def hand_made(folder: Path, members: list[Member], *, name: str = "demo", version: str = "1.0",
              build: str = "0", subdir: str = "linux-64", noarch: str | None = None,
              link_json: dict[str, object] | None = None) -> tuple[Path, CondaSpec]:
    """A `.tar.bz2` with exactly these members (in this order), after info/."""
    index: dict[str, object] = {"name": name, "version": version, "build": build,
                                "build_number": 0, "subdir": subdir, "depends": []}
    if noarch:
        index["noarch"] = noarch
    rows = []
    for m in members:
        if not m.listed:
            continue
        row: dict[str, object] = {"_path": m.name.lstrip("/"),
                                  "path_type": "softlink" if m.link else "hardlink"}
        if m.link is None:
            row["sha256"] = m.sha256 or hashlib.sha256(m.data).hexdigest()
            row["size_in_bytes"] = len(m.data)
        if m.placeholder:
            row["prefix_placeholder"], row["file_mode"] = m.placeholder, m.file_mode
        rows.append(row)
    info = [("info/index.json", json.dumps(index).encode()),
            ("info/paths.json", json.dumps({"paths": rows, "paths_version": 1}).encode())]
    if link_json is not None:
        info.append(("info/link.json", json.dumps(link_json).encode()))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry, data in info:
            item = tarfile.TarInfo(entry)
            item.size, item.mtime = len(data), MTIME
            tar.addfile(item, io.BytesIO(data))
        for m in members:
            item = tarfile.TarInfo(m.name)
            item.mtime, item.mode = MTIME, 0o644
            if m.link is not None:
                item.type, item.linkname = tarfile.SYMTYPE, m.link
                tar.addfile(item)
            elif m.hardlink is not None:
                item.type, item.linkname = tarfile.LNKTYPE, m.hardlink
                tar.addfile(item)
            else:
                item.size = len(m.data)
                tar.addfile(item, io.BytesIO(m.data))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{version}-{build}.tar.bz2"
    path.write_bytes(bz2.compress(buffer.getvalue()))
    return path, CondaSpec(name=name, version=version, build=build, subdir=subdir,
                           fmt="tar.bz2")
