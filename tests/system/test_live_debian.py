"""Against Debian's real archive (the one apt uses on this machine): a bookworm system set
for amd64 and arm64 targets, verified against debian-archive-keyring, re-locked identically."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.helpers import run_cli

pytestmark = [pytest.mark.debian, pytest.mark.slow]

REQUESTS = ["python3.11", "libgomp1", "ca-certificates", "git"]
# Essential packages every bookworm closure holds (dpkg's maintainer scripts need them).
ESSENTIAL = {"base-files", "bash", "coreutils", "dash", "dpkg", "libc-bin", "tar"}


def test_bookworm_for_amd64_and_arm64(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "cache"))
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "live"\npython = "3.11"\n'
                        '[system]\ndistribution = "debian:bookworm"\n'
                        f"packages = {REQUESTS!r}\n".replace("'", '"')
                        + '[targets.amd]\nplatform = "linux/amd64"\n[targets.arm]\nplatform = "linux/arm64"\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 0, result.err
    lock_path = tmp_path / "envbuild.lock"
    first = lock_path.read_bytes()
    targets = tomllib.loads(first.decode())["targets"]
    for name, arch in (("amd", "amd64"), ("arm", "arm64")):
        system = {p["name"]: p for p in targets[name]["system"]}
        assert targets[name]["system-distribution"] == "debian:bookworm"
        assert {*REQUESTS, "libc6", *ESSENTIAL} <= set(system)
        assert system["libc6"]["architecture"] == arch
        assert system["libc6"]["path"].startswith("pool/main/g/glibc/libc6_")
        assert system["libc6"]["path"].endswith(f"_{arch}.deb")
        assert system["ca-certificates"]["architecture"] == "all"
        assert "libc6" in system["libgomp1"]["dependencies"]
        assert all(p["archive"] == "default" and p["hash"].startswith("sha256:") for p in system.values())
    assert b"://" not in first  # the archive is recorded by name, never by URL
    lock_path.unlink()
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    assert lock_path.read_bytes() == first
    assert run_cli(["lock", "--check", "-f", str(manifest)]).code == 0


def test_bookworm_names_misspelt_requests_and_a_python_it_lacks(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVBUILD_CACHE_DIR", str(tmp_path / "cache"))
    manifest = tmp_path / "envbuild.toml"
    manifest.write_text('[project]\nname = "live"\npython = "3.11"\n'
                        '[system]\ndistribution = "debian:bookworm"\npackages = ["libgompp1", "gitt"]\n'
                        '[targets.amd]\nplatform = "linux/amd64"\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 2
    assert 'target "amd": 2 requested packages are not in the archive:\n  gitt ([system] packages): ' in result.err
    # The closest names of the archive as it is now, closest first: what was meant among them.
    lines = dict(line.strip().split(": did you mean ", 1) for line in result.err.splitlines()
                 if "did you mean" in line)
    assert "git" in lines["gitt ([system] packages)"].rstrip("?").replace(" or ", ", ").split(", ")
    assert lines["libgompp1 ([system] packages)"].startswith("libgomp1")
    manifest.write_text('[project]\nname = "live"\npython = "3.12"\n'
                        '[system]\ndistribution = "debian:bookworm"\npackages = ["git"]\n'
                        '[targets.amd]\nplatform = "linux/amd64"\n[image]\nbase = "system"\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 2
    assert 'error: target "amd": its Python is 3.12, but debian:bookworm has Python 3.11 (' in result.err
