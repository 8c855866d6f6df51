"""Exports: a requirements file real pip installs exactly, and a valid PEP 751 pylock."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.pylock import Pylock

from tests.conftest import LocalIndex
from tests.helpers import run_cli
from tests.runtime.envs import FOREIGN_PLATFORM, HOST_PLATFORM


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


def test_requirements_export_installs_exactly_the_locked_set_through_a_mirror(
        eb_env: dict[str, str], tmp_path: Path, local_index: LocalIndex,
        fresh_index: LocalIndex) -> None:
    manifest = lock_demo(tmp_path, local_index)
    out = tmp_path / "req.txt"
    result = run_cli(["export", "-f", str(manifest), "--target", "linux", "--format",
                      "requirements", "-o", str(out)])
    assert result.code == 0, result.err
    text = out.read_text()
    lock = tomllib.loads((tmp_path / "envbuild.lock").read_text())
    table = lock["targets"]["linux"]
    assert text.splitlines()[1:5] == [
        f"# For linux/amd64, CPython 3.11, glibc {table['glibc']} or newer; "
        "the hashes below are of that platform's files.",
        "# Install with: pip install --no-deps --require-hashes -r <this file>",
        "# The default index is the installer's own (pip.conf, PIP_INDEX_URL, a mirror).",
        f"--extra-index-url {local_index.url('pytorch').rstrip('/')}",  # as the manifest loads it
    ]
    # The default index the lock used is not written: the installer's own configuration
    # decides, here a mirror (another server over the same files) on pip's command line.
    assert "--index-url" not in text.replace("--extra-index-url", "")
    assert local_index.url("pypi") not in text
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--isolated", "--python", str(venv / "bin" / "python")]
    install = subprocess.run([*pip, "install", "--no-deps", "--require-hashes", "-r", str(out),
                              "--index-url", fresh_index.url("pypi")],
                             env=eb_env, capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stderr
    freeze = subprocess.run([*pip, "list", "--format", "freeze"], capture_output=True, text=True,
                            check=True, env=eb_env).stdout
    installed = {line.split("==")[0].lower(): line.split("==")[1] for line in freeze.split()}
    locked = {p["name"]: p["version"] for p in table["packages"]}
    assert {k: v for k, v in installed.items() if k in locked} == locked
    assert set(installed) - set(locked) <= {"pip", "setuptools", "wheel"}
    from_default = [p["artifact"]["file"] for p in table["packages"] if p["index"] == "default"]
    assert from_default and all(fresh_index.downloads(f, index="pypi") == 1 for f in from_default)


def test_requirements_export_of_another_platform_warns(eb_env: dict[str, str], tmp_path: Path,
                                                       local_index: LocalIndex) -> None:
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text(
        '[project]\nname = "demo"\npython = "3.11"\n[dependencies]\npython = ["greeter"]\n'
        f'[targets.here]\nplatform = "{HOST_PLATFORM}"\n'
        f'[targets.there]\nplatform = "{FOREIGN_PLATFORM}"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    there = run_cli(["export", "-f", str(manifest), "--target", "there", "--format", "requirements"])
    assert there.code == 0
    assert f"# For {FOREIGN_PLATFORM}, CPython 3.11, glibc " in there.out
    assert there.err == (
        f'warning: target "there" is for {FOREIGN_PLATFORM}, not this machine ({HOST_PLATFORM}): '
        f"install the export on a {FOREIGN_PLATFORM} machine (elsewhere pip finds other wheels "
        'of platform-specific packages and reports that they "do not match the hashes")\n')
    here = run_cli(["export", "-f", str(manifest), "--target", "here", "--format", "pylock"])
    assert (here.code, here.err) == (0, "")


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
    # A named index as the manifest declares it; none for the default index, which is the
    # installer's own configuration (PEP 751 makes `index` optional).
    assert names["filelock"].index == local_index.url("pytorch").rstrip("/")
    assert [n for n, p in names.items() if p.index is None] == ["alpha", "beta", "greeter"]


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
