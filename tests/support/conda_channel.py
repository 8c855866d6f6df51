"""A real conda channel on 127.0.0.1, built from packages made here (no channel is reachable).

    channel = CondaChannel(tmp_path / "channel")
    channel.add(CondaSpec(name="demo", version="1.0", build="cuda_0", subdir="linux-64",
                          depends=("__cuda >=12",), files=(CondaFile("lib/demo.txt", "x"),)))
    channel.index()                     # repodata.json per subdir (rattler's index_fs)
    with channel.serve() as url:        # http://127.0.0.1:PORT/ (the channel root)
        ...

Packages are real conda packages, made two ways:
- `.conda` (the default) through py-rattler-build's `assemble_package`, byte-identical for
  the same spec (fixed timestamp);
- `.tar.bz2` (`fmt="tar.bz2"`) written here, the only way to get a file that needs prefix
  replacement (`CondaFile(prefix=True)`): `assemble_package` detects no placeholder, so
  info/paths.json `prefix_placeholder`/`file_mode` and info/has_prefix are written by hand.
  Also deterministic: sorted members, fixed mtimes, owners and modes.

`python_package()` is a tiny `python` package whose interpreter is real: `bin/pythonX.Y`
is a shell script (with the prefix placeholder, so the installer must rewrite it) that
execs an interpreter already on the machine or in the base image; `bin/python` and
`bin/python3` link to it, and `lib/pythonX.Y/site-packages/` holds one marker module.
`standard_channel()` makes the set the conda tests use (see its docstring).
"""

from __future__ import annotations

import asyncio
import bz2
import contextlib
import datetime
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# conda's own placeholder, the one conda-build writes into prefix files.
PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
TIMESTAMP = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
_MTIME = int(TIMESTAMP.timestamp())
_ARCH = {"linux-64": ("linux", "x86_64"), "linux-aarch64": ("linux", "aarch64"),
         "osx-64": ("osx", "x86_64"), "osx-arm64": ("osx", "arm64"), "noarch": (None, None)}


@dataclass(frozen=True, slots=True)
class CondaFile:
    """One file in a package, at `path` relative to the environment prefix.

    `prefix=True`: `content` contains PLACEHOLDER, recorded in paths.json with
    `file_mode` "text" (only in `.tar.bz2` packages). `link`: a symlink to this target
    instead of a regular file (content ignored).
    """

    path: str
    content: str | bytes = b""
    executable: bool = False
    prefix: bool = False
    link: str | None = None

    def data(self) -> bytes:
        return self.content.encode() if isinstance(self.content, str) else self.content


@dataclass(frozen=True, kw_only=True, slots=True)
class CondaSpec:
    name: str
    version: str
    build: str = "0"
    subdir: str = "linux-64"
    depends: tuple[str, ...] = ()
    constrains: tuple[str, ...] = ()
    files: tuple[CondaFile, ...] = ()
    build_number: int = 0
    noarch: str | None = None  # "generic" | "python" (then subdir must be "noarch")
    fmt: str = "conda"  # "conda" | "tar.bz2"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.build}.{self.fmt}"


