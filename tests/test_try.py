"""`scripts/try`, the README's first command, runs to the end: a fresh lock of the
quickstart recipe byte-identical to the committed one, then the same image digest twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.pypi
@pytest.mark.slow
def test_try_runs_the_main_job_to_the_end() -> None:
    if not (os.environ.get("ENVBUILD_TEST_BASE") and os.environ.get("ENVBUILD_TEST_BASE_ARM64")):
        pytest.skip("the debootstrap bases are not made here (scripts/test makes them)")
    done = subprocess.run([str(ROOT / "scripts" / "try")], capture_output=True, text=True, check=False,
                          env={**os.environ, "ENVBUILD_VENV": sys.prefix})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "same bytes as lock/quickstart.lock" in done.stderr
    assert "built again into another folder: same digest" in done.stdout
