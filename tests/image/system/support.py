"""Build images from system packages in tests: the native builder, driven with a lock made
here (until `envbuild lock` resolves `[system]`, tests lock system sets directly)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from envbuild.image.builders.interface import BuildRequest, BuildResult
from envbuild.image.builders.oci import NativeOciBuilder
from envbuild.image.store import Store
from envbuild.lockfile.model import Lock, LockedPackage, LockedTarget, SystemPackage
from envbuild.manifest.image import DEFAULT_WORKDIR, ImageSettings
from tests.support.debarchive import DebSpec, build_deb
from tests.support.locks import H, make_lock

SETTINGS = ImageSettings(base=None, repository=None, workdir=DEFAULT_WORKDIR, env=(), copy=(),
                         entrypoint=(), python=None)


def system_target(name: str, platform: str, system: Sequence[SystemPackage],
                  packages: Sequence[LockedPackage] = ()) -> LockedTarget:
    return LockedTarget(name=name, hash="", input_hash=H, platform=platform, python="3.11",
                        glibc="2.28", cuda=None, gpus=(), driver_floor=None, resolver="uv",
                        requirements=(), hardware=(), packages=tuple(packages), base="system",
                        system_distribution="debian:bookworm", system=tuple(system))


def system_lock(*targets: LockedTarget) -> Lock:
    return make_lock(targets, name="systest",
                     indexes={"local": {"exclude-newer-exempt": False}})


def build(lock: Lock, cache: Path, *, archives: dict[str, str], output: Path | None = None,
          urls: dict[str, str] | None = None, offline: bool = False,
          progress: list[str] | None = None) -> BuildResult:
    """Build every target of `lock` with the native builder into `output`."""
    names = tuple(sorted(lock.targets))
    request = BuildRequest(lock=lock, targets=names, settings=SETTINGS, project_dir=cache.parent,
                           output=output, urls=urls or {}, offline=offline, store=Store(cache),
                           epoch=0, progress=(progress.append if progress is not None
                                              else lambda _: None),
                           bases=dict.fromkeys(names, "system"), archives=archives)
    return NativeOciBuilder().build(request)


def serve_debs(www: Path, specs: Sequence[DebSpec]) -> list[SystemPackage]:
    """Build each spec into `www`'s pool (as an archive lays it out); their lock records."""
    out = []
    for spec in specs:
        deb = build_deb(spec, www / spec.pool_path())
        data = deb.read_bytes()
        out.append(SystemPackage(name=spec.name, version=spec.version,
                                 architecture=spec.architecture, archive="default",
                                 path=spec.pool_path(), size=len(data),
                                 hash="sha256:" + hashlib.sha256(data).hexdigest()))
    return out


def layer_members(layout: Path, digest: str) -> dict[str, tuple[tarfile.TarInfo, bytes]]:
    """Name -> (member, bytes) of one layer blob of an OCI layout."""
    blob = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    out = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob.read_bytes()))) as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            out[member.name] = (member, handle.read() if handle else b"")
    return out


def image_config(layout: Path, config_digest: str) -> dict[str, Any]:
    blob = layout / "blobs" / "sha256" / config_digest.split(":", 1)[1]
    config: dict[str, Any] = json.loads(blob.read_bytes())
    return config


def elf_library(soname: str, *, machine: int = 62) -> bytes:
    """A minimal 64-bit little-endian ELF shared object whose dynamic section names
    `soname` (machine 62: x86-64, 183: AArch64): what ldconfig reads of a library."""
    import struct

    strtab = b"\0" + soname.encode() + b"\0"
    dyn_at = 64 + 2 * 56
    str_at = dyn_at + 3 * 16
    total = str_at + len(strtab)
    header = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + b"\0" * 9, 3, machine,
                         1, 0, 64, 0, 0, 64, 56, 2, 64, 0, 0)
    load = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, total, total, 0x1000)
    dynamic = struct.pack("<IIQQQQQQ", 2, 6, dyn_at, dyn_at, dyn_at, 48, 48, 8)
    entries = struct.pack("<qQqQqQ", 5, str_at, 14, 1, 0, 0)
    return header + load + dynamic + entries + strtab


def craft_deb(path: Path, control: str,
              members: Sequence[tuple[tarfile.TarInfo, bytes]]) -> Path:
    """A `.deb` written by hand (ar, gzip tars) with exactly `members` as its data: for
    packages `dpkg-deb --build` refuses to make (device nodes, `..` paths, hard links)."""

    def tar_gz(items: Sequence[tuple[tarfile.TarInfo, bytes]]) -> bytes:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for info, data in items:
                tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
        return gzip.compress(raw.getvalue(), mtime=0)

    control_info = tarfile.TarInfo("./control")
    control_info.size = len(control.encode())
    parts = [("debian-binary", b"2.0\n"),
             ("control.tar.gz", tar_gz([(control_info, control.encode())])),
             ("data.tar.gz", tar_gz(members))]
    out = bytearray(b"!<arch>\n")
    for name, data in parts:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


def member(name: str, data: bytes = b"", *, kind: bytes = tarfile.REGTYPE, mode: int = 0o644,
           link: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data


def system_record(name: str, version: str, deb: Path, pool: str,
                  architecture: str = "amd64") -> SystemPackage:
    data = deb.read_bytes()
    return SystemPackage(name=name, version=version, architecture=architecture,
                         archive="default", path=pool, size=len(data),
                         hash="sha256:" + hashlib.sha256(data).hexdigest())
