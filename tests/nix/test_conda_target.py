"""A target with conda packages: the Nix export and `nix build` hold wheels only, so they
refuse it (exit 2) rather than drop the conda set; `image --builder nix` still builds it
(Nix fetches the wheels, the native builder installs the conda set: the same image)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.image.conda.archives import venv_python
from tests.image.conda.test_build import TOOL
from tests.image.project import ALPHA
from tests.image.services import base_layout
from tests.nix.conftest import needs_nix
from tests.support.conda_channel import CondaChannel
from tests.support.debarchive import ArchiveKey
from tests.support.indexserver import IndexServer
from tests.support.wheelfactory import build_wheel
from tests.system.archive import served

pytestmark = needs_nix
REFUSAL = ['error: target "cpu": the Nix export holds Python wheels only, and this target has conda '
           "packages", "hint: build it with `envbuild image` (--builder oci or nix)"]


def test_nix_export_refuses_a_conda_target_and_the_nix_builder_builds_it(
        tmp_path: Path, index_server: IndexServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("PIP_", "UV_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("UV_DEFAULT_INDEX", index_server.simple_url("local"))
    channel = CondaChannel(tmp_path / "channel")
    channel.add(venv_python())
    channel.add(TOOL)
    channel.index()
    index_server.add_file("local", build_wheel(ALPHA, tmp_path / "wheels"))
    manifest = tmp_path / "proj" / "envbuild.toml"
    manifest.parent.mkdir()
    with channel.serve() as url:
        manifest.write_text(
            '[project]\nname = "demo"\npython = "3.11"\n\n'
            f'[indexes]\nforge = {{ url = "{url}", kind = "conda" }}\n\n'
            '[conda]\nchannels = ["forge"]\n\n'
            '[dependencies]\nconda = ["python=3.11", "tool"]\npython = ["alpha"]\n\n'
            f'[image]\nbase = "oci:{base_layout()}"\n\n[targets.cpu]\nplatform = "linux/amd64"\n')
        locked = run_cli(["lock", "-f", str(manifest)])
        assert locked.code == 0, locked.err
        exported = run_cli(["export", "-f", str(manifest), "--format", "nix", "-o", str(tmp_path / "expr")])
        assert (exported.code, exported.err.splitlines()) == (2, REFUSAL)
        assert not (tmp_path / "expr").exists()
        built = run_cli(["nix", "build", "-f", str(manifest), "--export-dir", str(tmp_path / "kept")])
        assert (built.code, built.err.splitlines()) == (2, REFUSAL)
        assert not (tmp_path / "kept").exists()
        monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "cache-nix"))
        by_nix = run_cli(["image", "-f", str(manifest), "--builder", "nix",
                          "--output", f"oci:{tmp_path / 'nix'}", "--json"])
        assert by_nix.code == 0, by_nix.err
        assert "cpu: nix-build wheels (1 wheels)" in by_nix.err.splitlines()
        monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "cache-oci"))
        native = run_cli(["image", "-f", str(manifest), "--output", f"oci:{tmp_path / 'oci'}", "--json"])
        assert native.code == 0, native.err
    assert json.loads(by_nix.out)["targets"]["cpu"]["digest"] == json.loads(native.out)["targets"]["cpu"]["digest"]


def test_nix_export_refuses_a_target_with_system_packages(eb_env: dict[str, str], tmp_path: Path,
                                                          debian_archive_key: ArchiveKey) -> None:
    with served(tmp_path, debian_archive_key) as repo:
        manifest = repo.manifest(["hello"])
        locked = run_cli(["lock", "-f", str(manifest)])
        assert locked.code == 0, locked.err
        exported = run_cli(["export", "-f", str(manifest), "--format", "nix", "-o", str(tmp_path / "expr")])
    assert exported.code == 2
    assert exported.err.splitlines() == [
        'error: target "cpu": the Nix export holds Python wheels only, and this target has Debian '
        "packages from [system]", REFUSAL[1]]
    assert not (tmp_path / "expr").exists()
