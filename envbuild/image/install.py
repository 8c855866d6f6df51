"""Install locked wheels into a staging tree laid out like the image's Python.

pypa `installer` does the unpacking. What this module adds, for images that are the same
bytes on every host: the scheme is the image's (never this host's), console scripts point
at the image's interpreter, INSTALLER is fixed, no direct_url.json and no `.pyc` are
written (see docs in `envbuild/image/README.md`), RECORD is validated before anything is
written and the wheel's members are checked to stay inside their scheme.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile

from envbuild.errors import CheckFailed, InputError

INSTALLER_NAME = b"envbuild\n"
_SCHEMES = ("purelib", "platlib", "headers", "scripts", "data")


@dataclass(frozen=True, kw_only=True, slots=True)
class InstallLayout:
    """Where packages go inside the image; part of every layer's cache key."""

    interpreter: str  # e.g. /usr/local/bin/python3.11
    prefix: str = "/usr/local"

    @property
    def python_version(self) -> str:
        return posixpath.basename(self.interpreter).removeprefix("python")

    @property
    def site_packages(self) -> str:
        return f"{self.prefix}/lib/python{self.python_version}/site-packages"

    @property
    def scripts(self) -> str:
        return f"{self.prefix}/bin"

    def schemes(self) -> dict[str, str]:
        return {"purelib": self.site_packages, "platlib": self.site_packages,
                "headers": f"{self.prefix}/include/python{self.python_version}",
                "scripts": self.scripts, "data": self.prefix}

    def document(self) -> dict[str, Any]:
        return {"interpreter": self.interpreter, "prefix": self.prefix,
                "schemes": self.schemes(), "installer": INSTALLER_NAME.decode().strip(),
                "bytecode": False}


class WheelRefused(CheckFailed):
    """A wheel fails its RECORD or would write outside its install scheme."""


class _Source(WheelFile):
    """A wheel whose `__pycache__` members are left out (installer would warn and skip)."""

    def get_contents(self) -> Iterator[Any]:
        for element in super().get_contents():
            if "__pycache__" not in element[0][0].split("/")[:-1]:
                yield element


def install_wheels(staging: Path, wheels: Sequence[tuple[str, Path]],
                   layout: InstallLayout) -> None:
    """Install (package name, wheel path) pairs, in order, into `staging` as the image root."""
    destination = SchemeDictionaryDestination(
        scheme_dict=layout.schemes(), interpreter=layout.interpreter, script_kind="posix",
        bytecode_optimization_levels=(), destdir=str(staging))
    for package, path in wheels:
        with zipfile.ZipFile(path) as archive:
            _check_members(package, path.name, archive)
            source = _Source(archive)
            try:
                source.validate_record(validate_contents=True)
            except WheelFile.validation_error as error:
                issues = [str(i).replace(str(path), path.name) for i in error.issues]
                raise WheelRefused(f"{package}: {path.name} fails its RECORD:\n"
                                   + "\n".join(sorted(issues)),
                                   hint="the wheel is damaged or was altered after it was built"
                                   ) from None
            try:
                install(source, destination, {"INSTALLER": INSTALLER_NAME})
            except FileExistsError as error:
                where = str(error).replace(str(staging), "")
                raise InputError(f"{package}: {path.name} overwrites a file of another "
                                 f"package in the same layer ({where.split(': ', 1)[-1]})",
                                 hint="two locked packages ship the same file") from None


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
