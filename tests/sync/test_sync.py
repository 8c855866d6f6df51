"""`envbuild sync`: a venv made and kept exactly from the lock, from envbuild's wheel cache."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from envbuild.image.store import Store
from envbuild.lockfile import load
from envbuild.resolvers.uv import uv_binary
from envbuild.runtime.nvml import SCHEMA
from tests.conftest import LocalIndex
from tests.helpers import run_cli
from tests.image.project import CPU, Project
from tests.runtime.envs import FOREIGN_PLATFORM, HOST_PLATFORM, PY
from tests.support.conda_channel import CondaChannel, CondaSpec
from tests.support.indexserver import IndexServer
from tests.support.wheelfactory import DistSpec, build_wheel

_DISTS = ("import importlib.metadata as m, json; "
          "print(json.dumps(sorted((d.metadata['Name'].lower(), d.version) for d in m.distributions())))")


def lock_project(tmp_path: Path, *, platform: str = HOST_PLATFORM, extra: str = "",
                 deps: str = '"alpha", "greeter"', python: str = PY) -> Path:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text(f'[project]\nname = "demo"\npython = "{python}"\n'
                        f'[dependencies]\npython = [{deps}]\n'
                        f'[targets.here]\nplatform = "{platform}"\n{extra}')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 0, result.err
    return manifest


def locked(tmp_path: Path) -> dict[str, str]:
    table = tomllib.loads((tmp_path / "envbuild.lock").read_text())["targets"]["here"]
    return {p["name"]: p["version"] for p in table["packages"]}


def locked_files(tmp_path: Path) -> list[str]:
    table = tomllib.loads((tmp_path / "envbuild.lock").read_text())["targets"]["here"]
    return sorted(p["artifact"]["file"] for p in table["packages"])


def dists(python: Path) -> dict[str, str]:
    out = subprocess.run([str(python), "-I", "-c", _DISTS], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


def sync(manifest: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    result = run_cli(["sync", "-f", str(manifest), "--json", *args])
    return result.code, json.loads(result.out), result.err


def uv_install(python: Path, wheel: Path) -> None:
    subprocess.run([uv_binary(), "pip", "install", "-q", "--python", str(python), "--reinstall",
                    "--no-index", str(wheel)], check=True, capture_output=True)


def test_sync_makes_the_venv_then_removes_what_is_not_locked_downloading_nothing_again(
        eb_env: dict[str, str], tmp_path: Path, fresh_index: LocalIndex,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_DEFAULT_INDEX", fresh_index.url("pypi"))
    manifest = lock_project(tmp_path)
    venv = tmp_path / "env"
    python = venv / "bin" / "python"
    fresh_index.clear_log()

    code, first, err = sync(manifest, "--venv", str(venv))
    assert code == 0, err
    assert dists(python) == locked(tmp_path)  # exactly the lock: no pip, no setuptools
    assert first["created"] is True
    assert first["downloaded"] == locked_files(tmp_path)
    assert first["added"] == sorted(f"{n} {v}" for n, v in locked(tmp_path).items())
    assert first["verify"]["ok"] is True
    assert sorted(r.target or "" for r in fresh_index.log if r.kind == "file") == locked_files(tmp_path)

    stray = build_wheel(DistSpec(name="stray", version="1.0"), tmp_path / "by-hand")
    uv_install(python, stray)
    assert "stray" in dists(python)
    fresh_index.clear_log()
    code, second, err = sync(manifest, "--venv", str(venv))
    assert code == 0, err
    assert dists(python) == locked(tmp_path)
    assert (second["created"], second["downloaded"], second["added"], second["removed"]) == \
        (False, [], [], ["stray 1.0"])
    assert [r for r in fresh_index.log if r.kind == "file"] == []  # the cache served it all
    assert err.splitlines() == [
        "- stray 1.0", "note: target here is a CPU target: hardware not checked",
        f"synced {venv} from target here (0 added, 1 removed, 0 reinstalled, 0 repaired, "
        "0 wheel(s) downloaded)",
        f"verified: target here ({second['target_hash']})"]


def test_a_locked_version_installed_from_another_file_is_reinstalled(
        eb_env: dict[str, str], tmp_path: Path, local_index: LocalIndex) -> None:
    manifest = lock_project(tmp_path)
    venv = tmp_path / "env"
    assert sync(manifest, "--venv", str(venv))[0] == 0
    # Same name and version, other bytes: uv alone would keep it.
    other = build_wheel(DistSpec(name="alpha", version=locked(tmp_path)["alpha"],
                                 summary="not the locked wheel"), tmp_path / "by-hand")
    uv_install(venv / "bin" / "python", other)
    code, report, err = sync(manifest, "--python", str(venv), "--deep")
    assert code == 0, err
    assert (report["added"], report["removed"], report["reinstalled"]) == \
        ([], [], [f"alpha {locked(tmp_path)['alpha']}"])
    summary = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import importlib.metadata as m; print(m.metadata('alpha')['Summary'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert summary != "not the locked wheel"
    # Proved now: a third sync reinstalls nothing.
    assert sync(manifest, "--python", str(venv))[1]["reinstalled"] == []


@pytest.mark.parametrize(("maker", "kept"), [
    ("python -m venv", {"pip": "99.0", "setuptools": "99.0"}),  # a seeded venv keeps its seeds
    ("uv venv", {}),  # as sync makes one: no seed packages, so pip is removed like any other
])
def test_seed_packages_are_kept_only_in_a_seeded_venv(
        eb_env: dict[str, str], tmp_path: Path, local_index: LocalIndex, maker: str,
        kept: dict[str, str]) -> None:
    manifest = lock_project(tmp_path)
    venv = tmp_path / ".venv"  # the default: beside the manifest
    make = [sys.executable, "-m", "venv", "--without-pip"] if maker == "python -m venv" \
        else [uv_binary(), "venv", "-q"]
    subprocess.run([*make, str(venv)], check=True, capture_output=True)
    # Stand-ins by name (uv keeps pip, setuptools and wheel by name), without ensurepip's cost.
    for name in ("pip", "setuptools", "stray"):
        uv_install(venv / "bin" / "python", build_wheel(DistSpec(name=name, version="99.0"),
                                                        tmp_path / "by-hand"))
    code, report, err = sync(manifest)
    assert code == 0, err
    removed = sorted(f"{n} 99.0" for n in {"pip", "setuptools", "stray"} - set(kept))
    assert (report["environment"], report["removed"]) == (str(venv), removed)
    assert dists(venv / "bin" / "python") == {**locked(tmp_path), **kept}
    assert report["verify"]["ok"] is True


def test_a_target_for_another_platform_is_refused(eb_env: dict[str, str], tmp_path: Path,
                                                  local_index: LocalIndex) -> None:
    manifest = lock_project(tmp_path, platform=FOREIGN_PLATFORM)
    result = run_cli(["sync", "-f", str(manifest), "--venv", str(tmp_path / "env")])
    assert result.code == 2
    assert result.err.splitlines() == [
        f"error: target here does not fit this host: this environment is {HOST_PLATFORM}, "
        f"target here is {FOREIGN_PLATFORM}",
        f"hint: sync a target locked for {HOST_PLATFORM}, or run this one in its image "
        "(envbuild image --target here)"]
    assert not (tmp_path / "env").exists()


def test_a_locked_sdist_is_refused(eb_env: dict[str, str], tmp_path: Path,
                                   local_index: LocalIndex) -> None:
    manifest = lock_project(tmp_path, deps='"delta"', extra='[resolution]\nallow-sdist = ["delta"]\n')
    result = run_cli(["sync", "-f", str(manifest), "--venv", str(tmp_path / "env")])
    assert result.code == 2
    assert result.err.splitlines() == [
        "error: target here locks source distributions: delta 1.0; sync installs locked "
        "wheels only (a build's output has no locked hash)",
        "hint: publish wheels of them to an index and re-lock"]


def test_no_interpreter_of_the_target_minor_is_named(eb_env: dict[str, str], tmp_path: Path,
                                                     local_index: LocalIndex,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = lock_project(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(empty))
    result = run_cli(["sync", "-f", str(manifest), "--venv", str(tmp_path / "env")])
    assert result.code == 2
    lines = result.err.splitlines()
    assert lines[0] == (f"error: no CPython {PY} interpreter on this host (looked for python{PY}, "
                        "python3 and python on PATH, and Pythons installed by uv):")
    assert "No interpreter found" in "\n".join(lines[1:-1])
    assert lines[-1] == (f"hint: install Python {PY} (for example `uv python install {PY}`), "
                         "or pass --python with an existing virtual environment's python")
    assert not (tmp_path / "env").exists()


def test_python_outside_a_venv_is_refused(eb_env: dict[str, str], tmp_path: Path,
                                          local_index: LocalIndex) -> None:
    manifest = lock_project(tmp_path)
    system = Path(sys.base_prefix) / "bin" / f"python{PY}"
    result = run_cli(["sync", "-f", str(manifest), "--python", str(system)])
    assert result.code == 2
    assert result.err.splitlines() == [
        f"error: --python {system}: not in a virtual environment; sync removes every "
        "distribution the lock does not name, so it only changes virtual environments",
        "hint: sync into a new one with --venv DIR"]


def test_a_venv_of_another_python_minor_is_refused_not_replaced(
        eb_env: dict[str, str], tmp_path: Path, local_index: LocalIndex) -> None:
    other = "3.12" if PY != "3.12" else "3.11"
    manifest = lock_project(tmp_path, deps='"alpha"', python=other)
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    result = run_cli(["sync", "-f", str(manifest), "--venv", str(venv)])
    assert result.code == 2
    version = ".".join(map(str, sys.version_info[:3]))
    assert result.err.splitlines() == [
        f"error: --venv {venv}/bin/python: it is cpython {version}; target here is locked for "
        f"CPython {other}",
        f"hint: remove {venv} to have sync make it again, or name another --venv"]
    assert dists(venv / "bin" / "python") == {}


def test_offline_with_an_empty_cache_names_the_missing_wheels(
        eb_env: dict[str, str], tmp_path: Path, local_index: LocalIndex) -> None:
    manifest = lock_project(tmp_path, deps='"alpha"')
    result = run_cli(["sync", "-f", str(manifest), "--venv", str(tmp_path / "env"), "--offline"])
    assert result.code == 3
    assert result.err.splitlines()[0] == (
        f"error: --offline: {len(locked_files(tmp_path))} wheel(s) are not in the cache "
        f"{eb_env['ENVBUILD_CACHE_DIR']}:")
    assert not (tmp_path / "env").exists()


def test_a_failed_verification_exits_1_after_the_install(
        eb_env: dict[str, str], tmp_path: Path, local_index: LocalIndex,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENVBUILD_NO_HARDWARE", raising=False)
    probe = tmp_path / "probe.json"
    probe.write_text(json.dumps({"schema": SCHEMA, "nvml": True, "driver_version": "550.54.14",
                                 "cuda_driver_version": "12.4", "gpus": []}))
    monkeypatch.setenv("ENVBUILD_NVML_PROBE", str(probe))  # a host without GPUs, whatever runs this
    manifest = lock_project(tmp_path, deps='"alpha"', extra='cuda = "12.4"\ngpus = ["H100"]\n')
    venv = tmp_path / "env"
    result = run_cli(["sync", "-f", str(manifest), "--venv", str(venv)])
    assert result.code == 1
    assert dists(venv / "bin" / "python") == locked(tmp_path)  # installed, then found wanting
    assert result.err.splitlines()[-2:] == [
        "target here: 1 mismatch",
        "  no-gpu: no GPU found (NVML reports 0 devices); target here needs H100; on machines "
        "without GPUs pass --no-hardware (or set ENVBUILD_NO_HARDWARE=1)"]
    assert run_cli(["sync", "-f", str(manifest), "--venv", str(venv), "--no-hardware"]).code == 0


def test_sync_after_an_image_build_downloads_nothing(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith(("PIP_", "UV_")) or key in ("SOURCE_DATE_EPOCH", "NETRC"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "cache"))
    server = IndexServer()
    server.add_index("local")
    with server:
        folder = tmp_path / "proj"
        folder.mkdir()
        project = Project(folder=folder, server=server, wheel_dir=tmp_path / "wheels",
                          targets={"cpu": CPU})
        project.write()
        built = run_cli(["image", "-f", str(project.manifest), "--output", f"oci:{tmp_path / 'oci'}"])
        assert built.code == 0, built.err
        assert [r for r in server.log if r.kind == "file"]  # the build downloaded the wheels
        server.clear_log()
        code, report, err = sync(project.manifest, "--venv", str(tmp_path / "env"))
    assert code == 0, err
    assert report["downloaded"] == []
    assert [r for r in server.log if r.kind == "file"] == []
    assert report["added"] == ["alpha 1.0", "beta 1.0", "fastmath 2.0"]


def test_changed_and_deleted_files_are_repaired_then_run_uses_that_venv(
        eb_env: dict[str, str], tmp_path: Path, local_index: LocalIndex,
        capfd: pytest.CaptureFixture[str]) -> None:
    manifest = lock_project(tmp_path)
    venv = tmp_path / ".venv"  # the default: what verify and run check without --python
    assert sync(manifest)[0] == 0
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-I", "-c", "import alpha; print(alpha.__file__)"],
                               capture_output=True, text=True, check=True).stdout.strip()).parent.parent
    changed, deleted = site / "alpha" / "__init__.py", site / "greeter" / "__init__.py"
    original = changed.read_bytes()
    changed.write_bytes(original + b"# changed after the sync\n")
    deleted.unlink()
    versions = locked(tmp_path)

    code, report, err = sync(manifest)
    assert code == 0, err
    assert (changed.read_bytes(), deleted.is_file()) == (original, True)
    assert (report["reinstalled"], report["repaired"]) == ([], [
        {"package": f"alpha {versions['alpha']}",
         "problems": ["alpha/__init__.py differs from its RECORD sha256"]},
        {"package": f"greeter {versions['greeter']}",
         "problems": ["greeter/__init__.py is in RECORD but not on disk"]}])
    assert err.splitlines() == [
        f"~ alpha {versions['alpha']} (repaired: alpha/__init__.py differs from its RECORD sha256)",
        f"~ greeter {versions['greeter']} (repaired: greeter/__init__.py is in RECORD but not on disk)",
        "note: target here is a CPU target: hardware not checked",
        f"synced {venv} from target here (0 added, 0 removed, 0 reinstalled, 2 repaired, "
        "0 wheel(s) downloaded)",
        f"verified: target here ({report['target_hash']})"]
    assert sync(manifest, "--deep")[1]["repaired"] == []  # nothing left to repair

    # Without --python, run checks the venv sync made (not envbuild's own interpreter) and
    # puts its bin folder first on the command's PATH.
    capfd.readouterr()
    result = run_cli(["run", "-f", str(manifest), "--record", str(tmp_path / "run.json"),
                      "--", "python3", "-c", "import sys, greeter; print(sys.prefix)"])
    assert result.code == 0, result.err
    assert capfd.readouterr().out == f"{venv}\n"


@pytest.mark.parametrize("damage", ["changed", "truncated"])
def test_a_damaged_cached_wheel_is_named_downloaded_again_and_counted(
        eb_env: dict[str, str], tmp_path: Path, local_index: LocalIndex, damage: str) -> None:
    manifest = lock_project(tmp_path, deps='"alpha"')
    venv = tmp_path / "env"
    assert sync(manifest, "--venv", str(venv))[0] == 0
    artifact = next(p.artifact for p in load(tmp_path / "envbuild.lock").targets["here"].packages
                    if p.name == "alpha")
    cached = Store(Path(eb_env["ENVBUILD_CACHE_DIR"])).wheel_path(artifact.hash, artifact.file)
    data = cached.read_bytes()
    cached.write_bytes(data[:-1] + bytes([data[-1] ^ 1]) if damage == "changed" else data[:100])
    found = (f"{digest_of(cached)}, locked {artifact.hash}" if damage == "changed"
             else f"100 bytes, locked {artifact.size} bytes")

    code, report, err = sync(manifest, "--venv", str(venv))
    assert code == 0, err
    assert report["downloaded"] == [artifact.file]
    assert cached.read_bytes() == data
    assert err.splitlines()[:2] == [
        f"warning: cached wheel {artifact.file} is damaged ({found}); dropped from the cache "
        f"{eb_env['ENVBUILD_CACHE_DIR']}",
        f"downloading {artifact.file} ({artifact.size} bytes)"]
    assert err.splitlines()[-2] == (f"synced {venv} from target here (0 added, 0 removed, "
                                    "0 reinstalled, 0 repaired, 1 wheel(s) downloaded)")


def digest_of(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_target_with_conda_packages_is_refused_before_anything_is_made(
        eb_env: dict[str, str], tmp_path: Path, local_index: LocalIndex) -> None:
    channel = CondaChannel(tmp_path / "channel")
    channel.add(CondaSpec(name="tinyutil", version="0.1", subdir="noarch", noarch="generic"))
    channel.index()
    with channel.serve() as url:
        manifest = lock_project(tmp_path, deps='"alpha"', extra=(
            f'conda = ["tinyutil"]\n[indexes]\nforge = {{ url = "{url}", kind = "conda" }}\n'
            '[conda]\nchannels = ["forge"]\n'))
    result = run_cli(["sync", "-f", str(manifest), "--venv", str(tmp_path / "env")])
    assert result.code == 2
    assert result.err.splitlines() == [
        'error: target "here" has conda packages; sync makes venvs from PyPI wheels only',
        "hint: build it as an image: envbuild image --target here"]
    assert not (tmp_path / "env").exists()
