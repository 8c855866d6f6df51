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
"""

from __future__ import annotations

import posixpath
import re
import zipfile
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


class _Member:
    """A wheel member's stream that remembers the RECORD entry `installer` took of it.

    `installer` hashes what it writes with sha256; when it wrote this stream whole, from its
    first byte, that entry is the member's own hash and size, so nothing is hashed twice.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.written: RecordEntry | None = None

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def readline(self, size: int = -1) -> bytes:
        return self._stream.readline(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()


class _Destination(SchemeDictionaryDestination):
    def write_to_fs(self, scheme: Scheme, path: str, stream: BinaryIO,
                    is_executable: bool) -> RecordEntry:
        whole = isinstance(stream, _Member) and stream.tell() == 0
        entry = super().write_to_fs(scheme, path, stream, is_executable)
        if whole:
            cast(_Member, stream).written = entry
        return entry


class _Source(WheelFile):
    """A wheel whose members are checked against RECORD as `installer` reads them.

    `__pycache__` members are left out (installer would warn and skip), but still checked.
    Call `validate_record(validate_contents=False)` first: it checks RECORD's names and
    entries, so that every member checked here has a hash and a size.
    """

    def __init__(self, archive: zipfile.ZipFile, file: str) -> None:
        super().__init__(archive)
        self.file = file
        self.issues: list[str] = []

    def get_contents(self) -> Iterator[Any]:
        for element in super().get_contents():
            elements, stream, executable = element
            record = RecordEntry.from_elements(*elements)
            member = _Member(stream)
            if "__pycache__" not in elements[0].split("/")[:-1]:
                yield elements, member, executable
            self._check(record, member)

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
                   layout: InstallLayout) -> None:
    """Install (package name, wheel path) pairs, in order, into `staging` as the image root.

    On a refused wheel, `staging` holds part of it: the caller removes it.
    """
    destination = _Destination(
        scheme_dict=layout.schemes(), interpreter=layout.interpreter, script_kind="posix",
        bytecode_optimization_levels=(), destdir=str(staging))
    for package, path in wheels:
        with zipfile.ZipFile(path) as archive:
            _check_members(package, path.name, archive)
            source = _Source(archive, path.name)
            try:
                source.validate_record(validate_contents=False)
                install(source, destination, {"INSTALLER": INSTALLER_NAME})
            except WheelFile.validation_error as error:
                issues = [str(i) for i in error.issues]
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


def _refuse(package: str, path: Path, issues: list[str]) -> None:
    if issues:
        issues = [i.replace(str(path), path.name) for i in issues]
        raise WheelRefused(f"{package}: {path.name} fails its RECORD:\n"
                           + "\n".join(sorted(issues)),
                           hint="the wheel is damaged or was altered after it was built")


_DRIVE = re.compile(r"^[A-Za-z]:")


def _check_members(package: str, file: str, archive: zipfile.ZipFile) -> None:
    bad = []
    for name in archive.namelist():
        parts = name.split("/")
        if name.startswith("/") or _DRIVE.match(name) or "\\" in name or ".." in parts:
            bad.append(name)
    if bad:
        raise WheelRefused(f"{package}: {file} would write outside its install scheme: "
                           + ", ".join(sorted(bad)),
                           hint="the wheel is malformed; it was not installed")
