"""`envbuild lock` end to end against the local index (no live network)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.conftest import LocalIndex
from tests.helpers import run_cli

BETWEEN_BETAS = "2024-03-01T00:00:00Z"


def write(folder: Path, body: str, *, name: str = "demo") -> Path:
    manifest = folder / "envbuild.toml"
    manifest.write_text(f'[project]\nname = "{name}"\npython = "3.11"\n{body}')
    return manifest


def packages(lock: Path, target: str) -> dict[str, dict[str, object]]:
    data = tomllib.loads(lock.read_text())
    return {p["name"]: p for p in data["targets"][target]["packages"]}


def test_lock_records_one_artifact_per_package_with_edges(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = write(tmp_path, '[dependencies]\npython = ["alpha"]\n\n'
                                '[targets.linux]\nplatform = "linux/amd64"\n\n'
                                '[targets.mac]\nplatform = "darwin/arm64"\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 0, result.err
    lock = tmp_path / "envbuild.lock"
    linux, mac = packages(lock, "linux"), packages(lock, "mac")
    assert sorted(linux) == ["alpha", "beta"]
    assert sorted(mac) == ["alpha", "beta", "gamma"]  # gamma's marker is darwin-only
    assert linux["alpha"]["dependencies"] == ["beta"]
    assert mac["alpha"]["dependencies"] == ["beta", "gamma"]
    artifact = linux["beta"]["artifact"]
    assert artifact["file"] == "beta-2.0-py3-none-any.whl"
    assert artifact["hash-origin"] == "index"
    assert str(artifact["hash"]).startswith("sha256:") and len(str(artifact["hash"])) == 71
    assert "127.0.0.1" not in lock.read_text()  # a lock names no host


def test_exclude_newer_resolves_as_of_an_instant(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = write(tmp_path, f'exclude-newer = "{BETWEEN_BETAS}"\n[dependencies]\npython = ["alpha"]\n'
                               '[targets.linux]\nplatform = "linux/amd64"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    assert packages(tmp_path / "envbuild.lock", "linux")["beta"]["version"] == "1.0"


def test_relock_is_a_noop_and_check_is_offline(eb_env: dict[str, str], tmp_path: Path,
                                               local_index: LocalIndex) -> None:
    manifest = write(tmp_path, '[dependencies]\npython = ["alpha"]\n[targets.linux]\nplatform = "linux/amd64"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    lock = tmp_path / "envbuild.lock"
    before = lock.read_bytes()
    local_index.clear_log()
    again = run_cli(["lock", "-f", str(manifest)])
    assert again.code == 0 and "is up to date" in again.err
    check = run_cli(["lock", "-f", str(manifest), "--check"])
    assert check.code == 0
    assert local_index.log == []  # neither the no-op nor --check asked the index
    assert lock.read_bytes() == before


def test_check_names_what_changed(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = write(tmp_path, '[dependencies]\npython = ["alpha"]\n[targets.linux]\nplatform = "linux/amd64"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    manifest.write_text(manifest.read_text().replace('["alpha"]', '["alpha", "greeter"]')
                        + '[targets.arm]\nplatform = "linux/arm64"\n')
    check = run_cli(["lock", "-f", str(manifest), "--check", "--json"])
    assert check.code == 1
    import json

    report = json.loads(check.out)
    assert report["current"] is False
    assert report["reasons"] == ['target "arm" is not in the lock', 'target "linux": +greeter']


def test_relock_keeps_pins_unless_upgraded(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = write(tmp_path, f'exclude-newer = "{BETWEEN_BETAS}"\n[dependencies]\npython = ["alpha"]\n'
                               '[targets.linux]\nplatform = "linux/amd64"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    # Lift exclude-newer and add a package: the target re-resolves, beta stays pinned.
    manifest.write_text(manifest.read_text().replace(f'exclude-newer = "{BETWEEN_BETAS}"\n', "")
                        .replace('["alpha"]', '["alpha", "greeter"]'))
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    assert packages(tmp_path / "envbuild.lock", "linux")["beta"]["version"] == "1.0"
    assert run_cli(["lock", "-f", str(manifest), "--upgrade-package", "beta"]).code == 0
    assert packages(tmp_path / "envbuild.lock", "linux")["beta"]["version"] == "2.0"


def test_no_wheel_for_target_names_package_and_target(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = write(tmp_path, '[dependencies]\npython = ["armless"]\n'
                               '[targets.arm]\nplatform = "linux/arm64"\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 2
    assert 'target "arm"' in result.err and "armless" in result.err
    assert "allow-sdist" in result.err
    assert not (tmp_path / "envbuild.lock").exists()


def test_sdist_only_package_needs_permission(eb_env: dict[str, str], tmp_path: Path) -> None:
    body = '[dependencies]\npython = ["delta"]\n[targets.linux]\nplatform = "linux/amd64"\n'
    manifest = write(tmp_path, body)
    refused = run_cli(["lock", "-f", str(manifest)])
    assert refused.code == 2 and "delta" in refused.err
    manifest.write_text(manifest.read_text() + '[resolution]\nallow-sdist = ["delta"]\n')
    allowed = run_cli(["lock", "-f", str(manifest)])
    assert allowed.code == 0, allowed.err
    delta = packages(tmp_path / "envbuild.lock", "linux")["delta"]
    assert delta["artifact"]["kind"] == "sdist"
    assert delta["artifact"]["file"] == "delta-1.0.tar.gz"


def test_routed_index_without_hashes_is_hashed_locally(eb_env: dict[str, str], tmp_path: Path,
                                                       local_index: LocalIndex) -> None:
    manifest = write(tmp_path, f'exclude-newer = "2025-01-01T00:00:00Z"\n'
                               f'[indexes]\npytorch = {{ url = "{local_index.url("pytorch")}", '
                               'exclude-newer-exempt = true }\n'
                               '[targets.cpu]\nplatform = "linux/amd64"\n'
                               'dependencies = ["torch==2.5.1+cpu"]\nsources = { torch = "pytorch" }\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 0, result.err
    lock = tmp_path / "envbuild.lock"
    torch = packages(lock, "cpu")["torch"]
    assert torch["index"] == "pytorch"
    assert torch["artifact"]["hash-origin"] == "computed"
    assert torch["artifact"]["file"] == "torch-2.5.1+cpu-cp311-cp311-linux_x86_64.whl"
    data = tomllib.loads(lock.read_text())
    assert data["indexes"]["pytorch"] == {"exclude-newer-exempt": True}
    assert local_index.url("pytorch").split("//")[1].split("/")[0] not in lock.read_text()


def test_unknown_target_is_bad_input(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = write(tmp_path, '[targets.linux]\nplatform = "linux/amd64"\n')
    result = run_cli(["lock", "-f", str(manifest), "--target", "nope"])
    assert result.code == 2
    assert result.err.startswith("error: unknown target: nope")


def test_unreachable_index_is_an_external_failure(eb_env: dict[str, str], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("UV_DEFAULT_INDEX", f"http://127.0.0.1:{port}/simple/")
    manifest = write(tmp_path, '[dependencies]\npython = ["alpha"]\n[targets.linux]\nplatform = "linux/amd64"\n')
    result = run_cli(["lock", "-f", str(manifest)])
    assert result.code == 3, result.err
    assert not (tmp_path / "envbuild.lock").exists()


def test_target_option_relocks_only_that_target(eb_env: dict[str, str], tmp_path: Path) -> None:
    manifest = write(tmp_path, f'exclude-newer = "{BETWEEN_BETAS}"\n[dependencies]\npython = ["alpha"]\n'
                               '[targets.a]\nplatform = "linux/amd64"\n[targets.b]\nplatform = "linux/arm64"\n')
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    manifest.write_text(manifest.read_text().replace(f'exclude-newer = "{BETWEEN_BETAS}"\n', ""))
    result = run_cli(["lock", "-f", str(manifest), "--target", "a", "--upgrade"])
    assert result.code == 0, result.err
    lock = tmp_path / "envbuild.lock"
    assert packages(lock, "a")["beta"]["version"] == "2.0"
    assert packages(lock, "b")["beta"]["version"] == "1.0"  # kept as locked
    check = run_cli(["lock", "--check", "-f", str(manifest)])
    assert check.code == 1 and 'target "b"' in check.err  # and still reported stale
    assert run_cli(["lock", "-f", str(manifest)]).code == 0
    assert run_cli(["lock", "--check", "-f", str(manifest)]).code == 0
