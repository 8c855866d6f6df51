"""A dataset on a local or mounted file system: a path or a file:// URL."""

# os.* on str paths: see envbuild/data/walk.py.
# ruff: noqa: PTH100, PTH116, PTH118

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from envbuild.data.digest import FileEntry
from envbuild.data.filters import PathFilter
from envbuild.data.hashing import hash_files
from envbuild.data.sources.interface import Source, SourceError, SourceFile
from envbuild.data.walk import enumerate_files


class LocalSource(Source):
    hints_portable = False  # mtimes and inodes differ between machines and checkouts

    def __init__(self, location: str) -> None:
        path = unquote(urlsplit(location).path) if location.startswith("file://") else location
        self.root = Path(os.path.abspath(path))
        super().__init__(str(self.root))
        self._disk: dict[str, str] = {}

    def list_files(self, include: PathFilter) -> list[SourceFile]:
        files: list[SourceFile] = []
        for path, abspath in enumerate_files(self.root, include):
            self._disk[path] = abspath
            try:
                st = os.stat(abspath)
            except FileNotFoundError:
                raise SourceError(f"{abspath} vanished while listing", hint="run again") from None
            # ctime and inode catch an edit that restores size and mtime.
            hint = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"
            files.append(SourceFile(path=path, size=st.st_size, hint=hint))
        return files

    def read(self, path: str, *, offset: int = 0) -> Iterator[bytes]:
        abspath = self._abspath(path)
        try:
            with open(abspath, "rb") as handle:
                handle.seek(offset)
                while chunk := handle.read(1 << 20):
                    yield chunk
        except PermissionError:
            raise SourceError(f"permission denied reading {abspath}", hint="grant read access to it") from None
        except FileNotFoundError:
            raise SourceError(f"{abspath} is missing at the source", hint="restore it, or re-lock") from None

    def hash_files(
        self,
        files: Sequence[SourceFile],
        algorithm: str,
        *,
        jobs: int = 8,
        on_file: Callable[[int], None] | None = None,
    ) -> list[FileEntry]:
        located = [(f.path, self._abspath(f.path)) for f in files]
        return hash_files(located, algorithm, on_file=on_file)

    def _abspath(self, path: str) -> str:
        known = self._disk.get(path)
        if known is not None:
            return known
        # A single-file dataset lists its file under its own name.
        if self.root.name == path and self.root.is_file():
            return str(self.root)
        return os.path.join(self.root, *path.split("/"))
