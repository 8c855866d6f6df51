"""A `Tree` packed into one deterministic layer (tar + gzip), as `layers.py` packs wheels.

Entries are sorted by path components (each folder once, before what it holds), every
mtime is the given epoch, owners are the packages' numeric uid/gid with no names, modes
are the packages' own (setuid and sticky bits kept), PAX records only where USTAR cannot
hold a value. Files sharing an inode in a package (`git`'s hard-linked programs) stay hard
links: the first path in sorted order holds the bytes, the others link to it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import IO

from envbuild.image.layers import GZIP_LEVEL
from envbuild.image.system.tree import Node, Tree

_CHUNK = 1 << 20


class _Hashing:
    """A write-only stream that hashes and counts what passes through it."""

    def __init__(self, inner: IO[bytes] | gzip.GzipFile) -> None:
        self.inner, self.sha, self.size = inner, hashlib.sha256(), 0

    def tell(self) -> int:
        return self.size

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        self.inner.write(data)
        return len(data)


def _sort_key(path: str) -> list[str]:
    return path.split("/")


def _root(tree: Tree, path: str) -> str:
    """The file a hard link (through other hard links) finally names."""
    seen = set()
    while tree.nodes[path].kind == "hardlink" and path not in seen:
        seen.add(path)
        path = tree.nodes[path].target
    return path


def write_tree(tree: Tree, out: Path, *, epoch: int) -> tuple[str, str, int]:
    """Pack `tree` into `out`; return (diff_id, digest, compressed size)."""
    with out.open("wb") as raw:
        compressed = _Hashing(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=compressed,  # type: ignore[call-overload]
                           compresslevel=GZIP_LEVEL, mtime=0) as gz:
            plain = _Hashing(gz)
            with tarfile.TarFile(fileobj=plain, mode="w",  # type: ignore[arg-type]
                                 format=tarfile.PAX_FORMAT,
                                 encoding="utf-8", copybufsize=_CHUNK) as tar:
                written: dict[str, str] = {}  # a linked file's root -> the path holding it
                for path in sorted(tree.nodes, key=_sort_key):
                    _add(tar, tree, path, epoch, written)
        raw.flush()
        os.fsync(raw.fileno())
    return "sha256:" + plain.sha.hexdigest(), "sha256:" + compressed.sha.hexdigest(), \
        compressed.size


def _add(tar: tarfile.TarFile, tree: Tree, path: str, epoch: int,
         written: dict[str, str]) -> None:
    node = tree.nodes[path]
    info = tarfile.TarInfo(path)
    info.mtime, info.uid, info.gid, info.mode = epoch, node.uid, node.gid, node.mode
    info.uname = info.gname = ""
    if node.kind == "dir":
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    elif node.kind == "symlink":
        info.type, info.linkname = tarfile.SYMTYPE, node.target
        tar.addfile(info)
    else:
        root = _root(tree, path)
        if root in written:
            info.type, info.linkname = tarfile.LNKTYPE, written[root]
            tar.addfile(info)
            return
        written[root] = path
        source: Node = tree.nodes[root]  # one inode: the file's own owner and mode
        info.size, info.mode, info.uid, info.gid = source.size, source.mode, source.uid, source.gid
        if isinstance(source.content, Path):
            with source.content.open("rb") as handle:
                tar.addfile(info, handle)
        else:
            tar.addfile(info, io.BytesIO(source.content or b""))
