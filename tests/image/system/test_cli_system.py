"""`envbuild lock` then `envbuild image` of a target with `base = "system"`: the base comes
from the packages the lock side resolved from a signed archive on 127.0.0.1, through the CLI."""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.support.debarchive import ArchiveKey, DebSpec
from tests.system.archive import Served, served

_SYSTEM_BASE = '[image]\nbase = "system"\n'


@pytest.fixture
def repo(eb_env: dict[str, str], tmp_path: Path, debian_archive_key: ArchiveKey) -> Iterator[Served]:
    with served(tmp_path, debian_archive_key) as s:
        yield s


def _image(repo: Served, out: Path) -> dict[str, object]:
    result = run_cli(["image", "-f", str(repo.folder / "envbuild.toml"), "--output", f"oci:{out}", "--json"])
    assert result.code == 0, result.err
    document: dict[str, object] = json.loads(result.out)
    return document


def test_lock_then_image_builds_the_base_from_the_locked_packages(repo: Served, tmp_path: Path) -> None:
    repo.manifest(["hello"], extra=_SYSTEM_BASE)  # python3.11 is requested for base = "system"
    assert run_cli(["lock", "-f", str(repo.folder / "envbuild.toml")]).code == 0
    text = repo.lock_text()
    assert 'base = "system"' in text and "base-digest" not in text
    first = _image(repo, tmp_path / "one")
    second = _image(repo, tmp_path / "two")
    target = first["targets"]["cpu"]  # type: ignore[index]
    # The system layer is named for what it holds.
    assert target["layers"][0]["name"] == f"system packages ({len(repo.system())})"
    assert target["digest"] == second["targets"]["cpu"]["digest"]  # type: ignore[index]
    # The base layer holds the unpacked packages and dpkg's record of them; the image's own
    # lock carries the system set, so verify inside the image can check it.
    layout = tmp_path / "one"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(_blob(layout, index["manifests"][0]["digest"]))
    config = json.loads(_blob(layout, manifest["config"]["digest"]))
    assert config["config"]["User"] == "1000:1000"
    with tarfile.open(layout / "blobs" / "sha256" / manifest["layers"][0]["digest"].split(":")[1]) as tar:
        names = set(tar.getnames())
        status = tar.extractfile("var/lib/dpkg/status").read().decode()  # type: ignore[union-attr]
    assert {"usr/lib/libc.so.6", "etc/passwd", "var/lib/dpkg/status"} <= names
    assert "Package: hello\n" in status and "Package: libgreet1\n" in status
    # The locked wheel went into the interpreter's own site directory, on top of the base.
    with tarfile.open(layout / "blobs" / "sha256" / manifest["layers"][1]["digest"].split(":")[1]) as tar:
        assert any(n.startswith("usr/local/lib/python3.11/dist-packages/alpha") for n in tar.getnames())
    # The image runs as 1000:1000: its working directory is in the image and that user's
    # (the last layer, one entry, so the folders below keep their owners), and `docker run
    # IMAGE` starts python3-minimal's python3.
    assert config["config"]["WorkingDir"] == "/workspace"
    assert config["config"]["Cmd"] == ["python3"]
    with tarfile.open(layout / "blobs" / "sha256" / manifest["layers"][-1]["digest"].split(":")[1]) as tar:
        assert [(m.name, m.isdir(), m.uid, m.gid, oct(m.mode)) for m in tar.getmembers()] == [
            ("workspace", True, 1000, 1000, "0o755")]


def test_a_declared_workdir_is_the_users_above_the_copied_files(repo: Served, tmp_path: Path) -> None:
    (repo.folder / "train.py").write_text("print('hi')\n")
    repo.manifest(["hello"], extra=_SYSTEM_BASE + 'workdir = "/opt/app"\ncopy = ["train.py"]\n')
    assert run_cli(["lock", "-f", str(repo.folder / "envbuild.toml")]).code == 0
    _image(repo, tmp_path / "out")
    layout = tmp_path / "out"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(_blob(layout, index["manifests"][0]["digest"]))
    with tarfile.open(layout / "blobs" / "sha256" / manifest["layers"][-2]["digest"].split(":")[1]) as tar:
        assert "opt/app/train.py" in tar.getnames()  # the copied files, root's
    with tarfile.open(layout / "blobs" / "sha256" / manifest["layers"][-1]["digest"].split(":")[1]) as tar:
        assert [(m.name, m.uid, m.gid) for m in tar.getmembers()] == [("opt/app", 1000, 1000)]


