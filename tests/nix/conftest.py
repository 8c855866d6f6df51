"""Fixtures of the Nix tests: the image tests' project (a lock of wheels served by a real
index on 127.0.0.1), and Nix itself, without nixpkgs (NIX_PATH emptied)."""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.image.conftest import index_server, project  # noqa: F401  (fixtures, by name)

needs_nix = pytest.mark.skipif(shutil.which("nix-build") is None, reason="Nix is not installed")


@pytest.fixture(autouse=True)
def no_nixpkgs(monkeypatch: pytest.MonkeyPatch) -> None:
    """`<nixpkgs>` must not be found, whatever this machine's NIX_PATH says."""
    monkeypatch.setenv("NIX_PATH", "")


def raw_nix_build(folder: Path, attr: str) -> subprocess.CompletedProcess[str]:
    """`nix-build DIR -A ATTR` as a user runs it by hand, with the options the expression's
    header names (no envbuild in between)."""
    command = ["nix-build", str(folder), "-A", attr, "--no-out-link",
               "--option", "substituters", "",
               "--option", "extra-sandbox-paths", "/usr /lib? /lib64? /bin?"]
    try:
        grp.getgrnam("nixbld")
    except KeyError:
        if os.geteuid() == 0:
            command += ["--option", "build-users-group", ""]
    return subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "NIX_PATH": ""})
