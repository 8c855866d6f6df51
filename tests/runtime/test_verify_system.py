"""`verify` checks dpkg's status database against the lock's system set (issue 11)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envbuild.runtime.bundle import write_zipapp
from envbuild.runtime.proof import target_hash
from envbuild.runtime.target import spec_from_payload
from envbuild.runtime.verifier import VerifyOptions, verify
from tests.runtime.envs import HOST_PLATFORM, PY, clean_environ

SYSTEM = [{"name": "libc6", "version": "2.36-9+deb12u10", "architecture": "amd64"},
          {"name": "tzdata", "version": "2025b-0+deb12u1", "architecture": "all"}]
STATUS = ("Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n"
          "Version: 2.36-9+deb12u10\nDescription: GNU C Library\n second line\n\n"
          "Package: tzdata\nStatus: install ok installed\nVersion: 2025b-0+deb12u1\n"
          "Architecture: all\n\n")


def run(tmp_path: Path, status: str | None, system: list[dict[str, Any]] = SYSTEM) -> list[str]:
    """The rendered mismatches of verifying an empty environment with `status` as dpkg's
    database (None: no database at all)."""
    table: dict[str, Any] = {"platform": HOST_PLATFORM, "python": PY, "glibc": "2.17",
                             "packages": [], "system-distribution": "debian:bookworm",
                             "system": system}
    table["hash"] = target_hash(table)
    spec = spec_from_payload({"target": "cpu", "table": table}, source="test")
    path = tmp_path / "status"
    if status is not None:
        path.write_text(status)
    verdict = verify(spec, VerifyOptions(paths=(), no_hardware=True, dpkg_status=str(path)),
                     environ={})
    return [m.render() for m in verdict.mismatches]


def test_the_locked_set_installed_passes(tmp_path: Path) -> None:
    assert run(tmp_path, STATUS) == []


def test_a_target_without_system_packages_reads_no_database(tmp_path: Path) -> None:
    assert run(tmp_path, None, system=[]) == []


@pytest.mark.parametrize(("status", "expected"), [
    (STATUS.replace("2.36-9+deb12u10", "2.36-9+deb12u11"),
     ["system-version: libc6: locked at 2.36-9+deb12u10 (amd64), installed 2.36-9+deb12u11 "
      "(amd64)"]),
    (STATUS.replace("Architecture: amd64", "Architecture: arm64"),
     ["system-version: libc6: locked at 2.36-9+deb12u10 (amd64), installed 2.36-9+deb12u10 "
      "(arm64)"]),
    (STATUS.split("\n\n")[1] + "\n\n",
     ["system-missing: libc6: locked at 2.36-9+deb12u10 (amd64), not installed"]),
    (STATUS.replace("install ok installed\nVersion: 2025b", "deinstall ok config-files\n"
                                                            "Version: 2025b"),
     ["system-missing: tzdata: locked at 2025b-0+deb12u1 (all), dpkg status is "
      "'deinstall ok config-files'"]),
    (STATUS + "Package: curl\nStatus: install ok installed\nVersion: 7.88.1-10\n"
              "Architecture: amd64\n",
     ["system-unlocked: curl: 7.88.1-10 (amd64) is installed but not locked"]),
], ids=["version", "architecture", "missing", "not-installed", "unlocked"])
def test_each_difference_is_named(tmp_path: Path, status: str, expected: list[str]) -> None:
    assert run(tmp_path, status) == expected


def test_no_database_is_one_mismatch(tmp_path: Path) -> None:
    assert run(tmp_path, None) == [
        f"system-missing: 2 system packages are locked but dpkg's database "
        f"{tmp_path / 'status'} cannot be read: No such file or directory"]


def test_the_image_front_end_checks_this_root_unless_told_not_to(tmp_path: Path) -> None:
    """`python3 /opt/envbuild/runtime verify` in an image reads /var/lib/dpkg/status;
    `envbuild verify --python` (a venv on a host) passes --no-system."""
    table: dict[str, Any] = {"platform": HOST_PLATFORM, "python": PY, "glibc": "2.17",
                             "packages": [], "system-distribution": "debian:bookworm",
                             "system": [{"name": "libc6", "version": "0:not-here",
                                         "architecture": "amd64"}]}
    table["hash"] = target_hash(table)
    document = tmp_path / "target.json"
    document.write_text(json.dumps({"target": "cpu", "table": table}))
    # The portable bundle, as images run it: -I -S and no path to a checkout, whose
    # envbuild.egg-info (an editable install) would be seen as an unlocked distribution.
    bundle = write_zipapp(tmp_path / "runtime.pyz", include_pynvml=False)
    env = clean_environ()

    def front_end(*extra: str) -> subprocess.CompletedProcess[str]:
        # -S: no site-packages, so only the system set can differ from the lock.
        return subprocess.run([sys.executable, "-I", "-S", str(bundle), "verify",
                               "--target-json", str(document), "--no-hardware", *extra],
                              capture_output=True, text=True, env=env, check=False)

    skipped = front_end("--no-system")
    assert (skipped.returncode, skipped.stderr.splitlines()[-1]) == (
        0, f"verified: target cpu ({table['hash']})")
    checked = front_end()
    assert checked.returncode == 1
    assert "\n  system-" in checked.stderr  # this machine's packages are not the lock's
