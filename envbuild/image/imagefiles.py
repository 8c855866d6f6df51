"""An image's file tree as a path index: enough to find a program the way exec would.

Only names, kinds and link targets are kept, never contents. Layers are applied in order
with OCI whiteouts (`.wh.NAME` deletes NAME, `.wh..wh..opq` empties a folder of what lower
layers put there). A base's index is made in the same pass that reads the base's facts
(`base.py`) and kept in the cache by the base's manifest digest, so a build never reads a
base layer twice; envbuild's own layers are added from what the builder already knows.

Paths are relative to the image root ("usr/bin/python3"). Symlinks are followed inside
that root (an absolute target starts again at the root, `..` stops at it), never on the
host: `/bin -> usr/bin` and `python3 -> python3.11` resolve as in the image.
"""

from __future__ import annotations

import gzip
import json
import posixpath
import tarfile
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from envbuild.canonical import digest as canonical_digest
from envbuild.image.store import Store

DIR, FILE, EXECUTABLE = "d", "f", "x"
_LINK = "l:"  # a symlink entry is "l:" + its target, as the tar records it
_MAX_LINKS = 40  # as Linux's exec: more hops than this is a loop
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_VERSION = 1


def _key(path: str) -> str:
    return posixpath.normpath("/" + path).lstrip("/")


class FileIndex:
    """Path -> kind ("d", "f", "x" for a file with an execute bit, "l:TARGET")."""

    def __init__(self, entries: dict[str, str] | None = None) -> None:
        self.entries: dict[str, str] = dict(entries or {})
        self._this_layer: set[str] = set()
        self._dirs: set[str] | None = None

    def start_layer(self) -> None:
        self._this_layer = set()

    def add_member(self, member: tarfile.TarInfo) -> None:
        """One member of the current layer's tar, whiteouts applied."""
        path = _key(member.name)
        if not path or path == ".":
            return
        folder, name = posixpath.split(path)
        if name == _OPAQUE:
            self._remove_below(folder, keep=self._this_layer)
        elif name.startswith(_WHITEOUT):
            gone = posixpath.join(folder, name[len(_WHITEOUT):])
            self.entries.pop(gone, None)
            self._remove_below(gone, keep=set())
        elif member.isdir():
            self.add(path, DIR)
        elif member.issym():
            self.add(path, _LINK + member.linkname)
        elif member.isreg() or member.islnk():  # a hard link carries its file's mode
            self.add(path, EXECUTABLE if member.mode & 0o111 else FILE)

    def add(self, path: str, kind: str) -> None:
        path = _key(path)
        if self.entries.get(path) == DIR and kind != DIR:  # a file replacing a folder
            self._remove_below(path, keep=set())
        self.entries[path] = kind
        self._this_layer.add(path)
        self._dirs = None

    def _remove_below(self, folder: str, *, keep: set[str]) -> None:
        prefix = f"{folder}/" if folder else ""
        for key in [k for k in self.entries if k.startswith(prefix) and k not in keep]:
            del self.entries[key]
        self._dirs = None

    def dirs(self) -> set[str]:
        """Every folder: declared ones and the parents of every entry."""
        if self._dirs is None:
            found = {k for k, v in self.entries.items() if v == DIR}
            for key in self.entries:
                parent = posixpath.dirname(key)
                while parent and parent not in found:
                    found.add(parent)
                    parent = posixpath.dirname(parent)
            self._dirs = found
        return self._dirs

    def resolve(self, path: str) -> str | None:
        """`path` with every symlink followed inside the image; None when it is not there."""
        todo = deque(path.split("/"))
        done: list[str] = []
        hops = 0
        while todo:
            part = todo.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            here = "/".join([*done, part])
            kind = self.entries.get(here)
            if kind is not None and kind.startswith(_LINK):
                hops += 1
                if hops > _MAX_LINKS:
                    return None
                target = kind[len(_LINK):]
                if target.startswith("/"):
                    done = []
                todo.extendleft(reversed(target.split("/")))
                continue
            if kind is None and here not in self.dirs():
                return None
            if kind in (FILE, EXECUTABLE) and any(p not in ("", ".") for p in todo):
                return None  # a file cannot hold anything
            done.append(part)
        return "/".join(done)

    def kind(self, path: str) -> str | None:
        """The kind of what `path` names after its links: "d", "f", "x", or None."""
        resolved = self.resolve(path)
        if resolved is None:
            return None
        if resolved == "" or resolved in self.dirs():
            return self.entries.get(resolved, DIR)
        return self.entries.get(resolved)


def base_index(manifest_digest: str, layers: Iterable[Path], store: Store) -> FileIndex:
    """The base's index from the cache, or read from its layers once (a cache made before
    the index existed has the base's facts but not this)."""
    memo = _memo(manifest_digest, store)
    try:
        document = json.loads(memo.read_text())
        if document["version"] == _VERSION and isinstance(document["entries"], dict):
            return FileIndex(document["entries"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    index = FileIndex()
    for blob in layers:
        index.start_layer()
        with gzip.open(blob, "rb") as raw, tarfile.open(fileobj=raw, mode="r|") as tar:
            for member in tar:
                index.add_member(member)
    save_base_index(manifest_digest, index, store)
    return index


def save_base_index(manifest_digest: str, index: FileIndex, store: Store) -> None:
    with store.temp_file() as tmp:
        tmp.write_text(json.dumps({"version": _VERSION, "entries": index.entries},
                                  sort_keys=True, separators=(",", ":")))
        store.commit(tmp, _memo(manifest_digest, store))


def _memo(manifest_digest: str, store: Store) -> Path:
    return store.layer_record(canonical_digest({"base-files": manifest_digest}))
