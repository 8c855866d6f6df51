"""`envbuild export --format conda-lock|explicit`, read back with conda-lock's and rattler's parsers."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conda.conftest import conda_manifest
from tests.helpers import run_cli
from tests.support.conda_channel import CondaChannel


@pytest.fixture
def locked(conda_channel: tuple[CondaChannel, str], tmp_path: Path, eb_env: dict[str, str]) -> tuple[Path, str]:
    folder = tmp_path / "project"
    folder.mkdir()
    manifest = conda_manifest(folder, conda_channel[1])
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 0, result.err
    return manifest, conda_channel[1]


def _export(manifest: Path, target: str, fmt: str, out: Path) -> Path:
    result = run_cli(["export", "-f", str(manifest), "--target", target, "--format", fmt, "-o", str(out)])
    assert result.code == 0, result.err
    return out


# conda-lock's import warns about its own code (a vendored frozendict, importlib.resources.path).
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning", "ignore::DeprecationWarning")
def test_conda_lock_export_reads_back_with_conda_locks_models(locked: tuple[Path, str], tmp_path: Path) -> None:
    from conda_lock.lockfile import parse_conda_lock_file

    manifest, url = locked
    lock = tomllib.loads((manifest.parent / "envbuild.lock").read_text())
    for target, subdir in (("gpu", "linux-64"), ("arm", "linux-aarch64")):
        path = _export(manifest, target, "conda-lock", tmp_path / f"{target}.conda-lock.yml")
        parsed = parse_conda_lock_file(path)
        assert parsed.metadata.platforms == [subdir]
        assert [c.url for c in parsed.metadata.channels] == [url]
        conda = {p.name: p for p in parsed.package if p.manager == "conda"}
        pip = {p.name: p for p in parsed.package if p.manager == "pip"}
        records = {r["name"]: r for r in lock["targets"][target]["conda"]}
        assert sorted(conda) == sorted(records)
        for name, record in records.items():
            package = conda[name]
            assert package.url == f"{url}/{record['subdir']}/{record['file']}"
            assert (package.hash.md5, f"sha256:{package.hash.sha256}") == (record["md5"], record["hash"])
            assert package.version == record["version"] and package.build == record["build"]
        assert conda["beta"].dependencies == {"python": ">=3.11,<3.12"}
        assert sorted(pip) == ["alpha"]
        assert pip["alpha"].url.endswith("/alpha-1.0-py3-none-any.whl")
    gpu = parse_conda_lock_file(tmp_path / "gpu.conda-lock.yml")
    assert {p.name: p.build for p in gpu.package}["accel"] == "cuda_0"


def test_conda_lock_renders_the_export(locked: tuple[Path, str], tmp_path: Path) -> None:
    manifest, url = locked
    path = _export(manifest, "arm", "conda-lock", tmp_path / "conda-lock.yml")
    conda_lock = Path(sys.executable).with_name("conda-lock")
    rendered = subprocess.run([str(conda_lock), "render", "--kind", "explicit", "-p", "linux-aarch64",
                               "--filename-template", str(tmp_path / "out-{platform}"), str(path)],
                              capture_output=True, text=True, check=False, cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    text = (tmp_path / "out-linux-aarch64").read_text()
    assert f"{url}/linux-aarch64/accel-1.0-cpu_0.conda#" in text


def test_explicit_export_lists_each_url_with_its_sha256(locked: tuple[Path, str], tmp_path: Path) -> None:
    from rattler.explicit_environment import ExplicitEnvironmentSpec

    manifest, url = locked
    lock = tomllib.loads((manifest.parent / "envbuild.lock").read_text())
    path = tmp_path / "gpu.txt"
    result = run_cli(["export", "-f", str(manifest), "--target", "gpu", "--format", "explicit", "-o", str(path)])
    assert result.code == 0, result.err
    count = len(lock["targets"]["gpu"]["conda"])
    assert result.err.splitlines()[-1] == f"wrote {path} ({count} conda packages, target gpu)"
    spec = ExplicitEnvironmentSpec.from_path(path)
    assert str(spec.platform) == "linux-64"
    expected = [f"{url}/{r['subdir']}/{r['file']}#{r['hash']}" for r in lock["targets"]["gpu"]["conda"]]
    assert [p.url for p in spec.packages] == expected
    assert "@EXPLICIT" in path.read_text().splitlines()


def test_a_target_without_conda_has_nothing_to_export(eb_env: dict[str, str], tmp_path: Path) -> None:
    plain = tmp_path / "envbuild.toml"
    plain.write_text('[project]\nname = "demo"\npython = "3.11"\n[dependencies]\npython = ["alpha"]\n'
                     '[targets.cpu]\nplatform = "linux/amd64"\n')
    assert run_cli(["lock", "-f", str(plain)]).code == 0
    result = run_cli(["export", "-f", str(plain), "--format", "explicit"])
    assert result.code == 2
    assert result.err.splitlines()[0] == 'error: target "cpu" has no conda packages to export as explicit'
