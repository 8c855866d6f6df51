"""Install locked wheels into a staging tree laid out like the image's Python.

pypa `installer` does the unpacking. What this module adds, for images that are the same
bytes on every host: the scheme is the image's (never this host's), console scripts point
at the image's interpreter, INSTALLER is fixed, no direct_url.json and no `.pyc` are
written (see docs in `envbuild/image/README.md`), the wheel's members are checked to stay
inside their scheme, and every member is checked against its RECORD hash and size.

RECORD is checked in the same pass that installs (one decompression of the wheel, not
two): its names and entries are checked first, then each member's hash is the one
`installer` takes anyway while writing it. A member that fails is reported, by name, after
the pass; the staging tree it was written into is thrown away by the caller, so nothing of
a refused wheel reaches a layer.

Big deflated members (at least `layers.SPLICE_MIN` bytes) are inflated by `_Inflating`
instead of zipfile: the same inflation, which also proves that the member's raw deflate
bytes end exactly where the zip says (zipfile ignores bytes after the end), so the layer
packer may copy those bytes into the layer instead of compressing the file again
(`layers.Splice`). A member whose bytes run on, that is rewritten while installed, that
is encrypted, or that lies under `*.data/` (scripts are rewritten, data moved), is simply
compressed.
"""

from __future__ import annotations

import io
import posixpath
import re
import struct
import zipfile
import zlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InvalidWheelSource
from installer.records import RecordEntry
from installer.sources import WheelFile
from installer.utils import Scheme

from envbuild.errors import CheckFailed, InputError
from envbuild.image.layers import SPLICE_MIN, Splice, Splices

INSTALLER_NAME = b"envbuild\n"
_SCHEMES = ("purelib", "platlib", "headers", "scripts", "data")


SITE_PACKAGES = "site-packages"
DIST_PACKAGES = "dist-packages"


@dataclass(frozen=True, kw_only=True, slots=True)
class InstallLayout:
    """Where packages go inside the image; part of every layer's cache key."""

    interpreter: str  # e.g. /usr/local/bin/python3.11
    prefix: str = "/usr/local"
    site_dir: str = SITE_PACKAGES  # the folder under lib/python3.N that packages go to
    # True: the interpreter's own site.py adds that folder (so its .pth files run, after the
    # standard library). False: not known to, and the image config's PYTHONPATH names it.
    on_site_path: bool = True

    @property
    def python_version(self) -> str:
        return posixpath.basename(self.interpreter).removeprefix("python")

    @property
    def site_packages(self) -> str:
        return f"{self.prefix}/lib/python{self.python_version}/{self.site_dir}"

    @property
    def scripts(self) -> str:
        return f"{self.prefix}/bin"

    def schemes(self) -> dict[str, str]:
        return {"purelib": self.site_packages, "platlib": self.site_packages,
                "headers": f"{self.prefix}/include/python{self.python_version}",
                "scripts": self.scripts, "data": self.prefix}

    def document(self) -> dict[str, Any]:
        # "site": 2 marks layers built since packages go to a site directory (dist-packages
        # for Debian's interpreter), so no layer cached before is reused.
        return {"interpreter": self.interpreter, "prefix": self.prefix,
                "schemes": self.schemes(), "installer": INSTALLER_NAME.decode().strip(),
                "bytecode": False, "site": 2}


def site_layout(interpreter: str, known: Collection[str] | None) -> InstallLayout:
    """The layout for an image interpreter: packages in one of its own site directories.

    `/usr/bin/python3.N` is taken for Debian's (its site.py adds
    /usr/local/lib/python3.N/dist-packages), `/usr/local/bin/python3.N` for a python.org
    build with prefix /usr/local (its site-packages). `known`: the site directories the
    base's files show that interpreter has (`BaseImage.site_dirs`); None when there is no
    base to look at. When the rule's folder is not among them, or the interpreter lives
    elsewhere, packages go to /usr/local/lib/python3.N/site-packages and PYTHONPATH names it.
    """
    folder = posixpath.dirname(interpreter)
    name = {"/usr/bin": DIST_PACKAGES, "/usr/local/bin": SITE_PACKAGES}.get(folder)
    if name is not None:
        layout = InstallLayout(interpreter=interpreter, site_dir=name)
        if known is None or layout.site_packages in known:
            return layout
    return InstallLayout(interpreter=interpreter, site_dir=SITE_PACKAGES, on_site_path=False)


class WheelRefused(CheckFailed):
    """A wheel fails its RECORD or would write outside its install scheme."""


