"""`envbuild lock` with conda packages, against a local channel and the local PyPI index."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.conda.conftest import conda_manifest
from tests.helpers import run_cli
from tests.support.conda_channel import CondaChannel


def _conda(lock: Path, target: str) -> dict[str, dict[str, object]]:
    return {r["name"]: r for r in tomllib.loads(lock.read_text())["targets"][target]["conda"]}


def test_each_target_gets_its_own_build(eb_env: dict[str, str], tmp_path: Path,
                                        conda_channel: tuple[CondaChannel, str]) -> None:
    channel, url = conda_channel
    result = run_cli(["lock", "-f", str(conda_manifest(tmp_path, url))])
    assert result.code == 0, result.err
    lock = tmp_path / "envbuild.lock"
    gpu, arm = _conda(lock, "gpu"), _conda(lock, "arm")
    assert (gpu["accel"]["build"], gpu["accel"]["subdir"]) == ("cuda_0", "linux-64")
    assert (arm["accel"]["build"], arm["accel"]["subdir"]) == ("cpu_0", "linux-aarch64")
    assert gpu["cuda-toolkit"]["version"] == "12.4.1"  # 12.8.0 needs __cuda >=12.8
    assert "cuda-toolkit" not in arm
    assert gpu["tinyutil"]["subdir"] == "noarch"
    record = channel.repodata("linux-64")["packages.conda"]["accel-1.0-cuda_0.conda"]  # type: ignore[index]
    assert gpu["accel"] == {
        "name": "accel", "version": "1.0", "build": "cuda_0", "subdir": "linux-64", "channel": "forge",
        "file": "accel-1.0-cuda_0.conda", "size": record["size"], "hash": f"sha256:{record['sha256']}",
        "md5": record["md5"], "dependencies": ["__cuda >=12", "__glibc >=2.17"]}
    assert gpu["prefixed"]["file"] == "prefixed-1.0-0.tar.bz2"
    text = lock.read_text()
    assert "127.0.0.1" not in text  # channels by name only
    data = tomllib.loads(text)
    assert data["indexes"]["forge"] == {"exclude-newer-exempt": False, "kind": "conda"}
    assert data["targets"]["gpu"]["conda-channels"] == ["forge"]
    assert data["targets"]["gpu"]["conda-requirements"] == [
        "accel", "beta", "cuda-toolkit", "prefixed", "python 3.11.*", "tinyutil"]
    # beta comes from conda: the PyPI set keeps alpha and its edge, never a second beta.
    pypi = {p["name"]: p for p in data["targets"]["arm"]["packages"]}
    assert sorted(pypi) == ["alpha"]
    assert pypi["alpha"]["dependencies"] == ["beta"]
    assert arm["beta"]["version"] == "1.0" and arm["python"]["version"] == "3.11.9"
    check = run_cli(["lock", "-f", str(tmp_path / "envbuild.toml"), "--check"])
    assert check.code == 0, check.err
