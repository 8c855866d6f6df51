"""Build real, valid, byte-for-byte deterministic wheels and sdists from a declarative spec.

The artifacts follow the binary distribution format (wheel file names with normalised names,
`.dist-info` with METADATA, WHEEL, entry_points.txt and a RECORD holding each member's
sha256 and size) and the source distribution format (`name-version.tar.gz` with PKG-INFO and
a `pyproject.toml`). Real pip and uv install them.

Determinism: members are written in sorted order with a fixed timestamp and fixed
permissions, the compressor runs at a fixed level and the tarball's gzip header carries no
time, so the same spec gives the same bytes (and hash) on every run and machine that shares
the zlib build.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import textwrap
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.tags import parse_tag
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

# 1980-01-01 is the earliest time a zip member can carry; any fixed value would do.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
TAR_MTIME = 315532800  # the same instant, as a Unix time
GENERATOR = "envbuild-tests-wheelfactory (1.0)"


@dataclass(frozen=True, kw_only=True, slots=True)
class DistSpec:
    """What one distribution (a name at a version) contains.

    `files` maps archive paths to contents; when it holds nothing under the import package
    and `module` is true, a `<import_name>/__init__.py` defining `__version__` is added.
    `tags` are compressed tag triples as they appear in a wheel file name
    (`cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64`).
    """

    name: str
    version: str
    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    summary: str = ""
    tag: str = "py3-none-any"
    console_scripts: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, bytes | str] = field(default_factory=dict)
    module: bool = True
    build: str | None = None  # optional wheel build tag, e.g. "1"

    @property
    def project(self) -> str:
        return canonicalize_name(self.name)

    @property
    def import_name(self) -> str:
        return self.project.replace("-", "_")

    @property
    def normalized_version(self) -> str:
        return str(Version(self.version))

    @property
    def wheel_filename(self) -> str:
        build = f"-{self.build}" if self.build else ""
        return f"{self._stem}{build}-{self.tag}.whl"

    @property
    def sdist_filename(self) -> str:
        return f"{self._stem}.tar.gz"

    @property
    def dist_info(self) -> str:
        return f"{self._stem}.dist-info"

    @property
    def _stem(self) -> str:
        return f"{self.import_name}-{self.normalized_version}"

    def metadata(self, metadata_version: str = "2.1") -> str:
        """The core metadata file (METADATA in a wheel, PKG-INFO in an sdist)."""
        lines = [
            f"Metadata-Version: {metadata_version}",
            f"Name: {self.name}",
            f"Version: {self.normalized_version}",
        ]
        if self.summary:
            lines.append(f"Summary: {self.summary}")
        if self.requires_python:
            lines.append(f"Requires-Python: {self.requires_python}")
        lines += [f"Requires-Dist: {req}" for req in self.requires_dist]
        return "\n".join(lines) + "\n\n"

    def payload(self) -> dict[str, bytes]:
        """The importable files of the distribution (everything outside .dist-info)."""
        members = {path: _as_bytes(content) for path, content in self.files.items()}
        init = f"{self.import_name}/__init__.py"
        if self.module and not any(p.startswith(f"{self.import_name}/") for p in members):
            members[init] = (
                f'__version__ = "{self.normalized_version}"\n\n\n'
                "def main() -> None:\n"
                f'    print("{self.project} {self.normalized_version}")\n'
            ).encode()
        return members


def build_wheel(spec: DistSpec, dest: Path) -> Path:
    """Write `spec` as a wheel into the folder `dest` and return its path."""
    name, version, _build, tags = parse_wheel_filename(spec.wheel_filename)
    if name != spec.project or str(version) != spec.normalized_version:
        raise ValueError(f"wheel name does not round-trip: {spec.wheel_filename}")
    pure = spec.tag == "py3-none-any" or all(t.platform == "any" for t in tags)
    wheel_lines = [
        "Wheel-Version: 1.0",
        f"Generator: {GENERATOR}",
        f"Root-Is-Purelib: {'true' if pure else 'false'}",
    ]
    if spec.build:
        wheel_lines.append(f"Build: {spec.build}")
    wheel_lines += [f"Tag: {tag}" for tag in sorted(str(t) for t in parse_tag(spec.tag))]

    members = spec.payload()
    di = spec.dist_info
    members[f"{di}/METADATA"] = spec.metadata().encode()
    members[f"{di}/WHEEL"] = ("\n".join(wheel_lines) + "\n\n").encode()
    if spec.console_scripts:
        scripts = "".join(f"{k} = {v}\n" for k, v in sorted(spec.console_scripts.items()))
        members[f"{di}/entry_points.txt"] = f"[console_scripts]\n{scripts}\n".encode()

    record_path = f"{di}/RECORD"
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in sorted(members.items())]
    record.append(f"{record_path},,")
    # Conventionally RECORD is the last member; .dist-info goes after the payload.
    ordered = sorted(members, key=lambda p: (p.startswith(f"{di}/"), p))
    members[record_path] = ("\n".join(record) + "\n").encode()
    ordered.append(record_path)

    dest.mkdir(parents=True, exist_ok=True)
    path = dest / spec.wheel_filename
    path.write_bytes(_zip_bytes((p, members[p]) for p in ordered))
    return path


def build_sdist(spec: DistSpec, dest: Path) -> Path:
    """Write `spec` as an sdist into `dest`; it builds with an in-tree, stdlib-only backend.

    The backend needs nothing from any index, so build isolation works offline; the wheel it
    builds is pure (`py3-none-any`) whatever `spec.tag` says.
    """
    root = f"{spec.import_name}-{spec.normalized_version}"
    pyproject = textwrap.dedent(
        f"""\
        [build-system]
        requires = []
        build-backend = "_wheelfactory_backend"
        backend-path = ["."]

        [project]
        name = "{spec.name}"
        version = "{spec.normalized_version}"
        """
    )
    # Static [project] metadata must agree with PKG-INFO: tools may read either.
    pyproject += f"dependencies = {json.dumps(list(spec.requires_dist))}\n"
    if spec.requires_python:
        pyproject += f"requires-python = {json.dumps(spec.requires_python)}\n"
    members = {f"{root}/{p}": data for p, data in spec.payload().items()}
    # Metadata 2.2 without Dynamic fields lets resolvers read PKG-INFO instead of building.
    members[f"{root}/PKG-INFO"] = spec.metadata("2.2").encode()
    members[f"{root}/pyproject.toml"] = pyproject.encode()
    members[f"{root}/_wheelfactory_backend.py"] = _BACKEND.encode()

    buf = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9, filename="") as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for member in sorted(members):
            data = members[member]
            info = tarfile.TarInfo(member)
            info.size, info.mtime, info.mode = len(data), TAR_MTIME, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / spec.sdist_filename
    path.write_bytes(buf.getvalue())
    return path


def read_metadata(wheel: Path) -> bytes:
    """The METADATA member of a wheel, as served for PEP 658."""
    name, version, _build, _tags = parse_wheel_filename(wheel.name)
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            head, _, tail = member.partition("/")
            if tail == "METADATA" and head.endswith(".dist-info"):
                return zf.read(member)
    raise ValueError(f"{wheel.name}: no .dist-info/METADATA for {name} {version}")


def read_sdist_metadata(sdist: Path) -> bytes:
    """The top-level PKG-INFO of an sdist."""
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                extracted = tar.extractfile(member)
                if extracted is not None:
                    return extracted.read()
    raise ValueError(f"{sdist.name}: no PKG-INFO")


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _zip_bytes(members: Iterable[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data in members:
            info = zipfile.ZipInfo(path, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so external_attr carries permissions
            info.external_attr = (0o100644 if not path.endswith(".so") else 0o100755) << 16
            zf.writestr(info, data, compresslevel=9)
    return buf.getvalue()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def _as_bytes(content: bytes | str) -> bytes:
    return content.encode() if isinstance(content, str) else content


# A PEP 517 backend with no requirements: it packs the sdist's own files into a pure wheel.
_BACKEND = '''\
"""Build backend of envbuild's test sdists: standard library only."""

