"""A conda package read member by member into a staging folder, nothing trusted.

Both formats are read here, as streams: `.conda` (a zip holding `info-*.tar.zst` and
`pkg-*.tar.zst`) and `.tar.bz2` (one tar holding `info/` and the files). Each member is
checked before anything is written: a plain relative path (no absolute path, no `..`, no
backslash, not twice), a file, folder, symbolic link or hard link to an earlier member,
never below a link (so no write lands outside the staging folder), and a symbolic link's
target relative and inside the package. Then the package's own `info/paths.json` is held
against what was unpacked, both ways: every listed path present as its type, with its
sha256 and size, and nothing unlisted. A package that fails is refused naming the member.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import shutil
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from envbuild.errors import CheckFailed

_CHUNK = 1 << 20
_MAX_HOPS = 40  # as Linux: more links than this in one path is a loop
_MAX_JSON = 64 << 20  # info/paths.json of the largest packages is a few MB


class PackageRefused(CheckFailed):
    """A conda package is malformed or does not match its own `info/paths.json`."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PathEntry:
    """One row of `info/paths.json`: a path the package installs."""

    path: str
    path_type: str  # "hardlink" (a file), "softlink" or "directory"
    sha256: str | None  # hex, of the file as packaged
    size: int | None
    placeholder: str | None = None  # the build prefix written into the file
    file_mode: str = "text"  # how the placeholder is replaced: "text" or "binary"


@dataclass(frozen=True, kw_only=True, slots=True)
class Unpacked:
    root: Path  # the package's files at their paths, and info/
    index: dict[str, Any]  # info/index.json
    paths: tuple[PathEntry, ...]  # sorted by path
    link: dict[str, Any] | None  # info/link.json (noarch python packages), when present


def unpack(archive: Path, dest: Path, *, package: str) -> Unpacked:
    """Unpack `archive` (a `.conda` or `.tar.bz2`) into the empty folder `dest`, checked."""
    members = _Members(dest, package=package, file=archive.name)
    try:
        if archive.name.endswith(".conda"):
            _unpack_conda(archive, members)
        elif archive.name.endswith(".tar.bz2"):
            with tarfile.open(archive, mode="r|bz2") as tar:
                members.add_all(tar)
        else:
            members.refuse("", "not a .conda or .tar.bz2 file")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        if isinstance(error, PackageRefused):
            raise
        raise PackageRefused(f"{package}: {archive.name} cannot be read: {error}",
                             hint="the package is damaged; nothing was installed") from None
    members.check_links()
    index = _json(dest, "info/index.json", package, archive.name)
    paths = _paths(_json(dest, "info/paths.json", package, archive.name), package, archive.name)
    link = _json(dest, "info/link.json", package, archive.name) \
        if (dest / "info" / "link.json").is_file() else None
    _check_paths(dest, paths, members, package, archive.name)
    return Unpacked(root=dest, index=index, paths=paths, link=link)


def _unpack_conda(archive: Path, members: _Members) -> None:
    import zstandard

    with zipfile.ZipFile(archive) as outer:
        names = sorted(n for n in outer.namelist() if n.endswith(".tar.zst"))
        kinds = sorted(n.split("-", 1)[0] for n in names)
        if kinds != ["info", "pkg"]:
            members.refuse("", f"holds {', '.join(names) or 'no .tar.zst'}; a .conda file "
                               "holds one info-*.tar.zst and one pkg-*.tar.zst")
        for name in names:
            with outer.open(name) as raw, \
                    zstandard.ZstdDecompressor().stream_reader(raw) as plain, \
                    tarfile.open(fileobj=plain, mode="r|") as tar:
                members.add_all(tar, info=name.startswith("info-"))


