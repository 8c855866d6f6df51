"""The system's file tree, held as data: every package's data members, merged, and the
files `finish.py` adds. It is packed into a layer by `pack.py`; nothing of it is ever
written to disk at a path taken from a package, so a member cannot escape the image's root
(no path, symlink or hard link from a `.deb` is followed on the host).

Each member name is checked (relative, no `.`/`..`/empty/NUL/control characters) and moved
by the usrmerge rule: `/bin`, `/sbin`, `/lib*` go under `/usr` (Debian bookworm's layout,
as debootstrap makes it; `finish.py` adds the `/bin -> usr/bin` links). Device nodes and
fifos are refused: an engine mounts its own /dev. A path two packages ship is kept once
when both ship the same thing (folders always merge); otherwise the package that declares
`Replaces:` on the other wins, as dpkg would let it, and any other clash is an error.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from envbuild.errors import InputError
from envbuild.image.system.debfile import data_members
from envbuild.scrub import escape

MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]*")


class TreeError(InputError):
    """The packages cannot be unpacked into one tree."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Node:
    kind: str  # "dir" | "file" | "symlink" | "hardlink"
    mode: int  # permission bits, setuid/setgid/sticky included
    uid: int = 0
    gid: int = 0
    target: str = ""  # a symlink's target as written; a hard link's path in the tree
    content: Path | bytes | None = None  # a file's bytes, or the staged file holding them
    size: int = 0
    sha256: str = ""  # of a file's bytes: clashes compare content, not staging names
    package: str | None = None  # None: made by envbuild (finish.py)

    def same(self, other: Node) -> bool:
        return (self.kind, self.mode, self.uid, self.gid, self.target, self.sha256) == \
            (other.kind, other.mode, other.uid, other.gid, other.target, other.sha256)

    def read(self) -> bytes:
        if isinstance(self.content, Path):
            return self.content.read_bytes()
        return self.content or b""


@dataclass(kw_only=True, slots=True)
class Tree:
    """Path (relative, `/`-separated, usrmerged) -> node; and each package's own paths as
    the package names them (dpkg's `.list` files record these)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    owned: dict[str, list[str]] = field(default_factory=dict)
    staged: int = 0  # files staged so far: the next one's name
    replaces: dict[str, frozenset[str]] = field(default_factory=dict)  # package -> Replaces

    def add(self, path: str, node: Node) -> None:
        self._parents(path, node.package)
        old = self.nodes.get(path)
        if old is None or (old.kind == node.kind == "dir") or old.same(node):
            self.nodes.setdefault(path, node)
            return
        if old.package is None or node.package is None or \
                old.package in self.replaces.get(node.package, ()):
            self.nodes[path] = node
            return
        if node.package in self.replaces.get(old.package, ()):
            return  # the earlier package replaces this one: its file stays
        raise TreeError(f"/{escape(path)} is shipped by both {old.package} and {node.package}, "
                        f"differently, and {node.package} does not replace {old.package}",
                        hint="lock a set of packages that can be installed together")

    def file(self, path: str, data: bytes, *, mode: int = 0o644, uid: int = 0,
             gid: int = 0) -> None:
        """A file envbuild makes (finish.py): it replaces what a package shipped there."""
        self.add(path, Node(kind="file", mode=mode, uid=uid, gid=gid, content=data,
                            size=len(data), sha256=hashlib.sha256(data).hexdigest()))

    def symlink(self, path: str, target: str) -> None:
        self.add(path, Node(kind="symlink", mode=0o777, target=target))

    def folder(self, path: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self.add(path, Node(kind="dir", mode=mode, uid=uid, gid=gid))

    def _parents(self, path: str, package: str | None) -> None:
        parts = path.split("/")
        for end in range(1, len(parts)):
            parent = "/".join(parts[:end])
            found = self.nodes.get(parent)
            if found is None:
                self.nodes[parent] = Node(kind="dir", mode=0o755, package=package)
            elif found.kind != "dir":
                raise TreeError(f"/{escape(path)} ({package or 'envbuild'}) is under "
                                f"/{escape(parent)}, which {found.package or 'envbuild'} "
                                f"ships as a {found.kind}")


def member_path(raw: str, package: str) -> str | None:
    """The member's own path (relative), or None for the root folder itself."""
    name = raw.removeprefix("./").removesuffix("/")
    if name in ("", "."):
        return None
    parts = name.split("/")
    if raw.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in name \
            or escape(name) != name:
        raise TreeError(f'{package}: member "{escape(raw)}" is not a plain relative path')
    return name


def merged(path: str) -> str:
    """The path under the usrmerge layout (`bin/sh` -> `usr/bin/sh`)."""
    head = path.split("/", 1)[0]
    return f"usr/{path}" if head in MERGED else path


def relation_names(value: str | None) -> frozenset[str]:
    """Package names of a relation field (`Replaces: a (<< 2), b:any`), versions dropped."""
    names = set()
    for part in re.split(r"[,|]", value or ""):
        match = _NAME.match(part.strip().split(":", 1)[0])
        if match:
            names.add(match.group(0))
    return frozenset(names)


def unpack(tree: Tree, package: str, deb: Path, staging: Path) -> None:
    """Add the data of `deb` (package `package`) to `tree`, file bytes staged under
    `staging` (one numbered file each: no name from the package is used on disk)."""
    own = tree.owned.setdefault(package, [])
    for member, handle in data_members(deb):
        raw = member_path(member.name, package)
        if raw is None:
            continue
        own.append(raw)
        path = merged(raw)
        own_node = Node(kind="dir", mode=member.mode & 0o7777, uid=member.uid,
                        gid=member.gid, package=package)
        if member.isdir():
            node = own_node
        elif member.issym():
            node = replace(own_node, kind="symlink", target=member.linkname)
        elif member.islnk():
            target = merged(member_path(member.linkname, package) or "")
            if tree.nodes.get(target, own_node).kind not in ("file", "hardlink"):
                raise TreeError(f"{package}: hard link /{escape(raw)} names "
                                f"{escape(member.linkname)}, not an earlier file")
            node = replace(own_node, kind="hardlink", target=target)
        elif member.isfile() and handle is not None:
            tree.staged += 1
            node = _staged(replace(own_node, kind="file"), handle, staging / str(tree.staged))
        else:
            kind = "device" if member.ischr() or member.isblk() else \
                "fifo" if member.isfifo() else "special file"
            raise TreeError(f"{package}: /{escape(raw)} is a {kind}; images hold no device "
                            "nodes or fifos (the engine provides /dev)")
        tree.add(path, node)


def _staged(node: Node, handle: IO[bytes], staged: Path) -> Node:
    """`node` with its bytes copied from `handle` into the file `staged`."""
    sha = hashlib.sha256()
    size = 0
    with staged.open("wb") as out:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return replace(node, content=staged, size=size, sha256=sha.hexdigest())

