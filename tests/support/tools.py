"""Running the real tools (uv, pip) against the local index, hermetically."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from uv import find_uv_bin

# What every resolution for envbuild's default Linux x86_64 target passes to uv.
X86_64_LINUX = ("--python-platform", "x86_64-manylinux_2_28", "--python-version", "3.11")
AARCH64_LINUX = ("--python-platform", "aarch64-manylinux_2_28", "--python-version", "3.11")


def run_uv(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    input: str | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the uv binary of the installed `uv` package (never the one on PATH)."""
    return subprocess.run(
        [find_uv_bin(), *args],
        input=input,
        capture_output=True,
        text=True,
        env=dict(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def make_venv(path: Path) -> Path:
    """A fresh virtual environment without pip; returns its interpreter."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120
    )
    return path / "bin" / "python"


def pip_install(
    python: Path, args: Sequence[str], *, env: Mapping[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`pip --isolated install ARGS` into the environment of `python`, run by our own pip.

    `env` must come from `hermetic_environ` (PIP_CONFIG_FILE=os.devnull): `--isolated`
    alone still reads the machine's global pip configuration.
    """
    cmd = [sys.executable, "-m", "pip", "--isolated", "--python", str(python), "install"]
    return subprocess.run(
        [*cmd, "--disable-pip-version-check", "--no-input", *args],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout,
        check=False,
    )