class _Inflating:
    """A deflated member read straight from the wheel file: `length` raw bytes at `offset`,
    inflated. It raises BadZipFile, as zipfile does, when they do not inflate to the zip's
    size and CRC-32; `splice` is the member as a `layers.Splice` once it was read whole and
    its deflate stream ended exactly at its last byte."""

    def __init__(self, source: Path, info: zipfile.ZipInfo, offset: int) -> None:
        self._source = source
        self._info = info
        self._offset = offset
        self._file = source.open("rb")
        self._file.seek(offset)
        self._left = info.compress_size  # raw bytes not yet read
        self._tail = b""  # raw bytes read, not yet inflated
        self._engine = zlib.decompressobj(-15)
        self._position = 0
        self._crc = 0
        self._raw_crc = 0  # of the raw bytes: the packer checks the copy it makes
        self.splice: Splice | None = None

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while (size < 0 or len(out) < size) and not self._engine.eof:
            if not self._tail and self._left:
                self._tail = self._file.read(min(1 << 20, self._left))
                if not self._tail:
                    raise zipfile.BadZipFile(f"{self._info.filename}: the wheel ends inside it")
                self._left -= len(self._tail)
                self._raw_crc = zlib.crc32(self._tail, self._raw_crc)
            try:
                # With no raw bytes left this drains what zlib still holds (a long match's
                # tail, cut at the last limit).
                piece = self._engine.decompress(self._tail, 0 if size < 0 else size - len(out))
            except zlib.error as error:
                raise zipfile.BadZipFile(f"{self._info.filename}: {error}") from None
            self._tail = self._engine.unconsumed_tail
            if not piece and not self._tail and not self._left and not self._engine.eof:
                raise zipfile.BadZipFile(f"{self._info.filename}: its deflate stream "
                                         "is cut short")
            out += piece
        self._position += len(out)
        self._crc = zlib.crc32(out, self._crc)
        if self._engine.eof and self.splice is None:
            self._end()
        return bytes(out)

    def _end(self) -> None:
        if self._position != self._info.file_size or self._crc != self._info.CRC:
            raise zipfile.BadZipFile(f"Bad CRC-32 or size for file {self._info.filename!r}")
        if not self._tail and not self._left and not self._engine.unused_data:
            self.splice = Splice(source=self._source, offset=self._offset,
                                 length=self._info.compress_size, size=self._position,
                                 crc=self._crc, raw_crc=self._raw_crc)

    def readline(self, size: int = -1) -> bytes:  # installer reads scripts' first lines only
        raise io.UnsupportedOperation("readline")

    def seek(self, offset: int, whence: int = 0) -> int:
        raise io.UnsupportedOperation("seek")

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._file.close()


def _raw_offset(source: Path, info: zipfile.ZipInfo) -> int | None:
    """Where `info`'s compressed bytes start in `source`, from its local header; None when
    the header is not where the central directory says or the bytes would run past the end."""
    with source.open("rb") as handle:
        handle.seek(info.header_offset)
        header = handle.read(30)
        size = handle.seek(0, 2)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        return None
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    offset = info.header_offset + 30 + name_length + extra_length
    return offset if offset + info.compress_size <= size else None


def _spliceable(name: str, info: zipfile.ZipInfo) -> bool:
    top = name.split("/", 1)[0]
    return (info.compress_type == zipfile.ZIP_DEFLATED and info.file_size >= SPLICE_MIN
            and not info.flag_bits & 0x1  # encrypted
            and not top.endswith(".data"))  # scripts and data: rewritten or moved


