"""Exports: a requirements file real pip installs exactly, and a valid PEP 751 pylock."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.pylock import Pylock

from tests.conftest import LocalIndex
from tests.helpers import run_cli


def lock_demo(tmp_path: Path, local_index: LocalIndex) -> Path:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text(
        '[project]\nname = "demo"\npython = "3.11"\n'
        '[dependencies]\npython = ["alpha", "greeter"]\n'
        f'[indexes]\npytorch = {{ url = "{local_index.url("pytorch")}" }}\n'
        '[targets.linux]\nplatform = "linux/amd64"\n'
        'dependencies = ["filelock"]\nsources = { filelock = "pytorch" }\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 0, result.err
    return manifest


def test_requirements_export_installs_exactly_the_locked_set(eb_env: dict[str, str], tmp_path: Path,
                                                            local_index: LocalIndex) -> None:
    manifest = lock_demo(tmp_path, local_index)
    out = tmp_path / "req.txt"
    result = run_cli(["export", "-f", str(manifest), "--target", "linux", "--format",
                      "requirements", "-o", str(out)])
    assert result.code == 0, result.err
    text = out.read_text()
    assert "--hash=sha256:" in text
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--isolated", "--python", str(venv / "bin" / "python")]
    install = subprocess.run([*pip, "install", "--no-deps", "--require-hashes", "-r", str(out)],
                             env=eb_env,
                             capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stderr
    freeze = subprocess.run([*pip, "list", "--format", "freeze"], capture_output=True, text=True,
                            check=True, env=eb_env).stdout
    installed = {line.split("==")[0].lower(): line.split("==")[1] for line in freeze.split()}
    lock = tomllib.loads((tmp_path / "envbuild.lock").read_text())
    locked = {p["name"]: p["version"] for p in lock["targets"]["linux"]["packages"]}
    assert {k: v for k, v in installed.items() if k in locked} == locked
    assert set(installed) - set(locked) <= {"pip", "setuptools", "wheel"}


def test_pylock_export_validates_and_names_each_file(eb_env: dict[str, str], tmp_path: Path,
                                                     local_index: LocalIndex) -> None:
    manifest = lock_demo(tmp_path, local_index)
    result = run_cli(["export", "-f", str(manifest), "--format", "pylock"])
    assert result.code == 0, result.err
    pylock = Pylock.from_dict(tomllib.loads(result.out))
    pylock.validate()
    names = {p.name: p for p in pylock.packages}
    assert sorted(names) == ["alpha", "beta", "filelock", "greeter"]
    wheel = (names["filelock"].wheels or [])[0]
    assert wheel.url is not None and "/pytorch/" in wheel.url
    assert wheel.hashes and len(wheel.hashes["sha256"]) == 64


def test_export_of_unknown_target_is_bad_input(eb_env: dict[str, str], tmp_path: Path,
                                               local_index: LocalIndex) -> None:
    manifest = lock_demo(tmp_path, local_index)
    result = run_cli(["export", "-f", str(manifest), "--target", "gpu", "--format", "pylock"])
    assert result.code == 2
    assert result.err.splitlines() == ['error: no target "gpu" in the lock', "hint: targets: linux"]


def test_export_follows_an_index_moved_to_a_mirror(eb_env: dict[str, str], tmp_path: Path,
                                                   local_index: LocalIndex, fresh_index: LocalIndex) -> None:
    manifest = lock_demo(tmp_path, local_index)
    first = run_cli(["export", "-f", str(manifest), "--format", "pylock"])
    old_host = local_index.url("pytorch").split("/")[2]
    assert old_host in first.out
    # The same files on another server: the lock stays valid, exports name the new host.
    manifest.write_text(manifest.read_text().replace(local_index.url("pytorch"), fresh_index.url("pytorch")))
    assert run_cli(["lock", "--check", "-f", str(manifest)]).code == 0
    moved = run_cli(["export", "-f", str(manifest), "--format", "pylock"])
    assert moved.code == 0, moved.err
    filelock = next(line for line in moved.out.splitlines() if "filelock" in line and "url" in line)
    assert fresh_index.url("pytorch").split("/")[2] in filelock and old_host not in filelock
