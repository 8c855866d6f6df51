"""Read a Debian binary package (`.deb`) without dpkg: its control files and its data.

A `.deb` is an `ar` archive of `debian-binary`, `control.tar.*` and `data.tar.*` (xz, zstd,
gzip or none). Both tars are read as streams; nothing is extracted to disk, so a member's
name never becomes a path here (see `tree.py`). Maintainer scripts are read as text, never
run.
"""

from __future__ import annotations

import gzip
import io
import lzma
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from envbuild.errors import InputError

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60
_CONTROL_FILES = ("control", "md5sums", "conffiles", "postinst", "preinst", "triggers",
                  "shlibs", "symbols")
_CONTROL_LIMIT = 16 << 20  # a control tar this large is not a real package's


class DebError(InputError):
    """A `.deb` that cannot be read as one (its hash matched the lock: the lock names it)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DebControl:
    """The control part of a package: `control` as text and the other control files."""

    control: str
    files: dict[str, bytes] = field(default_factory=dict)  # md5sums, conffiles, postinst ...

    def field(self, name: str) -> str | None:
        return parse_paragraph(self.control).get(name.lower())


def parse_paragraph(text: str) -> dict[str, str]:
    """One deb822 paragraph: lower-cased field names -> values (continuation lines joined
    with newlines, as written)."""
    fields: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and current is not None:
            fields[current] += "\n" + line
        elif ":" in line:
            name, _, value = line.partition(":")
            current = name.strip().lower()
            fields[current] = value.strip()
    return fields


def _members(path: Path) -> Iterator[tuple[str, IO[bytes], int]]:
    """(name, handle positioned at the data, size) for each member of the ar archive."""
    with path.open("rb") as handle:
        if handle.read(len(_AR_MAGIC)) != _AR_MAGIC:
            raise DebError(f"{path.name}: not a Debian package (no ar header)")
        while header := handle.read(_AR_HEADER):
            if len(header) != _AR_HEADER or header[58:60] != b"`\n":
                raise DebError(f"{path.name}: damaged ar member header")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            try:
                size = int(header[48:58].decode("ascii").strip())
            except ValueError:
                raise DebError(f"{path.name}: damaged ar member size") from None
            start = handle.tell()
            yield name, handle, size
            handle.seek(start + size + (size % 2))


def _decompressed(name: str, raw: IO[bytes]) -> IO[bytes] | gzip.GzipFile:
    if name.endswith(".xz"):
        return lzma.open(raw)
    if name.endswith(".gz"):
        return gzip.open(raw)
    if name.endswith(".zst"):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw)
    if name.endswith(".tar"):
        return raw
    raise DebError(f"{name}: unknown compression")


class _Window(io.RawIOBase):
    """`size` bytes of `handle` from where it stands: one ar member as a stream."""

    def __init__(self, handle: IO[bytes], size: int) -> None:
        self._handle, self._left = handle, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._left)
        data = self._handle.read(want)
        buffer[:len(data)] = data
        self._left -= len(data)
        return len(data)


def _tar(path: Path, prefix: str) -> Iterator[tuple[tarfile.TarFile, str]]:
    for name, handle, size in _members(path):
        if name.startswith(prefix):
            stream = _decompressed(name, io.BufferedReader(_Window(handle, size), 1 << 20))
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                yield tar, name
            return
    raise DebError(f"{path.name}: no {prefix}* member")


def read_control(path: Path) -> DebControl:
    """The package's control files (maintainer scripts as bytes, never run)."""
    files: dict[str, bytes] = {}
    total = 0
    for tar, _ in _tar(path, "control.tar"):
        for member in tar:
            name = member.name.removeprefix("./")
            if member.isfile() and name in _CONTROL_FILES:
                total += member.size
                handle = tar.extractfile(member)
                if total > _CONTROL_LIMIT or handle is None:
                    raise DebError(f"{path.name}: control files too large")
                files[name] = handle.read()
    if "control" not in files:
        raise DebError(f"{path.name}: no control file")
    control = files.pop("control").decode("utf-8", "replace")
    return DebControl(control=control, files=files)


def data_members(path: Path) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
    """Each member of the package's data tar with, for a regular file, a handle on its
    bytes (valid until the next member is taken)."""
    for tar, _ in _tar(path, "data.tar"):
        for member in tar:
            yield member, tar.extractfile(member) if member.isfile() else None