def test_base_system_without_system_packages_is_refused(repo: Served) -> None:
    path = repo.folder / "envbuild.toml"
    path.write_text('[project]\nname = "demo"\npython = "3.11"\n[dependencies]\npython = ["alpha"]\n'
                    f'{_SYSTEM_BASE}[targets.cpu]\nplatform = "linux/amd64"\n')
    result = run_cli(["lock", "-f", str(path)])
    assert result.code == 2
    assert 'target "cpu": [image] base = "system" builds the base from the target\'s system packages, ' \
           "and it has none" in result.err


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def test_base_system_requests_the_targets_python_and_python3(repo: Served) -> None:
    repo.manifest(["hello"], extra=_SYSTEM_BASE)
    result = run_cli(["lock", "-f", str(repo.folder / "envbuild.toml")])
    assert result.code == 0, result.err
    system = repo.system()
    assert {"python3.11", "python3.11-minimal", "python3-minimal"} <= set(system)
    assert system["python3-minimal"]["dependencies"] == ["python3.11-minimal"]


def test_a_python_the_distribution_lacks_is_refused_at_lock_time(repo: Served) -> None:
    path = repo.manifest(["hello"], extra=_SYSTEM_BASE)
    path.write_text(path.read_text().replace('python = "3.11"', 'python = "3.12"'))
    result = run_cli(["lock", "-f", str(path)])
    assert result.code == 2, result.err
    assert (f'error: target "cpu": its Python is 3.12, but debian:bookworm has Python 3.11 '
            f"(debian:bookworm at {repo.url} (amd64) has no python3.12): an image built from the "
            'system packages (base = "system") needs the distribution\'s Python\n') in result.err
    assert ('hint: set [project] python = "3.11" (the distribution\'s), use a distribution whose '
            "Python is 3.12, or build on an image base with that Python") in result.err
    assert not (repo.folder / "envbuild.lock").exists()


def test_python3_is_not_requested_for_another_minor(repo: Served) -> None:
    # The archive's python3 is 3.11; a target on its python3.12 gets python3.12 alone.
    repo.archive.specs += [DebSpec(name="python3.12", version="3.12.1-1", architecture="amd64",
                                   depends="libc6", files={"usr/bin/python3.12": b"#!/bin/sh\n"})]
    repo.archive.rebuild()
    path = repo.manifest(["hello"], extra=_SYSTEM_BASE)
    path.write_text(path.read_text().replace('python = "3.11"', 'python = "3.12"'))
    result = run_cli(["lock", "-f", str(path)])
    assert result.code == 0, result.err
    assert "python3.12" in repo.system() and "python3-minimal" not in repo.system()


def test_system_packages_on_another_base_are_refused_at_image_time(repo: Served, tmp_path: Path) -> None:
    """[system] without base = "system": the lock records the set, but unpacking it over a
    base something else made is refused (exit 2), nothing written."""
    repo.manifest(["hello"])
    assert run_cli(["lock", "-f", str(repo.folder / "envbuild.toml")]).code == 0
    result = run_cli(["image", "-f", str(repo.folder / "envbuild.toml"), "--output", f"oci:{tmp_path / 'out'}"])
    assert result.code == 2
    assert result.err.splitlines()[-2:] == [
        f'error: target "cpu" locks {len(repo.system())} Debian packages ([system]), which only '
        'base = "system" builds into an image; its base is (none)',
        'hint: set [image] base = "system" (or the target\'s own base), or drop [system]']
    assert not (tmp_path / "out").exists()
