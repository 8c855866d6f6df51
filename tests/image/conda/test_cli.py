"""The whole path through the CLI: `envbuild lock` solves the conda set (the lock side,
issue 12), `envbuild image --load` builds it, the engine runs it with `--network none` and
the image verifies itself from its own lock; a channel that later serves other bytes is
refused (exit 1, naming the package). The docker builder, which installs wheels with pip,
refuses the conda target (exit 2) instead of building an image without its conda set."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_cli
from tests.image.conda.archives import venv_python
from tests.image.conda.test_build import TOOL
from tests.image.project import ALPHA
from tests.image.services import base_layout, docker_client
from tests.support.conda_channel import CondaChannel
from tests.support.indexserver import IndexServer
from tests.support.wheelfactory import build_wheel


@pytest.mark.docker
def test_lock_build_run_offline_verify_and_refuse_tampered_bytes(
        tmp_path: Path, index_server: IndexServer, monkeypatch: pytest.MonkeyPatch) -> None:
    client: Any = docker_client()
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("UV_DEFAULT_INDEX", index_server.simple_url("local"))
    channel = CondaChannel(tmp_path / "channel")
    channel.add(venv_python())
    channel.add(TOOL)
    channel.index()
    index_server.add_file("local", build_wheel(ALPHA, tmp_path / "wheels"))
    folder = tmp_path / "proj"
    folder.mkdir()
    manifest = folder / "envbuild.toml"
    with channel.serve() as url:
        manifest.write_text(
            '[project]\nname = "demo"\npython = "3.11"\n\n'
            f'[indexes]\nforge = {{ url = "{url}", kind = "conda" }}\n\n'
            '[conda]\nchannels = ["forge"]\n\n'
            '[dependencies]\nconda = ["python=3.11", "tool"]\npython = ["alpha"]\n\n'
            f'[image]\nbase = "oci:{base_layout()}"\nentrypoint = ["conda-tool"]\n\n'
            '[targets.cpu]\nplatform = "linux/amd64"\n')
        locked = run_cli(["lock", "-f", str(manifest)])
        assert locked.code == 0, locked.err
        refused = run_cli(["export", "-f", str(manifest), "--format", "dockerfile", "-o", str(tmp_path / "ctx")])
        assert (refused.code, refused.err.splitlines()[:2]) == (2, [
            'error: target "cpu": the docker builder installs Python wheels only, and this target has '
            "conda packages", "hint: build it with --builder oci"])
        assert not (tmp_path / "ctx").exists()
        built = run_cli(["image", "-f", str(manifest), "--load", "--json"])
        assert built.code == 0, built.err
        (tag,) = json.loads(built.out)["loaded"]
        try:
            ran = client.containers.run(tag, network_mode="none", remove=True).decode()
            verdict = json.loads(client.containers.run(
                tag, ["/opt/envbuild/runtime", "verify", "--no-hardware", "--deep", "--json"],
                entrypoint=["python3"], network_mode="none", remove=True).decode())
        finally:
            client.images.remove(tag, force=True)
        assert ran == "conda tool ran\n"
        assert (verdict["ok"], verdict["facts"]["executable"]) == (True, "/opt/conda/bin/python3.11")
        assert verdict["facts"]["conda"] == {"locked": 2, "prefix": "/opt/conda"}
        served = channel.files["tool-2.1-h1_0.conda"]
        locked_hash = "sha256:" + hashlib.sha256(served.read_bytes()).hexdigest()
        size = served.stat().st_size
        served.write_bytes(served.read_bytes() + b"x")
        monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "fresh-cache"))
        refused = run_cli(["image", "-f", str(manifest), "--output", f"oci:{tmp_path / 'out'}"])
    actual = "sha256:" + hashlib.sha256(served.read_bytes()).hexdigest()
    assert refused.code == 1
    assert refused.err.splitlines()[-3:] == [
        "error: 1 conda package(s) differ from the lock:",
        f"tool: tool-2.1-h1_0.conda: expected {locked_hash} ({size} bytes), got {actual} "
        f"({size + 1} bytes)",
        "hint: the channel now serves different bytes under the locked name; nothing was built. "
        "Re-lock if the change is expected."]
    assert not (tmp_path / "out").exists()
