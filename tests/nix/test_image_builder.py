"""`envbuild image --builder nix`: Nix fetches and proves the wheels; the image is the
native builder's, byte for byte (same labels, /opt/envbuild lock and verifier, --json)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.image.project import BETA, Project
from tests.nix.conftest import needs_nix

pytestmark = needs_nix


def test_nix_builder_gives_the_native_image(project: Project, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "cache-nix"))
    by_nix = run_cli(["image", "-f", str(project.manifest), "--builder", "nix",
                      "--output", f"oci:{tmp_path / 'nix'}", "--json"])
    assert by_nix.code == 0, by_nix.err
    assert "cpu: nix-build wheels (3 wheels)" in by_nix.err.splitlines()
    assert not [line for line in by_nix.err.splitlines() if line.startswith("downloading")]
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "cache-oci"))
    native = run_cli(["image", "-f", str(project.manifest), "--output",
                      f"oci:{tmp_path / 'oci'}", "--json"])
    assert native.code == 0, native.err
    nix_doc, oci_doc = json.loads(by_nix.out), json.loads(native.out)
    assert nix_doc["targets"]["cpu"]["digest"] == oci_doc["targets"]["cpu"]["digest"]
    assert nix_doc["output"] == f"oci:{tmp_path / 'nix'}"
    assert (tmp_path / "nix" / "index.json").read_bytes() == \
        (tmp_path / "oci" / "index.json").read_bytes()


def test_tampered_wheel_stops_the_nix_builder_before_any_image(project: Project,
                                                               tmp_path: Path) -> None:
    project.write(tamper="beta")
    out = tmp_path / "out"
    result = run_cli(["image", "-f", str(project.manifest), "--builder", "nix",
                      "--output", f"oci:{out}"])
    assert result.code == 1, result.err
    assert f"error: beta: {BETA.wheel_filename}: Nix fetched a file whose hash is not the " \
           "locked one: locked sha256-" in result.err
    assert not out.exists()
    assert not list((tmp_path / "cache" / "wheels").rglob("beta-*"))


def test_an_unknown_builder_is_refused(project: Project, tmp_path: Path) -> None:
    result = run_cli(["image", "-f", str(project.manifest), "--builder", "nope",
                      "--output", f"oci:{tmp_path / 'o'}"])
    assert result.code == 2
    assert result.err.splitlines()[0] == 'error: unknown image builder "nope"'


def test_offline_takes_wheels_from_the_nix_store_and_asks_no_index(
        project: Project, tmp_path: Path) -> None:
    args = ["image", "-f", str(project.manifest), "--builder", "nix", "--output",
            f"oci:{tmp_path / 'out'}"]
    assert run_cli(args).code == 0
    shutil.rmtree(tmp_path / "cache" / "wheels")
    project.server.configure("local", broken=503)
    project.server.clear_log()
    result = run_cli([*args, "--offline"])
    assert result.code == 0, result.err
    assert "cpu: 3 of 3 wheels are in the Nix store (--offline: nothing fetched)" in \
        result.err.splitlines()
    assert project.server.log == []
    assert len(list((tmp_path / "cache" / "wheels").rglob("*.whl"))) == 3


def test_offline_names_a_wheel_the_nix_store_lacks(project: Project, tmp_path: Path) -> None:
    project.write(tamper="beta")  # a hash no store path has
    args = ["image", "-f", str(project.manifest), "--builder", "nix", "--output",
            f"oci:{tmp_path / 'out'}"]
    assert run_cli(args).code == 1  # the mismatch; the URLs are remembered
    result = run_cli([*args, "--offline"])
    assert result.code == 3, result.err
    assert "cpu: 2 of 3 wheels are in the Nix store (--offline: nothing fetched)" in result.err
    assert "error: --offline: 1 wheel(s) are not in the cache" in result.err
    assert f"beta: {BETA.wheel_filename} (sha256:" in result.err


def test_offline_with_a_fresh_cache_takes_the_wheels_the_nix_store_holds(
        project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No URL memo either: the store paths follow from the locked names and hashes."""
    args = ["image", "-f", str(project.manifest), "--builder", "nix", "--output",
            f"oci:{tmp_path / 'out'}"]
    assert run_cli(args).code == 0
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "fresh"))
    project.server.configure("local", broken=503)
    project.server.clear_log()
    result = run_cli([*args, "--offline"])
    assert result.code == 0, result.err
    assert "cpu: 3 of 3 wheels are in the Nix store (--offline: nothing fetched)" in \
        result.err.splitlines()
    assert project.server.log == []
    assert not (tmp_path / "fresh" / "urls.json").exists()
