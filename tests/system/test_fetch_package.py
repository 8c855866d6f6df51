"""Downloading a locked .deb (what the image side installs from): checked against the lock's
size and sha256; a file that left the archive is exit 3 with the snapshot hint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from envbuild.errors import ExitCode
from envbuild.lockfile import load
from envbuild.lockfile.model import SystemPackage
from envbuild.manifest import load_manifest
from envbuild.system.archive import Archive, ArchiveNotTrusted, PackageGone, archive_for, fetch_package
from tests.helpers import run_cli
from tests.support.debarchive import ArchiveKey
from tests.system.archive import Served, served


@pytest.fixture
def repo(tmp_path: Path, debian_archive_key: ArchiveKey, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "cache"))
    with served(tmp_path, debian_archive_key) as s:
        s.manifest(["hello"], python="[]")
        assert run_cli(["lock", "-f", str(s.folder / "envbuild.toml")]).code == 0
        yield s


def locked_greet(repo: Served) -> tuple[Archive, SystemPackage]:
    manifest = load_manifest(repo.folder / "envbuild.toml")
    package = next(p for p in load(repo.folder / "envbuild.lock").targets["cpu"].system if p.name == "libgreet1")
    assert manifest.system is not None
    return archive_for(manifest.system, package.archive), package


def test_a_locked_deb_is_fetched_and_checked(repo: Served) -> None:
    archive, package = locked_greet(repo)
    assert fetch_package(archive, package) == repo.archive.deb("libgreet1", "amd64").read_bytes()


def test_a_deb_that_left_the_archive_is_exit_3(repo: Served) -> None:
    archive, package = locked_greet(repo)
    repo.archive.deb("libgreet1", "amd64").unlink()
    with pytest.raises(PackageGone) as gone:
        fetch_package(archive, package)
    assert gone.value.exit_code == ExitCode.EXTERNAL
    assert gone.value.message == (f"debian:bookworm at {repo.url}: libgreet1 1.3-1 "
                                  "(pool/main/libg/libgreet/libgreet1_1.3-1_all.deb) is no longer in the archive")
    assert gone.value.hint == ("re-lock with `envbuild lock --upgrade`, or point [system] archive at a snapshot "
                               "mirror that still holds it")


def test_other_bytes_than_locked_are_exit_1(repo: Served) -> None:
    archive, package = locked_greet(repo)
    deb = repo.archive.deb("libgreet1", "amd64")
    deb.write_bytes(deb.read_bytes()[:-1] + b"X")
    with pytest.raises(ArchiveNotTrusted) as refused:
        fetch_package(archive, package)
    assert refused.value.exit_code == ExitCode.CHECK_FAILED
    assert refused.value.message.startswith(f"debian:bookworm at {repo.url}: "
                                            "pool/main/libg/libgreet/libgreet1_1.3-1_all.deb does not match the lock")