import base64
import hashlib
import os
import zipfile

_SKIP = {"PKG-INFO", "pyproject.toml", "_wheelfactory_backend.py"}


def _meta():
    with open("PKG-INFO", encoding="utf-8") as f:
        text = f.read()
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    return text, fields["Name"], fields["Version"]


def _stem():
    _text, name, version = _meta()
    return name.lower().replace("-", "_").replace(".", "_") + "-" + version


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    text, _name, _version = _meta()
    dist_info = _stem() + ".dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w") as f:
        f.write(text)
    return dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    text, _name, _version = _meta()
    stem = _stem()
    members = {}
    for root, dirs, files in os.walk("."):
        dirs.sort()
        for name in sorted(files):
            path = os.path.relpath(os.path.join(root, name), ".").replace(os.sep, "/")
            if path in _SKIP or "__pycache__" in path or path.endswith(".egg-info"):
                continue
            with open(path, "rb") as f:
                members[path] = f.read()
    members[stem + ".dist-info/METADATA"] = text.encode()
    members[stem + ".dist-info/WHEEL"] = (
        b"Wheel-Version: 1.0\\nGenerator: wheelfactory-backend\\n"
        b"Root-Is-Purelib: true\\nTag: py3-none-any\\n\\n"
    )
    record = []
    for path, data in sorted(members.items()):
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        record.append("%s,sha256=%s,%d" % (path, digest.decode(), len(data)))
    record.append(stem + ".dist-info/RECORD,,")
    members[stem + ".dist-info/RECORD"] = ("\\n".join(record) + "\\n").encode()
    filename = stem + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        for path, data in members.items():
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    raise NotImplementedError("test sdists are built by the wheel factory, not rebuilt")
'''


def raw_member(wheel: Path, name: str) -> bytes:
    """The compressed bytes of member `name` as they sit in the wheel file (after its local
    header), e.g. to find them copied into an image layer."""
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo(name)
    with wheel.open("rb") as handle:
        handle.seek(info.header_offset + 26)
        name_length = int.from_bytes(handle.read(2), "little")
        extra_length = int.from_bytes(handle.read(2), "little")
        handle.seek(name_length + extra_length, 1)
        return handle.read(info.compress_size)
