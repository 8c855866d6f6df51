"""The README's [system] example against Debian's real archive and the real package index
(`@pytest.mark.debian`, `@pytest.mark.pypi`): numpy's manylinux wheel imports in the image
(libstdc++6 is requested for it), `python3` is there for `docker run IMAGE` and cluster jobs,
and the image's user can write in its working directory."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from envbuild.image.build import planned_image_hashes
from envbuild.lockfile import load
from tests.helpers import run_cli
from tests.image.services import docker_client

pytestmark = [pytest.mark.debian, pytest.mark.pypi, pytest.mark.slow]

MANIFEST = ('[project]\nname = "readme"\npython = "3.11"\n[dependencies]\npython = ["numpy==2.2.6"]\n'
            '[system]\ndistribution = "debian:bookworm"\n'
            'packages = ["python3.11", "libgomp1", "ca-certificates", "git"]\n'
            '[targets.cpu]\nplatform = "linux/amd64"\n[image]\nbase = "system"\n')


def test_the_readme_example_imports_numpy_as_the_images_user(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    client: Any = docker_client()
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "cache"))
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text(MANIFEST)
    locked = run_cli(["lock", "-f", str(manifest)])
    assert locked.code == 0, locked.err
    system = {p["name"] for p in tomllib.loads((tmp_path / "envbuild.lock").read_text())["targets"]["cpu"]["system"]}
    assert {"libgcc-s1", "libstdc++6", "python3.11", "python3-minimal"} <= system
    built = run_cli(["image", "-f", str(manifest), "--load", "--json"])
    assert built.code == 0, built.err
    document = json.loads(built.out)
    tag = document["loaded"][0]
    run = lambda *command: client.containers.run(  # noqa: E731
        tag, list(command), network_mode="none", remove=True).decode()
    assert client.images.get(tag).attrs["Config"]["Cmd"] == ["python3"]
    assert run("python3", "-c", "import numpy; print(numpy.__version__)") == "2.2.6\n"
    assert run("/bin/sh", "-c", "touch x && pwd && id -u") == "/workspace\n1000\n"
    # What ci plan and cluster announce, offline, is the built image's hash.
    planned = planned_image_hashes(manifest, load(tmp_path / "envbuild.lock"), {"cpu": 0})["cpu"]
    assert planned == document["targets"]["cpu"]["image_hash"]