class _Members:
    """The members unpacked so far, each checked as it comes."""

    def __init__(self, dest: Path, *, package: str, file: str) -> None:
        self.dest = dest
        self.package = package
        self.file = file
        self.kinds: dict[str, str] = {}  # path -> "file", "dir", "link"
        self.links: dict[str, str] = {}  # symbolic link -> its target

    def check_links(self) -> None:
        """Every symbolic link resolves inside the package, following the package's own
        links on the way (checked once all are known: a later member can be a link that an
        earlier one passes through)."""
        for name, target in sorted(self.links.items()):
            if self._escapes(posixpath.dirname(name), target):
                self.refuse(name, f"links to {target}, outside the package")

    def _escapes(self, folder: str, target: str) -> bool:
        todo = target.split("/")
        done = [p for p in folder.split("/") if p]
        hops = 0
        while todo:
            part = todo.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if not done:
                    return True
                done.pop()
                continue
            here = "/".join([*done, part])
            if here in self.links:
                hops += 1
                if hops > _MAX_HOPS:
                    return True  # a loop: refused as if it escaped
                todo[:0] = self.links[here].split("/")
                continue
            done.append(part)
        return False

    def refuse(self, member: str, why: str) -> NoReturn:
        where = f" {member}:" if member else ""
        raise PackageRefused(f"{self.package}: {self.file}:{where} {why}",
                             hint="the package is malformed or was altered; nothing was installed")

    def add_all(self, tar: tarfile.TarFile, *, info: bool | None = None) -> None:
        for member in tar:
            name = self._name(member.name)
            if name is None:
                continue
            if info is not None and info != (name == "info" or name.startswith("info/")):
                self.refuse(name, "is in the wrong part of the .conda file")
            self._add(tar, member, name)

    def _name(self, raw: str) -> str | None:
        name = raw.removeprefix("./").rstrip("/")
        if not name or name == ".":
            return None
        parts = name.split("/")
        if raw.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
            self.refuse(raw, "is not a plain relative path")
        for depth in range(1, len(parts)):
            above = "/".join(parts[:depth])
            if self.kinds.get(above, "dir") != "dir":
                self.refuse(name, f"lies below {above}, which is not a folder")
        return name

    def _add(self, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> None:
        if name in self.kinds and not (member.isdir() and self.kinds[name] == "dir"):
            self.refuse(name, "appears twice")
        path = self.dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for depth in range(1, name.count("/") + 1):
            self.kinds.setdefault(name.rsplit("/", depth)[0], "dir")
        if member.isdir():
            path.mkdir(exist_ok=True)
            self.kinds[name] = "dir"
        elif member.issym():
            if member.linkname.startswith("/") or not member.linkname:
                self.refuse(name, f"links to {member.linkname}, outside the package")
            path.symlink_to(member.linkname)
            self.kinds[name] = "link"
            self.links[name] = member.linkname
        elif member.islnk():
            source = self._name_of_link(member.linkname)
            if self.kinds.get(source) != "file":
                self.refuse(name, f"is a hard link to {member.linkname}, not an earlier file")
            shutil.copy2(self.dest / source, path)
            self.kinds[name] = "file"
        elif member.isreg():
            handle = tar.extractfile(member)
            if handle is None:
                self.refuse(name, "cannot be read")
            with path.open("wb") as out:
                shutil.copyfileobj(handle, out, _CHUNK)
            path.chmod(0o755 if member.mode & 0o111 else 0o644)
            self.kinds[name] = "file"
        else:
            self.refuse(name, "is not a file, folder or link")

    def _name_of_link(self, raw: str) -> str:
        name = raw.removeprefix("./").rstrip("/")
        return name if name in self.kinds else ""


def _json(dest: Path, name: str, package: str, file: str) -> dict[str, Any]:
    path = dest / name
    try:
        if not path.is_file() or path.is_symlink():
            raise PackageRefused(f"{package}: {file}: no {name}",
                                 hint="envbuild installs packages that list their paths "
                                      "(info/paths.json, conda-build 2 and later)")
        if path.stat().st_size > _MAX_JSON:
            raise PackageRefused(f"{package}: {file}: {name} is too large")
        value = json.loads(path.read_bytes())
    except ValueError as error:
        raise PackageRefused(f"{package}: {file}: {name} is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise PackageRefused(f"{package}: {file}: {name} is not a JSON object")
    return value


def _paths(document: dict[str, Any], package: str, file: str) -> tuple[PathEntry, ...]:
    rows = document.get("paths")
    if not isinstance(rows, list):
        raise PackageRefused(f"{package}: {file}: info/paths.json has no 'paths' list")
    out = []
    for position, row in enumerate(rows):
        where = f"{package}: {file}: info/paths.json paths[{position}]"
        if not isinstance(row, dict) or not isinstance(row.get("_path"), str):
            raise PackageRefused(f"{where}: expected a table with a '_path'")
        sha = row.get("sha256")
        size = row.get("size_in_bytes")
        placeholder = row.get("prefix_placeholder")
        mode = row.get("file_mode", "text")
        if row.get("path_type", "hardlink") not in ("hardlink", "softlink", "directory") \
                or not isinstance(sha, str | None) or not isinstance(size, int | None) \
                or not isinstance(placeholder, str | None) or mode not in ("text", "binary"):
            raise PackageRefused(f"{where}: unexpected values for {row['_path']}")
        out.append(PathEntry(path=row["_path"], path_type=row.get("path_type", "hardlink"),
                             sha256=sha, size=size, placeholder=placeholder or None,
                             file_mode=mode))
    return tuple(sorted(out, key=lambda e: e.path))


def _check_paths(dest: Path, paths: tuple[PathEntry, ...], members: _Members, package: str,
                 file: str) -> None:
    """Every listed path unpacked as its type, with its hash and size; nothing unlisted."""
    problems = []
    listed = set()
    want = {"hardlink": "file", "softlink": "link", "directory": "dir"}
    for entry in paths:
        listed.add(entry.path)
        kind = members.kinds.get(entry.path)
        if kind is None:
            problems.append(f"{entry.path}: listed in info/paths.json, not in the package")
        elif kind != want[entry.path_type]:
            problems.append(f"{entry.path}: listed as a {entry.path_type}, packaged as a {kind}")
        elif kind == "file" and entry.sha256 is not None:
            sha, size = _digest(dest / entry.path)
            if sha != entry.sha256 or (entry.size is not None and size != entry.size):
                problems.append(f"{entry.path}: differs from its info/paths.json sha256 and size")
    for name, kind in members.kinds.items():
        if kind != "dir" and name not in listed and not name.startswith("info/"):
            problems.append(f"{name}: packaged but not listed in info/paths.json")
    if problems:
        raise PackageRefused(f"{package}: {file} does not match its info/paths.json:\n"
                             + "\n".join(sorted(problems)),
                             hint="the package is damaged or was altered after it was built")


def _digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for chunk in _chunks(handle):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(_CHUNK):
        yield chunk


def listing(archive: Path) -> tuple[dict[str, dict[str, Any]], list[tarfile.TarInfo]]:
    """({"index.json": ..., "link.json": ...}, every member's header) of a cached package,
    nothing written: what the image command's check looks in. Contents are skipped, but
    for those two files of info/."""
    info: dict[str, dict[str, Any]] = {"index.json": {}, "link.json": {}}
    headers: list[tarfile.TarInfo] = []

    def read(tar: tarfile.TarFile) -> None:
        for member in tar:
            headers.append(member)
            name = member.name.removeprefix("./").removeprefix("info/")
            if name in info and member.isfile():
                handle = tar.extractfile(member)
                value = json.loads(handle.read(_MAX_JSON)) if handle else {}
                info[name] = value if isinstance(value, dict) else {}

    try:
        if archive.name.endswith(".conda"):
            import zstandard

            with zipfile.ZipFile(archive) as outer:
                for name in sorted(n for n in outer.namelist() if n.endswith(".tar.zst")):
                    with outer.open(name) as raw, \
                            zstandard.ZstdDecompressor().stream_reader(raw) as plain, \
                            tarfile.open(fileobj=plain, mode="r|") as tar:
                        read(tar)
        else:
            with tarfile.open(archive, mode="r|bz2") as tar:
                read(tar)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        raise PackageRefused(f"{archive.name} cannot be read: {error}",
                             hint="the package is damaged; it is downloaded again next time "
                                  "if it does not match the lock") from None
    return info, headers