class _Member:
    """A wheel member's stream that remembers the RECORD entry `installer` took of it.

    `installer` hashes what it writes with sha256; when it wrote this stream whole, from its
    first byte, that entry is the member's own hash and size, so nothing is hashed twice.
    """

    def __init__(self, stream: IO[bytes] | _Inflating) -> None:
        self._stream = stream
        self.written: RecordEntry | None = None

    @property
    def inflating(self) -> _Inflating | None:
        return self._stream if isinstance(self._stream, _Inflating) else None

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def readline(self, size: int = -1) -> bytes:
        return self._stream.readline(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()


class _Destination(SchemeDictionaryDestination):
    """installer's destination, noting the files written whole from a member that may be
    spliced into the layer (`splices`, by their path under the staging root)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.splices: Splices = {}

    def write_to_fs(self, scheme: Scheme, path: str, stream: BinaryIO,
                    is_executable: bool) -> RecordEntry:
        whole = isinstance(stream, _Member) and stream.tell() == 0
        entry = super().write_to_fs(scheme, path, stream, is_executable)
        if whole:
            member = cast(_Member, stream)
            member.written = entry
            inflating = member.inflating
            if inflating is not None and inflating.splice is not None \
                    and entry.size == inflating.splice.size:
                name = posixpath.normpath(posixpath.join(self.scheme_dict[scheme], path))
                self.splices[name.lstrip("/")] = inflating.splice
        return entry


class _Source(WheelFile):
    """A wheel whose members are checked against RECORD as `installer` reads them.

    `__pycache__` members are left out (installer would warn and skip), but still checked.
    Call `validate_record(validate_contents=False)` first: it checks RECORD's names and
    entries, so that every member checked here has a hash and a size.
    """

    def __init__(self, archive: zipfile.ZipFile, path: Path) -> None:
        super().__init__(archive)
        self.path = path
        self.file = path.name
        self.issues: list[str] = []

    def get_contents(self) -> Iterator[Any]:
        for element in super().get_contents():
            elements, stream, executable = element
            record = RecordEntry.from_elements(*elements)
            member = self._member(elements[0], stream)
            try:
                if "__pycache__" not in elements[0].split("/")[:-1]:
                    yield elements, member, executable
                self._check(record, member)
            finally:
                if member.inflating is not None:
                    member.inflating.close()

    def _member(self, name: str, stream: IO[bytes]) -> _Member:
        info = self._zipfile.getinfo(name)  # names are unique (_check_members)
        if _spliceable(name, info):
            offset = _raw_offset(self.path, info)
            if offset is not None:
                return _Member(_Inflating(self.path, info, offset))
        return _Member(stream)

    def _check(self, record: RecordEntry, member: _Member) -> None:
        if record.hash_ is None:  # RECORD itself and its signatures (validate_record)
            return
        written = member.written
        if written is not None and written.hash_ is not None \
                and written.hash_.name == record.hash_.name:
            ok = written.hash_.value == record.hash_.value and written.size == record.size
        else:  # not written whole (a rewritten shebang, a skipped member): read it again
            with self._zipfile.open(record.path) as stream:
                ok = record.validate_stream(cast(BinaryIO, stream))
        if not ok:
            self.issues.append(f"In {self.file}, hash / size of {record.path} didn't match RECORD")


def install_wheels(staging: Path, wheels: Sequence[tuple[str, Path]],
                   layout: InstallLayout) -> Splices:
    """Install (package name, wheel path) pairs, in order, into `staging` as the image root;
    return the files the layer packer may splice (`layers.Splice`).

    On a refused wheel, `staging` holds part of it: the caller removes it.
    """
    destination = _Destination(
        scheme_dict=layout.schemes(), interpreter=layout.interpreter, script_kind="posix",
        bytecode_optimization_levels=(), destdir=str(staging))
    for package, path in wheels:
        with zipfile.ZipFile(path) as archive:
            _check_members(package, path.name, archive)
            source = _Source(archive, path)
            try:
                source.validate_record(validate_contents=False)
                install(source, destination, {"INSTALLER": INSTALLER_NAME})
            except WheelFile.validation_error as error:
                issues = [str(i) for i in error.issues]
            except (zipfile.BadZipFile, zlib.error) as error:
                raise WheelRefused(f"{package}: {path.name} is damaged: {error}",
                                   hint="the wheel is damaged or was altered after it was "
                                        "built; it was not installed") from None
            except (InvalidWheelSource, ValueError) as error:
                # installer's own refusals: a .data folder of an unknown scheme, an entry point
                # or a member that would land outside the staging tree.
                if isinstance(error, ValueError) and "outside" not in str(error):
                    raise
                raise WheelRefused(f"{package}: {path.name} would write outside its install "
                                   f"scheme: {error}",
                                   hint="the wheel is malformed; it was not installed") from None
            except FileExistsError as error:
                if not source.issues:  # else a bad member explains it better
                    where = str(error).replace(str(staging), "")
                    raise InputError(f"{package}: {path.name} overwrites a file of another "
                                     f"package in the same layer ({where.split(': ', 1)[-1]})",
                                     hint="two locked packages ship the same file") from None
                issues = source.issues
            else:
                issues = source.issues
            _refuse(package, path, issues)
    return destination.splices


def _refuse(package: str, path: Path, issues: list[str]) -> None:
    if issues:
        issues = [i.replace(str(path), path.name) for i in issues]
        raise WheelRefused(f"{package}: {path.name} fails its RECORD:\n"
                           + "\n".join(sorted(issues)),
                           hint="the wheel is damaged or was altered after it was built")


_DRIVE = re.compile(r"^[A-Za-z]:")


def _check_members(package: str, file: str, archive: zipfile.ZipFile) -> None:
    bad, seen = [], set()
    for name in archive.namelist():
        if name in seen and not name.endswith("/"):  # a folder twice is harmless
            raise WheelRefused(f"{package}: {file} holds {name} twice",
                               hint="the wheel is malformed (readers disagree on which copy "
                                    "counts); it was not installed")
        seen.add(name)
        parts = name.split("/")
        if name.startswith("/") or _DRIVE.match(name) or "\\" in name or ".." in parts:
            bad.append(name)
    if bad:
        raise WheelRefused(f"{package}: {file} would write outside its install scheme: "
                           + ", ".join(sorted(bad)),
                           hint="the wheel is malformed; it was not installed")
