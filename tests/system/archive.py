"""The tests' Debian archive for locking: a few tiny packages covering each rule of the closure."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.debarchive import ArchiveKey, ArchiveServer, DebSpec, FixtureArchive, build_archive


def specs() -> list[DebSpec]:
    libc = [DebSpec(name="libc6", version="2.36-9", architecture=arch, priority="required",
                    source="glibc", files={"usr/lib/libc.so.6": f"libc {arch}".encode()})
            for arch in ("amd64", "arm64")]
    # The manylinux baseline libraries that are not Essential (envbuild.system.implicit).
    baseline = [spec for arch in ("amd64", "arm64") for spec in (
        DebSpec(name="libgcc-s1", version="12.2.0-14", architecture=arch, source="gcc-12",
                depends="libc6 (>= 2.35)", files={"usr/lib/libgcc_s.so.1": b"libgcc_s"}),
        DebSpec(name="libstdc++6", version="12.2.0-14", architecture=arch, source="gcc-12",
                depends="libc6 (>= 2.36), libgcc-s1 (>= 4.2)", files={"usr/lib/libstdc++.so.6": b"libstdc++"}))]
    # Enough of Debian's Python 3.11 for lock and image: the program, Debian's site.py (it
    # adds /usr/local/lib/python3.11/dist-packages) and python3-minimal's python3 (3.11).
    python = [spec for arch in ("amd64", "arm64") for spec in (
        DebSpec(name="python3.11-minimal", version="3.11.2-6", architecture=arch, source="python3.11",
                depends="libc6 (>= 2.36)",
                files={"usr/bin/python3.11": b"#!/bin/sh\n",
                       "usr/lib/python3.11/site.py": b'sitedirs = "local/lib", "dist-packages"\n'}),
        DebSpec(name="python3.11", version="3.11.2-6", architecture=arch,
                depends="python3.11-minimal (= 3.11.2-6)"),
        DebSpec(name="python3-minimal", version="3.11.2-1+b1", architecture=arch, source="python3-defaults",
                depends="python3.11-minimal (>= 3.11.2-1~)", links={"usr/bin/python3": "python3.11"}))]
    return [
        *libc,
        *python,
        *baseline,
        DebSpec(name="base-files", version="12.4", architecture="all", essential=True, priority="required"),
        DebSpec(name="dash", version="0.5.12-2", essential=True, priority="required",
                pre_depends="libc6 (>= 2.34)", files={"bin/dash": b"#!dash"}),
        DebSpec(name="dash", version="0.5.12-2", architecture="arm64", essential=True, priority="required",
                pre_depends="libc6 (>= 2.34)", files={"bin/dash": b"#!dash arm"}),
        DebSpec(name="hello", version="1.0-1", architecture="all",
                depends="libc6 (>= 2.34), libgreet1 (>= 1.2) | libgreet-compat"),
        DebSpec(name="libgreet1", version="1.3-1", architecture="all", source="libgreet", depends="libc6"),
        DebSpec(name="altuser", version="1.0", architecture="all", depends="libmissing1 | libgreet1"),
        DebSpec(name="mailer", version="2.0", architecture="all", depends="mail-transport-agent"),
        DebSpec(name="bigmta", version="4.96", architecture="all", provides="mail-transport-agent",
                priority="standard"),
        DebSpec(name="tinymta", version="1.0", architecture="all", provides="mail-transport-agent"),
        DebSpec(name="needs-new", version="1.0", architecture="all", depends="libgreet1 (>= 2)"),
        DebSpec(name="broken", version="1.0", architecture="all", depends="hello, libnothere"),
        DebSpec(name="old-greeter", version="0.9", architecture="all", conflicts="libgreet1"),
    ]


@dataclass
class Served:
    archive: FixtureArchive
    server: ArchiveServer
    folder: Path  # the project folder: envbuild.toml, envbuild.lock

    @property
    def url(self) -> str:
        return self.server.url("debian")

    def manifest(self, packages: list[str], *, targets: str = '[targets.cpu]\nplatform = "linux/amd64"\n',
                 extra: str = "", python: str = '["alpha"]') -> Path:
        path = self.folder / "envbuild.toml"
        path.write_text(f'[project]\nname = "demo"\npython = "3.11"\n[dependencies]\npython = {python}\n'
                        f'[system]\ndistribution = "debian:bookworm"\narchive = "{self.url}"\n'
                        f'keyring = "{self.archive.key.keyring}"\npackages = {packages!r}\n'.replace("'", '"')
                        + extra + targets)
        return path

    def lock_text(self) -> str:
        return (self.folder / "envbuild.lock").read_text()

    def system(self, target: str = "cpu") -> dict[str, dict[str, Any]]:
        table = tomllib.loads(self.lock_text())["targets"][target]
        return {p["name"]: p for p in table.get("system", [])}


@contextmanager
def served(tmp_path: Path, key: ArchiveKey) -> Iterator[Served]:
    archive = build_archive(tmp_path / "www" / "debian", key, specs())
    folder = tmp_path / "project"
    folder.mkdir()
    with ArchiveServer(tmp_path / "www") as server:
        yield Served(archive=archive, server=server, folder=folder)
