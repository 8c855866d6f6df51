"""`envbuild show` counts each target's PyPI, conda and system packages."""

from __future__ import annotations

import json
from pathlib import Path

from envbuild.lockfile import load
from tests.conda.conftest import conda_manifest
from tests.helpers import run_cli
from tests.support.conda_channel import CondaChannel, CondaSpec
from tests.support.debarchive import ArchiveKey
from tests.system.archive import served


def _shown(manifest: Path) -> tuple[dict[str, dict[str, object]], list[str]]:
    as_json = run_cli(["show", "--json", "-f", str(manifest)])
    text = run_cli(["show", "-f", str(manifest)])
    assert (as_json.code, text.code) == (0, 0), as_json.err + text.err
    return json.loads(as_json.out)["targets"], text.out.splitlines()


def test_show_counts_conda_packages(eb_env: dict[str, str], tmp_path: Path) -> None:
    channel = CondaChannel(tmp_path / "channel")
    for name in ("tinyutil", "other"):
        channel.add(CondaSpec(name=name, version="0.1", subdir="noarch", noarch="generic"))
    channel.index()
    with channel.serve() as url:
        manifest = conda_manifest(tmp_path, url, conda='"tinyutil", "other"', python='"alpha"',
                                  targets='[targets.cpu]\nplatform = "linux/amd64"\n')
        assert run_cli(["lock", "-f", str(manifest)]).code == 0
    targets, lines = _shown(manifest)
    pypi = len(load(tmp_path / "envbuild.lock").targets["cpu"].packages)  # alpha and its dependency
    assert (targets["cpu"]["packages"], targets["cpu"]["conda"], targets["cpu"]["system"]) == (pypi, 2, 0)
    assert lines[3].split()[:9] == ["target", "platform", "cuda", "gpus", "driver>=", "pkgs", "conda", "system",
                                    "hash"]
    assert lines[4].split()[:8] == ["cpu", "linux/amd64", "-", "-", "-", str(pypi), "2", "0"]


def test_show_counts_system_packages(eb_env: dict[str, str], tmp_path: Path, debian_archive_key: ArchiveKey) -> None:
    with served(tmp_path, debian_archive_key) as repo:
        manifest = repo.manifest(["hello"])
        assert run_cli(["lock", "-f", str(manifest)]).code == 0
        system = len(repo.system())
    targets, lines = _shown(manifest)
    pypi = len(load(manifest.parent / "envbuild.lock").targets["cpu"].packages)
    assert system > 1
    assert (targets["cpu"]["packages"], targets["cpu"]["conda"], targets["cpu"]["system"]) == (pypi, 0, system)
    assert lines[4].split()[5:8] == [str(pypi), "0", str(system)]
