"""`envbuild ci plan` of a target built from its Debian packages (`base = "system"`): the
image hash comes from the lock alone, offline, with no `.deb` in the cache."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ci.repo import Repo, make_repo
from tests.helpers import run_cli
from tests.support.debarchive import ArchiveKey
from tests.system.archive import Served, served


@pytest.fixture
def archive(eb_env: dict[str, str], tmp_path: Path, debian_archive_key: ArchiveKey) -> Iterator[Served]:
    with served(tmp_path, debian_archive_key) as s:
        yield s


def _manifest(archive: Served, packages: str) -> str:
    return ('[project]\nname = "ci"\npython = "3.11"\n[dependencies]\npython = ["alpha"]\n'
            f'[system]\ndistribution = "debian:bookworm"\narchive = "{archive.url}"\n'
            f'keyring = "{archive.archive.key.keyring}"\npackages = {packages}\n'
            '[targets.cpu]\nplatform = "linux/amd64"\n[image]\nbase = "system"\n')


def test_adding_a_system_package_plans_by_image_hash_offline(archive: Served, tmp_path: Path) -> None:
    repo: Repo = make_repo(tmp_path / "repo", _manifest(archive, '["hello"]'))
    repo.manifest.write_text(_manifest(archive, '["hello", "mailer"]'))
    assert run_cli(["lock", "-f", str(repo.manifest)]).code == 0
    result = run_cli(repo.plan("--base", "HEAD"))
    assert result.code == 0, result.err
    assert result.out.splitlines()[1:] == ["cpu: changed by image hash", "rebuild: cpu"]
    planned = json.loads(run_cli([*repo.plan("--base", "HEAD", "--json")]).out)["targets"]["cpu"]
    assert planned["basis"] == "image" and planned["note"] is None
    assert not list((tmp_path / "envbuild-cache").glob("debs/sha256/*.deb"))  # nothing fetched
    # The image built from the same lock carries the hash the plan announced.
    built = run_cli(["image", "-f", str(repo.manifest), "--output", f"oci:{tmp_path / 'out'}", "--json"])
    assert built.code == 0, built.err
    assert json.loads(built.out)["targets"]["cpu"]["image_hash"] == planned["new"]
