"""The system records of a lock are checked where they are read: a pool path that could leave
the archive, an architecture of another platform, an edge out of the set are refused (exit 2)
even when every hash was recomputed over the edit."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from envbuild.lockfile.tomlemit import dumps
from envbuild.runtime import proof
from tests.helpers import run_cli
from tests.support.debarchive import ArchiveKey
from tests.system.archive import served


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory, debian_archive_key: ArchiveKey) -> Iterator[dict[str, Any]]:
    """One real lock for the module: system packages only, so no package index is asked."""
    folder = tmp_path_factory.mktemp("system-records")
    with pytest.MonkeyPatch.context() as patch, served(folder, debian_archive_key) as s:
        patch.setenv("ENVBUILD_CACHE_DIR", str(folder / "cache"))
        s.manifest(["hello"], python="[]")
        result = run_cli(["lock", "-f", str(s.folder / "envbuild.toml")])
        assert result.code == 0, result.err
        yield tomllib.loads(s.lock_text())


def resealed(document: dict[str, Any], edit: Callable[[dict[str, Any]], None], folder: Path) -> Path:
    import copy

    changed = copy.deepcopy(document)
    edit(changed["targets"]["cpu"])
    changed["targets"]["cpu"]["hash"] = proof.target_hash(changed["targets"]["cpu"])
    changed["lock-hash"] = proof.lock_hash(changed)
    path = folder / "edited.lock"
    path.write_text(dumps(changed))
    return path


def package(table: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in table["system"] if p["name"] == name)


CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "parent-path": (lambda t: package(t, "hello").update(path="pool/../../etc/passwd.deb"),
                    "\"pool/../../etc/passwd.deb\": component \"..\""),
    "absolute-path": (lambda t: package(t, "hello").update(path="/etc/hello.deb"),
                      '"/etc/hello.deb" is not a relative path in \'targets.cpu.system['),
    "other-arch": (lambda t: package(t, "libc6").update(architecture="arm64"),
                   '"arm64" is neither amd64 nor all in \'targets.cpu.system['),
    "edge-out-of-set": (lambda t: package(t, "hello").update(dependencies=["libc6", "zzz"]),
                        '"zzz", a dependency of hello, is not locked'),
    "bad-name": (lambda t: package(t, "hello").update(name="Hello World"),
                 '"Hello World" is not a Debian package name'),
    "no-distribution": (lambda t: t.pop("system-distribution"),
                        "\"None\" is not debian:<codename> in 'targets.cpu.system-distribution'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_resealed_edit_is_refused(case: str, locked: dict[str, Any], tmp_path: Path) -> None:
    edit, message = CASES[case]
    path = resealed(locked, edit, tmp_path)
    result = run_cli(["show", "--lock", str(path)])
    assert result.code == 2, result.err
    assert message in result.err


def test_system_records_round_trip() -> None:
    import dataclasses

    from envbuild.lockfile import dump, loads
    from envbuild.lockfile.model import SystemPackage
    from tests.lockfile.test_codec import H, sample_lock

    lock = sample_lock()
    libc = SystemPackage(name="libc6", version="2.36-9+deb12u10", architecture="amd64", archive="default",
                         path="pool/main/g/glibc/libc6_2.36-9+deb12u10_amd64.deb", size=2757936, hash=H)
    git = SystemPackage(name="git", version="1:2.39.5-0+deb12u2", architecture="amd64", archive="default",
                        path="pool/main/g/git/git_2.39.5-0+deb12u2_amd64.deb", size=7264900, hash=H,
                        dependencies=("libc6",))
    target = dataclasses.replace(lock.targets["a10g"], system_distribution="debian:bookworm", system=(git, libc))
    lock = dataclasses.replace(lock, targets={"a10g": target})
    text = dump(lock)
    assert loads(text) == lock
    assert text.count("[[targets.a10g.system]]") == 2
    assert 'system-distribution = "debian:bookworm"' in text