def build_package(spec: CondaSpec, channel_root: Path) -> Path:
    """Write the package file into `channel_root/<subdir>/` and return its path."""
    folder = channel_root / spec.subdir
    folder.mkdir(parents=True, exist_ok=True)
    if spec.fmt == "tar.bz2" or any(f.prefix for f in spec.files):
        if spec.fmt != "tar.bz2":
            raise ValueError(f"{spec.name}: prefix files need fmt='tar.bz2'")
        return _tar_bz2(spec, folder)
    from rattler_build import assemble_package

    with tempfile.TemporaryDirectory() as staged:
        for entry in spec.files:
            target = Path(staged, entry.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            if entry.link is not None:
                target.symlink_to(entry.link)
            else:
                target.write_bytes(entry.data())
                target.chmod(0o755 if entry.executable else 0o644)
        output = assemble_package(
            spec.name, spec.version, spec.subdir, spec.build, folder, files_dir=staged,
            depends=list(spec.depends), constrains=list(spec.constrains),
            build_number=spec.build_number, noarch=spec.noarch,  # type: ignore[arg-type]
            timestamp=TIMESTAMP, detect_prefix=False, compression_threads=1,
        )
    return Path(str(output.path))


def _tar_bz2(spec: CondaSpec, folder: Path) -> Path:
    platform, arch = _ARCH[spec.subdir]
    index: dict[str, object] = {
        "arch": arch, "build": spec.build, "build_number": spec.build_number,
        "depends": list(spec.depends), "constrains": list(spec.constrains), "license": "MIT",
        "name": spec.name, "platform": platform, "subdir": spec.subdir,
        "timestamp": _MTIME * 1000, "version": spec.version,
    }
    if spec.noarch:
        index["noarch"] = spec.noarch
    paths = []
    for entry in sorted(spec.files, key=lambda f: f.path):
        row: dict[str, object] = {"_path": entry.path}
        if entry.link is not None:
            row["path_type"] = "softlink"
            row["sha256"] = hashlib.sha256(entry.link.encode()).hexdigest()
            row["size_in_bytes"] = len(entry.link.encode())
        else:
            row["path_type"] = "hardlink"
            row["sha256"] = hashlib.sha256(entry.data()).hexdigest()
            row["size_in_bytes"] = len(entry.data())
            if entry.prefix:
                row["prefix_placeholder"] = PLACEHOLDER
                row["file_mode"] = "text"
        paths.append(row)
    members: list[tuple[str, bytes, int, str | None]] = [
        ("info/index.json", _json(index), 0o644, None),
        ("info/paths.json", _json({"paths": paths, "paths_version": 1}), 0o644, None),
        ("info/files", "".join(f"{f.path}\n" for f in sorted(spec.files, key=lambda f: f.path)).encode(),
         0o644, None),
    ]
    prefixed = sorted(f.path for f in spec.files if f.prefix)
    if prefixed:
        has_prefix = "".join(f"{PLACEHOLDER} text {p}\n" for p in prefixed)
        members.append(("info/has_prefix", has_prefix.encode(), 0o644, None))
    for entry in spec.files:
        members.append((entry.path, entry.data(), 0o755 if entry.executable else 0o644, entry.link))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode, link in sorted(members, key=lambda m: m[0]):
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = _MTIME, mode, 0, 0, "", ""
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    path = folder / spec.filename
    path.write_bytes(bz2.compress(buffer.getvalue(), 9))
    return path


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def index_channel(channel_root: Path) -> None:
    """Write repodata.json for every subdir (and an empty noarch), unsharded."""
    from rattler.index import index_fs

    (channel_root / "noarch").mkdir(parents=True, exist_ok=True)
    asyncio.run(index_fs(channel_root, write_shards=False))
    shutil.rmtree(channel_root / ".tmp", ignore_errors=True)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class CondaChannel:
    """A channel folder: add packages, index, serve; `tamper` edits served repodata."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)  # filename -> path

    def add(self, spec: CondaSpec) -> Path:
        path = build_package(spec, self.root)
        self.files[spec.filename] = path
        return path

    def index(self) -> CondaChannel:
        index_channel(self.root)
        return self

    def repodata(self, subdir: str) -> dict[str, object]:
        data: dict[str, object] = json.loads((self.root / subdir / "repodata.json").read_text())
        return data

    def tamper(self, subdir: str, filename: str, **changes: object) -> None:
        """Change one record of `subdir/repodata.json` (size, sha256, md5, ...) in place."""
        data = self.repodata(subdir)
        for key in ("packages", "packages.conda"):
            table = data.get(key)
            if isinstance(table, dict) and filename in table:
                table[filename].update(changes)
                (self.root / subdir / "repodata.json").write_text(json.dumps(data))
                (self.root / subdir / "repodata.json.zst").unlink(missing_ok=True)
                return
        raise KeyError(filename)

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Serve the channel root on 127.0.0.1; yields its URL (ending without '/')."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(self.root)))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()


def python_package(version: str = "3.11.9", *, build: str = "0", subdir: str = "linux-64",
                   interpreter: str = "/usr/bin/python3") -> CondaSpec:
    """A `python` conda package whose interpreter execs `interpreter` (real files, see top)."""
    short = ".".join(version.split(".")[:2])
    script = f'#!/bin/sh\n# prefix: {PLACEHOLDER}\nexec {interpreter} "$@"\n'
    return CondaSpec(
        name="python", version=version, build=build, subdir=subdir, fmt="tar.bz2",
        files=(
            CondaFile(f"bin/python{short}", script, executable=True, prefix=True),
            CondaFile("bin/python3", link=f"python{short}"),
            CondaFile("bin/python", link=f"python{short}"),
            CondaFile(f"lib/python{short}/site-packages/conda_python_marker.py",
                      f'PREFIX = "{PLACEHOLDER}"\n', prefix=True),
        ),
    )


def standard_channel(root: Path) -> CondaChannel:
    """The channel the conda tests lock against, indexed (not served). For linux-64 and
    linux-aarch64 each:
    - `accel 1.0`: build `cuda_0` (depends `__cuda >=12`, `__glibc >=2.17`) and build
      `cpu_0`; a CUDA target must get the first, a CPU target the second;
    - `needsnewglibc 1.0` (depends `__glibc >=2.34`): refused on a glibc 2.28 floor;
    - `cuda-toolkit 12.4.1` and `12.8.0` (`__cuda >=12.4` / `>=12.8`): a 12.4 target gets
      12.4.1, a spec `cuda-toolkit=12.8` on it is refused;
    - `prefixed 1.0` (`.tar.bz2`, depends `python`): a site-packages file and a script with
      the prefix placeholder;
    - `python 3.11.9` (python_package) and `numpy 1.26.4` (depends `python >=3.11,<3.12`);
    and in noarch `tinyutil 0.1` (noarch generic).
    """
    channel = CondaChannel(root)
    for subdir in ("linux-64", "linux-aarch64"):
        channel.add(CondaSpec(name="accel", version="1.0", build="cuda_0", subdir=subdir,
                              depends=("__cuda >=12", "__glibc >=2.17"),
                              files=(CondaFile("lib/accel/flavour.txt", "cuda\n"),)))
        channel.add(CondaSpec(name="accel", version="1.0", build="cpu_0", subdir=subdir,
                              files=(CondaFile("lib/accel/flavour.txt", "cpu\n"),)))
        channel.add(CondaSpec(name="needsnewglibc", version="1.0", subdir=subdir,
                              depends=("__glibc >=2.34",), files=(CondaFile("lib/ng.txt", "x\n"),)))
        for version, floor in (("12.4.1", "12.4"), ("12.8.0", "12.8")):
            channel.add(CondaSpec(name="cuda-toolkit", version=version, subdir=subdir,
                                  depends=(f"__cuda >={floor}",),
                                  files=(CondaFile("lib/cuda-version.txt", f"{version}\n"),)))
        channel.add(python_package(subdir=subdir))
        channel.add(CondaSpec(name="numpy", version="1.26.4", build="py311_0", subdir=subdir,
                              depends=("python >=3.11,<3.12",),
                              files=(CondaFile("lib/python3.11/site-packages/numpy/__init__.py",
                                               '__version__ = "1.26.4"\n'),)))
        channel.add(CondaSpec(name="prefixed", version="1.0", subdir=subdir, fmt="tar.bz2",
                              depends=("python",),
                              files=(CondaFile("lib/python3.11/site-packages/prefixed.py",
                                               f'WHERE = "{PLACEHOLDER}"\n', prefix=True),
                                     CondaFile("bin/prefixed-tool",
                                               f"#!{PLACEHOLDER}/bin/python3.11\nimport prefixed\n",
                                               executable=True, prefix=True))))
    channel.add(CondaSpec(name="tinyutil", version="0.1", subdir="noarch", noarch="generic",
                          files=(CondaFile("share/tinyutil/readme.txt", "tiny\n"),)))
    return channel.index()
